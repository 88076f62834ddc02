/**
 * A map from 53-bit hashes to small non-negative integers, open addressing over one typed array.
 * Exploration keeps one entry per state and one per cached decision; a `Map` keyed by numbers that
 * are not small integers boxes and hashes each key, which was the largest single cost of the search.
 * Each slot is three adjacent words (low 32 bits, high 21 bits + 1 or 0 when free, value), so a
 * probe touches one cache line.
 */
/** Where a key starts probing: its two halves mixed (keys may be structured, not hashes). */
function slot(lo: number, hi: number): number {
  let x = lo ^ Math.imul(hi, 0x9e3779b1);
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return x ^ (x >>> 16);
}

export class HashTable {
  private slots: Int32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 1 << 12) {
    let cap = 16;
    while (cap * 3 < capacity * 4) cap *= 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
  }

  /**
   * The key of the last `get` and where its probe ended (its slot, or the free slot it stopped at):
   * a `set` of the same key right after (the search looks a state up, then stores it) writes there
   * without probing again. Any `set` forgets it (it may move or fill slots).
   */
  private lastKey = NaN;
  private lastAt = 0;

  /** The value stored for `key`, or -1. */
  get(key: number): number {
    const lo = key | 0;
    const hi = Math.floor(key / 4294967296) + 1;
    const s = this.slots;
    const start = slot(lo, hi);
    this.lastKey = key;
    // (The probe counter steps on every probe, the first included, so optimized code has seen
    // the arithmetic before the first collision and does not have to be thrown away then.)
    for (let k = 0; ; ) {
      const at = ((start + k) & this.mask) * 3;
      k += 1;
      const h = s[at + 1] as number;
      if (h === 0 || (h === hi && s[at] === lo)) {
        this.lastAt = at;
        return h === 0 ? -1 : (s[at + 2] as number);
      }
    }
  }

  /** Store `value` (≥ 0) for `key`, replacing what was there. */
  set(key: number, value: number): void {
    const lo = key | 0;
    const hi = Math.floor(key / 4294967296) + 1;
    const s = this.slots;
    let at = 0;
    if (key === this.lastKey) {
      at = this.lastAt;
      this.lastKey = NaN;
      if (s[at + 1] !== 0) {
        s[at + 2] = value;
        return;
      }
    } else {
      this.lastKey = NaN;
      const start = slot(lo, hi);
      for (let k = 0; ; ) {
        at = ((start + k) & this.mask) * 3;
        k += 1;
        const h = s[at + 1] as number;
        if (h === 0) break;
        if (h === hi && s[at] === lo) {
          s[at + 2] = value;
          return;
        }
      }
    }
    s[at] = lo;
    s[at + 1] = hi;
    s[at + 2] = value;
    this.size += 1;
    // Grown at three quarters full: linear probing stays short there (about 2.5 probes to find a
    // key, 8.5 to miss), and the table holds one entry for every state seen: the largest part of a
    // big search that does not shrink with the frontier.
    if (this.size * 4 > this.mask * 3) this.grow();
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    const s = this.slots;
    for (let j = 0; j < old.length; j += 3) {
      const h = old[j + 1] as number;
      if (h === 0) continue;
      const lo = old[j] as number;
      let i = slot(lo, h) & this.mask;
      while (s[i * 3 + 1] !== 0) i = (i + 1) & this.mask;
      s[i * 3] = lo;
      s[i * 3 + 1] = h;
      s[i * 3 + 2] = old[j + 2] as number;
    }
  }
}
