import { describe, expect, it } from 'vitest';
import { partsKey, stateHash } from '../../src/explore/state-hash.js';
import { cpusHash, finishHash } from '../../src/sim/simulation.js';
import { visitedKey } from '../../src/explore/harness.js';
import { hash53 } from '../../src/state/hash.js';

describe("the transition cache's state hash", () => {
  it('is the number the composed hash functions give, for any parts', () => {
    let seed = 1;
    const h = () => hash53(String(seed++));
    const mismatches: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const cpus = Array.from({ length: 1 + (i % 5) }, h);
      const guests = i % 3 === 0 ? Array.from({ length: i % 4 }, h) : null;
      // Pending-item sums: exact sums of a few 32-bit and 21-bit halves, past 2^32 too.
      const lo = (h() % 2 ** 32) * (1 + (i % 7));
      const hi = (h() % 2 ** 21) * (1 + (i % 5));
      const [mem, flags] = [h(), h()];
      const memory = i % 2 === 0 ? 0 : h();
      const want = visitedKey(finishHash(cpusHash(cpus), mem, lo, hi, flags, guests), memory);
      const got = stateHash(cpus, cpus.length, mem, lo, hi, flags, guests, memory);
      if (got !== want) mismatches.push(`${i}: ${got} ≠ ${want}`);
    }
    expect(mismatches).toEqual([]);
  });
});

describe("the visited table's key of a state's parts (partsKey)", () => {
  const key = (ids: number[], mem: number, items: number, flags: number, memory: number) => {
    const out = new Int32Array(2);
    partsKey(out, Int32Array.from(ids), ids.length, mem, items, flags, memory | 0, (memory / 2 ** 32) | 0);
    return `${out[0]}:${out[1]}`;
  };

  it('tells apart states that differ in any one part: an actor (any slot), the memory, the pending items, the flags, what the observers remember', () => {
    // A grid of small ids, as the tables hand them out: every combination a different key.
    const keys = new Set<string>();
    let n = 0;
    for (let a = 0; a < 6; a++)
      for (let b = 0; b < 6; b++)
        for (let c = 0; c < 4; c++)
          for (const mem of [0, 1, 2, 900])
            for (const items of [0, 1, 3, 300])
              for (const flags of [0, 1, 2])
                for (const memory of [0, 1, 2 ** 32, 2 ** 53 - 1]) {
                  keys.add(key([a, b, c], mem, items, flags, memory));
                  n += 1;
                }
    expect(keys.size).toBe(n);
  });

  it('depends on where an actor state is, and how many actors there are', () => {
    expect(key([1, 2, 3], 0, 0, 0, 0)).not.toBe(key([2, 1, 3], 0, 0, 0, 0));
    expect(key([0, 0, 0], 0, 0, 0, 0)).not.toBe(key([0, 0], 0, 0, 0, 0));
    // Parts are not interchangeable either.
    expect(key([5], 7, 0, 0, 0)).not.toBe(key([7], 5, 0, 0, 0));
    expect(key([0], 0, 4, 0, 0)).not.toBe(key([0], 0, 0, 4, 0));
  });

  it('spreads keys over both halves: 200,000 states of random parts, no two alike', () => {
    let x = 0x2545f491;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const keys = new Set<string>();
    for (let i = 0; i < 200_000; i++) keys.add(key([next() % 1000, next() % 1000, next() % 1000, next() % 1000], next() % 100, next() % 300, next() % 8, next() % 4 === 0 ? 0 : next() * 2097152 + (next() % 2097152)));
    // (Each random tuple may repeat; count the distinct tuples the same way.)
    x = 0x2545f491;
    const tuples = new Set<string>();
    for (let i = 0; i < 200_000; i++) tuples.add([next() % 1000, next() % 1000, next() % 1000, next() % 1000, next() % 100, next() % 300, next() % 8, next() % 4 === 0 ? 0 : next() * 2097152 + (next() % 2097152)].join());
    expect(keys.size).toBe(tuples.size);
  });
});
