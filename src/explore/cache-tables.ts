// Over 400 lines because it holds every interned table of the transition cache as one data layout; being split in the one-machine-value refactor, issue 12.
/**
 * The data of exploration's transition cache (cached.ts): interned pending items, CPU states,
 * memories and flags; the recorded effects of decisions; the search's states as typed columns;
 * interned sleep sets. Everything here is small numbers and arrays of them, so the search
 * allocates next to nothing per state.
 */
import { mix, type FlagValues, type ItemView } from '../sim/simulation.js';
import { pendingHash } from '../state/pending.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import { copyMemoryField, copyMemoryState, memoryFieldHash, memoryHash, MEMORY_FIELDS } from '../state/memory.js';
import type { TraceRecord } from '../trace/records.js';
import { HashTable } from './hash-table.js';
import { Interned } from './interned.js';
import { footprintText, keyOnly, type Footprint } from './dependence.js';

/** A pending item, interned: the same item due at the same distance is the same number. */
export interface Desc {
  key: string;
  kind: ItemView['kind'];
  actor: number;
  cpu: number;
  name: string;
  index: number;
  msg: ItemView['msg'];
  rel: number;
  /** A timer's duration, place among the timers due and armed with it, and whether it is held back (agenda.ts). */
  dur: number;
  ord: number;
  held: boolean;
  hash: number;
  /** Where the choice key sorts among all keys seen (siblings are expanded in key order). */
  rank: number;
  /** The choice key's number, in the order keys were first seen (Tables.keyNoOf). */
  keyNo: number;
  /** Its part of its CPU's pending-item signature (0 for deliveries, which no decision reads). */
  sig: number;
  /** This item `d` ns later, by `d`. */
  shifted: Map<number, number> | null;
  /** This timer held back or not (the other one), -1 until needed. */
  toggled: number;
}

export interface Flags {
  hash: number;
  values: FlagValues;
  key: string;
}

/** A shared memory state, its hash, and a hash of each of its fields (MEMORY_FIELDS order). */
export interface Mem {
  hash: number;
  state: KernelMemoryState;
  fields: Float64Array;
  /** The memory an effect that writes leaves, by effect index. */
  next: Map<number, number>;
}

/**
 * One actor's chart state (a CPU's, or a guest actor's), interned by its hash: the shared variables
 * it waits on, its capture per slot.
 */
export interface CpuState {
  hash: number;
  watch: number;
  /** Whether the CPU runs tasks (Simulation.runsTasks; false for a guest actor): what a guest's step may read of it instead of its chart. */
  runs: boolean;
  /**
   * What a step may read of the actor without its chart, as bits: a CPU's `runs` (1), a guest
   * actor's Simulation.guestBits (whether a vCPU is in `run` and can step, whether a VMM thread can step).
   */
  bits: number;
  caps: unknown[];
}

/** What one decision did, and what it depended on. */
export interface Effect {
  desc: number;
  flags: number;
  /** The memory fields it read (MEMORY_FIELDS indices) and their hashes then. */
  memReads: Int32Array;
  memVals: Float64Array;
  /** The memory fields it wrote, with the values they were left with. */
  memWrites: [number, unknown][];
  /** The CPUs it read or moved, ascending, with their states and pending-item signatures. */
  reads: Int32Array;
  readIds: Int32Array;
  readSigs: Float64Array;
  /**
   * The slots it looked at only through their bits (CpuState.bits: whether a CPU runs tasks, a
   * guest thread's bits; not in `reads`), with those bits then, and a guest slot's pending-item
   * signature (whether its thread's step is pending goes with its bits: the step may add or drop it).
   */
  runsRead: Int32Array;
  runsVals: Uint8Array;
  runsSigs: Float64Array;
  /** The bits read of each (`runsVals` are the bits masked by them), and SIG_KEYED when its pending items are keyed too (`runsSigs`). */
  runsMasks: Int32Array;
  /**
   * The guest threads whose runnability the scheduler looked at again, kept apart (refresh-table.ts):
   * whether each has its step pending after follows from the bits the decision leaves.
   */
  refresh: Int32Array;
  /** The last lookup of each (by `refresh` index): the inputs' bits packed, and the answer (-1: none yet). */
  refreshPacked: Float64Array;
  refreshAns: Int32Array;
  /** The last footprint widened with what the looks read: the slots and watch added, and the result (-1: none yet). */
  refreshSlots: number;
  refreshWatch: number;
  refreshFp: number;
  /**
   * The vCPU slots that received an interrupt as a reaction of their own (Guests.react: not in
   * `reads`), with the vectors: such a slot's state after is looked up by its state before and the
   * vector (Reactions), and its bits in `runsVals` are those after.
   */
  reacts: Int32Array;
  reactVecs: Int32Array;
  /** The shared variables it wrote (varBit mask), and the CPUs it did not read (that must not wait on them). */
  written: number;
  others: Int32Array;
  setCpu: Int32Array;
  setIds: Int32Array;
  flagsAfter: number;
  removed: Int32Array;
  added: Int32Array;
  records: TraceRecord[];
  local: boolean;
  /** What it read and wrote, for sleep sets (a Tables.fps index). */
  fp: number;
  /**
   * The timers it armed, by due time and duration, with the largest place among those of the
   * unread CPUs due and armed with each (ordered deadlines: a new timer goes after them).
   */
  armed: { rel: number; dur: number; others: number }[];
  /** The next effect with the same lookup key, -1 at the end. */
  next: number;
}

