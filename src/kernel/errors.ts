import { ptr } from "bun:ffi";
import { strerror } from "./libc";
import { libbpf } from "./libbpf";

/* libbpf's own error codes start at 4000 (LIBBPF_ERRNO__START). */
function describe(errno: number): string {
  if (errno >= 4000 && errno < 4100) {
    const buf = new Uint8Array(256);
    libbpf.libbpf_strerror(-errno, ptr(buf), buf.length);
    return new TextDecoder().decode(buf.subarray(0, Math.max(0, buf.indexOf(0))));
  }
  return strerror(errno);
}

/** A failed kernel or libbpf operation: which one, on what, and the kernel's reason. */
export class BpfError extends Error {
  override readonly name = "BpfError";
  constructor(
    readonly op: string,
    readonly errno: number,
    detail?: string,
    /** The verifier's log, when a program failed to load. */
    readonly verifierLog?: string,
  ) {
    const reason = errno ? `${describe(errno)} (errno ${errno})` : "failed";
    let message = `${op}: ${reason}`;
    if (detail) message += `: ${detail}`;
    if (verifierLog) message += `\n--- verifier log (tail) ---\n${tail(verifierLog, 40)}`;
    super(message);
  }
}

function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}
