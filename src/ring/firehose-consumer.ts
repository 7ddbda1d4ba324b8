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
  private closed = false;

  constructor(mapFd: number, readonly cpus: number) {
    const bytes = Math.ceil((ELEM_SIZE * cpus) / PAGE_SIZE) * PAGE_SIZE;
    this.region = MappedRegion.map("firehose rings", mapFd, 0, bytes, true);
    this.words = new Uint32Array(this.region.buffer);
    this.positions = new BigUint64Array(this.region.buffer);
    this.tails = [];
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

  drain(sink: SyscallSink): number {
    if (this.closed) return 0;
    const w = this.words;
    let total = 0;
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      const base = cpu * ELEM_SIZE;
      const head = Number(this.positions[base / 8]!);
      let tail = this.tails[cpu]!;
      if (head === tail) continue;
      const recBase = (base + RING.fields.recs[0]) / 4;
      for (; tail < head; tail++) {
        const i = recBase + (tail & (FIREHOSE_SLOTS - 1)) * REC_WORDS;
        sink.onSyscall(w[i + PID]!, w[i + TID]!, w[i + NR]!, w[i + TS]! + w[i + TS + 1]! * 0x1_0000_0000, (w[i + FLAGS]! & SYSCALL_TS_EXACT) !== 0);
      }
      total += head - this.tails[cpu]!;
      this.tails[cpu] = tail;
      Atomics.store(this.positions, (base + RING.fields.tail[0]) / 8, BigInt(tail));
    }
    return total;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.region.close();
  }
}
