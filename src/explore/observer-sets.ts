/**
 * The property observers of the transition cache's states, interned: each observer state seen is
 * kept once, and a state's observers are one number (a tuple of observer ids). A path's observers
 * are shared with its parent's until a record changes one (Harness.feed copies it first), so an
 * interned observer is never changed afterwards; a copy that a record changed is compared with
 * those seen by its whole content (stateText), and dropped for the one seen before if equal.
 * Exact as long as an observer's state is what `stateText` sees: its own enumerable fields (and
 * the arrays, Sets, Maps and plain objects in them), under its class's name. Two observers are one
 * entry only if all of that is equal, so they give the same verdicts, messages and memory
 * (remembers) whatever they are shown later. State kept where the fields do not show it — a
 * `#private` field, a value a class defined inside a function captured, two classes of one name —
 * would be invisible here: the observers of src/spec/ keep none (test/explore/observer-sets.test.ts
 * holds every one of them to that), and a new one must not either.
 *
 * Before this, every state in the search's frontier held an array of its observers and the copies
 * made along its path: about 200 bytes a state on the JS heap, the largest part of a big search.
 */
import type { Observer } from '../spec/index.js';
import { Tuples } from './cache-tables.js';
import { HashTable } from './hash-table.js';
import { Interned } from './interned.js';

export class ObserverSets {
  /** Each observer state seen, by id, and the ids by content. */
  private readonly kept = new Interned<Observer>();
  private readonly observers: readonly Observer[] = this.kept.values;
  /** Sets of observers as tuples of observer ids; each set's observers, by set id. */
  private readonly tuples = new Tuples();
  private readonly sets: Observer[][] = [];
  private readonly scratch: number[] = [];

  /** The observers of set `id` (shared: never to be changed; Harness.fork copies on write). */
  get(id: number): Observer[] {
    return this.sets[id] as Observer[];
  }

  /**
   * The id of a set of observers, every one of which is either the one at the same place in set
   * `parent` (the same object: its id is known) or a copy made since (compared by content).
   * `parent` -1: none is known.
   */
  intern(observers: readonly Observer[], parent: number): number {
    const known = parent >= 0 ? (this.sets[parent] as Observer[]) : null;
    const knownIds = parent >= 0 ? this.tuples.get(parent) : null;
    const ids = this.scratch;
    for (let i = 0; i < observers.length; i++) {
      const o = observers[i] as Observer;
      ids[i] = known && known[i] === o ? (knownIds as Int32Array)[i] as number : this.observerId(o);
    }
    const id = this.tuples.intern(ids, observers.length);
    if (id === this.sets.length) this.sets.push(Array.from({ length: observers.length }, (_, i) => this.observers[ids[i] as number] as Observer));
    return id;
  }

  /** How many violations the observers of set `id` have found (countViolations). */
  violationCount(id: number): number {
    return this.violations(id).length;
  }

  /** The violations the observers of set `id` have found, in order (Harness.violations; shared: never to be changed). */
  violations(id: number): readonly { property: string; message: string }[] {
    // (Interned observers never change, so neither do their violations.)
    let list = this.lists[id];
    if (list === undefined) {
      list = (this.sets[id] as Observer[]).flatMap((o) => o.violations());
      while (this.lists.length < id) this.lists.push(undefined);
      this.lists[id] = list;
    }
    return list;
  }
  private readonly lists: ({ property: string; message: string }[] | undefined)[] = [];

  /** How many observer states and sets of them are kept. */
  get size(): { observers: number; sets: number } {
    return { observers: this.observers.length, sets: this.sets.length };
  }

  private observerId(o: Observer): number {
    const text = comparable(o);
    // (One whose state cannot be compared is kept on its own: never merged, so still exact.)
    return text === null ? this.kept.add(o) : this.kept.id(text, () => o);
  }
}

/** stateText, or null for state it cannot compare. */
function comparable(o: Observer): string | null {
  try {
    return stateText(o);
  } catch (e) {
    if (e instanceof Incomparable) return null;
    throw e;
  }
}

/** State stateText cannot tell apart from other state (a function, a built-in object, symbol keys). */
export class Incomparable extends Error {}

/**
 * All of an observer's state as text, with types told apart (a number from a string, a Set from an
 * array, one class from another): equal texts, equal states. Sets and Maps in insertion order
 * (two equal ones built in another order are merely kept twice).
 */
export function stateText(v: unknown): string {
  if (v === null) return 'n';
  switch (typeof v) {
    case 'number':
      return Object.is(v, -0) ? '-0' : String(v);
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'bigint':
      return `${v}n`;
    case 'object':
      break;
    default:
      throw new Incomparable(`an observer holds a ${typeof v}, which cannot be compared`);
  }
  if (Array.isArray(v)) {
    let s = '[';
    for (let i = 0; i < v.length; i++) s += (i in v ? stateText(v[i]) : '_') + ',';
    return s + ']';
  }
  if (v instanceof Set) {
    let s = 'S[';
    for (const x of v) s += stateText(x) + ',';
    return s + ']';
  }
  if (v instanceof Map) {
    let s = 'M[';
    for (const [k, x] of v) s += stateText(k) + ':' + stateText(x) + ',';
    return s + ']';
  }
  // A plain object or an instance of a class of ours: its state is its own fields. A built-in one
  // (a Date, a typed array, a WeakMap…) keeps its state where the fields do not show it.
  const proto = Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null;
  const ctor = proto?.constructor;
  if (proto !== Object.prototype && proto !== null && (typeof ctor !== 'function' || Function.prototype.toString.call(ctor).includes('[native code]'))) {
    throw new Incomparable(`an observer holds a ${ctor?.name ?? 'object'}, which cannot be compared`);
  }
  let s = `${proto?.constructor?.name ?? ''}{`;
  for (const k of Object.keys(v)) s += JSON.stringify(k) + ':' + stateText((v as Record<string, unknown>)[k]) + ',';
  if (Object.getOwnPropertySymbols(v).length > 0) throw new Incomparable('an observer holds symbol-keyed state, which cannot be compared');
  return s + '}';
}

/**
 * What a cached effect's records make of a set of observers on a given clock (the records are the
 * effect's, with the path's time: see feedRecords in cached.ts): the set after and what it
 * remembers (harness.ts memoryHash), so that a transition seen before on the same observers and
 * clock neither copies nor feeds them again. Keyed exactly: by the pair (set, effect), then the
 * clock along a short list.
 */
export class ObserverSteps {
  private readonly heads = new HashTable(1 << 12);
  private readonly nows: number[] = [];
  private readonly sets: number[] = [];
  private readonly memories: number[] = [];
  private readonly nexts: number[] = [];

  /** The entry for observers `set` shown effect `effect`'s records at time `now`, or -1. */
  find(set: number, effect: number, now: number): number {
    for (let x = this.heads.getPair(set, effect); x >= 0; x = this.nexts[x] as number) if (this.nows[x] === now) return x;
    return -1;
  }

  /** The set after, of an entry. */
  setOf(entry: number): number {
    return this.sets[entry] as number;
  }

  /** What the set after remembers then, of an entry. */
  memoryOf(entry: number): number {
    return this.memories[entry] as number;
  }

  add(set: number, effect: number, now: number, after: number, memory: number): void {
    const x = this.nows.length;
    this.nows.push(now);
    this.sets.push(after);
    this.memories.push(memory);
    this.nexts.push(this.heads.getPair(set, effect));
    this.heads.setPair(set, effect, x);
  }
}
