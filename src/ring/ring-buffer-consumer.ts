/**
 * Reads a BPF_MAP_TYPE_RINGBUF straight from its mmap'd pages: no FFI call and
 * no allocation per record, and the consumer position is published once per
 * drained batch. Layout (kernel/bpf/ringbuf.c): page 0 = consumer position
 * (the only writable page), page 1 = producer position, then the data area
 * mapped twice in a row so that a record that wraps is contiguous.
 */
import { MappedRegion } from "../kernel/mmap";
import { PAGE_SIZE } from "../kernel/libc";

const BUSY_BIT = 0x8000_0000;
const DISCARD_BIT = 0x4000_0000;
const HEADER = 8;

/** Called for each committed record: `offset` indexes `view`/`bytes` (the data area). */
export type RecordHandler = (view: DataView, bytes: Uint8Array, offset: number, length: number) => void;

export class RingBufferConsumer {
  private readonly consumerPage: MappedRegion;
  private readonly producerArea: MappedRegion;
  private readonly consumerPos: BigUint64Array;
  private readonly producerWords: Uint32Array;
  private readonly data: DataView;
  private readonly dataBytes: Uint8Array;
  private readonly mask: number;
  private position: number;
  private closed = false;
  /** Records the producer discarded (bpf_ringbuf_discard); not drops, just skipped. */
  discarded = 0;

  constructor(
    mapFd: number,
    /** Data size in bytes: the map's max_entries (a power-of-2 multiple of the page size). */
    readonly size: number,
  ) {
    this.consumerPage = MappedRegion.map("ring buffer consumer page", mapFd, 0, PAGE_SIZE, true);
    this.producerArea = MappedRegion.map("ring buffer data", mapFd, PAGE_SIZE, PAGE_SIZE + 2 * size, false);
    this.consumerPos = new BigUint64Array(this.consumerPage.buffer, 0, 1);
    // The producer page and records are read with plain loads: Atomics on a
    // read-only mapping crash Bun once JIT-compiled (shared/docs notes), and
    // x86-64 loads are not reordered with other loads.
    this.producerWords = new Uint32Array(this.producerArea.buffer, 0, 2);
    this.data = new DataView(this.producerArea.buffer, PAGE_SIZE, 2 * size);
    this.dataBytes = new Uint8Array(this.producerArea.buffer, PAGE_SIZE, 2 * size);
    this.mask = size - 1;
    this.position = Number(this.consumerPos[0]);
  }

  private producerPosition(): number {
    return this.producerWords[0]! + this.producerWords[1]! * 0x1_0000_0000;
  }

  /** Bytes written by the producer and not yet consumed. */
  pendingBytes(): number {
    return this.closed ? 0 : this.producerPosition() - this.position;
  }

  /** Fill level in [0, 1]. */
  fillRatio(): number {
    return this.pendingBytes() / this.size;
  }

  /**
   * Hands every committed record to `handle`, up to `maxRecords`, and returns
   * how many were handed over. Stops at the first record still being written.
   */
  drain(handle: RecordHandler, maxRecords = Number.MAX_SAFE_INTEGER): number {
    if (this.closed) return 0;
    const producer = this.producerPosition();
    let pos = this.position;
    let n = 0;
    const data = this.data;
    while (pos < producer && n < maxRecords) {
      const off = pos & this.mask;
      const lenWord = data.getUint32(off, true);
      if (lenWord & BUSY_BIT) break;
      const len = lenWord & ~(BUSY_BIT | DISCARD_BIT);
      if (lenWord & DISCARD_BIT) this.discarded++;
      else {
        handle(data, this.dataBytes, off + HEADER, len);
        n++;
      }
      pos += (len + HEADER + 7) & ~7;
    }
    if (pos !== this.position) {
      this.position = pos;
      Atomics.store(this.consumerPos, 0, BigInt(pos));
    }
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.consumerPage.close();
    this.producerArea.close();
  }
}