/** In Effect.runsMasks: the slot's pending items are keyed too (its step's presence was read). */
export const SIG_KEYED = 256;

export class Tables {
  readonly descs: Desc[] = [];
  private readonly descIds = new Map<string, number>();
  readonly flags: Flags[] = [];
  private readonly flagIds = new Map<string, number>();
  readonly cpuStates: CpuState[] = [];
  /** Each actor state's hash by id (CpuState.hash, in one flat array: the search hashes every state it reaches). */
  readonly cpuHashes: number[] = [];
  /** Each actor state's CpuState.bits and .watch by id, flat likewise (finding an effect reads them). */
  readonly cpuBits: number[] = [];
  readonly cpuWatch: number[] = [];
  private readonly cpuIds = new Map<number, number>();
  readonly mems: Mem[] = [];
  private readonly memIds = new Map<number, number>();

  /** An actor state by its hash, in slot `cpu`; `fill` gives what is not known yet (the first seen: equal hashes, equal states). */
  cpu(hash: number, cpu: number, fill: () => { watch: number; runs: boolean; bits: number; cap: unknown }): number {
    let id = this.cpuIds.get(hash);
    if (id === undefined) {
      id = this.cpuStates.length;
      const f = fill();
      this.cpuStates.push({ hash, watch: f.watch, runs: f.runs, bits: f.bits, caps: [] });
      this.cpuHashes.push(hash);
      this.cpuBits.push(f.bits);
      this.cpuWatch.push(f.watch);
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
      const fields = Float64Array.from(MEMORY_FIELDS, (f) => memoryFieldHash(st, f));
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
      for (const [f, v] of e.memWrites) {
        const field = MEMORY_FIELDS[f] as keyof KernelMemoryState;
        (state as unknown as Record<string, unknown>)[field] = copyMemoryField(field, v as KernelMemoryState[typeof field]);
      }
      out = this.mem(memoryHash(state), () => state);
      m.next.set(index, out);
    }
    return out;
  }

  private readonly keys = new Map<string, string>();
  private readonly keyNos = new Map<string, number>();

  /** A choice key's number (the next one if it is new): small, for sets of keys as bits. */
  keyNoOf(key: string): number {
    let no = this.keyNos.get(key);
    if (no === undefined) this.keyNos.set(key, (no = this.keyNos.size));
    return no;
  }

