/**
 * Reads the syscall firehose: one single-producer/single-consumer ring per CPU
 * (bpf/vigil.h): a control block in the mmap-able array `firehose_ctl`, the
 * records in `firehose`, whose 2^chunkShift elements per CPU the mapping
 * makes one contiguous ring. The kernel advances `head` after writing a
 * record; we read up to head and publish `tail`. Records go to a sink as
 * numbers: no object per syscall.
 */
import { MappedRegion } from "../kernel/mmap";
import { PAGE_SIZE } from "../kernel/libc";
import { FIREHOSE_CHUNK_SLOTS, LAYOUTS, SyscallRecordBits } from "../abi/layout";

const CTL = LAYOUTS.vigil_firehose_ctl;
const CTL_ELEM = Math.ceil(CTL.size / 8) * 8;
const REC = LAYOUTS.vigil_syscall_record;
const REC_WORDS = REC.size / 4;
/** Word indexes in a record: ts_nr's low and high halves, pid, tid. */
const [TS_LO, PID, TID] = (["ts_nr", "pid", "tid"] as const).map((f) => REC.fields[f][0] / 4) as [number, number, number];
const TS_HI = TS_LO + 1;
/** In ts_nr's high word: the stamp's top bits, the syscall number, the clock flag. */
const HI_TS_MASK = 2 ** (SyscallRecordBits.tsBits - 32) - 1;
const HI_NR_SHIFT = SyscallRecordBits.nrShift - 32;
const HI_EXACT_SHIFT = SyscallRecordBits.exactShift - 32;
const TS_SPAN = 2 ** SyscallRecordBits.tsBits;

/**
 * A record keeps its stamp's low 48 bits; the rest comes from a reference:
 * a full stamp no older than the record (its CPU's newest clock reading) and
 * less than 2^48 ns (78 hours) newer. The record's stamp is the latest value
 * at or below the reference with those low bits. The reference is split once
 * per drain (`splitReference`), so a record costs no division. Exact for 104
 * days of uptime (2^53 ns), then rounded, never reordered.
 */
export function splitReference(reference: number): { refLow: number; refBase: number } {
  const refLow = reference % TS_SPAN;
  return { refLow, refBase: reference - refLow };
}

export function restoreStamp(low: number, refLow: number, refBase: number): number {
  return refBase + low - (low > refLow ? TS_SPAN : 0);
}

export interface SyscallSink {
  /**
   * `nr` is -1 for a number the record cannot hold (x32's, or -1 set by a tracer).
   * `exact`: the stamp was read for this record; else it was read earlier in the same tick on this CPU.
   */
  onSyscall(pid: number, tid: number, nr: number, ktimeNs: number, exact: boolean): void;
}

export class FirehoseConsumer {
  private readonly ctl: MappedRegion;
  private readonly recs: MappedRegion;
  /** The control blocks' 64-bit words (head, clock_ns, tail). */
  private readonly positions: BigUint64Array;
  private readonly words: Uint32Array;
  /** Records each CPU's ring holds (a power of two). */
  readonly slots: number;
  private readonly tails: number[];
  /** Per CPU, where this drain stops handing over records. */
  private readonly ends: number[];
  /** Per CPU, its newest clock reading at this drain, split as restoreStamp splits it. */
  private readonly refLows: number[];
  private readonly refBases: number[];
  /** The newest stamp seen so far; `bound` is its value at the previous drain. */
  private seen = -Infinity;
  private bound = -Infinity;
  private closed = false;

  constructor(ctlFd: number, recordsFd: number, readonly cpus: number, chunkShift: number) {
    this.slots = FIREHOSE_CHUNK_SLOTS * 2 ** chunkShift;
    this.ctl = MappedRegion.map("firehose control blocks", ctlFd, 0, pageRound(CTL_ELEM * cpus), true);
    try {
      // Read-only: userspace writes only tails, which live in the control blocks.
      this.recs = MappedRegion.map("firehose rings", recordsFd, 0, pageRound(this.slots * REC.size * cpus), false);
    } catch (e) {
      this.ctl.close();
      throw e;
    }
    this.positions = new BigUint64Array(this.ctl.buffer);
    this.words = new Uint32Array(this.recs.buffer);
    this.tails = [];
    this.ends = new Array<number>(cpus).fill(0);
    this.refLows = new Array<number>(cpus).fill(0);
    this.refBases = new Array<number>(cpus).fill(0);
    for (let cpu = 0; cpu < cpus; cpu++) this.tails.push(Number(this.positions[ctlWord(cpu, "tail")]!));
  }

  /** An atomic load: the reads of the records and of the clock reading that follow cannot move before it. */
  private head(cpu: number): number {
    return Number(Atomics.load(this.positions, ctlWord(cpu, "head")));
  }

  /** Records waiting, summed over CPUs. */
  pending(): number {
    if (this.closed) return 0;
    let n = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) n += this.head(cpu) - this.tails[cpu]!;
    return n;
  }

  /** Fill level of the fullest CPU ring, in [0, 1]. */
  fillRatio(): number {
    if (this.closed) return 0;
    let max = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) max = Math.max(max, this.head(cpu) - this.tails[cpu]!);
    return max / this.slots;
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
      const head = this.head(cpu);
      const tail = this.tails[cpu]!;
      if (head === tail) {
        ends[cpu] = tail;
        continue;
      }
      // Read after head: the clock reading of every record up to head, or a later one.
      const { refLow, refBase } = splitReference(Number(this.positions[ctlWord(cpu, "clock_ns")]!));
      this.refLows[cpu] = refLow;
      this.refBases[cpu] = refBase;
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

  /** The word index of record `pos` of `cpu`'s ring. */
  private wordOf(cpu: number, pos: number): number {
    return (cpu * this.slots + (pos & (this.slots - 1))) * REC_WORDS;
  }

  /** The stamp of record `pos` of `cpu`'s ring. */
  private stamp(cpu: number, pos: number): number {
    return this.stampAt(cpu, this.wordOf(cpu, pos));
  }

  /** The full stamp of `cpu`'s record at word `i`. */
  private stampAt(cpu: number, i: number): number {
    return restoreStamp(this.words[i + TS_LO]! + (this.words[i + TS_HI]! & HI_TS_MASK) * 0x1_0000_0000, this.refLows[cpu]!, this.refBases[cpu]!);
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
    const from = this.tails[cpu]!;
    for (let tail = from; tail < end; tail++) {
      const i = this.wordOf(cpu, tail);
      const hi = w[i + TS_HI]!;
      const nr = (hi >>> HI_NR_SHIFT) & SyscallRecordBits.nrOther;
      sink.onSyscall(w[i + PID]!, w[i + TID]!, nr === SyscallRecordBits.nrOther ? -1 : nr, this.stampAt(cpu, i), hi >>> HI_EXACT_SHIFT !== 0);
    }
    this.tails[cpu] = end;
    Atomics.store(this.positions, ctlWord(cpu, "tail"), BigInt(end));
    return end - from;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.recs.close();
    this.ctl.close();
  }
}

/** The index of a 64-bit field of `cpu`'s control block among the mapped control blocks' words. */
function ctlWord(cpu: number, field: "head" | "clock_ns" | "tail"): number {
  return (cpu * CTL_ELEM + CTL.fields[field][0]) / 8;
}

function pageRound(bytes: number): number {
  return Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE;
}
