/**
 * Symmetry reduction for exhaustive search: CPUs that nothing tells apart are interchangeable, so a
 * state and the states made from it by renaming those CPUs behave alike (the same verdicts, the same
 * messages with the CPU numbers renamed). The visited set keys each state by a canonical renaming of
 * it; the search goes on from the real state, so the paths it keeps are real runs (counterexamples
 * replay with the real CPU numbers).
 *
 * Groups (`symmetryGroups`): CPUs with the same initial configuration (the vendor is the machine's)
 * that no script step runs on and no `when` trigger watches; none when the scenario has guests
 * (vCPUs, VMM threads and vhost workers are pinned to CPUs and their state names CPUs in ways the
 * codecs do not describe) or when the crash kernel brings up the APs (it boots them in order of
 * their numbers: `nextAp`). Everything else the model does treats CPUs alike: a broadcast is one
 * delivery per target CPU, each a choice of the search; message ids and the agenda's order are
 * not part of a state.
 *
 * Canonical key: within each group, the CPUs sorted by a hash of what is theirs (chart state and
 * pending items) with every CPU number in it abstracted to "self" or "a CPU of group g" (so it is
 * the same for a CPU and its image under any renaming within groups); the renaming that sorts them
 * applied to the whole state — every field of role cpu-id, cpu-mask and cpu-addr (src/state/),
 * pending items, message senders, the flags — and to what the observers remember (each observer
 * renames the CPU numbers it remembers: Observer.remembers). Ties leave the order of tied CPUs as
 * it is: two states merged still have renamings between them, so merging stays sound; ties only
 * cost some reduction.
 */
import type { Scenario } from '../scenarios/types.js';
import type { Simulation } from '../sim/simulation.js';
import { composeHash, hasGuests } from '../sim/simulation.js';
import type { Renaming } from '../state/codec.js';
import { CPU_STATE, type CpuChartState } from '../state/cpu.js';
import { FLAGS, flagsHash, type FlagValues } from '../state/flags.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { hash53, mix } from '../state/hash.js';
import { MEMORY, memoryHash as memHash } from '../state/memory.js';
import { PENDING, pendingHash, type PendingItem } from '../state/pending.js';
import type { Observer } from '../spec/index.js';
import { abstractRenaming, factorial, permId, permutationsOf, renameChoiceKey, renaming } from './renaming.js';
import { memoryHash, visitedKey } from './harness.js';

const NO_TIES: readonly number[][] = [];
const ascending = (a: number, b: number): number => a - b;

/**
 * The groups of interchangeable CPUs of a scenario (each sorted, at least two CPUs), and why there
 * are none when the scenario rules them out.
 */
export function symmetryGroups(scenario: Scenario): { groups: number[][]; none?: string } {
  if (hasGuests(scenario)) return { groups: [], none: 'the scenario has guests' };
  if (scenario.options.kdump && scenario.options.kdumpBringsUpAps) return { groups: [], none: 'the crash kernel brings up the APs in order of their numbers' };
  const named = new Set<number>();
  for (const s of scenario.script) {
    named.add(s.cpu);
    if (s.trigger.kind === 'enters' && s.trigger.actor === 'cpu') named.add(s.trigger.cpu);
  }
  const byConfig = new Map<string, number[]>();
  scenario.initial.forEach((init, cpu) => {
    if (named.has(cpu)) return;
    const key = JSON.stringify(Object.entries(init).sort(([a], [b]) => (a < b ? -1 : 1)));
    const g = byConfig.get(key);
    if (g) g.push(cpu);
    else byConfig.set(key, [cpu]);
  });
  const groups = [...byConfig.values()].filter((g) => g.length >= 2).sort((a, b) => (a[0] as number) - (b[0] as number));
  return groups.length ? { groups } : { groups: [], none: 'no two CPUs are alike' };
}

/** A state as symmetry renames it: what Simulation.symmetryView gives, or the transition cache's parts of a state. */
export interface SymmetryView {
  chart(cpu: number): CpuChartState;
  /** CPU_STATE's hash of chart(cpu), as the state hash has it. */
  cpuHash(cpu: number): number;
  items: PendingItem[];
  memory: KernelMemoryState;
  memHash: number;
  flags: FlagValues;
  /** The path's clock (what observers remember is relative to it). */
  now: number;
  /**
   * The charts, items, memory and flags are never changed (the transition cache's interned parts):
   * their renamed hashes are remembered per object.
   */
  stable?: boolean;
}