  desc(v: Omit<Desc, 'shifted' | 'rank' | 'sig' | 'toggled' | 'keyNo'>): number {
    const text = v.kind === 'timer' ? `${v.key}@${v.rel}/${v.dur}#${v.ord}${v.held ? '!' : ''}` : `${v.key}@${v.rel}`;
    let id = this.descIds.get(text);
    if (id === undefined) {
      id = this.descs.length;
      // One string object per key: comparing keys is then mostly comparing pointers.
      let key = this.keys.get(v.key);
      const fresh = key === undefined;
      if (key === undefined) this.keys.set(v.key, (key = v.key));
      // One literal, one field order: every descriptor has the same shape (the hot loop reads them).
      this.descs.push({
        key,
        kind: v.kind,
        actor: v.actor,
        cpu: v.cpu,
        name: v.name,
        index: v.index,
        msg: v.msg,
        rel: v.rel,
        dur: v.dur,
        ord: v.ord,
        held: v.held,
        hash: v.hash,
        rank: 0,
        keyNo: this.keyNoOf(key),
        // Deliveries stay out of the signature: a decision never looks at a CPU's pending deliveries
        // other than the one it makes (only a step's or timer's item is looked up and replaced).
        sig: v.kind === 'deliver' ? 0 : mix(0x7f4a7c15, id + 1),
        shifted: null,
        toggled: -1,
      });
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

  private readonly footprints = new Interned<Footprint>();
  /** Footprints, shared (they never change): sleep sets are sets of their indexes. */
  readonly fps: readonly Footprint[] = this.footprints.values;

  /** A footprint's index (equal footprints, one index: see dependence.ts). */
  internFootprint(fp: Footprint): number {
    return this.footprints.id(footprintText(fp), () => fp);
  }

  /**
   * The index of a footprint that is only a choice key (dependence.ts keyOnly: a canonical key of a
   * sleep set stored under symmetry), one per key, never one of those `internFootprint` keeps.
   */
  keyOnlyFootprint(key: string): number {
    return this.footprints.id(`\u0001${key}`, () => keyOnly(key));
  }

  /** The item `d` ns closer to being due (a timer's hash has its distance in it). */
  shift(id: number, d: number): number {
    const x = this.descs[id] as Desc;
    x.shifted ??= new Map();
    let s = x.shifted.get(d);
    if (s === undefined) {
      const rel = x.rel - d;
      const hash = x.kind === 'timer' ? timerHash(x, rel, false) : x.kind === 'script' ? pendingHash({ kind: 'script', index: x.index, rel }) : x.hash;
      s = this.desc({ ...this.parts(x), rel, held: false, hash });
      x.shifted.set(d, s);
    }
    return s;
  }

  /** A timer due now, held back (ordered deadlines, see agenda.ts) or no longer. */
  hold(id: number, held: boolean): number {
    const x = this.descs[id] as Desc;
    if (x.held === held) return id;
    if (x.toggled < 0) x.toggled = this.desc({ ...this.parts(x), held, hash: timerHash(x, x.rel, held) });
    return x.toggled;
  }

  private parts(x: Desc): Omit<Desc, 'shifted' | 'rank' | 'sig' | 'toggled' | 'keyNo'> {
    return { key: x.key, kind: x.kind, actor: x.actor, cpu: x.cpu, name: x.name, index: x.index, msg: x.msg, rel: x.rel, dur: x.dur, ord: x.ord, held: x.held, hash: x.hash };
  }

  flag(key: string, hash: number, values: FlagValues): number {
    let id = this.flagIds.get(key);
    if (id === undefined) {
      id = this.flags.length;
      this.flags.push({ hash, values, key });
      this.flagIds.set(key, id);
    }
    return id;
  }
}

/** A pending-item multiset without `removed` (each present) and with `added`, into `out`. */
export function applyItems(items: Int32Array, removed: Int32Array, added: Int32Array): number[] {
  // (Fresh small arrays, here and below: truncating one with `length = 0` is a slow runtime call.)
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

/** A sorted copy of a handful of numbers (insertion sort). */
export function ascending(list: readonly number[]): number[] {
  const out: number[] = [];
  for (const x of list) {
    let j = out.length;
    out.push(x);
    for (; j > 0 && (out[j - 1] as number) > x; j--) out[j] = out[j - 1] as number;
    out[j] = x;
  }
  return out;
}

/** A pending timer's hash (src/state/pending.ts) `rel` ns before it is due, held back or not. */
function timerHash(x: Desc, rel: number, held: boolean): number {
  return pendingHash({ kind: 'timer', cpu: x.cpu, name: x.name, rel, dur: x.dur, ord: x.ord, held });
}

/** Whether a choice is in a sleep set (given as footprint indexes). */
export function asleep(fps: readonly Footprint[], set: readonly number[], key: string): boolean {
  for (let i = 0; i < set.length; i++) if ((fps[set[i] as number] as Footprint).key === key) return true;
  return false;
}

/** A set of choice key numbers (Desc.keyNo) as bits, 32 a word. */
export function keyBits(nos: readonly number[]): Int32Array {
  let words = 0;
  for (const no of nos) words = Math.max(words, (no >>> 5) + 1);
  const bits = new Int32Array(words);
  for (const no of nos) bits[no >>> 5] = (bits[no >>> 5] as number) | (1 << (no & 31));
  return bits;
}

/** Whether key number `no` is in a set made by keyBits. */
export function hasKeyBit(bits: Int32Array, no: number): boolean {
  return no >>> 5 < bits.length && ((bits[no >>> 5] as number) & (1 << (no & 31))) !== 0;
}

/** An order-free signature of one CPU's pending items (0 when it has none). */
export function sigOf(descs: readonly Desc[], items: Int32Array, cpu: number): number {
  let sig = 0;
  for (const i of items) {
    const d = descs[i] as Desc;
    if (d.cpu === cpu) sig += d.sig;
  }
  return sig;
}

/**
 * A vCPU's reactions to an interrupt (Guests.react): (its state before, the vector) → its state
 * after, as seen when a decision ran for real; the same inputs always give the same state.
 */
export class Reactions {
  private readonly to = new HashTable(1 << 10);

  /** The state after, or -1 if not seen yet. */
  get(from: number, vector: number): number {
    return this.to.get(from * 1024 + vector);
  }

  set(from: number, vector: number, to: number): void {
    const known = this.get(from, vector);
    if (known >= 0 && known !== to) throw new Error(`internal error: a vCPU's reaction to interrupt ${vector} is not a function of its state (transition cache)`);
    this.to.set(from * 1024 + vector, to);
  }
}

/**
 * Small arrays of numbers, interned: equal contents, one id (pending-item multisets and sleep sets
 * recur across states, so a state refers to them by number). `onNew` sees each new one once.
 */
export class Tuples {
  private readonly lists: Int32Array[] = [];
  private readonly next: number[] = [];
  private readonly byHash = new HashTable();

  constructor(private readonly onNew?: (list: Int32Array) => void) {}

  get(id: number): Int32Array {
    return this.lists[id] as Int32Array;
  }

  /** The id of these contents (`list` is copied if new: scratch arrays may be passed). */
  intern(list: readonly number[], length = list.length): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < length; i++) h = Math.imul(h ^ (list[i] as number), 0x01000193);
    h >>>= 0;
    const first = this.byHash.get(h);
    for (let x = first; x >= 0; x = this.next[x] as number) {
      const l = this.lists[x] as Int32Array;
      if (l.length !== length) continue;
      let same = true;
      for (let i = 0; i < length && same; i++) same = l[i] === list[i];
      if (same) return x;
    }
    const id = this.lists.length;
    const copy = new Int32Array(length);
    for (let i = 0; i < length; i++) copy[i] = list[i] as number;
    this.lists.push(copy);
    this.onNew?.(copy);
    this.next.push(first);
    this.byHash.set(h, id);
    return id;
  }
}

/** Nodes per chunk of the search's columns. */
const CHUNK_BITS = 16;
const CHUNK = 1 << CHUNK_BITS;
const IN_CHUNK = CHUNK - 1;

/**
 * The search's states by node id (breadth-first order: the queue is the ids), in columns and rows,
 * in chunks of 2^16 nodes so that growing never copies and nothing is over-allocated by more than
 * a chunk. Only the way back to the root is kept for every node: its parent (4 bytes) and the
 * choice that led here (2 bytes while there are fewer than 2^16 descriptors, else 4); its depth is
 * that of its breadth-first level (the first node of each level is kept). The rest is needed only
 * until the node is expanded, and `release` drops it a chunk at a time behind the breadth-first
 * queue, so memory follows the frontier, not the states seen.
 */
export class Nodes {
  count = 0;
  private readonly parents: Int32Array[] = [];
  /** The choice's descriptor + 1 (0 for the root). */
  private readonly vias: (Uint16Array | Int32Array)[] = [];
  private wideVias = false;
  /** levels[d]: the first node `d` deep (nodes are added level by level). */
  private readonly levels: number[] = [];
  /**
   * Frontier rows (null once released), `stride` numbers a node: its CPU states (`width` ids), then
   * its pending items, memory, flags, the sleep set it was reached with (a SleepSets id), its
   * observers (an ObserverSets id), and its only-list: a state seen again with a smaller sleep set
   * expands only the choices slept the first time (an index in `onlyLists`, -1 for all; the lists
   * recur: each is kept once), and with a pass-over bound (`counted`) its per-CPU counts
   * (passover-counts.ts). One row a node: expanding it reads one place, not ten columns.
   */
  private readonly rows: (Int32Array | null)[] = [];
  /** Its clock and what its observers remember (harness.ts memoryHash), two doubles a node. */
  private readonly timeRows: (Float64Array | null)[] = [];
  private readonly stride: number;
  private readonly onlyLists = new Interned<readonly string[]>();
  /** Chunks below this one are released. */
  private released = 0;

