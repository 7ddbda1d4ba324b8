/**
 * Per-process syscall counts in aggregate mode, from what the kernel sends
 * (bpf/tally.bpf.c): a thread's tally when it exits, when its way of a CPU's
 * tally cache is taken for another thread, and when a count reaches its
 * carry point; and, on request, the ways of the tally cache as they are.
 * Nothing is polled: live counts stay in the kernel; userspace adds up what
 * was sent, for live processes and a bounded number of exited ones.
 */
import { decodeTally, type ThreadTally } from "../events/decoder";
import { LAYOUTS } from "../events/layout";

const WAY = LAYOUTS.vigil_tally.size;

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
    /** Reads every way of every CPU's tally cache (struct vigil_tally, back to back). */
    private readonly dumpLive: () => Uint8Array,
    private readonly maxExited = 4096,
  ) {}

  /** Counts that left the kernel: a thread's tally, sent at its exit, to make room, or at the carry point. */
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

  /** Every count known now: what was sent plus what the tally cache holds at this moment. */
  counts(): SyscallCounts {
    const out: SyscallCounts = new Map();
    for (const [pid, per] of this.sent) addInto(out, pid, per);
    const ways = this.dumpLive();
    const view = new DataView(ways.buffer, ways.byteOffset, ways.byteLength);
    for (let off = 0; off + WAY <= ways.length; off += WAY) {
      const tally = decodeTally(view, off, WAY);
      if (tally) addInto(out, tally.pid, tally.counts);
    }
    return out;
  }
}
