import { describe, expect, it } from 'vitest';
import { hasKeyBit, keyBits, Nodes } from '../../src/explore/cache-tables.js';
import { HashTable, VisitedTable } from '../../src/explore/hash-table.js';

describe('the visited table (HashTable)', () => {
  it('keeps every 53-bit key through growth at three quarters full, and misses what it never saw', () => {
    const table = new HashTable(16);
    const keys: number[] = [];
    let x = 0x2545f491;
    for (let i = 0; i < 200_000; i++) {
      // xorshift: keys spread over all 53 bits, the high part included.
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      keys.push((x >>> 0) * 2097152 + (i % 2097152));
    }
    const reference = new Map<number, number>();
    keys.forEach((k, i) => {
      table.set(k, i);
      reference.set(k, i);
    });
    expect(table.size).toBe(reference.size);
    const wrong = [...reference].filter(([k, v]) => table.get(k) !== v);
    expect(wrong).toEqual([]);
    // Keys never stored (a low or high half shared with stored ones) are misses.
    const misses = keys.slice(0, 1000).flatMap((k) => [k + 1, k + 2 ** 32, 2 ** 53 - 1 - k]).filter((k) => !reference.has(k));
    expect(misses.filter((k) => table.get(k) !== -1)).toEqual([]);
  });

  it('stores a key looked up just before where the lookup ended, and only that key', () => {
    // Forty keys in a small table, so probes run into each other: a set written where another
    // key's lookup ended, or where a grown table no longer has it, would shadow or lose entries.
    const table = new HashTable(8);
    const reference = new Map<number, number>();
    let x = 0x1234567;
    for (let i = 0; i < 20_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const key = (x >>> 0) % 40;
      const other = (key * 7 + 3) % 40;
      const v = i;
      // Look up, then store that key, or another one, or look up twice and store the first.
      const kind = i % 4;
      if (kind === 0 || kind === 3) table.get(key);
      if (kind === 1 || kind === 2) table.get(other);
      if (kind === 2) table.set(other, v + 1);
      if (kind === 3) table.get(other);
      table.set(key, v);
      reference.set(key, v);
      if (kind === 2) reference.set(other, v + 1);
    }
    expect(table.size).toBe(reference.size);
    expect([...reference].filter(([k, v]) => table.get(k) !== v)).toEqual([]);
    expect(table.get(41)).toBe(-1);
  });
});

describe('the visited table of 64-bit keys (VisitedTable)', () => {
  it('keeps every key through growth, tells keys apart by either half, and misses what it never saw', () => {
    const table = new VisitedTable(16);
    const reference = new Map<string, number>();
    let x = 0x2545f491;
    const next = () => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x | 0;
    };
    const keys: [number, number][] = [];
    for (let i = 0; i < 100_000; i++) {
      // Random keys, and keys sharing one half with another (the table must compare both).
      const k: [number, number] = i % 3 === 0 ? [next(), next()] : i % 3 === 1 ? [(keys[i - 1] as [number, number])[0], next()] : [next(), (keys[i - 2] as [number, number])[1]];
      keys.push(k);
      table.set(k[0], k[1], i % 1000);
      reference.set(k.join(), i % 1000);
    }
    expect(table.size).toBe(reference.size);
    expect(keys.filter(([lo, hi]) => table.get(lo, hi) !== reference.get(`${lo},${hi}`))).toEqual([]);
    const misses = keys.slice(0, 2000).flatMap(([lo, hi]) => [[lo ^ 1, hi], [lo, hi ^ (1 << 31)], [hi, lo]] as [number, number][]).filter((k) => !reference.has(k.join()));
    expect(misses.filter(([lo, hi]) => table.get(lo, hi) !== -1)).toEqual([]);
    // Many keys with one low half, many with one high half: the probes run through each other.
    const crowded = new VisitedTable(16);
    for (let i = 0; i < 3000; i++) {
      crowded.set(5, i, i);
      crowded.set(i, 5, 10_000 + i);
    }
    const wrong: number[] = [];
    for (let i = 0; i < 3000; i++) if (crowded.get(5, i) !== (i === 5 ? 10_005 : i) || crowded.get(i, 5) !== 10_000 + i) wrong.push(i);
    expect(wrong).toEqual([]);
    expect(crowded.get(5, 3000)).toBe(-1);
  });

  it('stores a key looked up just before where the lookup ended, and only that key', () => {
    const table = new VisitedTable(8);
    const reference = new Map<string, number>();
    let x = 0x1234567;
    for (let i = 0; i < 20_000; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      // Forty keys, two with each low half, in a small table: probes run into each other.
      const key: [number, number] = [((x >>> 0) % 20) | 0, (x >>> 0) % 40 >= 20 ? 7 : -7];
      const other: [number, number] = [(key[0] * 7 + 3) % 20, -key[1]];
      const kind = i % 4;
      if (kind === 0 || kind === 3) table.get(...key);
      if (kind === 1 || kind === 2) table.get(...other);
      if (kind === 2) {
        table.set(...other, i + 1);
        reference.set(other.join(), i + 1);
      }
      if (kind === 3) table.get(...other);
      table.set(...key, i);
      reference.set(key.join(), i);
    }
    expect(table.size).toBe(reference.size);
    expect([...reference].filter(([k, v]) => table.get(...(k.split(',').map(Number) as [number, number])) !== v)).toEqual([]);
    expect(table.get(41, 7)).toBe(-1);
  });
});