  constructor(
    private readonly width: number,
    private readonly counted = false,
  ) {
    this.stride = width + (counted ? 7 : 6);
  }

  add(cpus: ArrayLike<number>, items: number, mem: number, flags: number, depth: number, parent: number, via: number, sleep: number, now: number, memory: number, observers: number, only: number, counts = 0): number {
    this.times[0] = now;
    this.times[1] = memory;
    return this.addWith(this.times, cpus, 0, items, mem, flags, depth, parent, via, sleep, observers, only, counts);
  }
  private readonly times = new Float64Array(2);

  /**
   * `add`, with its clock and memory in `times` (0 and 1: the search's hot path passes no double,
   * which would be a number object) and its CPU states `cpus[from..from + width)`.
   */
  addWith(times: Float64Array, cpus: ArrayLike<number>, from: number, items: number, mem: number, flags: number, depth: number, parent: number, via: number, sleep: number, observers: number, only: number, counts = 0): number {
    const id = this.count++;
    const c = id >>> CHUNK_BITS;
    const i = id & IN_CHUNK;
    if (i === 0) this.grow();
    const row = this.rows[c] as Int32Array;
    const w = this.width;
    const base = i * this.stride;
    for (let k = 0; k < w; k++) row[base + k] = cpus[from + k] as number;
    row[base + w + ITEMS] = items;
    row[base + w + MEM] = mem;
    row[base + w + FLAGS] = flags;
    row[base + w + SLEEP] = sleep;
    row[base + w + OBSERVERS] = observers;
    row[base + w + ONLY] = only;
    if (this.counted) row[base + w + COUNTS] = counts;
    const tr = this.timeRows[c] as Float64Array;
    tr[2 * i] = times[0] as number;
    tr[2 * i + 1] = times[1] as number;
    if (depth !== this.levels.length - 1) {
      if (depth !== this.levels.length) throw new Error(`internal error: node ${id} is ${depth} deep after nodes ${this.levels.length - 1} deep (breadth-first order)`);
      this.levels.push(id);
    }
    (this.parents[c] as Int32Array)[i] = parent;
    if (via + 1 > 0xffff && !this.wideVias) this.widen();
    (this.vias[c] as Uint16Array | Int32Array)[i] = via + 1;
    return id;
  }

