// Over 400 lines because the canonical renaming and a state's hash under any renaming are one algorithm (the orbit count's stabilizer is in stabilizer.ts) over one state, shared by both engines (the transition cache's memos by part number are in symmetry-interned.ts; the groups are worked out here too).
/**
 * Symmetry reduction for exhaustive search: CPUs that nothing tells apart are interchangeable, so a
 * state and the states made from it by renaming those CPUs behave alike (the same verdicts, the same
 * messages with the CPU numbers renamed). The visited set keys each state by a canonical renaming of
 * it; the search goes on from the real state, so the paths it keeps are real runs (counterexamples
 * replay with the real CPU numbers).
 *
 * Groups (`symmetryGroups`): CPUs with the same initial configuration (the vendor is the machine's)
 * that no script step runs on and no `when` trigger watches (nor watches a vCPU pinned to them),
 * and whose pinned vCPUs are alike, place by place (`guestSignature`: the same VM, guest program,
 * VMM calls up to the vCPU's own id, reset policy); none when the crash kernel brings up the APs
 * (it boots them in order of their numbers: `nextAp`), nor when the scenario has vhost-vsock
 * devices (a device's worker, its interrupts and its VMM's calls name a CPU, a vCPU and a VM in
 * ways the codecs do not describe). Everything else the model does treats CPUs alike: a broadcast
 * is one delivery per target CPU, each a choice of the search; message ids and the agenda's order
 * are not part of a state.
 *
 * Guests: renaming CPUs renames the vCPUs pinned to them, the k-th on a CPU to the k-th on its
 * image, each with its VMM thread (renaming.ts vcpuImages): their guest slots trade places, and
 * every vCPU index (pending items of kind vcpu and vmm, choice keys v… and u…: role 'vcpu-index'),
 * vCPU region address (a vCPU's VMCS/VMCB on loaded_vmcss_on_cpu, current or launched: 'cpu-addr')
 * and VMM thread's own vCPU file descriptor ('vcpu-fd') is renamed with them. A CPU's sort key
 * has its vCPUs' and VMM threads' states, and their pending items, mixed in.
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
import { composeHash } from '../sim/simulation.js';
import { kvmMaxVcpuIds, vcpuFd } from '../kvm/ioctl.js';
import { resolveFeatures } from '../kernel/variants.js';
import type { Renaming } from '../state/codec.js';
import { CPU_STATE, type CpuChartState } from '../state/cpu.js';
import { FLAGS, flagsHash, type FlagValues } from '../state/flags.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { hash53, mix } from '../state/hash.js';
import { MEMORY, memoryHash as memHash } from '../state/memory.js';
import { PENDING, pendingHash, type PendingItem } from '../state/pending.js';
import type { Observer } from '../spec/index.js';
import { stabilizer } from './stabilizer.js';
import { abstractRenaming, factorial, permId, renameChoiceKey, renaming, vcpuImages, vmmRenaming, type VcpuLayout } from './renaming.js';
import { memoryHash, visitedKey } from './harness.js';

const NO_TIES: readonly number[][] = [];

/**
 * The groups of interchangeable CPUs of a scenario (each sorted, at least two CPUs), and why there
 * are none when the scenario rules them out.
 */
export function symmetryGroups(scenario: Scenario): { groups: number[][]; none?: string } {
  if (scenario.vsock.length > 0) return { groups: [], none: 'the scenario has vhost-vsock devices' };
  if (scenario.options.kdump && scenario.options.kdumpBringsUpAps) return { groups: [], none: 'the crash kernel brings up the APs in order of their numbers' };
  // migrate_to_reboot_cpu() moves the reboot to CPU 0, or to the lowest-numbered CPU online: a
  // reboot on CPU 0 stays there (it runs, so it is online), one elsewhere picks a CPU by its number.
  if (scenario.script.some((s) => s.action === 'reboot' && s.cpu !== 0)) return { groups: [], none: 'a reboot migrates to CPU 0 or the lowest-numbered CPU online (migrate_to_reboot_cpu)' };
  const named = new Set<number>();
  for (const s of scenario.script) {
    named.add(s.cpu);
    if (s.trigger.kind === 'enters' && s.trigger.actor === 'cpu') named.add(s.trigger.cpu);
    if (s.trigger.kind === 'enters' && s.trigger.actor === 'vcpu') named.add(scenario.vcpus[s.trigger.cpu]?.pcpu ?? -1);
  }
  const byConfig = new Map<string, number[]>();
  scenario.initial.forEach((init, cpu) => {
    if (named.has(cpu)) return;
    const key = JSON.stringify(Object.entries(init).sort(([a], [b]) => (a < b ? -1 : 1))) + guestSignature(scenario, cpu);
    const g = byConfig.get(key);
    if (g) g.push(cpu);
    else byConfig.set(key, [cpu]);
  });
  const groups = [...byConfig.values()].filter((g) => g.length >= 2).sort((a, b) => (a[0] as number) - (b[0] as number));
  return groups.length ? { groups } : { groups: [], none: 'no two CPUs are alike' };
}

