/**
 * Exhaustive exploration over a transition cache. A decision of the simulator is a function of
 * little: the choice, the shared memory, the flags, and the CPUs it reads (their chart states and
 * their pending items) — a CPU's chart reads only its own context and the shared memory. The
 * search keeps each state as small numbers (an interned state per CPU, the memory, the pending
 * items as interned descriptors, the flags) and, for a decision seen before with the same inputs,
 * applies the recorded effect to those numbers instead of restoring objects, running the charts,
 * copying and hashing them again. Only a decision never seen runs the real simulation, on a state
 * rebuilt from its parts, with the simulation telling which CPUs it read, which memory fields it
 * read and wrote, and which shared variables it wrote.
 *
 * A cached effect applies when the choice and flags are the same, the memory fields it read hold
 * the same values, every CPU it read is in the same state with the same pending items, and no
 * other CPU waits on a variable it wrote (such a CPU would have been woken, and read). The search is the same as the direct engine's (explorer.ts),
 * state for state and transition for transition; a test holds them to it, and `verify` checks
 * every cached transition against the real one.
 */
import type { Scenario } from '../scenarios/types.js';
import { composeHash, hash53, mix, timerHash, type Capture, type FlagValues, type ItemView, type StateView } from '../sim/simulation.js';
import type { AgendaState } from '../sim/agenda.js';
import type { InterconnectState } from '../bus/interconnect.js';
import type { CpuCapture } from '../sim/cpu-drivers.js';
import { copyMemoryState, memoryText, MEMORY_FIELDS, type KernelMemoryState } from '../kernel/memory.js';
import type { Observer } from '../spec/index.js';
import type { TraceRecord } from '../trace/records.js';
import type { ExploreOptions, ExploreResult, Found } from './explorer.js';
import { HashTable } from './hash-table.js';
import { countViolations, Harness, MAX_REPORTED, NO_KEYS, NO_SLEEP, sleepAfter, violationKind, type Footprint } from './harness.js';

/** A pending item, interned: the same item due at the same distance is the same number. */
interface Desc {
  key: string;
  kind: ItemView['kind'];
  actor: number;
  cpu: number;
  name: string;
  index: number;
  msg: ItemView['msg'];
  rel: number;
  hash: number;
  /** Where the choice key sorts among all keys seen (siblings are expanded in key order). */
  rank: number;
  /** The footprint of taking it, local or not (shared: footprints never change). */
  fps: [Footprint | null, Footprint | null];
  /** Its part of its CPU's pending-item signature. */
  sig: number;
  /** This item `d` ns later, by `d`. */
  shifted: Map<number, number> | null;
}

interface Flags {
  hash: number;
  values: FlagValues;
}

/** A shared memory state, its hash, and a hash of each of its fields (MEMORY_FIELDS order). */
interface Mem {
  hash: number;
  state: KernelMemoryState;
  fields: number[];
  /** The memory an effect that writes leaves, by effect index. */
  next: Map<number, number>;
}

/** One CPU's chart state, interned by its hash: the shared variables it waits on, its capture per CPU. */
interface CpuState {
  hash: number;
  watch: number;
  caps: (CpuCapture | undefined)[];
}

/** What one decision did, and what it depended on. */
interface Effect {
  desc: number;
  flags: number;
  /** The memory fields it read (MEMORY_FIELDS indices) and their hashes then. */
  memReads: number[];
  memVals: number[];
  /** The memory fields it wrote, with the values they were left with. */
  memWrites: [number, unknown][];
  /** The CPUs it read or moved, ascending, with their states and pending-item signatures. */
  reads: number[];
  readIds: number[];
  readSigs: number[];
  /** The shared variables it wrote (varBit mask), and the CPUs it did not read (that must not wait on them). */
  written: number;
  others: number[];
  setCpu: number[];
  setIds: number[];
  flagsAfter: number;
  removed: number[];
  added: number[];
  records: TraceRecord[];
  local: boolean;
  /** The next effect with the same lookup key, -1 at the end. */
  next: number;
}

