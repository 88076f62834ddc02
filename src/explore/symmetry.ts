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
import { VMCS_REGION_BASE, VMXON_REGION_BASE } from '../hw/cpu-state.js';
import type { Renaming } from '../state/codec.js';
import { CPU_STATE, type CpuChartState } from '../state/cpu.js';
import { FLAGS, flagsHash, type FlagValues } from '../state/flags.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { mix } from '../state/hash.js';
import { MEMORY, memoryHash as memHash } from '../state/memory.js';
import { PENDING, pendingHash, type PendingItem } from '../state/pending.js';
import type { Observer } from '../spec/index.js';
import { memoryHash, visitedKey } from './harness.js';

const PAGE = 0x1000;
/** VMCS regions per CPU (VMCS_REGION_BASE + (id * 64 + v) * 0x1000: simulation.ts cpuInputs). */
const VMCS_PER_CPU = 64;

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

function factorial(n: number): number {
  let f = 1;
  for (let i = 2; i <= n; i++) f *= i;
  return f;
}

/** A renaming of CPUs given as each CPU's image (CPUs past the end and -1 stay). */
export function renaming(perm: readonly number[]): Renaming {
  const n = perm.length;
  const cpu = (id: number): number => (id >= 0 && id < n ? (perm[id] as number) : id);
  return {
    cpu,
    addr: (a) => {
      const x = a - VMXON_REGION_BASE;
      if (x >= 0 && x < n * PAGE) {
        const id = Math.floor(x / PAGE);
        return VMXON_REGION_BASE + cpu(id) * PAGE + (x - id * PAGE);
      }
      const y = a - VMCS_REGION_BASE;
      if (y >= 0 && y < n * VMCS_PER_CPU * PAGE) {
        const id = Math.floor(y / (VMCS_PER_CPU * PAGE));
        return VMCS_REGION_BASE + cpu(id) * VMCS_PER_CPU * PAGE + (y - id * VMCS_PER_CPU * PAGE);
      }
      return a;
    },
  };
}