/**
 * What tells the vCPUs pinned to `cpu` apart from another CPU's, place by place (in index order):
 * each one's VM, whether the kernel takes its id, guest program, VMM calls with the vCPU's own id
 * left out of KVM_CREATE_VCPU (the id, and the file descriptor it gives, are renamed with the vCPU),
 * reset policy and reset RIP.
 */
function guestSignature(scenario: Scenario, cpu: number): string {
  const mine = scenario.vcpus.filter((v) => v.pcpu === cpu);
  if (mine.length === 0) return '';
  const maxIds = kvmMaxVcpuIds(resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix));
  return JSON.stringify(
    mine.map((v) => ({
      vm: v.vm,
      // Whether KVM_CREATE_VCPU takes its own id (below KVM_MAX_VCPU_ID(S)) tells two vCPUs apart.
      idTaken: v.vcpuId < maxIds,
      program: v.program,
      calls: v.calls.map((c) => (c.ioctl === 'KVM_CREATE_VCPU' && (c.arg as { id?: number }).id === v.vcpuId ? { ...c, arg: { ...(c.arg as object), id: 'own' } } : c)),
      onShutdown: v.onShutdown,
      vsock: v.vsock,
      resetRip: v.resetRip,
    })),
  );
}

/** The scenario's vCPUs as renamings see them (renaming.ts), or undefined without vCPUs. */
export function vcpuLayout(scenario: Scenario): VcpuLayout | undefined {
  const vcpus = scenario.vcpus;
  if (vcpus.length === 0) return undefined;
  const on: number[][] = Array.from({ length: scenario.machine.cpus }, () => []);
  const pos = vcpus.map((v) => {
    const list = on[v.pcpu] as number[];
    list.push(v.index);
    return list.length - 1;
  });
  return { pcpu: vcpus.map((v) => v.pcpu), pos, on, fd: vcpus.map((v) => vcpuFd(v.vcpuId)) };
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
  /** With guests: how many guest slots, each one's part of the state hash, and that part under a renaming (NaN: the same). */
  guests?: number;
  guestHash?(j: number): number;
  guestHashUnder?(j: number, r: Renaming): number;
}

export interface SymmetryStats {
  groups: number[][];
  /** Canonical states the search visited. */
  states: number;
  /** The sum of their orbit sizes: the states a search without symmetry would have visited. */
  unreducedStates: number;
  /** unreducedStates / states. */
  factor: number;
  /** False when the orbits could not be counted exactly (too many tied CPUs): unreducedStates is then states, factor 1. */
  exact: boolean;
}

/**
 * The smallest group of interchangeable CPUs for which `explore` keys states under symmetry by default.
 * Keying a state canonically costs several times the plain hash; a pair of CPUs saves at most half
 * the states, three or more up to 6×, 24×, … (R2 v5.10, 5 CPUs: 2,648,516 states for 13,713,792,
 * the whole space in less time and a third of the memory; with 4 CPUs, a pair: 341,738 for 646,888
 * but slower).
 */
export const SYMMETRY_BY_DEFAULT_FROM = 3;

/** Whether `explore` searches under symmetry when neither --symmetry nor --no-symmetry is given. */
export function symmetryByDefault(scenario: Scenario, strategy: string, workers: number, shard: boolean): boolean {
  if (strategy !== 'exhaustive' || workers !== 1 || shard) return false;
  return symmetryGroups(scenario).groups.some((g) => g.length >= SYMMETRY_BY_DEFAULT_FROM);
}

/** Choice keys remembered renamed, per renaming (a search has a few dozen keys per CPU). */
const KEYS_REMEMBERED = 4096;


