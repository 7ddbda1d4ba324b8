/**
 * Reads the syscall firehose: one single-producer/single-consumer ring per CPU
 * in an mmap-able BPF array (struct vigil_firehose_ring in bpf/vigil.h). The
 * kernel advances `head` after writing a record; we read up to head and
 * publish `tail`. Records go to a sink as numbers: no object per syscall.
 */
import { MappedRegion } from "../kernel/mmap";
import { PAGE_SIZE } from "../kernel/libc";
import { FIREHOSE_SLOTS, LAYOUTS, SYSCALL_TS_EXACT } from "../events/layout";

const RING = LAYOUTS.vigil_firehose_ring;
const REC = LAYOUTS.vigil_syscall_record;
const REC_WORDS = REC.size / 4;
const [TS, PID, TID, NR, FLAGS] = (["ts_ns", "pid", "tid", "nr", "flags"] as const).map((f) => REC.fields[f][0] / 4) as [number, number, number, number, number];
const ELEM_SIZE = Math.ceil(RING.size / 8) * 8;

export interface SyscallSink {
  /** `exact`: the stamp was read for this record; else it was read earlier in the same tick on this CPU. */
  onSyscall(pid: number, tid: number, nr: number, ktimeNs: number, exact: boolean): void;
}

export class FirehoseConsumer {
  private readonly region: MappedRegion;
  private readonly words: Uint32Array;
  private readonly positions: BigUint64Array;
  private readonly tails: number[];
  /** Per CPU, where this drain stops handing over records. */
  private readonly ends: number[];
  /** The newest stamp seen so far; `bound` is its value at the previous drain. */
  private seen = -Infinity;
  private bound = -Infinity;
  private closed = false;

  constructor(mapFd: number, readonly cpus: number) {
    const bytes = Math.ceil((ELEM_SIZE * cpus) / PAGE_SIZE) * PAGE_SIZE;
    this.region = MappedRegion.map("firehose rings", mapFd, 0, bytes, true);
    this.words = new Uint32Array(this.region.buffer);
    this.positions = new BigUint64Array(this.region.buffer);
    this.tails = [];
    this.ends = new Array<number>(cpus).fill(0);
    for (let cpu = 0; cpu < cpus; cpu++) this.tails.push(Number(this.positions[(cpu * ELEM_SIZE + RING.fields.tail[0]) / 8]!));
  }

  /** Records waiting, summed over CPUs. */
  pending(): number {
    if (this.closed) return 0;
    let n = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) n += Number(this.positions[(cpu * ELEM_SIZE) / 8]!) - this.tails[cpu]!;
    return n;
  }

  /** Fill level of the fullest CPU ring, in [0, 1]. */
  fillRatio(): number {
    if (this.closed) return 0;
    let max = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++)
      max = Math.max(max, Number(this.positions[(cpu * ELEM_SIZE) / 8]!) - this.tails[cpu]!);
    return max / FIREHOSE_SLOTS;
  }

  /**
   * Hands the sink every record that is safe to order, in stamp order across
   * CPUs, and returns how many. Each CPU's ring is in stamp order already
   * (the kernel stamps a CPU's records one after another), but a thread that
   * moves between CPUs leaves its records in two rings, and reading the rings
   * one after the other would hand over its later ones first. So the rings
   * are merged by stamp, up to a bound: the newest stamp seen in the previous
   * drain; newer records wait in the ring for the next drain (perf orders its
   * per-CPU buffers the same way).
   *
   * A thread's records always come in its order. If this drain missed its
   * earlier record, that one was published after this drain began, so its
   * later record was stamped after that (the tick clock takes a fresh reading
   * for a thread that was switched out), above every stamp the previous drain
   * saw: above the bound, so it waits too. Other threads' records come in
   * stamp order unless a program was interrupted between stamping a record
   * and publishing it for longer than the drains are apart; with the tick
   * clock, stamp order is their order to within a tick.
   *
   * `flush` hands over everything (the final drain).
   */
  drain(sink: SyscallSink, flush = false): number {
    if (this.closed) return 0;
    const bound = flush ? Infinity : this.bound;
    const ends = this.ends;
    let active = -1;
    let actives = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      const head = Number(this.positions[(cpu * ELEM_SIZE) / 8]!);
      const tail = this.tails[cpu]!;
      if (head === tail) {
        ends[cpu] = tail;
        continue;
      }
      const newest = this.stamp(cpu, head - 1);
      if (newest > this.seen) this.seen = newest;
      const end = newest <= bound ? head : this.firstAfter(cpu, tail, head, bound);
      ends[cpu] = end;
      if (end > tail) {
        active = cpu;
        actives++;
      }
    }
    this.bound = this.seen;
    if (actives === 0) return 0;
    if (actives === 1) return this.emit(sink, active, ends[active]!);
    let total = 0;
    // Merge by runs: hand over the CPU with the oldest next record until its stamps pass the next CPU's.
    for (;;) {
      let first = -1;
      let firstTs = Infinity;
      let secondTs = Infinity;
      for (let cpu = 0; cpu < this.cpus; cpu++) {
        if (this.tails[cpu]! >= ends[cpu]!) continue;
        const ts = this.stamp(cpu, this.tails[cpu]!);
        if (ts < firstTs) {
          secondTs = firstTs;
          firstTs = ts;
          first = cpu;
        } else if (ts < secondTs) secondTs = ts;
      }
      if (first < 0) return total;
      total += this.emit(sink, first, secondTs === Infinity ? ends[first]! : this.firstAfter(first, this.tails[first]!, ends[first]!, secondTs));
    }
  }

  /** The stamp of record `pos` of `cpu`'s ring. */
  private stamp(cpu: number, pos: number): number {
    return this.stampAt((cpu * ELEM_SIZE + RING.fields.recs[0]) / 4 + (pos & (FIREHOSE_SLOTS - 1)) * REC_WORDS);
  }

  /** The stamp of the record at word `i`, from its two 32-bit halves: exact for 104 days of uptime (2^53 ns), then rounded, never reordered. */
  private stampAt(i: number): number {
    return this.words[i + TS]! + this.words[i + TS + 1]! * 0x1_0000_0000;
  }

  /** The first position in [from, to) of `cpu`'s ring stamped after `ts` (`to` if none): stamps never go back within a ring. */
  private firstAfter(cpu: number, from: number, to: number, ts: number): number {
    let lo = from;
    let hi = to;
    while (lo < hi) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (this.stamp(cpu, mid) > ts) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Hands `cpu`'s records up to `end` to the sink, and publishes the new tail. */
  private emit(sink: SyscallSink, cpu: number, end: number): number {
    const w = this.words;
    const base = cpu * ELEM_SIZE;
    const recBase = (base + RING.fields.recs[0]) / 4;
    const from = this.tails[cpu]!;
    for (let tail = from; tail < end; tail++) {
      const i = recBase + (tail & (FIREHOSE_SLOTS - 1)) * REC_WORDS;
      sink.onSyscall(w[i + PID]!, w[i + TID]!, w[i + NR]!, this.stampAt(i), (w[i + FLAGS]! & SYSCALL_TS_EXACT) !== 0);
    }
    this.tails[cpu] = end;
    Atomics.store(this.positions, (base + RING.fields.tail[0]) / 8, BigInt(end));
    return end - from;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.region.close();
  }
}
