/**
 * Which optional event kinds an observer captures. Process events (exec,
 * fork, exit) always are: the process tree is built from them. Each optional
 * kind has a price on every syscall of the machine, not just its own: opens
 * and connects are read at their syscall's exit, and hooking any syscall's
 * exit trace event makes the kernel test every syscall's exit against it;
 * a credential change is checked at the thread's next syscall entry; a
 * failed exec is read at the exit of execve and execveat (successful execs
 * are process events, always captured). An observer that leaves all four
 * out runs one hook per syscall instead of two (docs/benchmarks.md, the storm's "capture none" rows).
 * TLS plaintext (`tls`) costs nothing per syscall: uprobes on the TLS
 * library's read and write, which only processes using it run.
 */
export const CAPTURE_KINDS = ["open", "connect", "cred", "exec_failed", "tls"] as const;
export type CaptureKind = (typeof CAPTURE_KINDS)[number];

export function isCaptureKind(s: string): s is CaptureKind {
  return (CAPTURE_KINDS as readonly string[]).includes(s);
}

/**
 * The kinds in `list`, in CAPTURE_KINDS order and once each. Throws an Error
 * naming `what` (the option or setting) and the first unknown item.
 */
export function captureKinds(what: string, list: readonly string[], known = CAPTURE_KINDS.join(", ")): CaptureKind[] {
  const unknown = list.find((k) => !isCaptureKind(k));
  if (unknown !== undefined) throw new Error(`${what}: unknown event kind ${JSON.stringify(unknown)} (known: ${known})`);
  return CAPTURE_KINDS.filter((k) => list.includes(k));
}

/** A capture list as users write it: kinds separated by commas, or `none`. Errors as captureKinds. */
export function parseCaptureList(what: string, text: string): CaptureKind[] {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === "none") return [];
  if (items.length === 0) throw new Error(`${what}: empty; give some of ${CAPTURE_KINDS.join(", ")}, or none`);
  return captureKinds(what, items, `${CAPTURE_KINDS.join(", ")}, or none alone`);
}
