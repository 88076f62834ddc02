/**
 * The transition cache's state hash, the same number as `visitedKey(finishHash(cpusHash(…), …),
 * memory)` (src/sim/state-codec.ts, harness.ts) computed without a floating-point number between
 * the rounds: each `mix` of src/state/hash.ts (cyrb53's rounds over the 32-bit halves of its two
 * arguments) is done here on the halves themselves, the running hash kept as two 32-bit integers.
 * As numbers, each round's result was a heap number when `mix` was not inlined. A test holds it
 * to the composed functions. The search keys the states it reaches by `partsKey` (below), from the
 * ids the parts are interned under; this hash is for checking a rebuilt state against the
 * simulation's and for splitting the search into shards.
 */

/** The running hash's halves: its low 32 bits (as int32) and its high 21 bits. */
let lo = 0;
let hi = 0;

/** One `mix(h, x)` round on the running hash (h in lo/hi; x any number, split as mix splits it). */
function round(x: number): void {
  let h1 = Math.imul(0xdeadbeef ^ lo, 2654435761);
  let h2 = Math.imul(0x41c6ce57 ^ lo, 1597334677);
  h1 = Math.imul(h1 ^ hi, 2654435761);
  h2 = Math.imul(h2 ^ hi, 1597334677);
  const xl = x >>> 0;
  h1 = Math.imul(h1 ^ xl, 2654435761);
  h2 = Math.imul(h2 ^ xl, 1597334677);
  const xh = Math.floor(x / 4294967296);
  h1 = Math.imul(h1 ^ xh, 2654435761);
  h2 = Math.imul(h2 ^ xh, 1597334677);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  lo = h1 | 0;
  hi = 2097151 & h2;
}

/**
 * visitedKey(finishHash(cpusHash(cpus[0..n)), mem, itemLo, itemHi, flags, guests), memory): the
 * CPUs' chart-state hashes, the memory's, a pending-item multiset's exact sums of hash halves, the
 * flags', the guest actors' (null: none), and what the observers remember (0: nothing).
 */
export function stateHash(cpus: ArrayLike<number>, n: number, mem: number, itemLo: number, itemHi: number, flags: number, guests: ArrayLike<number> | null, memory: number): number {
  // cpusHash: from 0x9e3779b9, one round per CPU.
  lo = 0x9e3779b9 | 0;
  hi = 0;
  for (let c = 0; c < n; c++) round(cpus[c] as number);
  // finishHash.
  round(mem);
  round(itemLo % 4294967296);
  round((itemHi + Math.floor(itemLo / 4294967296)) % 2097152);
  if (guests) for (let j = 0; j < guests.length; j++) round(guests[j] as number);
  round(flags);
  // visitedKey.
  if (memory !== 0) round(memory);
  return hi * 4294967296 + (lo >>> 0);
}

/** One part into each of partsKey's two lanes: multiply, rotate. */
function lane1(h: number, x: number): number {
  const m = Math.imul(h ^ x, 2654435761);
  return (m << 13) | (m >>> 19);
}
function lane2(h: number, x: number): number {
  const m = Math.imul(h ^ x, 1597334677);
  return (m << 17) | (m >>> 15);
}

/**
 * A state's key in the transition cache's visited table (cached.ts), from the ids its parts are
 * interned under (equal ids, equal parts: each table interns by content or by its part's hash):
 * the actors' states `ids[0..n)`, the memory's, the pending-item multiset's, the flags', and what
 * the observers remember (a 53-bit hash, 0: nothing; its low and high 32 bits). 64 bits, into `out[0]` (low) and `out[1]` (high). Cheaper than
 * `stateHash` (two multiplications a part, no division), and as wide as the table's slot: two
 * states of a search share a key with odds about n²/2^65 (n states) against n²/2^54 for a 53-bit key.
 * Each part is a step of two lanes (multiply, rotate) seeded apart; a final round mixes the lanes.
 */
export function partsKey(out: Int32Array, ids: ArrayLike<number>, n: number, mem: number, items: number, flags: number, memoryLo: number, memoryHi: number): void {
  let h1 = 0x9e3779b9 ^ n;
  let h2 = 0x7f4a7c15 ^ n;
  for (let c = 0; c < n; c++) {
    const x = ids[c] as number;
    h1 = lane1(h1, x);
    h2 = lane2(h2, x);
  }
  h1 = lane1(lane1(lane1(h1, mem), items), flags);
  h2 = lane2(lane2(lane2(h2, mem), items), flags);
  // What the observers remember: a 53-bit hash, both halves (as int32: a double argument would be a number object).
  h1 = Math.imul(lane1(h1, memoryLo) ^ memoryHi, 2654435761);
  h2 = Math.imul(lane2(h2, memoryLo) ^ memoryHi, 1597334677);
  // cyrb53's last round, on both lanes whole.
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out[0] = h1;
  out[1] = h2;
}

/**
 * partsKey's key in `out` with one more part `x` (an int32) mixed in, the same way: a lane step
 * each, then the last round again. The pass-over bound's per-CPU counts (passover-counts.ts) key
 * states apart this way: equal parts, different counts, different keys.
 */
export function withPart(out: Int32Array, x: number): void {
  let h1 = lane1(out[0] as number, x);
  let h2 = lane2(out[1] as number, x);
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  out[0] = h1;
  out[1] = h2;
}
