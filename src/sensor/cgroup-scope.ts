/**
 * The set of observed cgroups, as the kernel's scope test reads it (struct
 * vigil_scope in bpf/vigil.h): up to SCOPE_INLINE ids in an mmap'd array
 * element, written in place, and all of them in the `observed_cgroups` hash.
 *
 * Updates happen while programs run, so stores are ordered (Atomics.store,
 * and x86-64 keeps stores in order) such that a concurrent reader sees the
 * old set or the new one: an id is written before the count that exposes it,
 * a removed id is overwritten by the last one before the count shrinks, and
 * the reader is sent to the hash only while the hash holds the whole set.
 */
import type { BpfMap } from "../kernel/bpf-object";
import { MappedRegion } from "../kernel/mmap";
import { PAGE_SIZE } from "../kernel/libc";
import { LAYOUTS, SCOPE_INLINE } from "../abi/layout";

const SCOPE_FIELDS = LAYOUTS.vigil_scope.fields;
const USE_HASH = SCOPE_FIELDS.use_hash[0] / 8;
const COUNT = SCOPE_FIELDS.count[0] / 8;
const IDS_WORD = SCOPE_FIELDS.ids[0] / 8;

export class CgroupScope {
  private readonly ids: number[] = [];
  private readonly region: MappedRegion;
  private readonly words: BigUint64Array;

  constructor(
    private readonly hash: BpfMap,
    inline: BpfMap,
  ) {
    this.region = MappedRegion.map("observed cgroup set", inline.fd(), 0, PAGE_SIZE, true);
    this.words = new BigUint64Array(this.region.buffer, 0, LAYOUTS.vigil_scope.size / 8);
  }

  add(id: number): void {
    if (this.ids.includes(id)) return;
    this.hash.update(key(id), new Uint8Array([1]));
    this.ids.push(id);
    const n = this.ids.length;
    if (n <= SCOPE_INLINE) {
      this.store(IDS_WORD + n - 1, id);
      this.store(COUNT, n);
    } else this.store(USE_HASH, 1); // the hash already holds every id
  }

  remove(id: number): void {
    const i = this.ids.indexOf(id);
    if (i < 0) return;
    const last = this.ids.pop()!;
    if (i < this.ids.length) this.ids[i] = last;
    const n = this.ids.length;
    if (n + 1 <= SCOPE_INLINE) {
      // It was inline (the reader compares ids[0, count)).
      this.store(IDS_WORD + i, last); // the hole takes the last id (a no-op when it was the last)...
      this.store(COUNT, n); // ...then the set shrinks
    } else if (n <= SCOPE_INLINE) {
      // Back to inline: the reader still uses the hash while the inline set is rebuilt.
      this.store(COUNT, 0);
      this.ids.forEach((x, j) => this.store(IDS_WORD + j, x));
      this.store(COUNT, n);
      this.store(USE_HASH, 0);
    }
    this.hash.delete(key(id)); // last: a reader sent to the hash still finds the set it was promised
  }

  close(): void {
    this.region.close();
  }

  private store(word: number, value: number): void {
    Atomics.store(this.words, word, BigInt(value));
  }
}

function key(id: number): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setBigUint64(0, BigInt(id), true);
  return k;
}
