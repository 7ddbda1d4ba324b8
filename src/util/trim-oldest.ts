/**
 * Bounds an insertion-ordered Map or Set (oldest first) by evicting its
 * oldest keys, down to `max` once it holds more than `max + max / 8`.
 *
 * Why in batches: JavaScriptCore leaves a deleted entry's slot in place until
 * the table is rebuilt, and every iteration from the start walks past those
 * slots again, so evicting one oldest entry per insert costs time in
 * proportion to the evictions so far (ten times more an insert at a bound
 * 16 times larger). One walk an eighth of the bound at a time makes it a
 * constant per insert.
 *
 * `evict` must delete the key from the collection. Returns how many it evicted.
 */
export function trimOldest<K>(collection: { readonly size: number; keys(): Iterable<K> }, max: number, evict: (key: K) => void): number {
  if (collection.size <= max + (max >> 3)) return 0;
  let n = 0;
  for (const key of collection.keys()) {
    if (collection.size <= max) break;
    evict(key);
    n++;
  }
  return n;
}