describe('the search columns (Nodes)', () => {
  const add = (nodes: Nodes, i: number) =>
    nodes.add([i, i + 1], i % 7, i % 5, i % 3, i >> 4, i - 1, i * 2, 0, i * 10, i / 2, i % 11, i % 9 === 0 ? nodes.internOnly([`k${i}`]) : -1);

  it('keeps the way back to the root of every node after the frontier columns are released', () => {
    const nodes = new Nodes(2);
    const n = 3 * 65536 + 5;
    for (let i = 0; i < n; i++) add(nodes, i);
    expect(nodes.count).toBe(n);
    expect(Array.from(nodes.cpusOf(65536 + 3, new Int32Array(2)))).toEqual([65539, 65540]);
    expect([nodes.items(70_000), nodes.mem(70_000), nodes.flags(70_000), nodes.now(70_000), nodes.memory(70_000)]).toEqual([0, 0, 1, 700_000, 35_000]);
    nodes.release(2 * 65536 + 1);
    for (const id of [0, 65535, 65536, 131071]) {
      expect([nodes.parent(id), nodes.via(id), nodes.depth(id)]).toEqual([id - 1, id * 2, id >> 4]);
      expect(() => nodes.items(id)).toThrow(/released/);
    }
    // Not yet expanded: still whole.
    expect(nodes.mem(131072)).toBe(131072 % 5);
    expect(nodes.observers(131073)).toBe(131073 % 11);
    expect(nodes.only(131076)).toEqual(['k131076']);
    expect(nodes.only(131077)).toBeNull();
  });

  it('keeps choices past 2^16 descriptors, and the depths only of breadth-first levels', () => {
    const nodes = new Nodes(1);
    // Narrow vias first, then one past 65534: those before keep theirs.
    for (let i = 0; i < 70_000; i++) nodes.add([0], 0, 0, 0, i < 3 ? i : 3, i - 1, i === 69_999 ? 1_000_000 : i % 60_000, 0, 0, 0, 0, -1);
    expect([nodes.via(0), nodes.via(59_999), nodes.via(65_537), nodes.via(69_998), nodes.via(69_999)]).toEqual([0, 59_999, 5_537, 9_998, 1_000_000]);
    expect([nodes.depth(0), nodes.depth(1), nodes.depth(2), nodes.depth(3), nodes.depth(69_999)]).toEqual([0, 1, 2, 3, 3]);
    expect(() => nodes.add([0], 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, -1)).toThrow(/breadth-first/);
  });
});

describe('sleep sets as bits of choice key numbers (keyBits)', () => {
  it('holds exactly the numbers given, past 32 too: no number stands for another with the same low bits', () => {
    const set = [1, 31, 33, 64, 95, 200];
    const bits = keyBits(set);
    const found = Array.from({ length: 300 }, (_, no) => no).filter((no) => hasKeyBit(bits, no));
    expect(found).toEqual(set);
    expect(hasKeyBit(keyBits([]), 0)).toBe(false);
    expect(hasKeyBit(bits, 1_000_000)).toBe(false);
  });
});
