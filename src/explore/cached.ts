// Over 400 lines because one search loop holds the transition cache's expand/apply/record/replay paths over shared closure state (the node being expanded, the simulation's position); the parts with state of their own are split out: cache-tables.ts, item-multisets.ts, kick-table.ts, refresh-table.ts, effect-index.ts, observer-sets.ts.
/**
 * Exhaustive exploration over a transition cache. A decision of the simulator is a function of
 * little: the choice, the flags, the shared-memory fields it reads, and the CPUs and guest actors
 * (vCPUs, VMM threads, vsock devices: slots after the CPUs) it reads (their chart states and pending
 * steps and timers) — a chart reads only its own context and the shared memory; a guest actor's
 * driver, like a CPU's, notes when a decision reads or moves it. The search keeps each state as small numbers (an interned state per CPU, the
 * memory, the pending items as interned descriptors, the flags) and, for a decision seen before
 * with the same inputs, applies the recorded effect to those numbers instead of restoring objects,
 * running the charts, copying and hashing them again. Only a decision never seen runs in the
 * simulation, on a state rebuilt from its parts, with the simulation telling which CPUs it read,
 * which memory fields it read and assigned, and which shared variables it wrote.
 *
 * A cached effect applies when the choice and flags are the same, the memory fields it read hold
 * the same values, every CPU it read is in the same state with the same pending steps and timers,
 * and no other CPU waits on a variable it wrote (such a CPU would have been woken, and read). The
 * search is the direct engine's (explorer.ts), state for state and transition for transition; a
 * test holds them to it, and `verify` checks every cached transition against the simulation.
 */
import type { Scenario } from '../scenarios/types.js';
import type { Capture, ItemView, KickLook, StateView } from '../sim/simulation.js';
import type { GuestsCapture } from '../sim/guests.js';
import type { AgendaState } from '../sim/agenda.js';
import type { InterconnectState } from '../bus/interconnect.js';
import type { CpuCapture } from '../sim/cpu-drivers.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { copyMemoryField, MEMORY_FIELDS } from '../state/memory.js';
import type { Observer } from '../spec/index.js';
import type { TraceRecord } from '../trace/records.js';
import { DEFAULT_PRUNING, HeapWatch, propertiesOf, roomForState, stopHere, stopReasons, symmetryOf, type ExploreOptions, type ExploreResult, type Found, type StopReason } from './options.js';
import { HashTable, VisitedTable } from './hash-table.js';
import { EffectIndex } from './effect-index.js';
import { E_COMPLEX, E_DESC, E_DOES, E_FLAGS, E_FLAGS_AFTER, E_FP, E_ITEMS, E_LISTS, E_MEMORY, E_NEXT, E_NMEM, E_NOTHERS, E_NREADS, E_NRUNS, E_NSET, E_REACTS, E_RECORDS, E_REFRESH, E_SET_AT, E_WRITTEN, EffectPool } from './effect-pool.js';
import { applyItems, ascending, asleep, Batch, hasKeyBit, keyBits, Nodes, Reactions, SIG_KEYED, SleepSets, sigOf, Tables, type CpuState, type Desc, type Effect, type Flags, type Mem } from './cache-tables.js';
import { Findings, Harness, memoryHash } from './harness.js';
import { bitOf, DEFAULT_DEPENDENCE, dependentWithAll, footprintText, itemText, NON_LOCAL, relationOf, StepFootprints, type Footprint, type Tracked } from './dependence.js';
import { ItemMultisets } from './item-multisets.js';
import { Refreshes, type RefreshAnswer } from './refresh-table.js';
import { Kicks } from './kick-table.js';
import { ShardSplit } from './shard-split.js';
import { ObserverSets, ObserverSteps } from './observer-sets.js';
import { partsKey, stateHash, withPart } from './state-hash.js';
import { PassOverCounts } from './passover-counts.js';
import { runsActor } from './passover.js';
import { InternedSymmetry } from './symmetry-interned.js';
import { vcpuLayout } from './symmetry.js';
import type { PendingItem } from '../state/pending.js';

export interface CachedStats {
  hits: number;
  misses: number;
  /** Effects recorded with a guest thread's runnability kept apart (refresh-table.ts). */
  apart?: number;
  /** Steps run for real whose kick gave both effects (kick-table.ts). */
  kicks?: number;
}

const NO_ARMED: Effect['armed'] = [];
/** `n` values `f(0)`, … in an array. */
function listOf<T>(n: number, f: (j: number) => T): T[] {
  const out: T[] = [];
  for (let j = 0; j < n; j++) out.push(f(j));
  return out;
}
const NO_INTS = new Int32Array(0);
const NO_FLOATS = new Float64Array(0);
/** `n` numbers `f(0)`, … as an Int32Array (one shared empty one: an effect's arrays are never written). */
function ints(n: number, f: (j: number) => number): Int32Array {
  if (n === 0) return NO_INTS;
  const out = new Int32Array(n);
  for (let j = 0; j < n; j++) out[j] = f(j);
  return out;
}
function bytes(n: number, f: (j: number) => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let j = 0; j < n; j++) out[j] = f(j);
  return out;
}
function floats(n: number, f: (j: number) => number): Float64Array {
  if (n === 0) return NO_FLOATS;
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = f(j);
  return out;
}
/** What a decision's records showed (Harness.decide). */
type Shown = { actor: number; local: boolean; global: boolean; seen: number };
const NO_BITS = new Int32Array(0);
/** In the search's typed scratch of doubles: the clock, what the observers remember. */
const NOW = 0;
const MEMORY = 1;
/** The states the search expands before it looks their children up (see `child`), and at most about how many children. */
const BATCH_STATES = 32;
const BATCH_CHILDREN = 64;
/** How often (a power of two, minus one) sleepAfter checks that its memo still mostly hits. */
const CAND_CHECK = (1 << 14) - 1;