/** A choice key (Simulation.itemKey) with its CPU numbers renamed. */
export function renameChoiceKey(key: string, cpu: (id: number) => number): string {
  const m = /^([std])(\d+)(.*)$/.exec(key);
  if (!m) return key; // scripted actions (x…) are by step index
  let rest = m[3] as string;
  if (m[1] === 'd') {
    // d<target><<mode>:<vector>:<from>:<source>
    const parts = rest.split(':');
    if (parts.length === 4 && /^\d+$/.test(parts[2] as string)) parts[2] = String(cpu(Number(parts[2])));
    rest = parts.join(':');
  }
  return `${m[1]}${cpu(Number(m[2]))}${rest}`;
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
    // What is each CPU's, with CPU numbers abstracted (self, or a group): the same for a CPU and its image.
    const own: number[][] = Array.from({ length: n }, () => []);
    const items = view.items;
    for (const it of items) {
      const c = 'cpu' in it && it.kind !== 'vcpu' && it.kind !== 'vmm' && it.kind !== 'vhost' ? it.cpu : -1;
      if (c >= 0 && c < n && this.groupOf[c] !== -1) own[c]?.push(this.memoized(view, it, `s${c}`, () => pendingHash(PENDING.rename?.(it, this.abstract(c)) ?? it)));
    }
    const sortKey = new Array<number>(n).fill(0);
    for (let c = 0; c < n; c++) {
      if (this.groupOf[c] === -1) continue;
      const chart = view.chart(c);
      let h = this.memoized(view, chart, `s${c}`, () => CPU_STATE.hash(0x5e1f, CPU_STATE.rename?.(chart, this.abstract(c)) ?? chart));
      for (const x of (own[c] as number[]).sort((a, b) => a - b)) h = mix(h, x);
      sortKey[c] = h;
    }
    const perm = Array.from({ length: n }, (_, i) => i);
    const ties: number[][] = [];
    for (const g of this.groups) {
      const sorted = [...g].sort((a, b) => (sortKey[a] as number) - (sortKey[b] as number) || a - b);
      sorted.forEach((c, k) => (perm[c] = g[k] as number));
      for (let i = 0; i < sorted.length; ) {
        let j = i + 1;
        while (j < sorted.length && sortKey[sorted[j] as number] === sortKey[sorted[i] as number]) j++;
        if (j - i > 1) ties.push(sorted.slice(i, j).map((c) => perm[c] as number));
        i = j;
      }
    }
    this.perm = perm;
    this.identity = perm.every((p, i) => p === i);
    const h = this.hashUnder(view, items, observers, perm);
    this.last = () => this.orbitSize(view, items, observers, perm, ties, h);
    return h;
  }

  private last: (() => number) | null = null;

  /** Count the last state keyed as a new state of the search: its orbit's size. */
  countLast(): void {
    if (this.last) this.unreduced += this.last();
    this.last = null;
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

  private readonly memo = new WeakMap<object, Map<string, number>>();

  /** `f()`, remembered per object and key when the view's parts are never changed. */
  private memoized(view: SymmetryView, obj: object, key: string, f: () => number): number {
    if (!view.stable) return f();
    let m = this.memo.get(obj);
    if (!m) this.memo.set(obj, (m = new Map()));
    let v = m.get(key);
    if (v === undefined) m.set(key, (v = f()));
    return v;
  }

  /** Every CPU number of group g as one stand-in; `self` as another. */
  private abstract(self: number): Renaming {
    const n = this.n;
    const cpu = (id: number): number => (id === self ? -1000 : id >= 0 && id < n && this.groupOf[id] !== -1 ? -2000 - (this.groupOf[id] as number) : id);
    const r = renaming([]);
    return {
      cpu,
      addr: (a) => {
        // The region's CPU, abstracted; its offset within the CPU's regions kept.
        const x = a - VMXON_REGION_BASE;
        if (x >= 0 && x < n * PAGE) return mix(1, cpu(Math.floor(x / PAGE))) + (x % PAGE);
        const y = a - VMCS_REGION_BASE;
        if (y >= 0 && y < n * VMCS_PER_CPU * PAGE) return mix(2, cpu(Math.floor(y / (VMCS_PER_CPU * PAGE)))) + (y % (VMCS_PER_CPU * PAGE));
        return r.addr(a);
      },
    };
  }

  private hashUnder(
    view: SymmetryView,
    items: readonly PendingItem[],
    observers: readonly Observer[],
    perm: readonly number[],
  ): number {
    const identity = perm.every((p, i) => p === i);
    const r = renaming(perm);
    const permKey = identity ? '' : perm.join(',');
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
        let h = this.memoized(view, chart, permKey, () => {
          const renamed = CPU_STATE.rename?.(chart, r) ?? chart;
          return renamed === chart ? view.cpuHash(c) : CPU_STATE.hash(0x12345, renamed);
        });
        if (h === 0) h = 1; // as Simulation.cpuHash
        cpus[perm[c] as number] = h;
      }
      mem = this.memoized(view, view.memory, permKey, () => {
        const m = MEMORY.rename?.(view.memory, r) ?? view.memory;
        return m === view.memory ? view.memHash : memHash(m);
      });
      flags = this.memoized(view, view.flags, permKey, () => flagsHash(FLAGS.rename?.(view.flags, r) ?? view.flags));
      for (const it of items) {
        const x = this.memoized(view, it, permKey, () => pendingHash(PENDING.rename?.(it, r) ?? it));
        lo += x >>> 0;
        hi += Math.floor(x / 4294967296);
      }
    }
    const machine = composeHash(cpus, mem, lo, hi, flags, null);
    return visitedKey(machine, memoryHash(observers, view.now, r.cpu));
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

/** Every permutation of 0..n-1 that permutes each of `classes` within itself and fixes the rest. */
function* permutationsOf(classes: readonly number[][], n: number): Generator<number[]> {
  const base = Array.from({ length: n }, (_, i) => i);
  function* rec(k: number, cur: number[]): Generator<number[]> {
    if (k === classes.length) {
      yield cur;
      return;
    }
    const cls = classes[k] as number[];
    for (const order of arrangements(cls)) {
      const next = cur.slice();
      cls.forEach((c, i) => (next[c] = order[i] as number));
      yield* rec(k + 1, next);
    }
  }
  yield* rec(0, base);
}

function* arrangements(xs: readonly number[]): Generator<number[]> {
  if (xs.length <= 1) {
    yield [...xs];
    return;
  }
  for (let i = 0; i < xs.length; i++) {
    const rest = [...xs.slice(0, i), ...xs.slice(i + 1)];
    for (const r of arrangements(rest)) yield [xs[i] as number, ...r];
  }
}
