/**
 * The two hash functions every state hash is built from: cyrb53 over a string, and `mix`, which
 * folds one number into a running hash. Both give 53-bit integers (exact in a double).
 */

/** cyrb53: a fast 53-bit string hash. */
export function hash53(str: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/**
 * Fold a 53-bit number into a 53-bit hash. Order matters and nothing cancels: the four 32-bit
 * halves are absorbed one after the other (cyrb53's rounds), so mix(a, b) ≠ mix(b, a) and
 * mix(a, a) ≠ 0. (An earlier version hashed h XOR x: a pending step of CPU 1 hashed to 0, script
 * step c to the same as CPU c^2's step, and exploration pruned states it had never seen.)
 */
export function mix(h: number, x: number): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  h1 = Math.imul(h1 ^ (h >>> 0), 2654435761);
  h2 = Math.imul(h2 ^ (h >>> 0), 1597334677);
  const hh = Math.floor(h / 4294967296);
  h1 = Math.imul(h1 ^ hh, 2654435761);
  h2 = Math.imul(h2 ^ hh, 1597334677);
  h1 = Math.imul(h1 ^ (x >>> 0), 2654435761);
  h2 = Math.imul(h2 ^ (x >>> 0), 1597334677);
  const xh = Math.floor(x / 4294967296);
  h1 = Math.imul(h1 ^ xh, 2654435761);
  h2 = Math.imul(h2 ^ xh, 1597334677);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

const stringHashes = new Map<string, number>();

/** hash53 of a string, remembered (names and messages recur in every state). */
export function stringHash(s: string): number {
  let h = stringHashes.get(s);
  if (h === undefined) {
    // Bounded: a run's names and panic messages are a few dozen; past that, just hash.
    h = hash53(s);
    if (stringHashes.size < 65536) stringHashes.set(s, h);
  }
  return h;
}
