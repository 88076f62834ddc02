import { describe, expect, it } from 'vitest';
import { stateHash } from '../../src/explore/state-hash.js';
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
