/**
 * Strings decoded once per distinct byte sequence. The same few names make
 * most events (a tool's comm, the loader cache, libc, locale files, the
 * project's own files), and decoding one is an allocation the garbage
 * collector pays for again; hashing and comparing the bytes costs no
 * allocation, and a repeated string keeps its cached hash for every Map it
 * is a key of downstream. A collision only costs a decode, never a wrong
 * string: an entry is used only when its bytes are equal.
 */

/*
 * Bytes to string through Buffer#toString on a Buffer view of the same
 * memory: twice as fast as TextDecoder for a path, and five times as fast
 * as String.fromCharCode.apply over a subarray. The view is made once
 * per backing array (the ring's mapping is one array for every record).
 */
let viewOf: Uint8Array | null = null;
let view: Buffer = Buffer.alloc(0);

/** UTF-8 bytes [start, end) as a string (invalid sequences become U+FFFD). */
export function text(bytes: Uint8Array, start: number, end: number): string {
  if (bytes !== viewOf) {
    view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    viewOf = bytes;
  }
  return view.toString("utf8", start, end);
}

export class StringCache {
  private readonly mask: number;
  private readonly strings: (string | undefined)[];
  /** Each slot's bytes, `maxBytes` apart; only the first `lengths[slot]` count. */
  private readonly bytes: Uint8Array;
  private readonly kept: DataView;
  private readonly lengths: Uint16Array;

  /**
   * @param slots a power of two: distinct strings kept (a newer one with the same hash replaces an older)
   * @param maxBytes longer strings are decoded every time, not kept
   */
  constructor(
    slots: number,
    private readonly maxBytes: number,
  ) {
    if (slots & (slots - 1)) throw new Error(`StringCache slots must be a power of two, not ${slots}`);
    this.mask = slots - 1;
    this.strings = new Array(slots);
    this.bytes = new Uint8Array(slots * maxBytes);
    this.kept = new DataView(this.bytes.buffer);
    this.lengths = new Uint16Array(slots);
  }

  /** The UTF-8 bytes [start, end) of `b` as a string. */
  get(v: DataView, b: Uint8Array, start: number, end: number): string {
    const len = end - start;
    if (len > this.maxBytes) return text(b, start, end);
    // FNV-1a-like over 32-bit words, the tail bytes last.
    let h = len | 0;
    let i = start;
    for (; i + 4 <= end; i += 4) h = Math.imul(h ^ v.getUint32(i, true), 0x01000193);
    for (; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const slot = (h ^ (h >>> 15)) & this.mask;
    const cached = this.strings[slot];
    if (cached !== undefined && this.lengths[slot] === len && this.same(slot, v, b, start, len)) return cached;
    const fresh = text(b, start, end);
    this.strings[slot] = fresh;
    this.lengths[slot] = len;
    this.bytes.set(b.subarray(start, end), slot * this.maxBytes);
    return fresh;
  }

  private same(slot: number, v: DataView, b: Uint8Array, start: number, len: number): boolean {
    const at = slot * this.maxBytes;
    let i = 0;
    for (; i + 4 <= len; i += 4) if (this.kept.getUint32(at + i, true) !== v.getUint32(start + i, true)) return false;
    for (; i < len; i++) if (this.bytes[at + i] !== b[start + i]) return false;
    return true;
  }
}
