/**
 * A map from 53-bit hashes to small non-negative integers, open addressing over typed arrays.
 * Exploration keeps one entry per state and one per cached decision; a `Map` keyed by numbers that
 * are not small integers boxes and hashes each key, which was the largest single cost of the search.
 */
export class HashTable {
  private lo: Int32Array;
  /** The high 21 bits + 1; 0 marks a free slot. */
  private hi: Int32Array;
  private values: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 12) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.lo = new Int32Array(cap);
    this.hi = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
  }

  /** The value stored for `key`, or -1. */
  get(key: number): number {
    const lo = key | 0;
    const hi = Math.floor(key / 4294967296) + 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const h = this.hi[i] as number;
      if (h === 0) return -1;
      if (h === hi && this.lo[i] === lo) return this.values[i] as number;
      i = (i + 1) & this.mask;
    }
  }

  /** Store `value` (≥ 0) for `key`, replacing what was there. */
  set(key: number, value: number): void {
    const lo = key | 0;
    const hi = Math.floor(key / 4294967296) + 1;
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask;
    for (;;) {
      const h = this.hi[i] as number;
      if (h === 0) break;
      if (h === hi && this.lo[i] === lo) {
        this.values[i] = value;
        return;
      }
      i = (i + 1) & this.mask;
    }
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.values[i] = value;
    this.size += 1;
    if (this.size * 2 > this.mask) this.grow();
  }

  private grow(): void {
    const { lo, hi, values } = this;
    const cap = (this.mask + 1) * 2;
    this.lo = new Int32Array(cap);
    this.hi = new Int32Array(cap);
    this.values = new Int32Array(cap);
    this.mask = cap - 1;
    for (let j = 0; j < hi.length; j++) {
      const h = hi[j] as number;
      if (h === 0) continue;
      let i = ((lo[j] as number) ^ Math.imul(h, 0x9e3779b1)) & this.mask;
      while (this.hi[i] !== 0) i = (i + 1) & this.mask;
      this.hi[i] = h;
      this.lo[i] = lo[j] as number;
      this.values[i] = values[j] as number;
    }
  }
}
