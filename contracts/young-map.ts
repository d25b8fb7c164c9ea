/**
 * Keeps a Map that takes short-lived entries from filling V8's old generation. V8 gives a Map a
 * new hash table when its holes (deleted entries) fill the old one, every few inserts for a Map
 * of a few live entries, and allocates it in the generation the previous table is in: a Map that
 * lived through two young collections makes all its later tables in the old generation, where
 * only a full collection frees them (an old Map taking and dropping an entry a million times ran 12
 * full collections, against 2 for the same work on Maps swapped when empty; test/contracts/young-map.test.ts).
 * A Map swapped for a fresh one whenever it is empty stays young at low load, where its tables die cheaply.
 */
export function youngIfEmpty<K, V>(map: Map<K, V>): Map<K, V> {
  return map.size === 0 ? new Map<K, V>() : map;
}

/** Deletes `key` from `map` and returns the Map to keep in its place (youngIfEmpty). */
export function withoutKey<K, V>(map: Map<K, V>, key: K): Map<K, V> {
  map.delete(key);
  return youngIfEmpty(map);
}
