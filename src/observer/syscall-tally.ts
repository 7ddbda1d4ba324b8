/**
 * Per-process syscall counts in aggregate mode, from what the kernel sends:
 * a record per thread when it exits (bpf/tally.bpf.c), a one-count record
 * when a count reaches its carry point, and, on request, a dump of the live
 * threads' tallies by a task iterator. Nothing is polled: live counts stay
 * in the kernel; userspace keeps what was sent, for live processes and a
 * bounded number of exited ones.
 */
import { decodeTally, type ThreadTally } from "../events/decoder";

/** pid -> syscall number -> count. */
export type SyscallCounts = Map<number, Map<number, number>>;

function addInto(into: SyscallCounts, pid: number, counts: Iterable<readonly [number, number]>): void {
  let per = into.get(pid);
  if (!per) into.set(pid, (per = new Map()));
  for (const [nr, c] of counts) per.set(nr, (per.get(nr) ?? 0) + c);
}

export class SyscallTally {
  /** Counts the kernel has sent (exited threads', carried ones), by pid. */
  private readonly sent: SyscallCounts = new Map();
  /** Exited processes whose counts are kept, oldest first. */
  private readonly exited = new Set<number>();
  /** Exited processes whose counts were let go to keep the bound. */
  forgotten = 0;

  constructor(
    /** Runs the kernel's dump of live threads' tallies (struct vigil_tally, back to back). */
    private readonly dumpLive: () => Uint8Array,
    private readonly maxExited = 4096,
  ) {}

  /** Counts that left the kernel: a thread's last ones at its exit, or one carried count. */
  received(t: ThreadTally): void {
    addInto(this.sent, t.pid, t.counts);
  }

  /** A process has exited: its counts are complete and kept within the bound. */
  processExited(pid: number): void {
    this.exited.delete(pid);
    this.exited.add(pid);
    for (const old of this.exited) {
      if (this.exited.size <= this.maxExited) break;
      this.exited.delete(old);
      this.sent.delete(old);
      this.forgotten++;
    }
  }

  /** A new process took `pid`: counts of an earlier process with that pid are not its own. */
  processStarted(pid: number): void {
    if (this.exited.delete(pid)) this.sent.delete(pid);
  }

  /** Every count known now: exited threads' plus live threads' read from the kernel at this moment. */
  counts(): SyscallCounts {
    const out: SyscallCounts = new Map();
    for (const [pid, per] of this.sent) addInto(out, pid, per);
    const dump = this.dumpLive();
    const view = new DataView(dump.buffer, dump.byteOffset, dump.byteLength);
    for (let off = 0; off < dump.length; ) {
      const { tally, size } = decodeTally(view, off, dump.length - off);
      addInto(out, tally.pid, tally.counts);
      off += size;
    }
    return out;
  }
}