/** A chart's hash under a renaming (`plain`: its hash as the state hash has it). Never 0, as Simulation.cpuHash. */
export function renamedChartHash(chart: CpuChartState, plain: number, r: Renaming): number {
  const renamed = CPU_STATE.rename?.(chart, r) ?? chart;
  const h = renamed === chart ? plain : CPU_STATE.hash(0x12345, renamed);
  return h === 0 ? 1 : h;
}

/** The shared memory's hash under a renaming (`plain`: its hash). */
export function renamedMemoryHash(memory: KernelMemoryState, plain: number, r: Renaming): number {
  const m = MEMORY.rename?.(memory, r) ?? memory;
  return m === memory ? plain : memHash(m);
}

export function renamedFlagsHash(flags: FlagValues, r: Renaming): number {
  return flagsHash(FLAGS.rename?.(flags, r) ?? flags);
}

export function renamedItemHash(it: PendingItem, r: Renaming): number {
  return pendingHash(PENDING.rename?.(it, r) ?? it);
}

export class Symmetry {
  protected readonly n: number;
  protected readonly groupOf: number[];
  private readonly groupOrder: number;
  private unreduced = 0;
  private exact = true;
  /** The renaming of the last state keyed (`key`), CPU → image. */
  perm: number[] = [];
  protected identity: boolean = true;
  /** Its id (permId). */
  protected permKey = 0;

  /** With vCPUs: the scenario's (vcpuLayout); each guest slot's part of the key under the renaming being keyed (hashUnder). */
  protected readonly layout: VcpuLayout | null;
  private readonly guestHashes: number[] = [];

  constructor(
    readonly groups: readonly (readonly number[])[],
    cpus: number,
    layout?: VcpuLayout,
  ) {
    this.layout = layout ?? null;
    this.n = cpus;
    this.groupOf = new Array<number>(cpus).fill(-1);
    groups.forEach((g, gi) => g.forEach((c) => (this.groupOf[c] = gi)));
    this.groupOrder = groups.reduce((p, g) => p * factorial(g.length), 1);
    // Past 2^53 (19 or more interchangeable CPUs) orbit sizes are not whole numbers in a double: no
    // factor rather than one that looks exact.
    if (this.groupOrder > Number.MAX_SAFE_INTEGER) this.exact = false;
    this.sortKey = new Float64Array(cpus);
    this.sorted = new Int32Array(groups.reduce((m, g) => Math.max(m, g.length), 0));
    this.ownCount = new Int32Array(cpus);
    this.ownVals = new Float64Array(cpus * this.ownStride);
    this.cpuHashes = new Array<number>(cpus).fill(0);
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
    const items = view.items;
    for (const it of items) {
      const c = this.ownerOf(it);
      if (c < 0 || c >= n || groupOf[c] === -1) continue;
      const x = this.abstractItemHash(it, c);
      this.addOwn(c, x);
    }
    const layout = this.layout;
    for (let c = 0; c < n; c++) {
      if (groupOf[c] === -1) continue;
      const chart = view.chart(c);
      let h = this.abstractChartHash(chart, c);
      // Its vCPUs and their VMM threads, in place order, each from the CPU's point of view.
      if (layout) for (const i of layout.on[c] as number[]) h = mix(mix(h, this.abstractGuestHash(view, 2 * i, c, i)), this.abstractGuestHash(view, 2 * i + 1, c, i));
      this.sortKey[c] = h;
    }
    const ties = this.order();
    const h = this.hashUnder(view, items, observers, this.perm);
    this.lastRehash = (perm) => this.hashUnder(view, items, observers, perm);
    this.lastExchange = null;
    this.lastTies = ties;
    this.lastH = h;
    return h;
  }

  /** The CPU a pending item is counted as its own for the sort key: its CPU's, or its vCPU's (a vCPU or VMM thread step); -1 for none. */
  protected ownerOf(it: PendingItem): number {
    if (it.kind === 'vcpu' || it.kind === 'vmm') return this.layout ? ((this.layout.pcpu[it.cpu] as number | undefined) ?? -1) : -1;
    return 'cpu' in it && it.kind !== 'vhost' ? it.cpu : -1;
  }

