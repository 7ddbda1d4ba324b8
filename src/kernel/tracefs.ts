/**
 * Where the kernel's trace events are listed (tracefs), found the way libbpf
 * 1.1 finds them: /sys/kernel/debug/tracing when that path exists, else
 * /sys/kernel/tracing. A fresh machine may not have tracefs mounted; as root
 * we mount it at its standard place, as bpftrace and perf expect it.
 */
import { existsSync } from "node:fs";
import { lastErrno, libc, strerror } from "./libc";

const DEBUGFS_TRACING = "/sys/kernel/debug/tracing";
const TRACEFS = "/sys/kernel/tracing";

export function tracefsDir(): string {
  return existsSync(DEBUGFS_TRACING) ? DEBUGFS_TRACING : TRACEFS;
}

/**
 * Whether the trace event `category:event` can be attached to; mounts tracefs
 * first when it is missing. The answer says why not, for the caller to report.
 */
export function traceEventAvailable(category: string, event: string): { ok: true } | { ok: false; reason: string } {
  let dir = tracefsDir();
  if (!existsSync(`${dir}/events`) && dir === TRACEFS && existsSync(TRACEFS)) {
    const rc = libc.mount(Buffer.from("tracefs\0"), Buffer.from(`${TRACEFS}\0`), Buffer.from("tracefs\0"), 0, null);
    if (rc !== 0) return { ok: false, reason: `tracefs is not mounted and mounting it at ${TRACEFS} failed: ${strerror(lastErrno())}` };
    dir = TRACEFS;
  }
  if (!existsSync(`${dir}/events`)) return { ok: false, reason: `no tracefs at ${dir}` };
  if (!existsSync(`${dir}/events/${category}/${event}/id`)) return { ok: false, reason: `this kernel has no trace event ${category}:${event}` };
  return { ok: true };
}
