/**
 * Per-process syscall counts in aggregate mode, from what the kernel sends
 * (bpf/tally.bpf.c): a thread's tally when it exits, when its way of a CPU's
 * tally cache is taken for another thread, and when a count reaches its
 * carry point; and, on request, the ways of the tally cache as they are.
 * Nothing is polled: live counts stay in the kernel; userspace adds up what
 * was sent, for live processes and a bounded number of exited ones.
 *
 * A tally arrives for every thread that exits (hundreds a second under a
 * tool-running agent), so a process's counts are kept as two small typed
 * arrays, ascending by syscall number: one allocation pair a tally, no Map
 * entry a syscall; maps are built only when counts are asked for.
 */
import { tallyCounts, tallyPid } from "../events/decoder";
import { LAYOUTS, TALLY_SLOTS } from "../abi/layout";
import { trimOldest } from "../util/trim-oldest";

const WAY = LAYOUTS.vigil_tally.size;

/** pid -> syscall number -> count. */
export type SyscallCounts = Map<number, Map<number, number>>;

/** One process's non-zero counts, ascending by syscall number. */
interface Sparse {
  nrs: Uint16Array;
  counts: Float64Array;
}

function addTo(out: SyscallCounts, pid: number, s: Sparse): void {
  let per = out.get(pid);
  if (!per) out.set(pid, (per = new Map()));
  for (let i = 0; i < s.nrs.length; i++) per.set(s.nrs[i]!, (per.get(s.nrs[i]!) ?? 0) + s.counts[i]!);
}

export class SyscallTally {
  /** Counts the kernel has sent (exited threads', carried ones), by pid. */
  private readonly sent = new Map<number, Sparse>();
  /** Exited processes whose counts are kept, oldest first. */
  private readonly exited = new Set<number>();
  /** Exited processes whose counts were let go to keep the bound. */
  forgotten = 0;
  /** One tally's counts as read, before they are merged. */
  private readonly readNrs = new Uint16Array(TALLY_SLOTS + 1);
  private readonly readCounts = new Float64Array(TALLY_SLOTS + 1);

  constructor(
    /** Reads every way of every CPU's tally cache (struct vigil_tally, back to back). */
    private readonly dumpLive: () => Uint8Array,
    private readonly maxExited = 4096,
  ) {}

  /**
   * A tally that left the kernel (a thread's, sent at its exit, to make room,
   * or at the carry point), at `off` of `v`. False when it names no thread.
   */
  received(v: DataView, off: number, len: number): boolean {
    const pid = tallyPid(v, off, len);
    if (pid === null) return false;
    const n = tallyCounts(v, off, this.readNrs, this.readCounts);
    const had = this.sent.get(pid);
    this.sent.set(pid, had ? this.merged(had, n) : { nrs: this.readNrs.slice(0, n), counts: this.readCounts.slice(0, n) });
    return true;
  }

  /** `had` plus the first `n` counts just read: a merge of two ascending lists. */
  private merged(had: Sparse, n: number): Sparse {
    const nrs = new Uint16Array(had.nrs.length + n);
    const counts = new Float64Array(nrs.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < had.nrs.length || j < n) {
      const a = i < had.nrs.length ? had.nrs[i]! : Infinity;
      const b = j < n ? this.readNrs[j]! : Infinity;
      nrs[k] = Math.min(a, b);
      counts[k++] = (a <= b ? had.counts[i++]! : 0) + (b <= a ? this.readCounts[j++]! : 0);
    }
    return { nrs: nrs.subarray(0, k), counts: counts.subarray(0, k) };
  }

  /** A process has exited: its counts are complete and kept within the bound (see trimOldest). */
  processExited(pid: number): void {
    this.exited.delete(pid);
    this.exited.add(pid);
    this.forgotten += trimOldest(this.exited, this.maxExited, (old) => {
      this.exited.delete(old);
      this.sent.delete(old);
    });
  }

  /** A new process took `pid`: counts of an earlier process with that pid are not its own. */
  processStarted(pid: number): void {
    if (this.exited.delete(pid)) this.sent.delete(pid);
  }

  /** Every count known now: what was sent plus what the tally cache holds at this moment. */
  counts(): SyscallCounts {
    const out: SyscallCounts = new Map();
    for (const [pid, s] of this.sent) addTo(out, pid, s);
    const ways = this.dumpLive();
    const view = new DataView(ways.buffer, ways.byteOffset, ways.byteLength);
    for (let off = 0; off + WAY <= ways.length; off += WAY) {
      const pid = tallyPid(view, off, WAY);
      if (pid === null) continue;
      const n = tallyCounts(view, off, this.readNrs, this.readCounts);
      addTo(out, pid, { nrs: this.readNrs.subarray(0, n), counts: this.readCounts.subarray(0, n) });
    }
    return out;
  }
}