  /** Guest slot `j`'s part of the state hash (vCPU `i`'s or its VMM thread's, pinned to CPU `c`) with every CPU and vCPU in it abstracted from `c`'s point of view. */
  protected abstractGuestHash(view: SymmetryView, j: number, c: number, i: number): number {
    const x = (view.guestHashUnder as (j: number, r: Renaming) => number)(j, this.abstractGuest(c, i));
    return x === x ? x : (view.guestHash as (j: number) => number)(j);
  }

  /** The abstraction of CPU `c` for its vCPU `i` and VMM thread: the thread's own vCPU file descriptor as one stand-in. */
  protected abstractGuest(c: number, i: number): Renaming {
    const fd = (this.layout as VcpuLayout).fd[i] as number;
    return { ...this.abstract(c), vcpuFd: (f) => (f === fd ? -1 : f) };
  }

  /** A pending item of CPU `c` with every CPU number in it abstracted (the same for `c`'s image). */
  protected abstractItemHash(it: PendingItem, c: number): number {
    return pendingHash(PENDING.rename?.(it, this.abstract(c)) ?? it);
  }

  /** CPU `c`'s chart with every CPU number in it abstracted. */
  protected abstractChartHash(chart: CpuChartState, c: number): number {
    return CPU_STATE.hash(0x5e1f, CPU_STATE.rename?.(chart, this.abstract(c)) ?? chart);
  }