  /** The node it was reached from (-1 for the root). */
  parent(id: number): number {
    return (this.parents[id >>> CHUNK_BITS] as Int32Array)[id & IN_CHUNK] as number;
  }
  /** The descriptor of the choice that led here (its key names the choice on any path). */
  via(id: number): number {
    return ((this.vias[id >>> CHUNK_BITS] as Uint16Array | Int32Array)[id & IN_CHUNK] as number) - 1;
  }
  depth(id: number): number {
    const l = this.levels;
    // (The search asks for the nodes in order: most often the level of the last answer.)
    const last = this.lastDepth;
    if (last < l.length && (l[last] as number) <= id && (last + 1 === l.length || id < (l[last + 1] as number))) return last;
    let lo = 0;
    let hi = l.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((l[mid] as number) <= id) lo = mid;
      else hi = mid - 1;
    }
    this.lastDepth = lo;
    return lo;
  }
  private lastDepth = 0;
  items(id: number): number {
    return this.field(id, ITEMS);
  }
  mem(id: number): number {
    return this.field(id, MEM);
  }
  flags(id: number): number {
    return this.field(id, FLAGS);
  }
  now(id: number): number {
    return this.frontier(this.timeRows, id)[2 * (id & IN_CHUNK)] as number;
  }
  memory(id: number): number {
    return this.frontier(this.timeRows, id)[2 * (id & IN_CHUNK) + 1] as number;
  }
  observers(id: number): number {
    return this.field(id, OBSERVERS);
  }

