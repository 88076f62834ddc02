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

  /** Where the last getPair's probe ended (its slot, or the free slot it stopped at). */
  private lastAt = 0;

  /** The value stored for `key` (a non-negative integer below 2^53), or -1: its two halves' getPair. */
  get(key: number): number {
    return this.getPair(key | 0, Math.floor(key / 4294967296));
  }

  /** Store `value` (≥ 0) for `key`, replacing what was there (setPair of its two halves). */
  set(key: number, value: number): void {
    this.setPair(key | 0, Math.floor(key / 4294967296), value);
  }

  /**
   * `get` for a key made of two numbers, `a` any int32 and `b` from 0 to 2^31 - 2 (the search's memos are keyed by
   * pairs of ids): stored as low half `a` and high half `b + 1`, with no double to split (a double
   * is divided to be split, and boxed when passed to a call not inlined). A table is keyed one way only.
   */
  getPair(a: number, b: number): number {
    const hi = b + 1;
    const s = this.slots;
    const start = slot(a, hi);
    for (let k = 0; ; ) {
      const at = ((start + k) & this.mask) * 3;
      k += 1;
      const h = s[at + 1] as number;
      if (h === 0 || (h === hi && s[at] === a)) {
        this.lastPairA = a;
        this.lastPairHi = hi;
        this.lastAt = at;
        return h === 0 ? -1 : (s[at + 2] as number);
      }
    }
  }

  /** `set` for a key made of two numbers (see getPair). */
  setPair(a: number, b: number, value: number): void {
    const hi = b + 1;
    const s = this.slots;
    let at = this.lastAt;
    // A set of the key looked up just before (the search looks a state up, then stores it) writes
    // where that probe ended without probing again; any set forgets it (it may move or fill slots).
    const known = this.lastPairA === a && this.lastPairHi === hi;
    this.lastPairHi = 0;
    if (!known) {
      const start = slot(a, hi);
      for (let k = 0; ; ) {
        at = ((start + k) & this.mask) * 3;
        k += 1;
        const h = s[at + 1] as number;
        if (h === 0 || (h === hi && s[at] === a)) break;
      }
    }
    if (s[at + 1] !== 0) {
      s[at + 2] = value;
      return;
    }
    s[at] = a;
    s[at + 1] = hi;
    s[at + 2] = value;
    this.size += 1;
    // Grown at three quarters full: linear probing stays short there (about 2.5 probes to find a
    // key, 8.5 to miss), and the table holds one entry for every state seen: the largest part of a
    // big search that does not shrink with the frontier.
    if (this.size * 4 > this.mask * 3) this.grow();
  }
  /** The pair of the last getPair (its high half; 0: none), where its probe ended in lastAt. */
  private lastPairA = 0;
  private lastPairHi = 0;

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

/**
 * The search's visited table: 64-bit keys (two 32-bit halves: state-hash.ts partsKey, or a 53-bit
 * key split) to small non-negative integers. Each slot is three adjacent words (low half, high
 * half, value + 1 or 0 when free). A key's probe starts at the top bits of its mixed halves, so a
 * table twice the size keeps the entries in the same order: growing reads the old table and writes
 * the new one front to back (a search of millions of states grows it a dozen times, each a pass
 * over a table larger than the caches: in random order, one cache miss per entry).
 */
export class VisitedTable {
  private slots: Int32Array;
  private mask: number;
  /** 32 minus the log2 of the slot count: a probe starts at slot(lo, hi) >>> shift. */
  private shift: number;
  size = 0;
  /** As HashTable's: where the last `get`'s probe ended, for a `set` of the same key right after. */
  private lastLo = 0;
  private lastHi = 0;
  private lastAt = -1;

  constructor(capacity = 1 << 12) {
    let cap = 16;
    let bits = 4;
    while (cap * 3 < capacity * 4) {
      cap *= 2;
      bits += 1;
    }
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    this.shift = 32 - bits;
  }

  /** (What `touchAll` loaded, kept so that the loads are not left out.) */
  touched = 0;

  /**
   * Load the slots lookups of keys (lo[j], hi[j]), j < n, start at, and nothing else: the search
   * touches a batch of keys before it looks them up in turn, so that their cache misses overlap.
   * What is loaded is summed in a local, not in a field, so that each load costs few instructions
   * and more of them are under way at once.
   */
  touchAll(lo: Int32Array, hi: Int32Array, n: number): void {
    const s = this.slots;
    const shift = this.shift;
    let sum = 0;
    for (let j = 0; j < n; j++) sum ^= s[(slot(lo[j] as number, hi[j] as number) >>> shift) * 3 + 2] as number;
    this.touched ^= sum;
  }

  /** The value stored for key (lo, hi), or -1. */
  get(lo: number, hi: number): number {
    const s = this.slots;
    let i = slot(lo, hi) >>> this.shift;
    this.lastLo = lo;
    this.lastHi = hi;
    for (;;) {
      const at = i * 3;
      const v = s[at + 2] as number;
      if (v === 0 || (s[at] === lo && s[at + 1] === hi)) {
        this.lastAt = at;
        return v - 1;
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Store `value` (≥ 0) for key (lo, hi), replacing what was there. */
  set(lo: number, hi: number, value: number): void {
    const s = this.slots;
    let at = this.lastAt;
    this.lastAt = -1;
    if (at < 0 || this.lastLo !== lo || this.lastHi !== hi) {
      let i = slot(lo, hi) >>> this.shift;
      for (;;) {
        at = i * 3;
        if (s[at + 2] === 0 || (s[at] === lo && s[at + 1] === hi)) break;
        i = (i + 1) & this.mask;
      }
    }
    if (s[at + 2] !== 0) {
      s[at + 2] = value + 1;
      return;
    }
    s[at] = lo;
    s[at + 1] = hi;
    s[at + 2] = value + 1;
    this.size += 1;
    // Grown at three quarters full, as HashTable.
    if (this.size * 4 > this.mask * 3) this.grow();
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.slots = new Int32Array(cap * 3);
    this.mask = cap - 1;
    this.shift -= 1;
    const s = this.slots;
    for (let j = 0; j < old.length; j += 3) {
      const v = old[j + 2] as number;
      if (v === 0) continue;
      const lo = old[j] as number;
      const hi = old[j + 1] as number;
      let i = slot(lo, hi) >>> this.shift;
      while (s[i * 3 + 2] !== 0) i = (i + 1) & this.mask;
      s[i * 3] = lo;
      s[i * 3 + 1] = hi;
      s[i * 3 + 2] = v;
    }
  }
}