  /**
   * The canonical renaming (into `perm`, `identity`) from each group CPU's sort key (`sortKey`, its
   * abstracted chart hash) and its abstracted pending items (`addOwn`, mixed in ascending, then forgotten):
   * within each group, the CPUs in order of sort key, then CPU number. The CPUs tied (as canonical
   * places), or NO_TIES.
   */
  protected order(): readonly number[][] {
    const n = this.n;
    const groupOf = this.groupOf;
    const sortKey = this.sortKey;
    const ownCount = this.ownCount;
    const ownVals = this.ownVals;
    const stride = this.ownStride;
    for (let c = 0; c < n; c++) {
      if (groupOf[c] === -1) {
        sortKey[c] = 0;
        continue;
      }
      const count = ownCount[c] as number;
      if (count === 0) continue;
      ownCount[c] = 0;
      // Ascending (a CPU has a few items: insertion sort in place).
      const base = c * stride;
      for (let i = base + 1; i < base + count; i++) {
        const x = ownVals[i] as number;
        let j = i;
        while (j > base && (ownVals[j - 1] as number) > x) {
          ownVals[j] = ownVals[j - 1] as number;
          j--;
        }
        ownVals[j] = x;
      }
      let h = sortKey[c] as number;
      for (let i = base; i < base + count; i++) h = mix(h, ownVals[i] as number);
      sortKey[c] = h;
    }
    const perm = this.perm.length === n ? this.perm : (this.perm = new Array<number>(n));
    for (let i = 0; i < n; i++) perm[i] = i;
    let ties: number[][] | null = null;
    const sorted = this.sorted;
    for (const g of this.groups) {
      // Insertion sort by sort key, then CPU number (groups are a handful of CPUs).
      const len = g.length;
      for (let k = 0; k < len; k++) {
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
      for (let k = 0; k < len; k++) perm[sorted[k] as number] = g[k] as number;
      for (let i = 0; i < len; ) {
        let j = i + 1;
        while (j < len && sortKey[sorted[j] as number] === sortKey[sorted[i] as number]) j++;
        if (j - i > 1) {
          const tie: number[] = [];
          for (let k = i; k < j; k++) tie.push(perm[sorted[k] as number] as number);
          (ties ??= []).push(tie);
        }
        i = j;
      }
    }
    let identity = true;
    for (let i = 0; i < n && identity; i++) identity = perm[i] === i;
    this.identity = identity;
    this.permKey = identity ? 0 : permId(perm, this.perms);
    return ties ?? NO_TIES;
  }

  /** Per keyOf: each CPU's pending items (abstracted hashes: `ownStride` places from c * ownStride, ownCount[c] used), and its sort key. */
  private ownCount: Int32Array;
  private ownVals: Float64Array;
  private ownStride = 4;

  /** Item hash `x` is CPU c's (for order). */
  protected addOwn(c: number, x: number): void {
    const k = this.ownCount[c] as number;
    if (k === this.ownStride) {
      // More items on one CPU than room: twice the room for every CPU, each CPU's kept in place.
      const stride = this.ownStride * 2;
      const vals = new Float64Array(this.n * stride);
      for (let cpu = 0; cpu < this.n; cpu++) vals.set(this.ownVals.subarray(cpu * this.ownStride, cpu * this.ownStride + (this.ownCount[cpu] as number)), cpu * stride);
      this.ownVals = vals;
      this.ownStride = stride;
    }
    this.ownVals[c * this.ownStride + k] = x;
    this.ownCount[c] = k + 1;
  }
  protected readonly sortKey: Float64Array;
  /** order()'s scratch: a group's CPUs in canonical order (as long as the largest group). */
  private readonly sorted: Int32Array;

  /**
   * The last state keyed (fields, not an object: one is keyed per child): its key under any renaming
   * (null: none to count), the same for the exchanges of two tied CPUs (orbitSize, where it may
   * remember more), the CPUs tied in its canonical order, its key.
   */
  protected lastRehash: ((perm: readonly number[]) => number) | null = null;
  protected lastExchange: ((perm: readonly number[]) => number) | null = null;
  protected lastTies: readonly number[][] = NO_TIES;
  protected lastH = 0;

  /** Count the last state keyed as a new state of the search: its orbit's size. */
  countLast(): void {
    const rehash = this.lastRehash;
    if (rehash) this.unreduced += this.orbitSize(rehash, this.lastExchange ?? rehash, this.perm, this.lastTies, this.lastH);
    this.lastRehash = null;
  }

  /** Count a new state of the search with no CPUs tied in its canonical order: its orbit is the whole group's. */
  countUntied(): void {
    this.unreduced += this.groupOrder;
    this.lastRehash = null;
  }

  /** A choice key of the last state keyed, renamed canonically. */
  toCanonical(key: string): string {
    if (this.identity) return key;
    const memo = this.renamedKeys(this.toMemo);
    let out = memo.get(key);
    if (out === undefined) {
      const vcpus = this.layout ? this.imagesOf(this.permKey, this.perm) : null;
      out = renameChoiceKey(key, (c) => (c < this.n ? (this.perm[c] as number) : c), vcpus ? (i) => (vcpus[i] as number | undefined) ?? i : undefined);
      if (memo.size < KEYS_REMEMBERED) memo.set(key, out);
    }
    return out;
  }

  /** A canonical choice key as the last state keyed names it. */
  fromCanonical(key: string): string {
    if (this.identity) return key;
    const memo = this.renamedKeys(this.fromMemo);
    let out = memo.get(key);
    if (out === undefined) {
      const inverse = new Array<number>(this.n);
      this.perm.forEach((p, i) => (inverse[p] = i));
      const vcpus = this.layout ? this.imagesOf(this.permKey, this.perm) : null;
      const back = vcpus ? new Array<number>(vcpus.length) : null;
      if (vcpus && back) vcpus.forEach((to, i) => (back[to] = i));
      out = renameChoiceKey(key, (c) => (c < this.n ? (inverse[c] as number) : c), back ? (i) => (back[i] as number | undefined) ?? i : undefined);
      if (memo.size < KEYS_REMEMBERED) memo.set(key, out);
    }
    return out;
  }

  /** Whether the last state keyed is its own canonical renaming. */
  get canonical(): boolean {
    return this.identity;
  }

  /** The id (permId) of the last state keyed's canonical renaming: 0 for the identity. */
  get renamingId(): number {
    return this.permKey;
  }

  /** Choice keys renamed (to and from canonical), by the renaming's id (permId) of the state last keyed. */
  private readonly toMemo = new Map<number, Map<string, string>>();
  private readonly fromMemo = new Map<number, Map<string, string>>();
  private renamedKeys(byPerm: Map<number, Map<string, string>>): Map<string, string> {
    let m = byPerm.get(this.permKey);
    if (!m) byPerm.set(this.permKey, (m = new Map()));
    return m;
  }

  stats(states: number): SymmetryStats {
    // Not exact (too many ties to count a stabilizer): no factor rather than a wrong one.
    const unreducedStates = this.exact ? this.unreduced : states;
    return { groups: this.groups.map((g) => [...g]), states, unreducedStates, factor: states > 0 ? unreducedStates / states : 1, exact: this.exact };
  }

  /** Every CPU number of a group as one stand-in; `self` as another. */
  protected abstract(self: number): Renaming {
    return (this.abstractions[self] ??= abstractRenaming(self, this.n, this.groupOf, this.layout ?? undefined));
  }

  private readonly abstractions: Renaming[] = [];

  private hashUnder(
    view: SymmetryView,
    items: readonly PendingItem[],
    observers: readonly Observer[],
    perm: readonly number[],
  ): number {
    const identity = perm.every((p, i) => p === i);
    const permKey = identity ? 0 : permId(perm, this.perms);
    const r = this.renamingOf(permKey, perm);
    const cpus = this.cpuHashes;
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
        cpus[perm[c] as number] = renamedChartHash(chart, view.cpuHash(c), r);
      }
      mem = renamedMemoryHash(view.memory, view.memHash, r);
      flags = renamedFlagsHash(view.flags, r);
      for (const it of items) {
        const x = renamedItemHash(it, r);
        lo += x >>> 0;
        hi += Math.floor(x / 4294967296);
      }
    }
    const guests = view.guests ? this.guestsUnder(view, identity, perm, permKey, r) : null;
    const machine = composeHash(cpus, mem, lo, hi, flags, guests);
    return visitedKey(machine, memoryHash(observers, view.now, r.cpu));
  }

  /** Each guest slot's part of the state hash under a renaming, at its image's place (vCPU i and its VMM thread at 2σ(i), 2σ(i) + 1). */
  private guestsUnder(view: SymmetryView, identity: boolean, perm: readonly number[], permKey: number, r: Renaming): number[] {
    const out = this.guestHashes;
    const count = view.guests as number;
    out.length = count;
    const plain = view.guestHash as (j: number) => number;
    if (identity) {
      for (let j = 0; j < count; j++) out[j] = plain(j);
      return out;
    }
    const under = view.guestHashUnder as (j: number, r: Renaming) => number;
    const layout = this.layout as VcpuLayout;
    const images = this.imagesOf(permKey, perm);
    for (let i = 0; i < images.length; i++) {
      const to = images[i] as number;
      const v = under(2 * i, r);
      out[2 * to] = v === v ? v : plain(2 * i);
      const m = under(2 * i + 1, vmmRenaming(r, i, images, layout));
      out[2 * to + 1] = m === m ? m : plain(2 * i + 1);
    }
    return out;
  }

  /** Each vCPU's image under a renaming (by its id), remembered. */
  protected imagesOf(permKey: number, perm: readonly number[]): readonly number[] {
    let v = this.images.get(permKey);
    if (!v) this.images.set(permKey, (v = vcpuImages(perm, this.layout as VcpuLayout)));
    return v;
  }

  private readonly images = new Map<number, number[]>();

  /** Each CPU's hash under the renaming being keyed, at its image's place (hashUnder). */
  protected readonly cpuHashes: number[];

  protected readonly perms = new Map<string, number>();
  private readonly renamings = new Map<number, Renaming>();

  protected renamingOf(id: number, perm: readonly number[]): Renaming {
    let r = this.renamings.get(id);
    if (!r) this.renamings.set(id, (r = renaming([...perm], this.layout ?? undefined)));
    return r;
  }

  /**
   * What the observers remember under a renaming, as one hash (0 when none remembers anything): each
   * observer's `remembers` text hashed, the hashes mixed in observer order (the transition cache
   * remembers the result by observer set, renaming and clock: symmetry-interned.ts).
   */
  protected eachUnder(observers: readonly Observer[], now: number, r: Renaming): number {
    let h = 0;
    let any = false;
    for (let i = 0; i < observers.length; i++) {
      const m = (observers[i] as Observer).remembers(now, r.cpu);
      const x = m === '' ? 0 : hash53(m);
      if (x !== 0) any = true;
      h = mix(h, x);
    }
    return any ? h : 0;
  }

  /** The stabilizer's scratch renaming (two places exchanged). */
  private readonly swapped: number[] = [];

  /** How many states a renaming within the groups makes of this one: the group's order over its stabilizer's (stabilizer.ts). */
  private orbitSize(rehash: (perm: readonly number[]) => number, exchange: (perm: readonly number[]) => number, perm: readonly number[], ties: readonly number[][], h: number): number {
    if (ties.length === 0) return this.groupOrder;
    const s = stabilizer(ties, perm, this.n, h, rehash, exchange, this.swapped);
    if (!s.exact) this.exact = false;
    return this.groupOrder / s.order;
  }
}
