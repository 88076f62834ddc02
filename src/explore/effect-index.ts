/**
 * The transition cache's effects (cached.ts), found in two steps. Effects are filed under their
 * first key (the decision and the flags, `k1`; the state of the actor it belongs to, `k2`) and, within it, by
 * their shape: which CPUs and guest actors they read, which memory fields, which CPUs only for
 * whether they run tasks and which guest threads only for some of their bits (CpuState.bits,
 * masked by Effect.runsMasks, with their pending items when those were read). A lookup hashes, for each shape filed under the first key, the current
 * values at those places, and checks only the effects recorded with those values (a hash shared by
 * other values only lengthens that list). Filed under the first key alone, a vhost worker's effects
 * for one device state but many vCPU states were one list walked on every lookup.
 */
import { HashTable } from './hash-table.js';
import { SIG_KEYED, type Effect } from './cache-tables.js';

/** What an effect read: where it looks, not what it found there. */
interface Shape {
  reads: Int32Array;
  memReads: Int32Array;
  runsRead: Int32Array;
  /** The bits read of each, and SIG_KEYED (Effect.runsMasks). */
  runsMasks: Int32Array;
  /** The vCPU slots that reacted (Effect.reacts): their bits are those after, checked along the list, not hashed. */
  reacts: Int32Array;
}

export class EffectIndex {
  /** `cpus`: how many slots are CPUs (a guest slot read through its bits is keyed on its pending items too). */
  constructor(private readonly cpus: number) {}

  /** First key (k1, k2) → the first link of its list of shapes. */
  private readonly firstLink = new HashTable();
  private readonly linkShape: number[] = [];
  private readonly linkNext: number[] = [];
  private readonly shapes: Shape[] = [];
  private readonly shapeIds = new Map<string, number>();
  /** (hash of first key and values, shape) → the first effect recorded with them (then along Effect.next). */
  private readonly byValues = new HashTable(1 << 14);

  /** File effect `index` (its `next` is set here), recorded under `k1` in a state with these values. */
  add(k1: number, k2: number, index: number, e: Effect, cpus: Int32Array, sigs: Float64Array, memFields: Float64Array, bits: readonly number[]): void {
    const text = `${e.reads.join(',')}|${e.memReads.join(',')}|${e.runsRead.join(',')}:${e.runsMasks.join(',')}|${e.reacts.join(',')}`;
    let shape = this.shapeIds.get(text);
    if (shape === undefined) {
      shape = this.shapes.length;
      this.shapes.push({ reads: e.reads, memReads: e.memReads, runsRead: e.runsRead, runsMasks: e.runsMasks, reacts: e.reacts });
      this.shapeIds.set(text, shape);
    }
    let known = false;
    for (let l = this.firstLink.getPair(k1, k2); l >= 0 && !known; l = this.linkNext[l] as number) known = this.linkShape[l] === shape;
    if (!known) {
      this.linkShape.push(shape);
      this.linkNext.push(this.firstLink.getPair(k1, k2));
      this.firstLink.setPair(k1, k2, this.linkShape.length - 1);
    }
    const key = this.key(k1, k2, shape, cpus, sigs, memFields, bits);
    e.next = this.byValues.getPair(key, shape);
    this.byValues.setPair(key, shape, index);
  }

  /** The first link of `k1`'s shapes, or -1; then `nextLink`. */
  first(k1: number, k2: number): number {
    return this.firstLink.getPair(k1, k2);
  }

  nextLink(link: number): number {
    return this.linkNext[link] as number;
  }

  /** The first effect filed under `k1` with link `link`'s shape and the current values there, or -1 (then along Effect.next). */
  effects(k1: number, k2: number, link: number, cpus: Int32Array, sigs: Float64Array, memFields: Float64Array, bits: readonly number[]): number {
    const shape = this.linkShape[link] as number;
    return this.byValues.getPair(this.key(k1, k2, shape, cpus, sigs, memFields, bits), shape);
  }

  /**
   * The values at a shape's places, with the first key, as a 32-bit hash (filed with the shape):
   * `cpus` the slots' interned states (`bits`: each one's CpuState.bits), `sigs` their pending-item signatures (sigOf in
   * cache-tables.ts), `memFields` the memory's field hashes.
   */
  private key(k1: number, k2: number, shape: number, cpus: Int32Array, sigs: Float64Array, memFields: Float64Array, bits: readonly number[]): number {
    const s = this.shapes[shape] as Shape;
    let h = Math.imul(0x811c9dc5 ^ k1, 0x01000193);
    h = Math.imul(h ^ k2, 0x01000193);
    for (let j = 0; j < s.reads.length; j++) {
      const c = s.reads[j] as number;
      h = Math.imul(h ^ (cpus[c] as number), 0x01000193);
      const sig = sigs[c] as number;
      h = Math.imul(h ^ (sig | 0), 0x01000193);
      h = Math.imul(h ^ Math.floor(sig / 4294967296), 0x01000193);
    }
    for (let j = 0; j < s.memReads.length; j++) {
      const v = memFields[s.memReads[j] as number] as number;
      h = Math.imul(h ^ (v | 0), 0x01000193);
      h = Math.imul(h ^ Math.floor(v / 4294967296), 0x01000193);
    }
    for (let j = 0; j < s.runsRead.length; j++) {
      const c = s.runsRead[j] as number;
      const m = s.runsMasks[j] as number;
      if (s.reacts.length === 0 || !s.reacts.includes(c)) h = Math.imul(h ^ (((bits[cpus[c] as number] as number) & m & 0xff) + 1), 0x01000193);
      if (c < this.cpus || (m & SIG_KEYED) === 0) continue;
      const sig = sigs[c] as number;
      h = Math.imul(h ^ (sig | 0), 0x01000193);
      h = Math.imul(h ^ Math.floor(sig / 4294967296), 0x01000193);
    }
    return h;
  }
}