export interface SymmetryStats {
  groups: number[][];
  /** Canonical states the search visited. */
  states: number;
  /** The sum of their orbit sizes: the states a search without symmetry would have visited. */
  unreducedStates: number;
  /** unreducedStates / states. */
  factor: number;
}

/**
 * The smallest group of interchangeable CPUs for which `explore` keys states under symmetry by default.
 * Keying a state canonically costs several times the plain hash; a pair of CPUs saves at most half
 * the states, three or more up to 6×, 24×, … (R2 v5.10, 5 CPUs: 2,643,072 states for 13,687,004,
 * the whole space in less time and half the memory; with 4 CPUs, a pair: 340,730 for 645,044 but
 * slower).
 */
export const SYMMETRY_BY_DEFAULT_FROM = 3;

/** Whether `explore` searches under symmetry when neither --symmetry nor --no-symmetry is given. */
export function symmetryByDefault(scenario: Scenario, strategy: string, workers: number, shard: boolean): boolean {
  if (strategy !== 'exhaustive' || workers !== 1 || shard) return false;
  return symmetryGroups(scenario).groups.some((g) => g.length >= SYMMETRY_BY_DEFAULT_FROM);
}

/** Past this many renamings of tied CPUs, a state's orbit is not counted exactly (taken as the largest). */
const MAX_STABILIZER_TRIES = 40320;

export class Symmetry {
  private readonly n: number;
  private readonly groupOf: number[];
  private readonly groupOrder: number;
  private unreduced = 0;
  private exact = true;
  /** The renaming of the last state keyed (`key`), CPU → image. */
  perm: number[] = [];
  private identity: boolean = true;

  constructor(readonly groups: readonly (readonly number[])[], cpus: number) {
    this.n = cpus;
    this.groupOf = new Array<number>(cpus).fill(-1);
    groups.forEach((g, gi) => g.forEach((c) => (this.groupOf[c] = gi)));
    this.groupOrder = groups.reduce((p, g) => p * factorial(g.length), 1);
    this.own = Array.from({ length: cpus }, () => []);
    this.sortKey = new Float64Array(cpus);
  }

  /**
   * The visited-set key of the simulation's state with its observers' memory, under the canonical
   * renaming (kept in `perm` for the sleep-set keys). `countLast` then counts it if it is new.
   */
  key(sim: Simulation, observers: readonly Observer[]): number {
    return this.keyOf({ ...sim.symmetryView(), now: sim.now }, observers);
  }