export function exhaustiveCached(scenario: Scenario, opts: ExploreOptions, stats?: CachedStats): ExploreResult {
  if (opts.pruning === 'history') throw new Error('internal error: the reference search (pruning: history) runs on the direct engine');
  const started = performance.now();
  const heap = new HeapWatch();
  const h = new Harness(scenario, opts.properties);
  const sim = h.sim;
  const cpuCount = scenario.machine.cpus;
  // The actors a state is made of, each a slot of interned states: the CPUs, then the guest actors
  // (vCPU i at cpuCount + 2i, its VMM thread after it, then the vsock devices: Guests.track).
  const guestSlots = sim.guestSlots;
  const vcpuCount = scenario.vcpus.length;
  const width = cpuCount + guestSlots;
  const t = new Tables();
  const rootObservers = h.freshObservers();
  h.attach(rootObservers);
  sim.header();

  const rootCapture = sim.capture();
  /** The node the simulation is at (after its poll), -1 when it moved on. */
  let simAt = -1;
  const index = new EffectIndex(cpuCount);
  const reactions = new Reactions();
  /** Matching an effect: each reacting slot's state after (Effect.reacts), by slot. */
  const reactNow = new Int32Array(width);
  const refreshes = new Refreshes(width, cpuCount);
  /** Matching an effect: each thread kept apart's answer (Effect.refresh; a Refreshes.answers index), by slot. */
  const refreshNow = new Int32Array(width);
  const effects: Effect[] = [];
  /** The effects as finding and applying them reads them (effect-pool.ts). */
  const pool = new EffectPool();
  const othersMemo = new Map<string, Int32Array>();
  const count: CachedStats = stats ?? { hits: 0, misses: 0 };
  // A pass-over bound (passover.ts): each state's per-CPU counts are part of it (a column of its
  // node, a part of its key). The counts depend on the order of commuting choices and on the CPUs'
  // numbers: explore() turns sleep sets and symmetry off.
  const passOver = opts.maxPassOver !== undefined ? new PassOverCounts(cpuCount, opts.maxPassOver) : null;
  const nodes = new Nodes(width, passOver !== null);
  // Each node's observers, interned (observer-sets.ts).
  const observerSets = new ObserverSets();
  const observerSteps = new ObserverSteps();
  // The pending-item multisets, and what expanding a state reads of them (item-multisets.ts).
  const itemTuples = new ItemMultisets(t, width, !opts.noMemos);

  // Each state's key (its parts' ids and what its observers remember: partsKey; under symmetry, its
  // canonical renaming's hash) → the sleep set it was last reached with.
  const visited = new VisitedTable(1 << 18);
  /** partsKey's result. */
  const keyParts = new Int32Array(2);
  /** The visited key of the state keyOf was last given, as two 32-bit halves. */
  let keyLo = 0;
  let keyHi = 0;
  /** `counts`: with a pass-over bound, the state's per-CPU counts (a PassOverCounts id), one more part of its key. */
  const keyOf = (cpus: Int32Array, mem: number, items: number, flags: number, now: number, memory: number, set: number, counts: number): void => {
    if (sym) {
      sym.keyOfIds(cpus, mem, items, flags, now, set);
      keyLo = sym.keyHalves[0] as number;
      keyHi = sym.keyHalves[1] as number;
      return;
    }
    partsKey(keyParts, cpus, width, mem, items, flags, memory | 0, (memory / 4294967296) | 0);
    if (passOver) withPart(keyParts, counts);
    keyLo = keyParts[0] as number;
    keyHi = keyParts[1] as number;
  };
  // Symmetry (symmetry.ts): states keyed by a canonical renaming (of their parts' numbers:
  // symmetry-interned.ts); their sleep sets stored in canonical choice keys.
  const groups = symmetryOf(scenario, opts)?.groups;
  if (passOver && (opts.reduction || groups)) throw new Error('internal error: a pass-over bound is explored without sleep sets or symmetry');
  const sym = groups
    ? new InternedSymmetry(groups, cpuCount, {
        // Any CPU's capture of an interned state: the same chart state but for the CPU's number, no part of it.
        chart: (id, c) => {
          const st = t.cpuStates[id] as CpuState;
          return (st.caps[c] ?? st.caps.find((x) => x !== undefined)) as CpuCapture;
        },
        // A guest state's capture (any slot's: the same state but for the actor's inputs, no part of it).
        guestHashUnder: (id, j, r) => {
          const st = t.cpuStates[id] as CpuState;
          return sim.renamedGuestHash(j, st.caps[cpuCount + j] ?? st.caps.find((x) => x !== undefined), r);
        },
        cpuHash: (id) => t.cpuHashes[id] as number,
        items: (items) => itemTuples.get(items),
        item: (d) => (pendingItems[d] ??= pendingOf(t.descs[d] as Desc)),
        memory: (mem) => {
          const m = t.mems[mem] as Mem;
          return { state: m.state, hash: m.hash };
        },
        flags: (flags) => (t.flags[flags] as Flags).values,
        observers: (set) => observerSets.get(set),
        layout: vcpuLayout(scenario),
      })
    : null;
  /**
   * A sleep set as the visited table stores it under symmetry: in the canonical renaming's choice
   * keys (footprints of the key only: a stored set is only ever read by its keys). The state just
   * keyed being its own canonical renaming, it is stored as it is.
   */
  const canonSleep = (sleepId: number): number => {
    if (!sym || sym.canonical || sleepId === 0) return sleepId;
    const ids = sleepSets.ids[sleepId] as readonly number[];
    if (canonScratch.length < ids.length) canonScratch = new Array<number>(2 * ids.length).fill(0);
    const perm = sym.renamingId;
    for (let i = 0; i < ids.length; i++) {
      const z = ids[i] as number;
      const memo = z < 2 ** 20 && perm < 2 ** 33 ? z * 2 ** 33 + perm : -1;
      let fp = memo >= 0 ? canonFootprint.get(memo) : -1;
      if (fp < 0) {
        fp = t.keyOnlyFootprint(sym.toCanonical((t.fps[z] as Footprint).key));
        if (memo >= 0) canonFootprint.set(memo, fp);
      }
      canonScratch[i] = fp;
    }
    return sleepSets.internScratch(canonScratch, ids.length);
  };
  /** (footprint, renaming id) → the footprint of its key renamed canonically. */
  const canonFootprint = new HashTable(1 << 10);
  let canonScratch: number[] = [];
  /** Each descriptor's pending item, as symmetry reads it. */
  const pendingItems: PendingItem[] = [];
  const machineOnly = (opts.pruning ?? DEFAULT_PRUNING) === 'machine';
  const sleepSets = new SleepSets();
  const found = new Findings<string[]>(() => performance.now() - started, (p) => p, propertiesOf(h), opts.allViolations === true);
  const ends = opts.collectEnds ? new Set<string>() : null;
  let transitions = 0;
  let slept = 0;
  let maxDepth = 0;
  const stopped = new Set<StopReason>();
  let lastProgress = started;

  /** Pending items as an interned, sorted multiset. */
  const internItems = (items: readonly number[]): number => itemTuples.intern(ascending(items));

  /** The simulation's state as numbers, keeping each new part to rebuild states from. */
  const fromView = (v: StateView): { cpus: Int32Array; mem: number; items: number; flags: number } => {
    const cpus = new Int32Array(width);
    for (let c = 0; c < cpuCount; c++) cpus[c] = t.cpu(v.cpus[c] as number, c, () => {
        const runs = sim.runsTasks(c);
        return { watch: sim.watchMask(c), runs, bits: runs ? 1 : 0, cap: sim.captureCpu(c) };
      });
    // (The simulation is in the state viewed: each CPU state's context and position, the first time.)
    if (passOver) for (let c = 0; c < cpuCount; c++) passOver.note(cpus[c] as number, c, sim);
    // A guest actor waits on no shared variable (only CPUs are woken by writes).
    for (let j = 0; j < guestSlots; j++) cpus[cpuCount + j] = t.cpu((v.guests as number[])[j] as number, cpuCount + j, () => ({ watch: 0, runs: false, bits: sim.guestBits(j), cap: sim.captureGuest(j) }));
    return {
      cpus,
      mem: t.mem(v.mem, () => sim.captureMemory()),
      items: internItems(v.items.map((i) => t.desc(ownedBySlot(i)))),
      flags: t.flag(v.flagsKey, v.flagsHash, v.flags),
    };
  };
  /** A guest actor's pending item belongs to its slot (as a CPU's step belongs to the CPU). */
  const ownedBySlot = (i: ItemView): ItemView => {
    if (i.kind === 'vcpu') return { ...i, cpu: cpuCount + 2 * i.index };
    if (i.kind === 'vmm') return { ...i, cpu: cpuCount + 2 * i.index + 1 };
    if (i.kind === 'vhost') return { ...i, cpu: cpuCount + 2 * vcpuCount + i.index };
    return i;
  };
  const cpuHashes: number[] = [];
  for (let c = 0; c < cpuCount; c++) cpuHashes.push(0);
  const guestHashes: number[] | null = guestSlots > 0 ? new Array<number>(guestSlots).fill(0) : null;
  /**
   * A state's hash (Simulation.stateHash), with what its observers remember mixed in unless 0
   * (visitedKey): what `verify` checks a rebuilt state by and the shards split the search by (the
   * visited table keys states by their parts' ids instead: keyOf).
   */
  const hashOf = (cpus: Int32Array, mem: number, items: number, flags: number, memory = 0): number => {
    const hashes = t.cpuHashes;
    for (let c = 0; c < cpuCount; c++) cpuHashes[c] = hashes[cpus[c] as number] as number;
    if (guestHashes) for (let j = 0; j < guestSlots; j++) guestHashes[j] = hashes[cpus[cpuCount + j] as number] as number;
    return stateHash(cpuHashes, cpuCount, (t.mems[mem] as Mem).hash, itemTuples.lo[items] as number, itemTuples.hi[items] as number, (t.flags[flags] as Flags).hash, guestHashes, memory);
  };

  const keysTo = (id: number, last?: string): string[] => {
    const out: string[] = last === undefined ? [] : [last];
    for (let x = id; x > 0; x = nodes.parent(x)) out.push((t.descs[nodes.via(x)] as Desc).key);
    return out.reverse();
  };
  const report = (violations: readonly { property: string; message: string }[], id: number, last?: string) =>
    found.add(violations, nodes.depth(id) + (last === undefined ? 0 : 1), () => keysTo(id, last));

  /** The choice with this key in the simulation's current ready list. */
  const pickOf = (key: string): number => {
    const pick = sim.choiceKeys().indexOf(key);
    if (pick < 0) throw new Error(`internal error: exploration replay found no choice '${key}'`);
    return pick;
  };

  /**
   * Bring the simulation to a node, rebuilt from its parts: each CPU's chart and the memory as kept
   * when first seen, the pending items from their descriptors (a delivery gets a message of its
   * own with the same content), the flags. `poll`: also let the scheduler move the clock.
   */
  const materialize = (id: number, poll: boolean): void => {
    if (simAt === id && poll) return;
    const ready: AgendaState['future'] = [];
    const future: AgendaState['future'] = [];
    const inFlight: InterconnectState['inFlight'] = [];
    const now = nodes.now(id);
    const cpus = nodes.cpusOf(id, new Int32Array(width));
    let seq = 0;
    // Timers armed at the same time get their sequence numbers in the order they were armed.
    const list = Array.from(itemTuples.get(nodes.items(id))).sort((a, b) => (t.descs[a] as Desc).ord - (t.descs[b] as Desc).ord);
    // The script steps due first are in the ready list before their time (agenda.ts, earlyScripts).
    const firstScript = ItemMultisets.firstScript(t.descs, list);
    for (const i of list) {
      const d = t.descs[i] as Desc;
      const at = { seq: seq++, time: now + d.rel };
      let item: AgendaState['future'][number];
      if (d.kind === 'step') item = { kind: 'step', cpu: d.cpu, ...at };
      else if (d.kind === 'timer') item = { kind: 'timer', cpu: d.cpu, name: d.name, ...at, start: at.time - d.dur, ord: d.ord };
      else if (d.kind === 'script') item = { kind: 'script', index: d.index, ...at };
      else if (d.kind === 'vcpu' || d.kind === 'vmm' || d.kind === 'vhost') item = { kind: d.kind, cpu: d.index, ...at };
      else if (d.kind === 'deliver' && d.msg) {
        const msg = inFlight.length + 1;
        inFlight.push({ msg: { ...d.msg, id: msg }, remaining: 1 });
        item = { kind: 'deliver', msg, cpu: d.cpu, ...at };
      } else throw new Error(`internal error: the transition cache cannot rebuild a pending '${d.kind}'`);
      ((d.rel <= 0 && !d.held) || (d.kind === 'script' && d.rel === firstScript) ? ready : future).push(item);
    }
    const f = (t.flags[nodes.flags(id)] as Flags).values;
    // (Plain loops: Array.from with a function goes through the iterator protocol, slow in node 20.)
    const slot = (j: number) => (t.cpuStates[cpus[cpuCount + j] as number] as CpuState).caps[cpuCount + j];
    const guests: GuestsCapture | null =
      guestSlots === 0
        ? null
        : {
            vcpus: listOf(vcpuCount, (i) => slot(2 * i) as GuestsCapture['vcpus'][number]),
            vmms: listOf(vcpuCount, (i) => slot(2 * i + 1) as GuestsCapture['vmms'][number]),
            devices: listOf(guestSlots - 2 * vcpuCount, (d) => slot(2 * vcpuCount + d) as GuestsCapture['devices'][number]),
            // Each actor's hash is known too (verify: computed again, to be checked).
            ...(opts.verify ? {} : { hashes: listOf(guestSlots, (j) => (t.cpuStates[cpus[cpuCount + j] as number] as CpuState).hash) }),
          };
    const capture: Capture = {
      cpus: listOf(cpuCount, (c) => (t.cpuStates[cpus[c] as number] as CpuState).caps[c] as CpuCapture),
      memory: (t.mems[nodes.mem(id)] as Mem).state,
      agenda: { now, seq, ready: ready as AgendaState['ready'], future },
      bus: { nextId: inFlight.length + 1, counts: { messages: 0, targets: 0, delivered: 0, pending: 0, latched: 0, dropped: 0 }, inFlight },
      steps: nodes.depth(id),
      choices: 0,
      flags: f,
      keys: listOf(cpuCount, () => null),
      // Each CPU's hash is known (verify: computed again from the rebuilt chart, to be checked).
      hashes: listOf(cpuCount, (c) => (opts.verify ? 0 : (t.cpuStates[cpus[c] as number] as CpuState).hash)),
      memKey: null,
      memHash: 0,
      guests,
    };
    h.muted = true;
    sim.restoreCapture(capture);
    if (opts.verify && sim.stateHash() !== hashOf(cpus, nodes.mem(id), nodes.items(id), nodes.flags(id))) {
      throw new Error(`transition cache: node ${id} rebuilt from its parts is another state`);
    }
    if (poll) sim.poll();
    h.muted = false;
    simAt = poll ? id : -1;
  };

  /** The largest place among the pending timers due in `rel` and armed `dur` ago of the CPUs not in `reads` (-1: none). */
  const lastPlace = (items: Int32Array, reads: Int32Array, rel: number, dur: number): number => {
    let last = -1;
    for (const i of items) {
      const d = t.descs[i] as Desc;
      if (d.kind === 'timer' && d.rel === rel && d.dur === dur && !reads.includes(d.cpu)) last = Math.max(last, d.ord);
    }
    return last;
  };

  /** The cached effect of decision `d` in this state, if one applies (its index, or -1). */
  const findEffect = (k1: number, kSlot: number, d: number, cpus: Int32Array, flags: number, items: Int32Array, memFields: Float64Array): number => {
    for (let link = index.first(k1, kSlot); link >= 0; link = index.nextLink(link)) {
      const x = matching(index.effects(k1, kSlot, link, cpus, curSigs, memFields, t.cpuBits), d, cpus, flags, items, memFields);
      if (x >= 0) return x;
    }
    return -1;
  };
  /**
   * The first effect along a list from `first` that applies (every input checked), or -1. Read
   * from the pool (effect-pool.ts); an effect with reactions, threads kept apart or timers armed,
   * from its object (`matchingWhole`).
   */
  const matching = (first: number, d: number, cpus: Int32Array, flags: number, items: Int32Array, memFields: Float64Array): number => {
    const p = pool.ints;
    const q = pool.floats;
    const bits = t.cpuBits;
    for (let x = first; x >= 0; ) {
      const o = pool.at(x);
      if (p[o + E_DESC] !== d || p[o + E_FLAGS] !== flags) {
        x = p[o + E_NEXT] as number;
        continue;
      }
      if (p[o + E_COMPLEX] !== 0) {
        if (matchingWhole(x, cpus, items, memFields)) return x;
        x = p[o + E_NEXT] as number;
        continue;
      }
      let f = pool.floatsAt(x);
      let i = o + E_LISTS;
      let ok = true;
      const nMem = p[o + E_NMEM] as number;
      for (let j = 0; j < nMem && ok; j++) ok = memFields[p[i + j] as number] === q[f + j];
      i += nMem;
      f += nMem;
      const nReads = p[o + E_NREADS] as number;
      for (let j = 0; j < nReads && ok; j++) {
        const c = p[i + j] as number;
        ok = cpus[c] === p[i + nReads + j] && curSigs[c] === q[f + j];
      }
      i += 2 * nReads;
      f += nReads;
      const nRuns = p[o + E_NRUNS] as number;
      for (let j = 0; j < nRuns && ok; j++) {
        const c = p[i + j] as number;
        const m = p[i + nRuns + j] as number;
        ok = ((bits[cpus[c] as number] as number) & m & 0xff) === p[i + 2 * nRuns + j] && ((m & SIG_KEYED) === 0 || curSigs[c] === q[f + j]);
      }
      i += 3 * nRuns;
      const written = p[o + E_WRITTEN] as number;
      if (ok && written !== 0) {
        const watch = t.cpuWatch;
        const nOthers = p[o + E_NOTHERS] as number;
        for (let j = 0; j < nOthers && ok; j++) ok = ((watch[cpus[p[i + j] as number] as number] as number) & written) === 0;
      }
      if (ok) return x;
      x = p[o + E_NEXT] as number;
    }
    return -1;
  };
  /** Whether effect `x` applies, every input checked from its object (an effect with reactions, threads kept apart or timers armed). */
  const matchingWhole = (x: number, cpus: Int32Array, items: Int32Array, memFields: Float64Array): boolean => {
    const e = effects[x] as Effect;
    let ok = true;
    for (let j = 0; j < e.reacts.length && ok; j++) {
      const c = e.reacts[j] as number;
      const to = reactions.get(cpus[c] as number, e.reactVecs[j] as number);
      reactNow[c] = to;
      ok = to >= 0;
    }
    for (let j = 0; j < e.memReads.length && ok; j++) ok = memFields[e.memReads[j] as number] === e.memVals[j];
    for (let j = 0; j < e.reads.length && ok; j++) {
      const c = e.reads[j] as number;
      ok = cpus[c] === e.readIds[j] && curSigs[c] === e.readSigs[j];
    }
    for (let j = 0; j < e.runsRead.length && ok; j++) {
      const c = e.runsRead[j] as number;
      const m = e.runsMasks[j] as number;
      // (A reacting slot's bits are those of its state after.)
      const at = e.reacts.length > 0 && e.reacts.includes(c) ? (reactNow[c] as number) : (cpus[c] as number);
      ok = ((t.cpuStates[at] as CpuState).bits & m & 0xff) === e.runsVals[j] && ((m & SIG_KEYED) === 0 || curSigs[c] === e.runsSigs[j]);
    }
    for (let j = 0; j < e.refresh.length && ok; j++) ok = lookRefresh(e, j, cpus);
    // A timer armed takes its place after the pending ones due and armed with it (ordered
    // deadlines): those of the CPUs it did not read must be placed as they were.
    for (let j = 0; j < e.armed.length && ok; j++) {
      const a = e.armed[j] as Effect['armed'][number];
      ok = lastPlace(items, e.reads, a.rel, a.dur) === a.others;
    }
    if (ok && e.written !== 0) {
      for (let j = 0; j < e.others.length && ok; j++) {
        ok = ((t.cpuStates[cpus[e.others[j] as number] as number] as CpuState).watch & e.written) === 0;
      }
    }
    return ok;
  };

  /** Each interned pending item as StepFootprints.beforeFrom takes it, by descriptor. */
  const beforeOf: { text: string; slot: number; kind: Desc['kind'] }[] = [];
  const beforeItems = (items: Int32Array) =>
    listOf(items.length, (j) => {
      const i = items[j] as number;
      const d = t.descs[i] as Desc;
      return (beforeOf[i] ??= { text: itemText(d), slot: d.cpu, kind: d.kind });
    });
  /** A slot's state after effect `e` (while matching: the reactions are in reactNow). */
  const stateAfter = (e: Effect, c: number, cpus: Int32Array): number => {
    for (let j = 0; j < e.reacts.length; j++) if (e.reacts[j] === c) return reactNow[c] as number;
    for (let j = 0; j < e.setCpu.length; j++) if (e.setCpu[j] === c) return e.setIds[j] as number;
    return cpus[c] as number;
  };
  /** Whether thread `s`, kept apart by effect `e`, has a known answer with the bits `e` leaves (in refreshNow[s]). */
  const lookRefresh = (e: Effect, j: number, cpus: Int32Array): boolean => {
    const s = e.refresh[j] as number;
    const inputs = refreshes.inputsOf(s) as Int32Array;
    let packed = 0;
    for (let k = 0; k < inputs.length; k++) packed = packed * 8 + ((t.cpuStates[stateAfter(e, inputs[k] as number, cpus)] as CpuState).bits & 7);
    // (The effect remembers its last answer: entries are never changed, so it stays right.)
    let a = e.refreshPacked[j] === packed ? (e.refreshAns[j] as number) : -1;
    if (a < 0) {
      a = refreshes.get(refreshes.keyOf(s, packed));
      e.refreshPacked[j] = packed;
      e.refreshAns[j] = a;
    }
    refreshNow[s] = a;
    if (a < 0) return false;
    // A thread found runnable without its step pending is given one: known once seen.
    return !(refreshes.answers[a] as { runnable: boolean }).runnable || (stepsIn(curItemsT) & (1 << s)) !== 0 || refreshes.addOf(s) >= 0;
  };
  /** Which guest thread slots (below 31) have their step among pending-item multiset `items` (bit s), remembered per multiset. */
  const stepMasks: number[] = [];
  const stepsIn = (items: number): number => {
    let m = stepMasks[items];
    if (m === undefined) {
      m = 0;
      for (const i of itemTuples.get(items)) {
        const di = t.descs[i] as Desc;
        if ((di.kind === 'vcpu' || di.kind === 'vmm') && di.cpu < 31) m |= 1 << di.cpu;
      }
      stepMasks[items] = m;
    }
    return m;
  };
  /** The step item of guest thread slot `s` among `items`, or -1. */
  const stepOf = (items: Int32Array | readonly number[], s: number): number => {
    for (const i of items) {
      const di = t.descs[i] as Desc;
      if (di.cpu === s && (di.kind === 'vcpu' || di.kind === 'vmm')) return i;
    }
    return -1;
  };
  // (item multiset, thread slot, answer) → the multiset with the thread's step as the answer says.
  const itemsRefreshed = new HashTable(1 << 10);
  // (footprint, more slots) → the footprint with them; (footprint, more watched variables) → likewise.
  const fpSlots = new HashTable(1 << 10);
  const fpWatch = new HashTable(1 << 10);
  /** Footprint `fp` with more bits in `field` (interned), remembered by footprint and bits in `table`. */
  const wider = (table: HashTable, fp: number, field: 'slots' | 'watch', bits: number): number => {
    const f = t.fps[fp] as Footprint;
    if ((f[field] | bits) === f[field]) return fp;
    const k = fp * 4294967296 + (bits >>> 0);
    let x = table.get(k);
    if (x < 0) table.set(k, (x = t.internFootprint({ ...f, [field]: f[field] | bits })));
    return x;
  };
  /** Footprint `fp` with more slots read or given items and more variables watched (interned). */
  const widerFp = (fp: number, slots: number, watch: number): number => wider(fpWatch, wider(fpSlots, fp, 'slots', slots), 'watch', watch);
  /**
   * The threads kept apart by effect `e`, on the child being built (childCpus, childItems, childFp):
   * each one's step pending or not as its answer says, and what its look read in the footprint.
   */
  const applyRefresh = (e: Effect, answers: Int32Array): void => {
    let slots = 0;
    let watch = 0;
    for (let j = 0; j < e.refresh.length; j++) {
      const s = e.refresh[j] as number;
      const a = refreshes.answers[answers[s] as number] as RefreshAnswer;
      slots |= a.slots;
      for (let k = 0; k < a.cpus.length; k++) watch |= (t.cpuStates[childCpus[a.cpus[k] as number] as number] as CpuState).watch;
      const has = (stepsIn(childItems) & (1 << s)) !== 0;
      if (has === a.runnable) continue;
      slots |= bitOf(s);
      const k = (childItems * width + s) * 2 + (a.runnable ? 1 : 0);
      let next = itemsRefreshed.get(k);
      if (next < 0) {
        const now = itemTuples.get(childItems);
        next = internItems(a.runnable ? [...now, refreshes.addOf(s)] : Array.from(now).filter((i) => i !== stepOf(now, s)));
        itemsRefreshed.set(k, next);
      }
      childItems = next;
    }
    // (The effect remembers its last widened footprint; childFp is its own here.)
    if (slots === e.refreshSlots && watch === e.refreshWatch && e.refreshFp >= 0) {
      childFp = e.refreshFp;
      return;
    }
    childFp = widerFp(childFp, slots, watch);
    e.refreshSlots = slots;
    e.refreshWatch = watch;
    e.refreshFp = childFp;
  };

  /** A cached effect's records to the observers, on this path's clock. */
  const feedRecords = (records: readonly TraceRecord[], now: number): void => {
    for (const r of records) h.feed('ns' in r && r.ns !== now ? ({ ...r, ns: now } as TraceRecord) : r);
  };
  const cpus = new Int32Array(width);
  const childCpus = new Int32Array(width);
  // (item multiset, effect) → the multiset the effect leaves.
  const itemsNext = new HashTable(1 << 14);

  // The search in small functions that share the state being expanded (V8 compiles small
  // functions quickly; a rare path first taken late then recompiles only its own function, not
  // the whole search — one large function was compiled six times in a run, 80 ms each).
  let curId = 0;
  let curDepth = 0;
  let curMem = 0;
  let curFlags = 0;
  let curItemsT = 0;
  let curItems: Int32Array = new Int32Array(0);
  /** With a pass-over bound: the counts of the state being expanded (a PassOverCounts id). */
  let curCounts = 0;
  /**
   * The clock of the state being expanded, and what its observers remember (memoryHash) on it: in
   * a typed array, as a `let` holding a double would be a number object made anew at each change.
   */
  const curF = new Float64Array(2);
  let curObservers: Observer[] = [];
  /** curObservers' ObserverSets id. */
  let curObserverSet = 0;
  let curSleepId = 0;
  let curMemFields: Float64Array = new Float64Array(0);
  /** Each slot's pending-item signature in the state being expanded (sigOf for every slot: ItemMultisets.sigsOf, read only while it is). */
  let curSigs: Float64Array = new Float64Array(width);
  /** Scratch: a child's sleep set, unsorted. */
  let sleepScratch: number[] = [];
  // The child a decision leads to.
  let childMem = 0;
  let childItems = 0;
  let childFlags = 0;
  /** The footprint of the decision that led to the child (a Tables.fps index). */
  let childFp = 0;
  /** The cached effect that led to the child (-1: run for real), and its ObserverSteps entry (-1: its records were fed). */
  let childEffect = -1;
  let childStep = -1;
  const dependence = opts.dependence ?? DEFAULT_DEPENDENCE;
  const independent = relationOf(dependence);
  const steps = new StepFootprints(sim);

  const expand = (id: number): void => {
    // (Its CPU states into `cpus`, its clock and memory into curF: read once, used below.)
    nodes.load(id, cpus, curF);
    const onlyId = nodes.loadedOnly;
    curId = id;
    curObserverSet = nodes.loadedObservers;
    const observers = (curObservers = observerSets.get(curObserverSet));
    curSleepId = nodes.loadedSleep;
    curFlags = nodes.loadedFlags;
    curMem = nodes.loadedMem;
    curDepth = nodes.depth(id);
    curItemsT = nodes.loadedItems;
    curItems = itemTuples.get(curItemsT);
    curCounts = nodes.loadedCounts;
    h.fork(observers);
    // The scheduler's poll, on the numbers: the run is over, or what is due now (moving the clock
    // to the next timer if nothing is).
    if ((t.flags[curFlags] as Flags).values.ended !== null || curItems.length === 0) {
      endOfRun(id);
      return;
    }
    if (itemTuples.waits(curItemsT)) {
      advance();
      // The clock moved: what the observers remember is kept relative to it.
      if (!machineOnly) curF[MEMORY] = memoryHash(curObservers, curF[NOW] as number);
    }
    if (curDepth >= opts.maxDepth) {
      stopped.add('max-depth');
      return;
    }
    curMemFields = (t.mems[curMem] as Mem).fields;
    curSigs = itemTuples.sigsOf(curItemsT);
    // (Read through the pool each time: a child's new multiset may grow it.)
    const readyAt = itemTuples.readyAt(curItemsT);
    const readyCount = itemTuples.readyCount(curItemsT);
    batch.addNode(id, curDepth, curSleepId);
    batch.nodeNow[batch.nodes - 1] = curF[NOW] as number;
    const asleepBits = curSleepId === 0 ? NO_BITS : sleepBits(curSleepId);
    const onlyBits = onlyId < 0 ? null : onlyBitsOf(onlyId);
    // With a pass-over bound: the CPUs held to it here, from every option (read before any is taken).
    if (passOver) passOver.hold(listOf(readyCount, (rank) => (t.descs[itemTuples.pool[readyAt + rank] as number] as Desc).key), cpus);
    for (let rank = 0; rank < readyCount; rank++) {
      const d = itemTuples.pool[readyAt + rank] as number;
      if (curDepth === 0 && opts.rootSlice && rank % opts.rootSlice.of !== opts.rootSlice.index) continue;
      const no = (t.descs[d] as Desc).keyNo;
      if (opts.reduction && hasKeyBit(asleepBits, no)) {
        slept += 1;
        continue;
      }
      if (onlyBits && !hasKeyBit(onlyBits, no)) continue;
      if (passOver) {
        // The counts if the choice runs its CPU and if it does not; neither, a run that needs a CPU
        // to stall longer than the bound: not taken (as in the direct engine).
        const desc = t.descs[d] as Desc;
        ifRan = passOver.after(curCounts, desc.actor);
        ifNot = runsActor(desc.key) ? -1 : passOver.after(curCounts, -1);
        if (ifRan < 0 && ifNot < 0) continue;
      }
      take(d);
    }
  };
  /** With a pass-over bound: the child's counts if the decision being taken runs its CPU, and if it does not (-1: past the bound). */
  let ifRan = -1;
  let ifNot = -1;

  /** A node sleep set's choice keys as bits (Desc.keyNo), worked out once per set. */
  const sleepBits = (id: number): Int32Array => {
    let bits = sleepBitsOf[id];
    if (bits === undefined) {
      bits = keyBits((sleepSets.ids[id] as readonly number[]).map((z) => t.keyNoOf((t.fps[z] as Footprint).key)));
      while (sleepBitsOf.length < id) sleepBitsOf.push(undefined);
      sleepBitsOf[id] = bits;
    }
    return bits;
  };
  const sleepBitsOf: (Int32Array | undefined)[] = [];
  /** A node's only-list (Nodes.onlyId) as choice key bits, worked out once per list. */
  const onlyBitsOf = (x: number): Int32Array => {
    let bits = onlyBits[x];
    if (bits === undefined) {
      bits = keyBits(nodes.onlyList(x).map((key) => t.keyNoOf(key)));
      while (onlyBits.length < x) onlyBits.push(undefined);
      onlyBits[x] = bits;
    }
    return bits;
  };
  const onlyBits: (Int32Array | undefined)[] = [];

  /** A state where the run is over: the end-of-run properties, from the real simulation's final records. */
  const endOfRun = (id: number): void => {
    const ended = (t.flags[curFlags] as Flags).values.ended !== null;
    if (!ended || ends) {
      materialize(id, false);
      sim.poll();
      simAt = -1;
      report(h.violations(), id);
    } else {
      // (The run ended on a reset: nothing more is fed to its observers, the node's own.)
      report(observerSets.violations(curObserverSet), id);
    }
    if (ends) ends.add(sim.stateKey());
  };

  /**
   * Nothing is due now: the clock moves to the next timer (unless timers due now are held back),
   * and of the timers due then, those armed after another one due and armed with them are held
   * back until nothing else can happen again (ordered deadlines: Agenda.advance).
   */
  const advance = (): void => {
    // (A function of the multiset: remembered by its id, the clock's step beside it.)
    const known = advancedTo[curItemsT];
    if (known !== undefined) {
      curF[NOW] = (curF[NOW] as number) + (advancedBy[curItemsT] as number);
      curItemsT = known;
      curItems = itemTuples.get(curItemsT);
      return;
    }
    const from = curItemsT;
    let by = Infinity;
    for (const i of curItems) by = Math.min(by, Math.max(0, (t.descs[i] as Desc).rel));
    const shifted: number[] = [];
    for (const i of curItems) shifted.push(by > 0 ? t.shift(i, by) : i);
    for (let j = 0; j < shifted.length; j++) {
      const d = t.descs[shifted[j] as number] as Desc;
      if (d.kind !== 'timer' || d.rel > 0) continue;
      let held = false;
      for (const k of shifted) {
        const o = t.descs[k] as Desc;
        if (o.kind === 'timer' && o.rel === d.rel && o.dur === d.dur && o.ord < d.ord) held = true;
      }
      shifted[j] = t.hold(shifted[j] as number, held);
    }
    curItemsT = internItems(shifted);
    curItems = itemTuples.get(curItemsT);
    curF[NOW] = (curF[NOW] as number) + by;
    while (advancedTo.length <= from) advancedTo.push(undefined);
    advancedTo[from] = curItemsT;
    while (advancedBy.length <= from) advancedBy.push(0);
    advancedBy[from] = by;
  };
  /** By pending-item multiset with nothing due: the multiset once the clock moved (advance), and how far it moved. */
  const advancedTo: (number | undefined)[] = [];
  const advancedBy: number[] = [];

  /** Take decision `d` in the current state: from the cache or for real, then record the child. */
  const take = (d: number): void => {
    const desc = t.descs[d] as Desc;
    h.fork(curObservers);
    transitions += 1;
    // The cached effect of this decision with these inputs, if any. The first key is two small
    // numbers (the decision and flags; the actor's state); distinct inputs rarely share one, and a shared key only lengthens
    // the lists the effects are checked along (effect-index.ts files them by what they read too).
    // (A guest actor's own item: keyed on the actor's state, in its slot.)
    const keySlot = desc.cpu >= cpuCount ? desc.cpu : desc.actor;
    const k1 = (d * 1021 + curFlags) | 0;
    const kSlot = keySlot >= 0 ? (cpus[keySlot] as number) + 1 : 0;
    const effectIndex = findEffect(k1, kSlot, d, cpus, curFlags, curItems, curMemFields);
    if (effectIndex >= 0) applyEffect(effectIndex);
    else runForReal(d, k1, kSlot);
    if (passOver) {
      // Whether it ran its CPU: the CPU's position in its state before and after (passover-counts.ts).
      const actor = desc.actor;
      const ran = actor < 0 || passOver.ran(desc.key, actor, cpus[actor] as number, childCpus[actor] as number);
      childCounts = ran ? ifRan : ifNot;
      // (A transition taken, to a run the bound rules out: counted, not kept, as in the direct engine.)
      if (childCounts < 0) return;
    }
    child(d);
  };
  /** With a pass-over bound: the counts of the child (a PassOverCounts id). */
  let childCounts = 0;

  /** The child by a cached effect. */
  const applyEffect = (effectIndex: number): void => {
    // (From the pool, but for the rarer parts: effect-pool.ts.)
    const p = pool.ints;
    const o = pool.at(effectIndex);
    const does = p[o + E_DOES] as number;
    count.hits += 1;
    // (Plain loops for these few numbers: TypedArray.prototype.set costs more than the copy.)
    for (let c = 0; c < width; c++) childCpus[c] = cpus[c] as number;
    const nSet = p[o + E_NSET] as number;
    const set = o + (p[o + E_SET_AT] as number);
    for (let j = 0; j < nSet; j++) childCpus[p[set + j] as number] = p[set + nSet + j] as number;
    // (Found by `matching` just now.)
    if (does & E_REACTS) {
      const effect = effects[effectIndex] as Effect;
      for (let j = 0; j < effect.reacts.length; j++) childCpus[effect.reacts[j] as number] = reactNow[effect.reacts[j] as number] as number;
    }
    childItems = curItemsT;
    if (does & E_ITEMS) {
      childItems = itemsNext.getPair(curItemsT, effectIndex);
      if (childItems < 0) {
        const effect = effects[effectIndex] as Effect;
        childItems = internItems(applyItems(curItems, effect.removed, effect.added));
        itemsNext.setPair(curItemsT, effectIndex, childItems);
      }
    }
    childMem = does & E_MEMORY ? t.applyWrites(curMem, effects[effectIndex] as Effect, effectIndex) : curMem;
    childFlags = p[o + E_FLAGS_AFTER] as number;
    // What the decision wrote, to the observers; the clock is this path's.
    childEffect = effectIndex;
    childStep = -1;
    if (does & E_RECORDS) {
      childStep = observerSteps.find(curObserverSet, effectIndex, curF[NOW] as number);
      if (childStep < 0) feedRecords((effects[effectIndex] as Effect).records, curF[NOW] as number);
    }
    childFp = p[o + E_FP] as number;
    // (Found by `matching` just now.)
    if (does & E_REFRESH) applyRefresh(effects[effectIndex] as Effect, refreshNow);
    if (opts.verify) verifyHit(curId, (t.descs[p[o + E_DESC] as number] as Desc).key, effectIndex);
  };

  /** A decision never seen with these inputs: run it in the simulation, and remember its effect. */
  const runForReal = (d: number, k1: number, kSlot: number): void => {
    const key = (t.descs[d] as Desc).key;
    count.misses += 1;
    childEffect = childStep = -1;
    materialize(curId, true);
    const recorded: TraceRecord[] = [];
    h.recording = recorded;
    // The state it starts from, for its footprint: known here (verify: checked against the simulation's).
    steps.beforeFrom(beforeItems(curItems), curMemFields, (t.flags[curFlags] as Flags).key);
    if (opts.verify) {
      const known = steps.beforeText();
      steps.before();
      if (steps.beforeText() !== known) throw new Error(`transition cache: node ${curId} is not the state the simulation is in (${known}; ${steps.beforeText()})`);
    }
    sim.trackReads();
    const pick = sim.choiceKeys().indexOf(key);
    const shown = h.decide(pick);
    const tracked = sim.endTracking();
    const { reads, written, fieldsRead, fieldsWritten, armed } = tracked;
    // One view of the state the decision left, for its footprint and its parts.
    const after = sim.view();
    childFp = t.internFootprint(steps.footprint(key, shown, tracked, after));
    h.recording = null;
    simAt = -1;
    const real = fromView(after);
    for (const r of tracked.reacted) reactions.set(cpus[r.slot] as number, r.vector, real.cpus[r.slot] as number);
    childCpus.set(real.cpus);
    childMem = real.mem;
    childItems = real.items;
    childFlags = real.flags;
    const look = kickOf(tracked);
    // A kick sent: the effect is recorded as if it was not (kick-table.ts adds it back); if its
    // record or delivery is not where the look says, the effect is recorded as taken.
    const base = look?.kicked ? withoutKick(look, key, shown, tracked, after, recorded, real) : null;
    const kick = look?.kicked && !base ? null : look;
    const realFp = childFp;
    if (base) {
      childFp = base.fp;
      childItems = base.real.items;
    }
    const b = base ?? { after, recorded, shown, real };
    const k = keptApart(d, key, b.shown, tracked, b.after, b.real);
    const e = record(d, cpus, curMem, curFlags, curItems, reads, k.runsRead, k.runsMasks, k.itemsRead, tracked.reacted, written, fieldsRead, fieldsWritten, b.real, b.recorded.filter((r) => h.relevant(r)), b.shown.local, armed, k.fp, k.apart);
    childFp = realFp;
    childItems = real.items;
    // Both outcomes of the kick (the one not taken once the IPI is known), else the effect as it was taken.
    let before = 0;
    if (kick) for (let i = 0; i < kick.at; i++) if (h.relevant(b.recorded[i] as TraceRecord)) before += 1;
    const both = kick ? kicks.variants(e, kick, before, t) : null;
    if (kick?.kicked && !both) {
      // (Keyed on more of the vCPU than the bit: the rest of the step may depend on it. Recorded as taken.)
      const k2 = keptApart(d, key, shown, tracked, after, real);
      addEffect(k1, kSlot, record(d, cpus, curMem, curFlags, curItems, reads, k2.runsRead, k2.runsMasks, k2.itemsRead, tracked.reacted, written, fieldsRead, fieldsWritten, real, recorded.filter((r) => h.relevant(r)), shown.local, armed, k2.fp, k2.apart));
      return;
    }
    if (!both) addEffect(k1, kSlot, e);
    else {
      addEffect(k1, kSlot, both[0]);
      addEffect(k1, kSlot, both[1]);
      count.kicks = (count.kicks ?? 0) + 1;
    }
  };
  const addEffect = (k1: number, kSlot: number, e: Effect): void => {
    index.add(k1, kSlot, effects.length, e, cpus, curSigs, curMemFields, t.cpuBits);
    pool.add(effects.length, e);
    effects.push(e);
    if (e.refresh.length > 0) count.apart = (count.apart ?? 0) + 1;
  };
  const kicks = new Kicks();
  /** The one kick a decision looked at through the bit of a vCPU that reacted and was read no other way, or null. */
  const kickOf = (tracked: Tracked): KickLook | null => {
    if (tracked.kicks.length !== 1) return null;
    const k = tracked.kicks[0] as KickLook;
    const j = tracked.runsRead.indexOf(k.slot);
    if (j < 0 || tracked.runsMasks[j] !== k.mask || tracked.reacted.filter((r) => r.slot === k.slot).length !== 1) return null;
    return k;
  };
  /**
   * What a decision that sent kick `k` would have left without it: the IPI's delivery and `send`
   * record taken away, the footprint without them (learning what the IPI adds). Null if the
   * record or the delivery is not where the kick says.
   */
  const withoutKick = (k: KickLook, key: string, shown: Shown, tracked: Tracked, after: StateView, recorded: TraceRecord[], real: { cpus: Int32Array; mem: number; items: number; flags: number }) => {
    const rec = recorded[k.at];
    if (rec?.t !== 'send' || rec.from !== k.from || rec.vector !== k.vector) return null;
    const i = after.items.findIndex((x) => x.kind === 'deliver' && x.cpu === k.to && x.msg?.id === rec.msg);
    if (i < 0) return null;
    kicks.learn(k, { item: t.desc(after.items[i] as ItemView), record: rec, relevant: h.relevant(rec), seen: h.seenOf([rec]) });
    const items = after.items.filter((_, j) => j !== i);
    const left = recorded.filter((_, j) => j !== k.at);
    const shownBase = { ...shown, local: !left.some((r) => NON_LOCAL.has(r.t)), seen: h.seenOf(left) };
    const afterBase: StateView = { ...after, items };
    return {
      after: afterBase,
      recorded: left,
      shown: shownBase,
      fp: t.internFootprint(steps.footprint(key, shownBase, tracked, afterBase)),
      real: { ...real, items: internItems(items.map((x) => t.desc(ownedBySlot(x)))) },
    };
  };

  /**
   * Which of the guest threads whose runnability decision `d` looked at again to keep apart
   * (refresh-table.ts), and what the effect is keyed on then: the slots read through their bits
   * with the bits read of each, the guest slots whose pending step was read, the footprint without
   * what the looks kept apart add to it. A look is kept apart only if it was the thread's one look,
   * on the bits the decision leaves, read only its inputs' bits and its own step, and the effect
   * rebuilt with it gives the real child; the others' reads are the effect's.
   */
  const keptApart = (
    d: number,
    key: string,
    shown: { actor: number; local: boolean; global: boolean; seen: number },
    tracked: Tracked,
    after: StateView,
    real: { cpus: Int32Array; items: number },
  ): { runsRead: number[]; runsMasks: number[]; itemsRead: number[]; fp: number; apart: number[] } => {
    if (tracked.refreshed.length === 0) return { runsRead: tracked.runsRead, runsMasks: tracked.runsMasks, itemsRead: tracked.itemsRead, fp: childFp, apart: [] };
    const own = (t.descs[d] as Desc).cpu;
    const bitsAfter = (c: number) => (t.cpuStates[real.cpus[c] as number] as CpuState).bits;
    const apart: typeof tracked.refreshed = [];
    const merged: typeof tracked.refreshed = [];
    for (const r of tracked.refreshed) {
      const ok =
        r.slot !== own &&
        r.times === 1 &&
        refreshes.fits(r.inputs.length) &&
        r.inputs.every((c, k) => c < 31 && bitsAfter(c) === r.bits[k]) &&
        r.bitReads.every((c) => r.inputs.includes(c)) &&
        r.itemReads.every((c) => c === r.slot);
      (ok ? apart : merged).push(r);
    }
    const mergedAll = (rs: typeof tracked.refreshed) => {
      // (A slot read whole is keyed on its chart; one read in a look kept in is keyed on all its bits.)
      const masks = new Map<number, number>(tracked.runsRead.map((c, j) => [c, tracked.runsMasks[j] as number]));
      const items = new Set(tracked.itemsRead);
      for (const r of rs) {
        for (const c of r.bitReads) if (!tracked.reads.includes(c)) masks.set(c, 0xff);
        for (const c of r.itemReads) if (!tracked.reads.includes(c)) items.add(c);
      }
      const runsRead = ascending([...masks.keys()]);
      return { runsRead: Array.from(runsRead), runsMasks: Array.from(runsRead, (c) => masks.get(c) as number), itemsRead: Array.from(ascending([...items])) };
    };
    const whole = () => ({ ...mergedAll(tracked.refreshed), fp: childFp, apart: [] as number[] });
    if (apart.length === 0) return whole();
    const inside = merged.length === 0 ? { runsRead: tracked.runsRead, runsMasks: tracked.runsMasks, itemsRead: tracked.itemsRead } : mergedAll(merged);
    const slots = new Set(apart.map((r) => r.slot));
    // The footprint without the looks kept apart, and with them added back as a hit would: the real one.
    // (inside.runsRead has the reads of the looks kept in.)
    const mainFp = t.internFootprint(steps.footprint(key, shown, { ...tracked, runsRead: inside.runsRead, refreshRuns: [] }, after, slots));
    // The pending items without the kept-apart threads' steps coming and going, then with them.
    const saved = { fp: childFp, items: childItems };
    const kept = (i: number) => !slots.has((t.descs[i] as Desc).cpu) || ((t.descs[i] as Desc).kind !== 'vcpu' && (t.descs[i] as Desc).kind !== 'vmm');
    const realItems = itemTuples.get(real.items);
    const before = Array.from(curItems).filter((i) => !kept(i));
    childItems = internItems([...Array.from(realItems).filter(kept), ...before]);
    childFp = mainFp;
    for (const r of apart) {
      const s = r.slot;
      const add = stepOf(realItems, s);
      if (r.answer && add >= 0 && stepOf(before, s) < 0) refreshes.setAdd(s, add);
      refreshes.set(s, r.inputs, r.bits, r.answer, r.bitReads);
    }
    const e = { refresh: ints(apart.length, (j) => (apart[j] as (typeof apart)[number]).slot), refreshSlots: 0, refreshWatch: 0, refreshFp: -1 } as Effect;
    const found = new Int32Array(width);
    for (const r of apart) found[r.slot] = refreshes.get(refreshes.key(r.slot, bitsAfter));
    applyRefresh(e, found);
    // (Footprints are interned: equal ones, equal numbers.)
    const same = childItems === real.items && childFp === saved.fp;
    childItems = saved.items;
    childFp = saved.fp;
    if (!same) return whole();
    return { ...inside, fp: mainFp, apart: Array.from(slots).sort((a, b) => a - b) };
  };

  /**
   * After decision `d`: violations, and the child noted in the batch (`visit` then looks it up in
   * the visited table). The search expands a batch of frontier states, noting their children, then
   * visits the children in order: the same order of everything as one state at a time (what a visit
   * does, no expansion reads), but each child's key is known before any is looked up, so the
   * lookups — one cache miss each in a table of millions — are started together (`touchAll`).
   */
  const child = (d: number): void => {
    const fpId = childFp;
    const b = batch.count++;
    if (b === batch.d.length) batch.grow(width);
    // The child's observers: as this effect left these observers on this clock before, else as
    // the records fed just now left them (interned either way: observer-sets.ts). (What they
    // remember goes straight to its typed column: a variable taking it from there or from a call
    // would hold a number object.)
    let childSet = curObserverSet;
    if (childStep >= 0) {
      childSet = observerSteps.setOf(childStep);
      batch.memory[b] = observerSteps.memoryOf(childStep);
    } else if (h.touched) {
      childSet = observerSets.intern(h.current, curObserverSet);
      batch.memory[b] = machineOnly ? 0 : memoryHash(h.current, curF[NOW] as number);
      if (childEffect >= 0) observerSteps.add(curObserverSet, childEffect, curF[NOW] as number, childSet, batch.memory[b] as number);
    } else batch.memory[b] = curF[MEMORY] as number;
    if (childSet !== curObserverSet) {
      const before = observerSets.violationCount(curObserverSet);
      if (observerSets.violationCount(childSet) > before) report(observerSets.violations(childSet).slice(before), curId, (t.descs[d] as Desc).key);
    }
    batch.d[b] = d;
    batch.fp[b] = fpId;
    batch.items[b] = childItems;
    batch.mem[b] = childMem;
    batch.flags[b] = childFlags;
    batch.set[b] = childSet;
    batch.node[b] = batch.nodes - 1;
    const row = batch.cpus;
    for (let c = 0, at = b * width; c < width; c++) row[at + c] = childCpus[c] as number;
    keyOf(childCpus, childMem, childItems, childFlags, batch.nodeNow[batch.nodes - 1] as number, batch.memory[b] as number, childSet, childCounts);
    if (passOver) {
      if (b >= batchCounts.length) {
        const grown = new Int32Array(2 * b);
        grown.set(batchCounts);
        batchCounts = grown;
      }
      batchCounts[b] = childCounts;
    }
    batch.keyLo[b] = keyLo;
    batch.keyHi[b] = keyHi;
    // Under symmetry, the renaming the key was found under (the sleep sets are read and stored under
    // it when the child is visited: `select`) and whether CPUs are tied, in one number (-1: no slot).
    if (sym) batch.symSlot[b] = sym.slotUsed < 0 ? -1 : sym.slotUsed * 2 + (sym.tied ? 1 : 0);
  };

  /** Child `b` of the batch: its sleep set, and the child if it is new (or must be expanded again). */
  const visit = (b: number): void => {
    const n = batch.node[b] as number;
    const parent = batch.nodeId[n] as number;
    const depth = batch.nodeDepth[n] as number;
    const now = batch.nodeNow[n] as number;
    if (candMemo && n !== candNode) {
      // The first child of its state visited: its sleep set is the candidates so far.
      candNode = n;
      curCand = candidatesOf(batch.nodeSleep[n] as number);
      candCount = 0;
    }
    const d = batch.d[b] as number;
    const fpId = batch.fp[b] as number;
    const fp = t.fps[fpId] as Footprint;
    const items = batch.items[b] as number;
    const mem = batch.mem[b] as number;
    const flags = batch.flags[b] as number;
    const set = batch.set[b] as number;
    const memory = batch.memory[b] as number;
    keyLo = batch.keyLo[b] as number;
    keyHi = batch.keyHi[b] as number;
    if (sym) {
      const slot = batch.symSlot[b] as number;
      if (slot >= 0) sym.select(slot >> 1);
      else keyOf(batch.cpus.subarray(b * width, (b + 1) * width), mem, items, flags, now, memory, set, 0);
    }
    // (A state seen before with an empty sleep set is done with whatever this one is: its sleep
    // set is worked out only when it matters.)
    const at = visited.get(keyLo, keyHi);
    if (at === 0) return;
    const sleepId = opts.reduction && !dependentWithAll(fp, dependence) ? sleepAfter(fpId, fp, b - (batch.nodeFirst[n] as number), batch.nodeFirst[n] as number, batch.nodeSleep[n] as number) : 0;
    let childSleep = sleepId;
    let childOnly = -1;
    if (at >= 0) {
      const again = seenAgain(at, sleepId);
      if (again < 0) return;
      childSleep = againSleep[again] as number;
      childOnly = againOnly[again] as number;
      visited.set(keyLo, keyHi, canonSleep(childSleep));
    } else {
      if (!roomForState(opts, visited.size)) {
        stopped.add('max-states');
        return;
      }
      visited.set(keyLo, keyHi, canonSleep(sleepId));
      if (sym) {
        // Its orbit counted: the whole group's when no CPUs are tied, else keyed again to try the
        // renamings of the tied CPUs (the batch keeps only its key and renaming).
        // (With no slot, `keyOf` just keyed it.)
        const slot = batch.symSlot[b] as number;
        if (slot >= 0 && (slot & 1) === 0) sym.countUntied();
        else {
          if (slot >= 0) sym.keyOfIds(batch.cpus.subarray(b * width, (b + 1) * width), mem, items, flags, now, set);
          sym.countLast();
        }
      }
    }
    maxDepth = Math.max(maxDepth, depth + 1);
    // (The clock and memory passed in a typed array: a double argument would be a number object.)
    times[NOW] = now;
    times[MEMORY] = memory;
    nodes.addWith(times, batch.cpus, b * width, items, mem, flags, depth + 1, parent, d, childSleep, set, childOnly, passOver ? (batchCounts[b] as number) : 0);
  };
  const times = new Float64Array(2);
  /** With a pass-over bound: the batch's children's counts (a column beside Batch's). */
  let batchCounts = new Int32Array(passOver ? BATCH_CHILDREN : 0);
  /** The batch's states being expanded and their children (Batch). */
  const batch = new Batch(width);
  /** The batch state whose candidates curCand holds (-1: none yet). */
  let candNode = -1;

  /**
   * The child's sleep set: the parent's and the first `siblings` earlier siblings' choices that
   * commute with `fp` (dependence.ts). Those candidates are one interned multiset (`candidates`:
   * the parent's set, then each sibling's footprint added, remembered by set and footprint), and
   * the child's set is remembered by candidates and footprint: the same few recur across states.
   * On a wide machine they rarely recur (each state's siblings are new): once most lookups miss,
   * the memo is dropped for the rest of the search and each set is worked out directly, as the
   * same multiset (equal sets, equal ids either way).
   */
  const sleepAfter = (fpId: number, fp: Footprint, siblings: number, first: number, parentSleep: number): number => {
    if (!candMemo) return sleepDirect(fp, siblings, first, parentSleep);
    for (; candCount < siblings; candCount++) {
      const z = batch.fp[first + candCount] as number;
      let next = candNext.getPair(curCand, z);
      if (next < 0) {
        next = candidates.intern([...(candidates.ids[curCand] as readonly number[]), z]);
        candNext.setPair(curCand, z, next);
      }
      curCand = next;
    }
    let out = candSleep.getPair(curCand, fpId);
    if (out < 0) {
      const cand = candidates.ids[curCand] as readonly number[];
      if (sleepScratch.length < cand.length) sleepScratch = new Array<number>(2 * cand.length).fill(0);
      let n = 0;
      for (const z of cand) if (independent(t.fps[z] as Footprint, fp)) sleepScratch[n++] = z;
      out = n > 0 ? sleepSets.internScratch(sleepScratch, n) : 0;
      candSleep.setPair(curCand, fpId, out);
    } else candHits += 1;
    candLooks += 1;
    if ((candLooks & CAND_CHECK) === 0 && candHits * 2 < candLooks) candMemo = false;
    return out;
  };
  /** The child's sleep set worked out from the parent's and the siblings' footprints (no memo). */
  const sleepDirect = (fp: Footprint, siblings: number, first: number, parentSleep: number): number => {
    const parentSet = sleepSets.ids[parentSleep] as readonly number[];
    if (sleepScratch.length < parentSet.length + siblings) sleepScratch = new Array<number>(2 * (parentSet.length + siblings)).fill(0);
    let n = 0;
    for (const z of parentSet) if (independent(t.fps[z] as Footprint, fp)) sleepScratch[n++] = z;
    for (let j = 0; j < siblings; j++) {
      const z = batch.fp[first + j] as number;
      if (independent(t.fps[z] as Footprint, fp)) sleepScratch[n++] = z;
    }
    return n > 0 ? sleepSets.internScratch(sleepScratch, n) : 0;
  };
  /** Whether sleepAfter remembers candidates, and how often its last lookup hit (checked every CAND_CHECK + 1 lookups). */
  let candMemo = opts.noMemos !== true;
  let candLooks = 0;
  let candHits = 0;
  /** Multisets of footprints (the parent's sleep set and siblings taken), interned like sleep sets. */
  const candidates = new SleepSets();
  /** Sleep set id → its candidates id (the same contents). */
  const candOfSleep = new HashTable(1 << 12);
  /** (candidates, footprint) → candidates with it; (candidates, footprint) → the child's sleep set. */
  const candNext = new HashTable(1 << 12);
  const candSleep = new HashTable(1 << 12);
  /** The candidates of the state being expanded: its sleep set and its first `candCount` siblings' footprints. */
  let curCand = 0;
  let candCount = 0;
  /** A sleep set as candidates (first thing when a state is expanded). */
  const candidatesOf = (sleepId: number): number => {
    if (sleepId === 0) return 0;
    let c = candOfSleep.get(sleepId);
    if (c < 0) candOfSleep.set(sleepId, (c = candidates.intern(sleepSets.ids[sleepId] as readonly number[])));
    return c;
  };

  /**
   * A state seen before with sleep set Z0, reached now with Z: nothing to do if Z0 ⊆ Z; else
   * expand it again for just Z0 \ Z, and remember Z0 ∩ Z (state caching with sleep sets, as in
   * the direct engine).
   */
  const seenAgain = (at: number, sleepId: number): number => {
    if ((sleepSets.ids[at] as readonly number[]).length === 0) return -1;
    // (A function of the two sets, remembered by both ids. Under symmetry the stored set, in
    // canonical choice keys, is read back through the renaming of the state just keyed, so the
    // outcome depends on that renaming too: remembered with its id while it is small (a few
    // interchangeable CPUs). An outcome not remembered is worked out into place 0, never kept:
    // keeping every one grew an array by one per revisit until it overflowed, 60 M states into
    // R2 mainline with 5 CPUs.)
    const perm = sym ? sym.renamingId : 0;
    const memo = perm < AGAIN_PERMS && sleepId < 2 ** 31 / AGAIN_PERMS - 1;
    let x = memo ? againMemo.getPair(at, sleepId * AGAIN_PERMS + perm) : -1;
    if (x < 0) {
      const again = seenAgainOf(at, sleepId);
      x = memo ? againSleep.length : 0;
      againSleep[x] = again ? again.sleep : -1;
      againOnly[x] = again ? nodes.internOnly(again.only) : -1;
      if (memo) againMemo.setPair(at, sleepId * AGAIN_PERMS + perm, x);
    }
    return (againSleep[x] as number) < 0 ? -1 : x;
  };
  /** Renamings (by id) below this have their revisit outcomes remembered (seenAgain). */
  const AGAIN_PERMS = 64;
  const againMemo = new HashTable(1 << 12);
  /** Revisit outcomes: the sleep set to expand again with (-1: nothing to do) and the only-list; place 0 is scratch. */
  const againSleep: number[] = [-1];
  const againOnly: number[] = [-1];
  const seenAgainOf = (at: number, sleepId: number): { sleep: number; only: string[] } | null => {
    const seen = sleepSets.ids[at] as readonly number[];
    const sleep = sleepSets.ids[sleepId] as readonly number[];
    const only: string[] = [];
    // Under symmetry the set seen is in canonical choice keys (see canonSleep).
    for (const z0 of seen) {
      const key = sym ? sym.fromCanonical((t.fps[z0] as Footprint).key) : (t.fps[z0] as Footprint).key;
      if (!asleep(t.fps, sleep, key)) only.push(key);
    }
    if (only.length === 0) return null;
    const kept: number[] = [];
    for (const z of sleep) if (asleep(t.fps, seen, sym ? sym.toCanonical((t.fps[z] as Footprint).key) : (t.fps[z] as Footprint).key)) kept.push(z);
    return { sleep: sleepSets.intern(kept), only };
  };

  const rootView = fromView(sim.view());
  const rootMemory = machineOnly ? 0 : memoryHash(rootObservers, sim.now);
  const rootSet = observerSets.intern(rootObservers, -1);
  const rootCounts = passOver ? passOver.zero : 0;
  nodes.add(rootView.cpus, rootView.items, rootView.mem, rootView.flags, 0, -1, -1, 0, sim.now, rootMemory, rootSet, -1, rootCounts);
  keyOf(rootView.cpus, rootView.mem, rootView.items, rootView.flags, sim.now, rootMemory, rootSet, rootCounts);
  visited.set(keyLo, keyHi, 0);
  sym?.countLast();
  const split = opts.shard ? new ShardSplit(opts.shard) : null;
  const nodeHash = (id: number) => hashOf(nodes.cpusOf(id, cpus), nodes.mem(id), nodes.items(id), nodes.flags(id));
  for (let id = 0; id < nodes.count; ) {
    // A batch: states already in the queue, one at a time with a shard split (it is told the
    // counts as each state is reached).
    const end = split ? id + 1 : Math.min(nodes.count, id + BATCH_STATES);
    batch.reset();
    candNode = -1;
    let stop: StopReason | null = null;
    let next = id;
    for (; next < end && batch.count < BATCH_CHILDREN; next++) {
      // (Only expanding reports violations: checked before each state, as one at a time.)
      stop = stopHere(opts, found, nodes.depth(next), started, heap);
      if (stop) break;
      const k = next;
      if (split && !split.expands(nodes.depth(k), () => nodes.count - k, visited.size, transitions, () => nodeHash(k))) continue;
      expand(k);
    }
    visited.touchAll(batch.keyLo, batch.keyHi, batch.count);
    for (let b = 0; b < batch.count; b++) visit(b);
    if (next > id) nodes.release(next - 1);
    if (stop) {
      stopped.add(stop);
      break;
    }
    if (opts.onProgress && ((id & 255) === 0 || id >>> 8 !== (next - 1) >>> 8)) {
      const at = performance.now();
      if (at - lastProgress >= (opts.progressMs ?? 500)) {
        lastProgress = at;
        opts.onProgress({ states: visited.size, transitions, depth: nodes.depth(next - 1), frontier: nodes.count - next, elapsedMs: at - started });
      }
    }
    id = next;
  }

  /** The effect of a decision just run for real, with the inputs it read. */
  function record(
    d: number,
    cpus: Int32Array,
    mem: number,
    flags: number,
    items: Int32Array,
    reads: number[],
    runsRead: number[],
    runsMasks: number[],
    itemsRead: number[],
    reacted: { slot: number; vector: number }[],
    written: number,
    fieldsRead: number,
    fieldsWritten: number,
    child: { cpus: Int32Array; mem: number; items: number; flags: number },
    records: TraceRecord[],
    local: boolean,
    armed: { rel: number; dur: number }[],
    fp: number,
    apart: number[],
  ): Effect {
    // Memory: the fields read, with their values then; the fields assigned or changed, with their values now.
    const before = (t.mems[mem] as Mem).fields;
    const after = (t.mems[child.mem] as Mem).fields;
    const memReads: number[] = [];
    const memWrites: [number, unknown][] = [];
    for (let f = 0; f < MEMORY_FIELDS.length; f++) {
      if (fieldsRead & (1 << f)) memReads.push(f);
      if (fieldsWritten & (1 << f) || before[f] !== after[f]) {
        const field = MEMORY_FIELDS[f] as keyof KernelMemoryState;
        memWrites.push([f, copyMemoryField(field, sim.memory[field])]);
      }
    }
    const childCpus = child.cpus;
    const setCpu: number[] = [];
    const setIds: number[] = [];
    const reacts = reacted.map((r) => r.slot);
    for (let c = 0; c < width; c++) {
      if (childCpus[c] === cpus[c] || reacts.includes(c)) continue;
      if (!reads.includes(c)) throw new Error(`internal error: ${c < cpuCount ? 'CPU' : 'guest actor'} ${c} changed without being read (transition cache)`);
      setCpu.push(c);
      setIds.push(childCpus[c] as number);
    }
    // The pending items' difference, as multisets (but the steps of the threads kept apart: applyRefresh).
    const mine = (i: number) => {
      const di = t.descs[i] as Desc;
      return !apart.includes(di.cpu) || (di.kind !== 'vcpu' && di.kind !== 'vmm');
    };
    const left = Array.from(items).filter(mine);
    const added: number[] = [];
    for (const a of itemTuples.get(child.items)) {
      if (!mine(a)) continue;
      const at = left.indexOf(a);
      if (at >= 0) left.splice(at, 1);
      else added.push(a);
    }
    for (const r of left) {
      const owner = (t.descs[r] as Desc).cpu;
      if (r !== d && owner >= 0 && owner < cpuCount && !reads.includes(owner)) {
        throw new Error(`internal error: a pending item of CPU ${owner} went away without the CPU being read (transition cache)`);
      }
    }
    // A guest thread's item comes and goes with its CPU's owner and task state, sometimes without
    // its own chart being looked at: the effect is then keyed on that actor's state and items too
    // (a stricter key; an item it adds or removes is then surely absent or present).
    const more: number[] = [];
    for (const r of [...left, ...added]) {
      const owner = (t.descs[r] as Desc).cpu;
      // (A vCPU that reacted to an interrupt: its items follow from its bits after and its items before, both keyed.)
      if (owner >= cpuCount && !reads.includes(owner) && !(reacts.includes(owner) && itemsRead.includes(owner)) && !more.includes(owner)) more.push(owner);
    }
    if (more.length > 0) reads = ascending([...reads, ...more]);
    // The slots read through their bits, with the bits read of each; a guest slot whose pending
    // step was read (kept or dropped by its runnability) is keyed on its items too.
    const masks = new Map<number, number>();
    runsRead.forEach((c, j) => masks.set(c, runsMasks[j] as number));
    for (const c of itemsRead) if (c >= cpuCount) masks.set(c, (masks.get(c) ?? 0) | SIG_KEYED);
    const bitsOnly = Array.from(ascending([...masks.keys()].filter((c) => !reads.includes(c))));
    const maskOf = (c: number) => masks.get(c) as number;
    return {
      desc: d,
      flags,
      memReads: ints(memReads.length, (j) => memReads[j] as number),
      memVals: floats(memReads.length, (j) => before[memReads[j] as number] as number),
      memWrites,
      reads: ints(reads.length, (j) => reads[j] as number),
      readIds: ints(reads.length, (j) => cpus[reads[j] as number] as number),
      readSigs: floats(reads.length, (j) => sigOf(t.descs, items, reads[j] as number)),
      // (A slot read both ways is keyed on its chart: the bits go with it.)
      runsRead: ints(bitsOnly.length, (j) => bitsOnly[j] as number),
      runsVals: bytes(bitsOnly.length, (j) => {
        const c = bitsOnly[j] as number;
        return (t.cpuStates[(reacts.includes(c) ? childCpus[c] : cpus[c]) as number] as CpuState).bits & maskOf(c) & 0xff;
      }),
      // (A CPU's pending items are its own chart's, not read through its bit: never keyed.)
      runsSigs: floats(bitsOnly.length, (j) => (maskOf(bitsOnly[j] as number) & SIG_KEYED ? sigOf(t.descs, items, bitsOnly[j] as number) : 0)),
      runsMasks: ints(bitsOnly.length, (j) => maskOf(bitsOnly[j] as number)),
      refresh: ints(apart.length, (j) => apart[j] as number),
      refreshPacked: new Float64Array(apart.length).fill(-1),
      refreshAns: new Int32Array(apart.length).fill(-1),
      refreshSlots: 0,
      refreshWatch: 0,
      refreshFp: -1,
      written,
      others: othersOf(reads),
      reacts: ints(reacts.length, (j) => reacts[j] as number),
      reactVecs: ints(reacted.length, (j) => (reacted[j] as { vector: number }).vector),
      setCpu: ints(setCpu.length, (j) => setCpu[j] as number),
      setIds: ints(setIds.length, (j) => setIds[j] as number),
      flagsAfter: child.flags,
      removed: ints(left.length, (j) => left[j] as number),
      added: ints(added.length, (j) => added[j] as number),
      records,
      local,
      fp,
      armed: armed.length === 0 ? NO_ARMED : armed.map((a) => ({ ...a, others: lastPlace(items, Int32Array.from(reads), a.rel, a.dur) })),
      next: -1,
    };
  }

  /** The slots not in `reads` (the ones whose waits a write must not leave out), remembered by `reads`. */
  function othersOf(reads: readonly number[]): Int32Array {
    const text = reads.join(',');
    let out = othersMemo.get(text);
    if (!out) {
      const list: number[] = [];
      for (let c = 0; c < width; c++) if (!reads.includes(c)) list.push(c);
      othersMemo.set(text, (out = Int32Array.from(list)));
    }
    return out;
  }

  /** Check a cached transition against the real one (tests). */
  function verifyHit(id: number, key: string, effectIndex: number): void {
    const e = effects[effectIndex] as Effect;
    const muted = h.muted;
    materialize(id, true);
    h.muted = true;
    const recorded: TraceRecord[] = [];
    h.recording = recorded;
    // With a pass-over bound, whether the decision moved its CPU, as the simulation says.
    const actor = (t.descs[e.desc] as Desc).actor;
    const was = passOver && actor >= 0 ? sim.cpuPosition(actor) : '';
    steps.before();
    sim.trackReads();
    const taken = h.decide(pickOf(key));
    const fp = footprintText(steps.footprint(key, taken, sim.endTracking()));
    if (passOver && actor >= 0 && (sim.cpuPosition(actor) !== was) !== passOver.moved(cpus[actor] as number, childCpus[actor] as number)) {
      throw new Error(`transition cache: '${key}' from node ${id} ${passOver.moved(cpus[actor] as number, childCpus[actor] as number) ? 'moved' : 'left'} CPU ${actor} from the cache, the other way in the simulation`);
    }
    h.recording = null;
    h.muted = muted;
    simAt = -1;
    // What the observers were shown, and whether the step was local (sleep sets), must agree too;
    // path-specific numbers aside (the clock, step count, message ids, how long a wait took).
    const shown = (rs: readonly TraceRecord[]) =>
      JSON.stringify(rs.filter((r) => h.relevant(r)), (k, v: unknown) => (k === 'ns' || k === 'steps' || k === 'msg' || k === 'waitedNs' ? undefined : v));
    if (shown(recorded) !== shown(e.records)) {
      throw new Error(`transition cache: '${key}' from node ${id} showed the observers ${shown(e.records)}, the simulation ${shown(recorded)}`);
    }
    if (recorded.some((r) => NON_LOCAL.has(r.t)) === e.local) {
      throw new Error(`transition cache: '${key}' from node ${id} was ${e.local ? '' : 'not '}local from the cache, the other way in the simulation`);
    }
    // And what the decision read and wrote (the sleep sets' footprint).
    if (fp !== footprintText(t.fps[childFp] as Footprint)) {
      throw new Error(`transition cache: '${key}' from node ${id} has footprint ${footprintText(t.fps[childFp] as Footprint)} from the cache, ${fp} in the simulation`);
    }
    const real = fromView(sim.view());
    if (hashOf(real.cpus, real.mem, real.items, real.flags) === hashOf(childCpus, childMem, childItems, childFlags)) return;
    // Say what differs, and what the effect was recorded from.
    const parts: string[] = [];
    for (let c = 0; c < cpuCount; c++) if (real.cpus[c] !== childCpus[c]) parts.push(`CPU ${c}`);
    if (real.mem !== childMem) parts.push('memory');
    if (real.items !== childItems) {
      const show = (items: Int32Array) => Array.from(items, (i) => `${(t.descs[i] as Desc).key}@${(t.descs[i] as Desc).rel}`).join(' ');
      parts.push(`pending items (cache: ${show(itemTuples.get(childItems))}; simulation: ${show(itemTuples.get(real.items))})`);
    }
    if (real.flags !== childFlags) parts.push('flags');
    throw new Error(
      `transition cache: '${key}' from node ${id} differs from the simulation in ${parts.join(', ')} ` +
        `(effect ${effectIndex}: read CPUs ${Array.from(e.reads).join(',')}, memory fields ${Array.from(e.memReads, (f) => MEMORY_FIELDS[f]).join(',')})`,
    );
  }

  // The picks of each counterexample, as the simulation numbers them, by replaying its choices.
  const violations: Found[] = found.list().map((f) => {
    h.muted = true;
    sim.restoreCapture(rootCapture);
    const picks: Found['picks'] = [];
    for (const key of f.path) {
      const n = sim.poll();
      const pick = sim.choiceKeys().indexOf(key);
      if (n === 0 || pick < 0) throw new Error(`internal error: counterexample replay found no choice '${key}'`);
      picks.push({ pick, n });
      sim.decide(pick);
    }
    h.muted = false;
    return { property: f.property, message: f.message, picks, keys: f.path };
  });
  return {
    complete: stopped.size === 0,
    stoppedBy: stopReasons(stopped),
    statesVisited: visited.size,
    transitions,
    ...(opts.reduction ? { slept } : {}),
    maxDepth,
    elapsedMs: performance.now() - started,
    violations,
    firstViolationMs: found.firstMs,
    cache: { hits: count.hits, misses: count.misses },
    ...(ends ? { ends: [...ends].sort() } : {}),
    ...(split ? { split: split.info(visited.size, transitions) } : {}),
    ...(sym ? { symmetry: sym.stats(visited.size) } : {}),
  };
}


/** An interned pending item as it enters the state (src/state/pending.ts). */
function pendingOf(d: Desc): PendingItem {
  switch (d.kind) {
    case 'step':
      return { kind: 'step', cpu: d.cpu };
    case 'deliver':
      return { kind: 'deliver', cpu: d.cpu, msg: d.msg };
    case 'timer':
      return { kind: 'timer', cpu: d.cpu, name: d.name, rel: d.rel, dur: d.dur, ord: d.ord, held: d.held };
    case 'script':
      return { kind: 'script', index: d.index, rel: d.rel };
    default:
      // A guest thread's or vhost worker's step: by the actor's index.
      return { kind: d.kind, cpu: d.index };
  }
}
