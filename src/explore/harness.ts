/**
 * What both exhaustive engines share: the simulation under exploration with its property observers
 * forked along each path (copy on write), and the footprints sleep sets are made of.
 */
import type { Scenario } from '../scenarios/types.js';
import { hash53, mix, Simulation } from '../sim/simulation.js';
import { allObservers, type Observer } from '../spec/index.js';
import type { TraceRecord } from '../trace/records.js';
import { bitOf, dependentWithAll, GLOBAL, NON_LOCAL, relationOf, type Dependence, type Footprint } from './dependence.js';

/** At most this many counterexamples per exploration (one per kind of violation). */
export const MAX_REPORTED = 32;

export const NO_SLEEP: Footprint[] = [];
export const NO_KEYS: string[] = [];

export function countViolations(observers: readonly Observer[]): number {
  let n = 0;
  for (const o of observers) n += o.violations().length;
  return n;
}

/**
 * What a path's observers remember that can still change a verdict or a message (each observer's
 * `remembers`), as a hash: 0 when none remembers anything, as on a fresh path. `cpu`: the renaming
 * of CPU numbers symmetry reduction keys the state under.
 */
export function memoryHash(observers: readonly Observer[], now: number, cpu?: (id: number) => number): number {
  let text = '';
  let any = false;
  for (let i = 0; i < observers.length; i++) {
    const m = (observers[i] as Observer).remembers(now, cpu);
    if (m !== '') any = true;
    text += m + '\u0000';
  }
  return any ? hash53(text) : 0;
}

/**
 * The key of a state in the visited set: the machine state's hash with what the observers remember
 * mixed in. Two paths to one machine state whose observers remember different things are different
 * states of the search (merging them would lose what the second path's observers would have found);
 * when they remember nothing it is the machine's hash itself.
 */
export function visitedKey(machine: number, memory: number): number {
  return memory === 0 ? machine : mix(machine, memory);
}

/**
 * Everything the observers hold, what they reported included, as text: the reference search keys
 * states by the machine, the clock and this (tests hold the pruned search to it).
 */
export function observersSnapshot(observers: readonly Observer[]): string {
  return JSON.stringify(observers, (_k, v: unknown) => (v instanceof Set ? [...v] : v instanceof Map ? [...v] : v));
}

/** A violation's kind: its property and its message with the numbers blanked. */
export function violationKind(v: { property: string; message: string }): string {
  return `${v.property}|${v.message.replace(/\d+/g, '#')}`;
}

/** Whether one path's choice keys come before another's (equal lengths): the order breadth-first search expands them in. */
export function keysBefore(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as string;
    const y = b[i] as string;
    if (x !== y) return x < y;
  }
  return a.length < b.length;
}

/**
 * The counterexamples of a search, and when the first violation showed. By default one per
 * property: its shortest path, the first in breadth-first (choice key) order among equals; a
 * property is settled once the search expands states as deep as that path (nothing shorter can
 * come), and when every property watched is settled the search can stop. With `allViolations`:
 * one per kind of violation (the message with its numbers blanked), at most MAX_REPORTED kinds.
 */
export class Findings<P> {
  private readonly found = new Map<string, { property: string; message: string; path: P; length: number }>();
  firstMs: number | null = null;

  /**
   * `elapsed`: milliseconds since the search started (reporting only; it steers nothing).
   * `keysOf`: a path's choice keys (to order paths of equal length). `properties`: those watched.
   */
  constructor(
    private readonly elapsed: () => number,
    private readonly keysOf: (p: P) => readonly string[],
    private readonly properties: readonly string[],
    private readonly allViolations: boolean,
  ) {}

  /** Violations seen at the end of a path `length` decisions long (`path` is built only if kept). */
  add(violations: readonly { property: string; message: string }[], length: number, path: () => P): void {
    for (const v of violations) {
      const kind = this.allViolations ? this.kindOf(v) : v.property;
      const prior = this.found.get(kind);
      this.firstMs ??= this.elapsed();
      if (!prior) {
        if (this.found.size < MAX_REPORTED) this.found.set(kind, { property: v.property, message: v.message, path: path(), length });
      } else if (length < prior.length) {
        this.found.set(kind, { property: v.property, message: v.message, path: path(), length });
      } else if (length === prior.length) {
        const p = path();
        if (keysBefore(this.keysOf(p), this.keysOf(prior.path))) this.found.set(kind, { property: v.property, message: v.message, path: p, length });
      }
    }
  }

  /** violationKind, remembered by property and message: a search meets the same few violations at every end state. */
  private kindOf(v: { property: string; message: string }): string {
    let byMessage = this.kinds.get(v.property);
    if (!byMessage) this.kinds.set(v.property, (byMessage = new Map()));
    let kind = byMessage.get(v.message);
    if (kind === undefined) {
      if (byMessage.size >= 4096) byMessage.clear();
      byMessage.set(v.message, (kind = violationKind(v)));
    }
    return kind;
  }
  private readonly kinds = new Map<string, Map<string, string>>();

  /** Every property has its counterexample, and none as short can come from states `depth` deep or deeper. */
  settled(depth: number): boolean {
    if (this.allViolations || this.properties.length === 0) return false;
    for (const p of this.properties) {
      const f = this.found.get(p);
      if (!f || f.length >= depth) return false;
    }
    return true;
  }

  list(): { property: string; message: string; path: P }[] {
    return [...this.found.values()];
  }
}

