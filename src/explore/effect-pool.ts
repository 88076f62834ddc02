/**
 * The transition cache's effects (cache-tables.ts Effect) as the search's hot path reads them: what
 * finding one checks and what applying one does, for each effect one run of numbers in one pool of
 * int32 and one of doubles. An Effect object keeps a score of small typed arrays, each an object of
 * its own: checking one effect read a dozen scattered cache lines, and the effects of a search
 * (a few thousand, some kilobytes each) did not stay in the caches. Here one is a few lines in a row.
 *
 * An effect with reactions, threads kept apart or timers armed (Effect.reacts, refresh, armed) is
 * marked COMPLEX: those parts are checked and applied from its object (cached.ts).
 */
import { widened, type Effect } from './cache-tables.js';

/** Offsets in an effect's run of int32s (`ints`, from `at(x)`). */
export const E_DESC = 0;
export const E_FLAGS = 1;
/** The next effect filed with the same key (Effect.next), -1 at the end. */
export const E_NEXT = 2;
/** 1 when the effect has reactions, threads kept apart or timers armed (checked from its object). */
export const E_COMPLEX = 3;
export const E_WRITTEN = 4;
/** How many memory fields read, slots read, slots read through their bits, slots not read, slots set. */
export const E_NMEM = 5;
export const E_NREADS = 6;
export const E_NRUNS = 7;
export const E_NOTHERS = 8;
export const E_NSET = 9;
/** Where setCpu starts (from the run's start). */
export const E_SET_AT = 10;
export const E_FLAGS_AFTER = 11;
export const E_FP = 12;
/** What applying it does besides setting slots: E_ITEMS and the like, as bits. */
export const E_DOES = 13;
/** Then: memReads, reads, readIds, runsRead, runsMasks, runsVals, others, setCpu, setIds (each as long as its count). */
export const E_LISTS = 14;

/** In E_DOES: it removes or adds pending items, writes memory, has records for the observers, has reactions, keeps threads apart. */
export const E_ITEMS = 1;
export const E_MEMORY = 2;
export const E_RECORDS = 4;
export const E_REACTS = 8;
export const E_REFRESH = 16;

export class EffectPool {
  /** The effects' runs of int32s and of doubles (memVals, readSigs, runsSigs), one after another. */
  ints = new Int32Array(1 << 12);
  floats = new Float64Array(1 << 10);
  /** Where effect x's runs start. */
  private readonly intAt: number[] = [];
  private readonly floatAt: number[] = [];
  private usedInts = 0;
  private usedFloats = 0;

  /** Where effect `x`'s int32s start in `ints`. */
  at(x: number): number {
    return this.intAt[x] as number;
  }

  /** Where effect `x`'s doubles start in `floats`. */
  floatsAt(x: number): number {
    return this.floatAt[x] as number;
  }

  /** Effect number `x` (the next one: effects are added in order), after its `next` is set. */
  add(x: number, e: Effect): void {
    if (x !== this.intAt.length) throw new Error(`internal error: effect ${x} pooled out of order`);
    const nMem = e.memReads.length;
    const nReads = e.reads.length;
    const nRuns = e.runsRead.length;
    const nOthers = e.others.length;
    const nSet = e.setCpu.length;
    const n = E_LISTS + nMem + 2 * nReads + 3 * nRuns + nOthers + 2 * nSet;
    const nf = nMem + nReads + nRuns;
    if (this.usedInts + n > this.ints.length) this.ints = widened(this.ints, this.usedInts + n);
    if (this.usedFloats + nf > this.floats.length) this.floats = widened(this.floats, this.usedFloats + nf);
    const o = this.usedInts;
    const f = this.usedFloats;
    this.intAt.push(o);
    this.floatAt.push(f);
    const p = this.ints;
    p[o + E_DESC] = e.desc;
    p[o + E_FLAGS] = e.flags;
    p[o + E_NEXT] = e.next;
    p[o + E_COMPLEX] = e.reacts.length > 0 || e.refresh.length > 0 || e.armed.length > 0 ? 1 : 0;
    p[o + E_WRITTEN] = e.written;
    p[o + E_NMEM] = nMem;
    p[o + E_NREADS] = nReads;
    p[o + E_NRUNS] = nRuns;
    p[o + E_NOTHERS] = nOthers;
    p[o + E_NSET] = nSet;
    p[o + E_FLAGS_AFTER] = e.flagsAfter;
    p[o + E_FP] = e.fp;
    p[o + E_DOES] =
      (e.removed.length > 0 || e.added.length > 0 ? E_ITEMS : 0) |
      (e.memWrites.length > 0 ? E_MEMORY : 0) |
      (e.records.length > 0 ? E_RECORDS : 0) |
      (e.reacts.length > 0 ? E_REACTS : 0) |
      (e.refresh.length > 0 ? E_REFRESH : 0);
    let i = o + E_LISTS;
    let j = f;
    const q = this.floats;
    for (let k = 0; k < nMem; k++) {
      p[i++] = e.memReads[k] as number;
      q[j++] = e.memVals[k] as number;
    }
    for (let k = 0; k < nReads; k++) p[i++] = e.reads[k] as number;
    for (let k = 0; k < nReads; k++) {
      p[i++] = e.readIds[k] as number;
      q[j++] = e.readSigs[k] as number;
    }
    for (let k = 0; k < nRuns; k++) p[i++] = e.runsRead[k] as number;
    for (let k = 0; k < nRuns; k++) p[i++] = e.runsMasks[k] as number;
    for (let k = 0; k < nRuns; k++) {
      p[i++] = e.runsVals[k] as number;
      q[j++] = e.runsSigs[k] as number;
    }
    for (let k = 0; k < nOthers; k++) p[i++] = e.others[k] as number;
    p[o + E_SET_AT] = i - o;
    for (let k = 0; k < nSet; k++) p[i++] = e.setCpu[k] as number;
    for (let k = 0; k < nSet; k++) p[i++] = e.setIds[k] as number;
    this.usedInts = i;
    this.usedFloats = j;
  }
}