  /** `key` for a state given as its parts. */
  keyOf(view: SymmetryView, observers: readonly Observer[]): number {
    const n = this.n;
    const groupOf = this.groupOf;
    // What is each CPU's, with CPU numbers abstracted (self, or a group): the same for a CPU and its image.
    const own = this.own;
    for (let c = 0; c < n; c++) (own[c] as number[]).length = 0;
    const items = view.items;
    for (const it of items) {
      const c = 'cpu' in it && it.kind !== 'vcpu' && it.kind !== 'vmm' && it.kind !== 'vhost' ? it.cpu : -1;
      if (c < 0 || c >= n || groupOf[c] === -1) continue;
      let x = this.recall(view, it, -1 - c);
      if (x === undefined) x = this.remember(view, it, -1 - c, pendingHash(PENDING.rename?.(it, this.abstract(c)) ?? it));
      (own[c] as number[]).push(x);
    }
    const sortKey = this.sortKey;
    for (let c = 0; c < n; c++) {
      sortKey[c] = 0;
      if (groupOf[c] === -1) continue;
      const chart = view.chart(c);
      let h = this.recall(view, chart, -1 - c);
      if (h === undefined) h = this.remember(view, chart, -1 - c, CPU_STATE.hash(0x5e1f, CPU_STATE.rename?.(chart, this.abstract(c)) ?? chart));
      const mine = own[c] as number[];
      if (mine.length > 1) mine.sort(ascending);
      for (let k = 0; k < mine.length; k++) h = mix(h, mine[k] as number);
      sortKey[c] = h;
    }
    const perm = new Array<number>(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    let ties: number[][] | null = null;
    const sorted = this.sorted;
    for (const g of this.groups) {
      // Insertion sort by sort key, then CPU number (groups are a handful of CPUs).
      sorted.length = g.length;
      for (let k = 0; k < g.length; k++) {
        const c = g[k] as number;
        let at = k;
        while (at > 0) {
          const prev = sorted[at - 1] as number;
          const d = (sortKey[prev] as number) - (sortKey[c] as number);
          if (d < 0 || (d === 0 && prev < c)) break;
          sorted[at] = prev;
          at--;
        }
        sorted[at] = c;
      }
      for (let k = 0; k < sorted.length; k++) perm[sorted[k] as number] = g[k] as number;
      for (let i = 0; i < sorted.length; ) {
        let j = i + 1;
        while (j < sorted.length && sortKey[sorted[j] as number] === sortKey[sorted[i] as number]) j++;
        if (j - i > 1) (ties ??= []).push(sorted.slice(i, j).map((c) => perm[c] as number));
        i = j;
      }
    }
    this.perm = perm;
    let identity = true;
    for (let i = 0; i < n && identity; i++) identity = perm[i] === i;
    this.identity = identity;
    const h = this.hashUnder(view, items, observers, perm);
    this.lastState = { view, items, observers, perm, ties: ties ?? NO_TIES, h };
    return h;
  }

  /** Per keyOf: each CPU's pending items (abstracted hashes), and its sort key. */
  private readonly own: number[][];
  private readonly sortKey: Float64Array;
  private readonly sorted: number[] = [];

  private lastState: { view: SymmetryView; items: readonly PendingItem[]; observers: readonly Observer[]; perm: number[]; ties: readonly number[][]; h: number } | null = null;

  /** Count the last state keyed as a new state of the search: its orbit's size. */
  countLast(): void {
    const l = this.lastState;
    if (l) this.unreduced += this.orbitSize(l.view, l.items, l.observers, l.perm, l.ties, l.h);
    this.lastState = null;
  }

  /** A choice key of the last state keyed, renamed canonically. */
  toCanonical(key: string): string {
    return this.identity ? key : renameChoiceKey(key, (c) => (c < this.n ? (this.perm[c] as number) : c));
  }

  /** A canonical choice key as the last state keyed names it. */
  fromCanonical(key: string): string {
    if (this.identity) return key;
    const inverse = new Array<number>(this.n);
    this.perm.forEach((p, i) => (inverse[p] = i));
    return renameChoiceKey(key, (c) => (c < this.n ? (inverse[c] as number) : c));
  }

  stats(states: number): SymmetryStats {
    // Not exact (too many ties to count a stabilizer): no factor rather than a wrong one.
    const unreducedStates = this.exact ? this.unreduced : states;
    return { groups: this.groups.map((g) => [...g]), states, unreducedStates, factor: states > 0 ? unreducedStates / states : 1 };
  }

  private readonly memo = new WeakMap<object, Map<number, number>>();

  /**
   * A hash remembered per object and key when the view's parts are never changed (the transition
   * cache's interned parts). Keys: -1 - c for a part abstracted from CPU c's point of view, a
   * renaming's id (`permId`) for a part renamed.
   */
  private recall(view: SymmetryView, obj: object, key: number): number | undefined {
    return view.stable ? this.memo.get(obj)?.get(key) : undefined;
  }

  private remember(view: SymmetryView, obj: object, key: number, value: number): number {
    if (!view.stable) return value;
    let m = this.memo.get(obj);
    if (!m) this.memo.set(obj, (m = new Map()));
    m.set(key, value);
    return value;
  }

  /** Every CPU number of a group as one stand-in; `self` as another. */
  private abstract(self: number): Renaming {
    return abstractRenaming(self, this.n, this.groupOf);
  }

  private hashUnder(
    view: SymmetryView,
    items: readonly PendingItem[],
    observers: readonly Observer[],
    perm: readonly number[],
  ): number {
    const identity = perm.every((p, i) => p === i);
    const permKey = identity ? 0 : permId(perm, this.perms);
    const r = this.renamingOf(permKey, perm);
    const cpus = new Array<number>(this.n);
    let mem: number;
    let flags: number;
    let lo = 0;
    let hi = 0;
    if (identity) {
      for (let c = 0; c < this.n; c++) cpus[c] = view.cpuHash(c);
      mem = view.memHash;
      flags = flagsHash(view.flags);
      for (const it of items) {
        const x = pendingHash(it);
        lo += x >>> 0;
        hi += Math.floor(x / 4294967296);
      }
    } else {
      for (let c = 0; c < this.n; c++) {
        const chart = view.chart(c);
        let h = this.recall(view, chart, permKey);
        if (h === undefined) {
          const renamed = CPU_STATE.rename?.(chart, r) ?? chart;
          h = this.remember(view, chart, permKey, renamed === chart ? view.cpuHash(c) : CPU_STATE.hash(0x12345, renamed));
        }
        if (h === 0) h = 1; // as Simulation.cpuHash
        cpus[perm[c] as number] = h;
      }
      mem = this.recall(view, view.memory, permKey) ?? this.remember(view, view.memory, permKey, this.renamedMemory(view, r));
      flags = this.recall(view, view.flags, permKey) ?? this.remember(view, view.flags, permKey, flagsHash(FLAGS.rename?.(view.flags, r) ?? view.flags));
      for (const it of items) {
        const x = this.recall(view, it, permKey) ?? this.remember(view, it, permKey, pendingHash(PENDING.rename?.(it, r) ?? it));
        lo += x >>> 0;
        hi += Math.floor(x / 4294967296);
      }
    }
    const machine = composeHash(cpus, mem, lo, hi, flags, null);
    return visitedKey(machine, view.stable ? this.observersUnder(observers, view.now, permKey, r) : memoryHash(observers, view.now, r.cpu));
  }

  private renamedMemory(view: SymmetryView, r: Renaming): number {
    const m = MEMORY.rename?.(view.memory, r) ?? view.memory;
    return m === view.memory ? view.memHash : memHash(m);
  }

  private readonly perms = new Map<string, number>();
  private readonly renamings = new Map<number, Renaming>();

  private renamingOf(id: number, perm: readonly number[]): Renaming {
    let r = this.renamings.get(id);
    if (!r) this.renamings.set(id, (r = renaming([...perm])));
    return r;
  }

  private readonly remembered = new WeakMap<Observer, Map<number, Map<number, number>>>();

  /**
   * What the observers remember under a renaming, as one hash (0 when none remembers anything):
   * each observer's `remembers` text hashed and remembered per observer object, clock and renaming,
   * the hashes mixed in observer order. Sound because a path's observers are copied before a record
   * changes them (Harness.feed): an observer object kept by a state of the search never changes again.
   */
  private observersUnder(observers: readonly Observer[], now: number, id: number, r: Renaming): number {
    // States share their parent's observers array until a record changes one (Harness.feed): most
    // are answered here, for the whole array.
    let byNow = this.rememberedAll.get(observers);
    if (!byNow) this.rememberedAll.set(observers, (byNow = new Map()));
    let byPerm = byNow.get(now);
    if (!byPerm) byNow.set(now, (byPerm = new Map()));
    let x = byPerm.get(id);
    if (x === undefined) byPerm.set(id, (x = this.eachUnder(observers, now, id, r)));
    return x;
  }

  private readonly rememberedAll = new WeakMap<readonly Observer[], Map<number, Map<number, number>>>();

  private eachUnder(observers: readonly Observer[], now: number, id: number, r: Renaming): number {
    let h = 0;
    let any = false;
    for (let i = 0; i < observers.length; i++) {
      const o = observers[i] as Observer;
      let byNow = this.remembered.get(o);
      if (!byNow) this.remembered.set(o, (byNow = new Map()));
      let byPerm = byNow.get(now);
      if (!byPerm) byNow.set(now, (byPerm = new Map()));
      let x = byPerm.get(id);
      if (x === undefined) {
        const m = o.remembers(now, r.cpu);
        byPerm.set(id, (x = m === '' ? 0 : hash53(m)));
      }
      if (x !== 0) any = true;
      h = mix(h, x);
    }
    return any ? h : 0;
  }

  /**
   * How many states a renaming within the groups makes of this one: the group's order over the
   * number of renamings that leave it as it is (those can only exchange tied CPUs: count them).
   */
  private orbitSize(
    view: SymmetryView,
    items: readonly PendingItem[],
    observers: readonly Observer[],
    perm: readonly number[],
    ties: readonly number[][],
    h: number,
  ): number {
    if (ties.length === 0) return this.groupOrder;
    const tries = ties.reduce((p, t) => p * factorial(t.length), 1);
    if (tries > MAX_STABILIZER_TRIES) {
      this.exact = false;
      return this.groupOrder;
    }
    // Each renaming σ of the tied (canonical) places, after perm: does it give the same key?
    let fixed = 0;
    for (const sigma of permutationsOf(ties, this.n)) {
      const composed = perm.map((p) => sigma[p] as number);
      if (this.hashUnder(view, items, observers, composed) === h) fixed++;
    }
    return this.groupOrder / Math.max(1, fixed);
  }
}
