/**
 * The transition cache's pending-item multisets (cached.ts): each state's pending items are one
 * interned, sorted tuple of item descriptors (Tables.descs), and what expanding a state reads of
 * them is worked out once per multiset (a few thousand recur across millions of states):
 * - the exact sums of its items' hash halves (both stay far below 2^53 for the handful of items a
 *   state has: the state hash's pending part, see finishHash);
 * - the items due now in key order (none: the clock moves first), and the script steps due first,
 *   which are choices early (agenda.ts, earlyScripts; when they are all there is, the clock moves
 *   first too: `waits`). Key order is fixed once two keys
 *   are seen (Desc.rank follows it), so a list sorted when the multiset is new stays sorted. The
 *   lists stand one after another in one pool: an array each was most of the memory of a wide
 *   machine's search, where multisets rarely recur;
 * - each slot's pending-item signature (sigOf for every slot), kept for the first multisets only
 *   (SIG_MEMO numbers in all): on a wide machine each would hold a number per slot; past that they
 *   are worked out again when a state is expanded.
 */
import { Tuples, widened, type Desc, type Tables } from './cache-tables.js';

/** How many slot signatures are kept for multisets (2^21 numbers: 16 MB). */
const SIG_MEMO = 1 << 21;

export class ItemMultisets {
  private readonly tuples = new Tuples((items) => this.added(items));
  /** Each multiset's sums of its items' hash halves. */
  readonly lo: number[] = [];
  readonly hi: number[] = [];
  private readonly sigs: (Float64Array | null)[] = [];
  private readonly sigScratch: Float64Array;
  private readonly readyStart: number[] = [];
  private readonly readyLength: number[] = [];
  /** Whether only early script steps are due and a timer is due no later than they are (the clock moves to it before the multiset is expanded). */
  private readonly onlyEarly: boolean[] = [];
  /** The due lists, one after another (`readyAt`): read it again after interning, which may grow it. */
  pool = new Int32Array(1 << 12);
  private used = 0;

  /** `width`: how many slots; `keepSigs` false: no signature is kept (tests: both ways give one search). */
  constructor(
    private readonly t: Tables,
    private readonly width: number,
    private readonly keepSigs: boolean,
  ) {
    this.sigScratch = new Float64Array(width);
  }

  /** The id of a sorted list of item descriptors. */
  intern(sorted: readonly number[]): number {
    return this.tuples.intern(sorted);
  }

  get(id: number): Int32Array {
    return this.tuples.get(id);
  }

  /** Where multiset `id`'s due items start in `pool`, and how many there are. */
  readyAt(id: number): number {
    return this.readyStart[id] as number;
  }

  readyCount(id: number): number {
    return this.readyLength[id] as number;
  }

  /**
   * Whether the clock moves before multiset `id` is expanded: nothing due, or only script steps early
   * and a timer due no later than they are (never to their own time: agenda.ts, earlyScripts).
   */
  waits(id: number): boolean {
    return this.readyLength[id] === 0 || this.onlyEarly[id] === true;
  }

  /** The time from now of the script steps due first in `items` (Infinity: none): they are choices early. */
  static firstScript(descs: readonly Desc[], items: ArrayLike<number>): number {
    let first = Infinity;
    for (let k = 0; k < items.length; k++) {
      const d = descs[items[k] as number] as Desc;
      if (d.kind === 'script' && d.rel < first) first = d.rel;
    }
    return first;
  }

  /** Each slot's pending-item signature in multiset `id` (kept, or worked out into a scratch array read only until the next call). */
  sigsOf(id: number): Float64Array {
    const kept = this.sigs[id];
    if (kept) return kept;
    const out = this.sigScratch;
    out.fill(0);
    this.addSigs(this.tuples.get(id), out);
    return out;
  }

  private addSigs(items: Int32Array, out: Float64Array): void {
    for (let k = 0; k < items.length; k++) {
      const di = this.t.descs[items[k] as number] as Desc;
      if (di.cpu >= 0) out[di.cpu] = (out[di.cpu] as number) + di.sig;
    }
  }

  private added(items: Int32Array): void {
    const descs = this.t.descs;
    let lo = 0;
    let hi = 0;
    const ready: number[] = [];
    const firstScript = ItemMultisets.firstScript(descs, items);
    let early = 0;
    // The deadline due first but for script steps' (a held timer's is now).
    let firstOther = Infinity;
    for (const i of items) {
      const di = descs[i] as Desc;
      const x = di.hash;
      lo += x >>> 0;
      hi += Math.floor(x / 4294967296);
      if (di.kind !== 'script') firstOther = Math.min(firstOther, Math.max(0, di.rel));
      // (Due means rel <= 0, as for the agenda; nothing is ever past due in an untimed run. The script
      // steps due first are choices before that. Insertion sort, stable: a handful of items.)
      const isEarly = di.kind === 'script' && di.rel > 0 && di.rel === firstScript;
      if ((di.rel > 0 && !isEarly) || di.held) continue;
      if (isEarly) early += 1;
      let j = ready.length;
      ready.push(i);
      for (; j > 0 && (descs[ready[j - 1] as number] as Desc).rank > di.rank; j--) ready[j] = ready[j - 1] as number;
      ready[j] = i;
    }
    this.lo.push(lo);
    this.hi.push(hi);
    let sigs: Float64Array | null = null;
    if (this.keepSigs && (this.sigs.length + 1) * this.width <= SIG_MEMO) {
      sigs = new Float64Array(this.width);
      this.addSigs(items, sigs);
    }
    this.sigs.push(sigs);
    if (this.used + ready.length > this.pool.length) this.pool = widened(this.pool, this.used + ready.length);
    this.readyStart.push(this.used);
    this.readyLength.push(ready.length);
    this.onlyEarly.push(ready.length > 0 && early === ready.length && firstOther <= firstScript);
    for (let j = 0; j < ready.length; j++) this.pool[this.used++] = ready[j] as number;
  }
}