  /** A node's only-list (null: every choice). */
  only(id: number): readonly string[] | null {
    const x = this.onlyId(id);
    return x < 0 ? null : this.onlyList(x);
  }

  /** A node's only-list's number (internOnly; -1: every choice). */
  onlyId(id: number): number {
    return this.field(id, ONLY);
  }

  /** An only-list by its number. */
  onlyList(x: number): readonly string[] {
    return this.onlyLists.values[x] as readonly string[];
  }

  /** An only-list's number for `add`. */
  internOnly(only: readonly string[]): number {
    return this.onlyLists.id(only.join('\u0000'), () => only);
  }

  /** A node's CPU states into `out`. */
  cpusOf(id: number, out: Int32Array): Int32Array {
    const row = this.frontier(this.rows, id);
    const base = (id & IN_CHUNK) * this.stride;
    for (let c = 0; c < this.width; c++) out[c] = row[base + c] as number;
    return out;
  }

  /**
   * Everything of node `id` that expanding it reads, at once: its CPU states into `cpus`, its clock
   * and memory into `times` (0 and 1), the rest into the `loaded…` fields.
   */
  load(id: number, cpus: Int32Array, times: Float64Array): void {
    const row = this.frontier(this.rows, id);
    const i = id & IN_CHUNK;
    const base = i * this.stride;
    const w = this.width;
    for (let c = 0; c < w; c++) cpus[c] = row[base + c] as number;
    this.loadedItems = row[base + w + ITEMS] as number;
    this.loadedMem = row[base + w + MEM] as number;
    this.loadedFlags = row[base + w + FLAGS] as number;
    this.loadedSleep = row[base + w + SLEEP] as number;
    this.loadedObservers = row[base + w + OBSERVERS] as number;
    this.loadedOnly = row[base + w + ONLY] as number;
    this.loadedCounts = this.counted ? (row[base + w + COUNTS] as number) : 0;
    const tr = this.frontier(this.timeRows, id);
    times[0] = tr[2 * i] as number;
    times[1] = tr[2 * i + 1] as number;
  }
  loadedItems = 0;
  loadedMem = 0;
  loadedFlags = 0;
  loadedSleep = 0;
  loadedObservers = 0;
  loadedOnly = -1;
  loadedCounts = 0;

  /** Every node below `id` is expanded: drop what only the frontier needs of whole chunks below it. */
  release(id: number): void {
    const upTo = id >>> CHUNK_BITS;
    for (; this.released < upTo; this.released++) {
      const c = this.released;
      this.rows[c] = null;
      this.timeRows[c] = null;
    }
  }

  private field(id: number, at: number): number {
    return this.frontier(this.rows, id)[(id & IN_CHUNK) * this.stride + this.width + at] as number;
  }

  private frontier<T>(cols: (T | null)[], id: number): T {
    const col = cols[id >>> CHUNK_BITS];
    if (!col) throw new Error(`internal error: node ${id} was released before it was used`);
    return col;
  }

  /** A descriptor past 2^16 - 2: the vias from the current chunk on take 4 bytes. */
  private widen(): void {
    this.wideVias = true;
    const last = this.vias.length - 1;
    this.vias[last] = Int32Array.from(this.vias[last] as Uint16Array);
  }

  private grow(): void {
    this.parents.push(new Int32Array(CHUNK));
    this.vias.push(this.wideVias ? new Int32Array(CHUNK) : new Uint16Array(CHUNK));
    this.rows.push(new Int32Array(CHUNK * this.stride));
    this.timeRows.push(new Float64Array(2 * CHUNK));
  }
}