/** The child's sleep set: the parent's and the earlier siblings' choices that commute with this one (dependence.ts). */
export function sleepAfter(parent: readonly Footprint[], siblings: readonly Footprint[], fp: Footprint, dependence: Dependence): Footprint[] {
  if (dependentWithAll(fp, dependence)) return NO_SLEEP;
  const independent = relationOf(dependence);
  const out: Footprint[] = [];
  for (const z of parent) if (independent(z, fp)) out.push(z);
  for (const z of siblings) if (independent(z, fp)) out.push(z);
  return out;
}

/** The order siblings are expanded in: by choice key, so that it does not depend on how a state was built. */
export function byKey(keys: readonly string[]): number[] {
  const order = keys.map((_, i) => i);
  return order.sort((a, b) => {
    const x = keys[a] as string;
    const y = keys[b] as string;
    return x < y ? -1 : x > y ? 1 : a - b;
  });
}

export class Harness {
  readonly sim: Simulation;
  private observers: Observer[] = [];
  private owned: boolean[] = [];
  private copied = false;
  /** The record kinds some observer reads. */
  reads: ReadonlySet<TraceRecord['t']> = new Set();
  private nonLocal = false;
  private globalRecord = false;
  /** The observers shown a record since the last `decide` began (dependence.ts Footprint.seen). */
  private seen = 0;
  private readonly wanted: ReadonlySet<string> | null;
  /** While set, records reach no observer (replaying a path to rebuild a state). */
  muted = false;
  /** While set, every record is also appended here, muted or not (what a transition emits, for the cache). */
  recording: TraceRecord[] | null = null;

  constructor(scenario: Scenario, properties: readonly string[]) {
    this.wanted = properties.length ? new Set(properties) : null;
    this.sim = new Simulation(scenario, { seed: 0, mode: 'untimed', engine: 'compiled', lean: true, maxSteps: Number.MAX_SAFE_INTEGER });
    this.sim.trace$.subscribe((r) => {
      if (this.recording) this.recording.push(r);
      if (!this.muted) this.feed(r);
      else this.note(r);
    });
  }

  /** Show one record to the observers that read its kind. */
  feed(r: TraceRecord): void {
    if (NON_LOCAL.has(r.t)) this.nonLocal = true;
    if (GLOBAL.has(r.t)) this.globalRecord = true;
    if (!this.reads.has(r.t)) return;
    let obs = this.observers;
    for (let i = 0; i < obs.length; i++) {
      const o = obs[i] as Observer;
      if (!o.reads.includes(r.t) || (o.relevant && !o.relevant(r))) continue;
      // Copy on write: a path shares its parent's observers (the array and each observer) until a
      // record changes one.
      if (!this.copied) {
        obs = this.observers = [...obs];
        this.owned = obs.map(() => false);
        this.copied = true;
      }
      if (!this.owned[i]) {
        obs[i] = o.clone();
        this.owned[i] = true;
      }
      (obs[i] as Observer).observe(r);
      this.seen |= bitOf(i);
    }
  }

  /** What a record tells of its decision's footprint, when muted (as `feed` notes it otherwise). */
  private note(r: TraceRecord): void {
    if (NON_LOCAL.has(r.t)) this.nonLocal = true;
    if (GLOBAL.has(r.t)) this.globalRecord = true;
    if (this.reads.has(r.t)) this.seen |= this.seenBy(r);
  }

  /** The observers a record shows something (one bit each). */
  private seenBy(r: TraceRecord): number {
    let seen = 0;
    for (let i = 0; i < this.observers.length; i++) {
      const o = this.observers[i] as Observer;
      if (o.reads.includes(r.t) && (!o.relevant || o.relevant(r))) seen |= bitOf(i);
    }
    return seen;
  }

  /** The observers these records would show something (Footprint.seen, as `feed` and `note` find it). */
  seenOf(records: readonly TraceRecord[]): number {
    let seen = 0;
    for (const r of records) if (this.reads.has(r.t)) seen |= this.seenBy(r);
    return seen;
  }

  /** Whether some observer would look at this record (what a cached effect keeps of its records). */
  relevant(r: TraceRecord): boolean {
    if (!this.reads.has(r.t)) return false;
    for (const o of this.observers) if (o.reads.includes(r.t) && (!o.relevant || o.relevant(r))) return true;
    return false;
  }

  /** Watch with the given observers (shared until a record changes one: see `feed`). */
  fork(observers: Observer[]): void {
    this.observers = observers;
    this.copied = false;
  }

  /** The observers after what was fed since `fork`: the forked array itself if nothing changed them. */
  get current(): Observer[] {
    return this.observers;
  }

  /** Whether a record changed the observers since `fork`. */
  get touched(): boolean {
    return this.copied;
  }

  freshObservers(): Observer[] {
    return allObservers().filter((o) => !this.wanted || this.wanted.has(o.property));
  }

  attach(observers: Observer[]): void {
    this.observers = observers;
    this.owned = observers.map(() => true);
    this.copied = true;
    this.reads = new Set(observers.flatMap((o) => o.reads));
  }

  /**
   * Take one decision and say what its records showed: whether it was local ('shared' relation),
   * whether it wrote a record of a scripted action, reset or kexec, and the observers shown a record.
   */
  decide(pick: number): { actor: number; local: boolean; global: boolean; seen: number } {
    const actor = this.sim.choiceActor(pick);
    this.nonLocal = false;
    this.globalRecord = false;
    this.seen = 0;
    this.sim.decide(pick);
    return { actor, local: !this.nonLocal, global: this.globalRecord, seen: this.seen };
  }

  violations(): { property: string; message: string }[] {
    return this.observers.flatMap((o) => o.violations());
  }
}