interface TNode {
  id: number;
  cpus: number[];
  mem: number;
  items: number[];
  flags: number;
  now: number;
  depth: number;
  observers: Observer[];
  sleep: Footprint[];
  /** A state seen again with a smaller sleep set: expand only the choices slept the first time. */
  only: readonly string[] | null;
}

export interface CachedStats {
  hits: number;
  misses: number;
}

class Tables {
  readonly descs: Desc[] = [];
  private readonly descIds = new Map<string, number>();
  readonly flags: Flags[] = [];
  private readonly flagIds = new Map<string, number>();
  readonly cpuStates: CpuState[] = [];
  private readonly cpuIds = new Map<number, number>();
  readonly mems: Mem[] = [];
  private readonly memIds = new Map<number, number>();

  /** A CPU state by its hash; `fill` gives what is not known yet (the first seen: equal hashes, equal states). */
  cpu(hash: number, cpu: number, fill: () => { watch: number; cap: CpuCapture }): number {
    let id = this.cpuIds.get(hash);
    if (id === undefined) {
      id = this.cpuStates.length;
      this.cpuStates.push({ hash, watch: fill().watch, caps: [] });
      this.cpuIds.set(hash, id);
    }
    const st = this.cpuStates[id] as CpuState;
    st.caps[cpu] ??= fill().cap;
    return id;
  }

  /** A memory state by its hash (kept as given: it must never change). */
  mem(hash: number, state: () => KernelMemoryState): number {
    let id = this.memIds.get(hash);
    if (id === undefined) {
      id = this.mems.length;
      const st = state();
      const fields = MEMORY_FIELDS.map((f) => hash53(JSON.stringify(st[f])));
      this.mems.push({ hash, state: st, fields, next: new Map() });
      this.memIds.set(hash, id);
    }
    return id;
  }

  /** The memory effect `e` (number `index`) leaves when it runs on memory `mem`. */
  applyWrites(mem: number, e: Effect, index: number): number {
    const m = this.mems[mem] as Mem;
    let out = m.next.get(index);
    if (out === undefined) {
      const state = copyMemoryState(m.state);
      for (const [f, v] of e.memWrites) (state as unknown as Record<string, unknown>)[MEMORY_FIELDS[f] as string] = structuredClone(v);
      out = this.mem(hash53(memoryText(state)), () => state);
      m.next.set(index, out);
    }
    return out;
  }

  private readonly keys = new Map<string, string>();

  desc(v: Omit<Desc, 'shifted' | 'rank' | 'fps' | 'sig'>): number {
    const text = `${v.key}@${v.rel}`;
    let id = this.descIds.get(text);
    if (id === undefined) {
      id = this.descs.length;
      // One string object per key: comparing keys is then mostly comparing pointers.
      let key = this.keys.get(v.key);
      const fresh = key === undefined;
      if (key === undefined) this.keys.set(v.key, (key = v.key));
      this.descs.push({ ...v, key, rank: 0, fps: [null, null], sig: mix(0x7f4a7c15, id + 1), shifted: null });
      this.descIds.set(text, id);
      if (fresh) this.rerank();
      else (this.descs[id] as Desc).rank = this.rankOf.get(key) as number;
    }
    return id;
  }

  private readonly rankOf = new Map<string, number>();