/** In a Nodes row, after the CPU states: where each of the rest is. */
const ITEMS = 0;
const MEM = 1;
const FLAGS = 2;
const SLEEP = 3;
const OBSERVERS = 4;
const ONLY = 5;
const COUNTS = 6;

/** Sleep sets, interned as sorted lists of footprint indexes: id 0 is the empty set. */
export class SleepSets {
  private readonly tuples = new Tuples();
  /** Each set's footprint indexes, ascending. */
  readonly ids: (readonly number[])[] = [];

  constructor() {
    this.intern([]);
  }

  /** The id of the set of these footprint indexes (any order). */
  intern(ids: readonly number[]): number {
    const s = ascending(ids);
    const id = this.tuples.intern(s);
    if (id === this.ids.length) this.ids.push(s);
    return id;
  }

  /** The id of the set of the first `n` footprint indexes of `scratch` (any order; sorted in place). */
  internScratch(scratch: number[], n: number): number {
    for (let i = 1; i < n; i++) {
      const x = scratch[i] as number;
      let j = i;
      for (; j > 0 && (scratch[j - 1] as number) > x; j--) scratch[j] = scratch[j - 1] as number;
      scratch[j] = x;
    }
    const id = this.tuples.intern(scratch, n);
    if (id === this.ids.length) this.ids.push(scratch.slice(0, n));
    return id;
  }
}


/**
 * The states the search expands together and their children, noted before any child is looked
 * up in the visited table (cached.ts `child`, `visit`): each child's decision, footprint, parts
 * and key, the state it came from (an index among the batch's states); each state's node, depth,
 * clock, sleep set, and its first child.
 */
export class Batch {
  count = 0;
  d = new Int32Array(64);
  fp = new Int32Array(64);
  items = new Int32Array(64);
  mem = new Int32Array(64);
  flags = new Int32Array(64);
  set = new Int32Array(64);
  memory = new Float64Array(64);
  node = new Int32Array(64);
  keyLo = new Int32Array(64);
  keyHi = new Int32Array(64);
  /** Under symmetry: the renaming slot each child was keyed under × 2, + 1 if CPUs are tied; -1: key it again (cached.ts). */
  symSlot = new Int32Array(64);
  cpus: Int32Array;
  nodes = 0;
  nodeId = new Int32Array(32);
  nodeDepth = new Int32Array(32);
  nodeSleep = new Int32Array(32);
  nodeFirst = new Int32Array(32);
  nodeNow = new Float64Array(32);

  constructor(width: number) {
    this.cpus = new Int32Array(64 * width);
  }

  reset(): void {
    this.count = 0;
    this.nodes = 0;
  }

  /** A state of the batch, about to be expanded: its children come next (its clock: set `nodeNow` too). */
  addNode(id: number, depth: number, sleep: number): void {
    const n = this.nodes++;
    if (n === this.nodeId.length) {
      this.nodeId = widened(this.nodeId);
      this.nodeDepth = widened(this.nodeDepth);
      this.nodeSleep = widened(this.nodeSleep);
      this.nodeFirst = widened(this.nodeFirst);
      this.nodeNow = widened(this.nodeNow);
    }
    this.nodeId[n] = id;
    this.nodeDepth[n] = depth;
    this.nodeSleep[n] = sleep;
    this.nodeFirst[n] = this.count;
  }

  /** Room for twice as many children. */
  grow(width: number): void {
    this.d = widened(this.d);
    this.fp = widened(this.fp);
    this.items = widened(this.items);
    this.mem = widened(this.mem);
    this.flags = widened(this.flags);
    this.set = widened(this.set);
    this.memory = widened(this.memory);
    this.node = widened(this.node);
    this.keyLo = widened(this.keyLo);
    this.keyHi = widened(this.keyHi);
    this.symSlot = widened(this.symSlot);
    const cpus = new Int32Array(this.d.length * width);
    cpus.set(this.cpus);
    this.cpus = cpus;
  }
}

/** A typed array twice as long as `a` (or, if more is needed, as `n` ≥ a.length), with the same contents first. */
export function widened<T extends Int32Array | Float64Array>(a: T, n = a.length): T {
  const out = new (a.constructor as new (n: number) => T)(2 * n);
  out.set(a);
  return out;
}