  /** A key never seen before: sort them all again (there are a few dozen). */
  private rerank(): void {
    const sorted = [...this.keys.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    sorted.forEach((k, i) => this.rankOf.set(k, i));
    for (const d of this.descs) d.rank = this.rankOf.get(d.key) as number;
  }

  footprint(id: number, local: boolean): Footprint {
    const d = this.descs[id] as Desc;
    const i = local ? 1 : 0;
    return (d.fps[i] ??= { key: d.key, actor: d.actor, local });
  }

  /** The item `d` ns closer to being due (a timer's hash has its distance in it). */
  shift(id: number, d: number): number {
    const x = this.descs[id] as Desc;
    x.shifted ??= new Map();
    let s = x.shifted.get(d);
    if (s === undefined) {
      const rel = x.rel - d;
      s = this.desc({ key: x.key, kind: x.kind, actor: x.actor, cpu: x.cpu, name: x.name, index: x.index, msg: x.msg, rel, hash: x.kind === 'timer' ? timerHash(x.cpu, x.name, rel) : x.hash });
      x.shifted.set(d, s);
    }
    return s;
  }

  flag(key: string, hash: number, values: FlagValues): number {
    let id = this.flagIds.get(key);
    if (id === undefined) {
      id = this.flags.length;
      this.flags.push({ hash, values });
      this.flagIds.set(key, id);
    }
    return id;
  }
}

/** A pending-item multiset without `removed` (each present) and with `added`. */
function applyItems(items: readonly number[], removed: readonly number[], added: readonly number[]): number[] {
  const out: number[] = [];
  let taken = 0; // bit j: removed[j] was matched (a handful of items)
  for (const i of items) {
    let skip = false;
    for (let j = 0; j < removed.length; j++) {
      if (removed[j] === i && (taken & (1 << j)) === 0) {
        taken |= 1 << j;
        skip = true;
        break;
      }
    }
    if (!skip) out.push(i);
  }
  for (const a of added) out.push(a);
  return out;
}

/** Whether a choice is in a sleep set. */
function asleep(set: readonly Footprint[], key: string): boolean {
  for (let i = 0; i < set.length; i++) if ((set[i] as Footprint).key === key) return true;
  return false;
}

/** An order-free signature of one CPU's pending items (0 when it has none). */
function sigOf(descs: readonly Desc[], items: readonly number[], cpu: number): number {
  let sig = 0;
  for (const i of items) {
    const d = descs[i] as Desc;
    if (d.cpu === cpu) sig += d.sig;
  }
  return sig;
}

export function exhaustiveCached(scenario: Scenario, opts: ExploreOptions, stats?: CachedStats): ExploreResult {
  const started = performance.now();
  const h = new Harness(scenario, opts.properties);
  const sim = h.sim;
  const cpuCount = scenario.machine.cpus;
  const t = new Tables();
  const rootObservers = h.freshObservers();
  h.attach(rootObservers);
  sim.header();

  const parent: number[] = [-1];
  const viaKey: string[] = [''];
  const rootCapture = sim.capture();
  /** The node the simulation is at (after its poll), -1 when it moved on. */
  let simAt = -1;
  const cache = new HashTable();
  const effects: Effect[] = [];
  const count: CachedStats = stats ?? { hits: 0, misses: 0 };

  // Each state's hash → its sleep set when it was last reached (an index into sleepSets).
  const visited = new HashTable(1 << 18);
  const sleepSets: (readonly Footprint[])[] = [NO_SLEEP];
  const sleepIndex = (set: readonly Footprint[]): number => {
    if (set.length === 0) return 0;
    sleepSets.push(set);
    return sleepSets.length - 1;
  };
  const found = new Map<string, { property: string; message: string; path: string[] }>();
  const ends = opts.collectEnds ? new Set<string>() : null;
  let firstViolationMs: number | null = null;
  let transitions = 0;
  let maxDepth = 0;
  let truncated = false;
  let lastProgress = started;

  /** The simulation's state as numbers, keeping each new part to rebuild states from. */
  const fromView = (v: StateView): { cpus: number[]; mem: number; items: number[]; flags: number } => {
    let cap: Capture | null = null;
    const cpus = v.cpus.map((hc, c) => t.cpu(hc, c, () => ({ watch: sim.watchMask(c), cap: (cap ??= sim.capture()).cpus[c] as CpuCapture })));
    return {
      cpus,
      mem: t.mem(v.mem, () => (cap ??= sim.capture()).memory),
      items: v.items.map((i) => t.desc(i)),
      flags: t.flag(v.flagsKey, v.flagsHash, v.flags),
    };
  };
  const scratch = new Array<number>(cpuCount).fill(0);
  const hashOf = (cpus: readonly number[], mem: number, items: readonly number[], flags: number): number => {
    let lo = 0;
    let hi = 0;
    for (const i of items) {
      const x = (t.descs[i] as Desc).hash;
      lo += x >>> 0;
      hi += Math.floor(x / 4294967296);
    }
    for (let c = 0; c < cpuCount; c++) scratch[c] = (t.cpuStates[cpus[c] as number] as CpuState).hash;
    return composeHash(scratch, (t.mems[mem] as Mem).hash, lo, hi, (t.flags[flags] as Flags).hash, null);
  };

  const keysTo = (id: number, last?: string): string[] => {
    const out: string[] = last === undefined ? [] : [last];
    for (let x = id; x > 0; x = parent[x] as number) out.push(viaKey[x] as string);
    return out.reverse();
  };
  const report = (violations: { property: string; message: string }[], id: number, last?: string) => {
    for (const v of violations) {
      const kind = violationKind(v);
      if (!found.has(kind) && found.size < MAX_REPORTED) found.set(kind, { ...v, path: keysTo(id, last) });
      firstViolationMs ??= performance.now() - started;
    }
  };

  /** Take the choice with this key in the simulation's current ready list. */
  const decideKey = (key: string): void => {
    const pick = sim.choiceKeys().indexOf(key);
    if (pick < 0) throw new Error(`internal error: exploration replay found no choice '${key}'`);
    sim.decide(pick);
  };

  /**
   * Bring the simulation to a node, rebuilt from its parts: each CPU's chart and the memory as kept
   * when first seen, the pending items from their descriptors (a delivery gets a message of its
   * own with the same content), the flags. `poll`: also let the scheduler move the clock.
   */
  const materialize = (node: TNode, poll: boolean): void => {
    if (simAt === node.id && poll) return;
    const ready: AgendaState['future'] = [];
    const future: AgendaState['future'] = [];
    const inFlight: InterconnectState['inFlight'] = [];
    let seq = 0;
    for (const i of node.items) {
      const d = t.descs[i] as Desc;
      const at = { seq: seq++, time: node.now + d.rel };
      let item: AgendaState['future'][number];
      if (d.kind === 'step') item = { kind: 'step', cpu: d.cpu, ...at };
      else if (d.kind === 'timer') item = { kind: 'timer', cpu: d.cpu, name: d.name, ...at };
      else if (d.kind === 'script') item = { kind: 'script', index: d.index, ...at };
      else if (d.kind === 'deliver' && d.msg) {
        const id = inFlight.length + 1;
        inFlight.push({ msg: { ...d.msg, id }, remaining: 1 });
        item = { kind: 'deliver', msg: id, cpu: d.cpu, ...at };
      } else throw new Error(`internal error: the transition cache cannot rebuild a pending '${d.kind}'`);
      (d.rel <= 0 ? ready : future).push(item);
    }
    const f = (t.flags[node.flags] as Flags).values;
    const capture: Capture = {
      cpus: node.cpus.map((id, c) => (t.cpuStates[id] as CpuState).caps[c] as CpuCapture),
      memory: (t.mems[node.mem] as Mem).state,
      agenda: { now: node.now, seq, ready: ready as AgendaState['ready'], future },
      bus: { nextId: inFlight.length + 1, counts: { messages: 0, targets: 0, delivered: 0, pending: 0, latched: 0, dropped: 0 }, inFlight },
      steps: node.depth,
      choices: 0,
      fired: f.fired,
      resetAttempt: f.resetAttempt,
      fullReset: f.fullReset,
      kexecCpu: f.kexecCpu,
      ended: f.ended,
      keys: node.cpus.map(() => null),
      // Each CPU's hash is known (verify: computed again from the rebuilt chart, to be checked).
      hashes: node.cpus.map((id) => (opts.verify ? 0 : (t.cpuStates[id] as CpuState).hash)),
      memKey: null,
      memHash: 0,
      guests: null,
    };
    h.muted = true;
    sim.restoreCapture(capture);
    if (opts.verify && sim.stateHash() !== hashOf(node.cpus, node.mem, node.items, node.flags)) {
      throw new Error(`transition cache: node ${node.id} rebuilt from its parts is another state`);
    }
    if (poll) sim.poll();
    h.muted = false;
    simAt = poll ? node.id : -1;
  };

  const rootView = fromView(sim.view());
  const root: TNode = { id: 0, cpus: rootView.cpus, mem: rootView.mem, items: rootView.items, flags: rootView.flags, now: sim.now, depth: 0, observers: rootObservers, sleep: [], only: null };
  visited.set(hashOf(root.cpus, root.mem, root.items, root.flags), 0);
  /** The cached effect of decision `d` in this state, if one applies (its index, or -1). */
  const findEffect = (k1: number, d: number, node: TNode, items: readonly number[], memFields: readonly number[]): number => {
    for (let x = cache.get(k1); x >= 0; x = (effects[x] as Effect).next) {
      const e = effects[x] as Effect;
      if (e.desc !== d || e.flags !== node.flags) continue;
      let ok = true;
      for (let j = 0; j < e.memReads.length && ok; j++) ok = memFields[e.memReads[j] as number] === e.memVals[j];
      for (let j = 0; j < e.reads.length && ok; j++) {
        const c = e.reads[j] as number;
        ok = node.cpus[c] === e.readIds[j] && sigOf(t.descs, items, c) === e.readSigs[j];
      }
      if (ok && e.written !== 0) {
        for (let j = 0; j < e.others.length && ok; j++) {
          ok = ((t.cpuStates[node.cpus[e.others[j] as number] as number] as CpuState).watch & e.written) === 0;
        }
      }
      if (ok) return x;
    }
    return -1;
  };

  const queue: TNode[] = [root];
  // One call per state (not one long loop): V8 optimizes a function that is called often sooner
  // and more stably than a loop it must replace on the stack.
  const expand = (node: TNode): void => {
    const observers = node.observers;
    h.fork(observers);
    // The scheduler's poll, on the numbers: the run is over, or what is due now (moving the clock
    // to the next timer if nothing is).
    const ended = (t.flags[node.flags] as Flags).values.ended !== null;
    if (ended || node.items.length === 0) {
      if (!ended || ends) {
        // The final records (each CPU's state, how the run ended) come from the real simulation.
        materialize(node, false);
        sim.poll();
        simAt = -1;
      }
      report(h.violations(), node.id);
      if (ends) ends.add(sim.stateKey());
      return;
    }
    let items = node.items;
    let now = node.now;
    let soonest = Infinity;
    for (const i of items) soonest = Math.min(soonest, (t.descs[i] as Desc).rel);
    if (soonest > 0) {
      items = items.map((i) => t.shift(i, soonest));
      now += soonest;
    }
    if (node.depth >= opts.maxDepth) {
      truncated = true;
      return;
    }
    // What is due now, in key order (insertion sort: a handful of items).
    const ready: number[] = [];
    for (const i of items) {
      const di = t.descs[i] as Desc;
      if (di.rel !== 0) continue;
      let j = ready.length;
      ready.push(i);
      for (; j > 0 && (t.descs[ready[j - 1] as number] as Desc).rank > di.rank; j--) ready[j] = ready[j - 1] as number;
      ready[j] = i;
    }
    const n = ready.length;
    let memFields: number[] | null = null;
    const explored: Footprint[] = [];
    for (let rank = 0; rank < n; rank++) {
      const d = ready[rank] as number;
      const desc = t.descs[d] as Desc;
      const key = desc.key;
      if (node.depth === 0 && opts.rootSlice && rank % opts.rootSlice.of !== opts.rootSlice.index) continue;
      if (opts.reduction && asleep(node.sleep, key)) continue;
      if (node.only && !node.only.includes(key)) continue;
      h.fork(observers);
      transitions += 1;

      // The cached effect of this decision with these inputs, if any.
      // (Not `mix`: it is symmetric in small numbers. Distinct inputs rarely share a key, and a
      // shared key only lengthens the chain the effects are checked along.)
      const k1 = (d * 1_000_003 + (desc.actor >= 0 ? (node.cpus[desc.actor] as number) + 1 : 0)) * 1021 + node.flags;
      memFields ??= (t.mems[node.mem] as Mem).fields;
      const effectIndex = findEffect(k1, d, node, items, memFields);
      const effect = effectIndex >= 0 ? (effects[effectIndex] as Effect) : null;

      let child: { cpus: number[]; mem: number; items: number[]; flags: number };
      let local: boolean;
      if (effect) {
        count.hits += 1;
        // States never change: a child shares what the decision left alone.
        let cpus = node.cpus;
        if (effect.setCpu.length > 0) {
          cpus = cpus.slice();
          for (let j = 0; j < effect.setCpu.length; j++) cpus[effect.setCpu[j] as number] = effect.setIds[j] as number;
        }
        const next = effect.removed.length > 0 || effect.added.length > 0 ? applyItems(items, effect.removed, effect.added) : items;
        const mem = effect.memWrites.length > 0 ? t.applyWrites(node.mem, effect, effectIndex) : node.mem;
        child = { cpus, mem, items: next, flags: effect.flagsAfter };
        // What the decision wrote, to the observers; the clock is this path's.
        for (const r of effect.records) h.feed('ns' in r && r.ns !== now ? ({ ...r, ns: now } as TraceRecord) : r);
        local = effect.local;
        if (opts.verify) verifyHit(node, key, child);
      } else {
        count.misses += 1;
        materialize(node, true);
        const recorded: TraceRecord[] = [];
        h.recording = recorded;
        sim.trackReads();
        const pick = sim.choiceKeys().indexOf(key);
        const fp = h.decide(pick, key);
        const { reads, written, fieldsRead, fieldsWritten } = sim.endTracking();
        h.recording = null;
        simAt = -1;
        child = fromView(sim.view());
        local = fp.local;
        const e = record(node, d, items, reads, written, fieldsRead, fieldsWritten, child, recorded.filter((r) => h.reads.has(r.t)), local);
        e.next = cache.get(k1);
        cache.set(k1, effects.length);
        effects.push(e);
      }

      const fp = t.footprint(d, local);
      const childObservers = h.current;
      if (h.touched) {
        const before = countViolations(observers);
        if (countViolations(childObservers) > before) report(h.violations().slice(before), node.id, key);
      }
      const sleep = opts.reduction ? sleepAfter(node.sleep, explored, fp) : NO_SLEEP;
      explored.push(fp);
      const key53 = hashOf(child.cpus, child.mem, child.items, child.flags);
      const at = visited.get(key53);
      let childSleep = sleep;
      let only: string[] | undefined;
      if (at >= 0) {
        const seen = sleepSets[at] as readonly Footprint[];
        if (seen.length === 0) continue;
        only = [];
        for (const z0 of seen) if (!asleep(sleep, z0.key)) only.push(z0.key);
        if (only.length === 0) continue;
        childSleep = sleep.filter((z) => asleep(seen, z.key));
        visited.set(key53, sleepIndex(childSleep));
      } else {
        if (visited.size >= opts.maxStates) {
          truncated = true;
          continue;
        }
        visited.set(key53, sleepIndex(sleep));
      }
      const id = parent.length;
      parent.push(node.id);
      viaKey.push(key);
      maxDepth = Math.max(maxDepth, node.depth + 1);
      queue.push({ id, cpus: child.cpus, mem: child.mem, items: child.items, flags: child.flags, now, depth: node.depth + 1, observers: childObservers, sleep: childSleep, only: only ?? null });
    }
  };
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] as TNode;
    queue[head] = undefined as unknown as TNode;
    expand(node);
    if (opts.onProgress) {
      const at = performance.now();
      if (at - lastProgress > 500) {
        lastProgress = at;
        opts.onProgress({ states: visited.size, transitions, depth: node.depth, frontier: queue.length - head - 1, elapsedMs: at - started });
      }
    }
  }

  /** The effect of a decision just run for real, with the inputs it read. */
  function record(
    node: TNode,
    d: number,
    items: readonly number[],
    reads: number[],
    written: number,
    fieldsRead: number,
    fieldsWritten: number,
    child: { cpus: number[]; mem: number; items: number[]; flags: number },
    records: TraceRecord[],
    local: boolean,
  ): Effect {
    // Memory: the fields read, with their values then; the fields written or changed, with their values now.
    const before = (t.mems[node.mem] as Mem).fields;
    const after = (t.mems[child.mem] as Mem).fields;
    const memReads: number[] = [];
    const memWrites: [number, unknown][] = [];
    for (let f = 0; f < MEMORY_FIELDS.length; f++) {
      if (fieldsRead & (1 << f)) memReads.push(f);
      if (fieldsWritten & (1 << f) || before[f] !== after[f]) {
        memWrites.push([f, structuredClone(sim.memory[MEMORY_FIELDS[f] as keyof KernelMemoryState])]);
      }
    }
    const setCpu: number[] = [];
    const setIds: number[] = [];
    for (let c = 0; c < cpuCount; c++) {
      if (child.cpus[c] === node.cpus[c]) continue;
      if (!reads.includes(c)) throw new Error(`internal error: CPU ${c} changed without being read (transition cache)`);
      setCpu.push(c);
      setIds.push(child.cpus[c] as number);
    }
    // The pending items' difference, as multisets.
    const left = items.slice();
    const added: number[] = [];
    for (const a of child.items) {
      const at = left.indexOf(a);
      if (at >= 0) left.splice(at, 1);
      else added.push(a);
    }
    for (const r of left) {
      const owner = (t.descs[r] as Desc).cpu;
      if (r !== d && owner >= 0 && !reads.includes(owner)) {
        throw new Error(`internal error: a pending item of CPU ${owner} went away without the CPU being read (transition cache)`);
      }
    }
    return {
      desc: d,
      flags: node.flags,
      memReads,
      memVals: memReads.map((f) => before[f] as number),
      memWrites,
      reads,
      readIds: reads.map((c) => node.cpus[c] as number),
      readSigs: reads.map((c) => sigOf(t.descs, items, c)),
      written,
      others: node.cpus.map((_, c) => c).filter((c) => !reads.includes(c)),
      setCpu,
      setIds,
      flagsAfter: child.flags,
      removed: left,
      added,
      records,
      local,
      next: -1,
    };
  }

  /** Check a cached transition against the real one (tests). */
  function verifyHit(node: TNode, key: string, child: { cpus: number[]; mem: number; items: number[]; flags: number }): void {
    const muted = h.muted;
    materialize(node, true);
    h.muted = true;
    decideKey(key);
    h.muted = muted;
    simAt = -1;
    const real = fromView(sim.view());
    const want = hashOf(real.cpus, real.mem, real.items, real.flags);
    const got = hashOf(child.cpus, child.mem, child.items, child.flags);
    if (want !== got) throw new Error(`transition cache: '${key}' from node ${node.id} gave state ${got}, the simulation ${want}`);
  }

  // The picks of each counterexample, as the simulation numbers them, by replaying its choices.
  const violations: Found[] = [...found.values()].map((f) => {
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
    return { property: f.property, message: f.message, picks };
  });
  return {
    complete: !truncated,
    statesVisited: visited.size,
    transitions,
    maxDepth,
    elapsedMs: performance.now() - started,
    violations,
    firstViolationMs,
    ...(ends ? { ends: [...ends].sort() } : {}),
  };
}
