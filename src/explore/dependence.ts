/**
 * When two choices commute: the footprints sleep sets are made of, and the two dependence
 * relations between them.
 *
 * 'fields' (the default): a footprint says what one decision read and wrote — the kernel memory
 * fields it read and those it assigned or changed (MEMORY_FIELDS bits), the actor slots it read or
 * moved or gave or took a pending item (CPUs, then guest actors: a send to CPU c touches c, so it
 * conflicts with a step of c and a delivery to c, not with steps elsewhere), the shared variables
 * it wrote and those the CPUs it read wait on afterwards, whether it armed or took a timer, and
 * the property observers shown one of its records. Two decisions are independent when they act on
 * different actors, touch disjoint slots, neither writes a field the other reads or writes, neither
 * writes a variable the other left a CPU waiting on, not both touch timers (a timer's place among
 * those due and armed with it depends on the order they were armed: src/sim/agenda.ts), and no
 * observer is shown records of both (an observer's state, hence what it remembers and reports,
 * depends on the order of the records it is shown, never on the order of records it is not). A
 * scripted action, a reset or kexec, or any change of the flags (script steps fired, how the run
 * ended) is dependent with everything.
 *
 * Sound for sleep sets: these are exactly the inputs and outputs of a decision in the transition
 * cache (cached.ts: an effect applies wherever its inputs are equal, and `verify` checks it against
 * the simulation), so if neither of two enabled decisions writes an input of the other, each has
 * the same effect and footprint after the other, and both orders reach the same machine state with
 * the same observers. A footprint carried in a sleep set down a path therefore stays the decision's
 * footprint there, as long as each decision taken meanwhile is independent of it.
 *
 * 'shared': the relation before this one, kept to measure against — two decisions commute when they
 * act on different actors and neither wrote shared memory, sent a message, or ran a scripted
 * action, reset or kexec (`local`).
 */
import type { KernelMemoryState } from '../kernel/memory.js';
import type { ItemView, Simulation, StateView } from '../sim/simulation.js';
import { memoryFieldHash, MEMORY_FIELDS } from '../state/memory.js';
import type { TraceRecord } from '../trace/records.js';

export interface Footprint {
  key: string;
  actor: number;
  /** No shared memory written, nothing sent, no scripted action, reset or kexec ('shared' relation). */
  local: boolean;
  /** A scripted action, reset or kexec, or a change of the flags: dependent with every decision. */
  global: boolean;
  /** Actor slots read, moved, or given or taken a pending item: bit s for slot s < 31, bit 31 for every slot from 31 on. */
  slots: number;
  /** Memory fields read, and assigned or changed (bits in MEMORY_FIELDS order). */
  memRead: number;
  memWrite: number;
  /** Shared variables written (Simulation varBit), and those the CPUs it read wait on after it. */
  vars: number;
  watch: number;
  /** It armed a timer or took one away (fired or cancelled). */
  timers: boolean;
  /** The observers shown one of its records: bit i for observer i < 31, bit 31 for every one from 31 on. */
  seen: number;
}

export type Dependence = 'fields' | 'shared';

/** The relation sleep sets use when an exploration does not say (see ExploreOptions.dependence). */
export const DEFAULT_DEPENDENCE: Dependence = 'fields';

/** Records that make a step non-local in the 'shared' relation: it touched something another CPU can see. */
export const NON_LOCAL = new Set<TraceRecord['t']>(['mem', 'send', 'script', 'reset', 'kexec']);

/** Records of a step dependent with every other: a scripted action, a platform reset, kexec. */
export const GLOBAL = new Set<TraceRecord['t']>(['script', 'reset', 'kexec']);

if (MEMORY_FIELDS.length > 31) throw new Error('internal error: more memory fields than bits in a footprint');

/** Bit of slot or observer `i` in a footprint's masks (all from 31 on share the last bit). */
export function bitOf(i: number): number {
  return i < 31 ? 1 << i : 1 << 31;
}

/** Two choices commute ('fields' relation: see the top of this file). */
export function independent(a: Footprint, b: Footprint): boolean {
  return (
    a.actor !== b.actor &&
    !a.global &&
    !b.global &&
    (a.slots & b.slots) === 0 &&
    (a.memWrite & (b.memRead | b.memWrite)) === 0 &&
    (b.memWrite & a.memRead) === 0 &&
    (a.vars & b.watch) === 0 &&
    (b.vars & a.watch) === 0 &&
    !(a.timers && b.timers) &&
    (a.seen & b.seen) === 0
  );
}

/** Two choices commute ('shared' relation): different CPUs, neither touching anything shared. */
export function independentShared(a: Footprint, b: Footprint): boolean {
  return a.actor !== b.actor && a.local && b.local;
}

/** The relation of a dependence. */
export function relationOf(d: Dependence): (a: Footprint, b: Footprint) => boolean {
  return d === 'shared' ? independentShared : independent;
}

/** Whether a footprint is dependent with every other under a relation (its child's sleep set is then empty). */
export function dependentWithAll(fp: Footprint, d: Dependence): boolean {
  return d === 'shared' ? !fp.local : fp.global;
}

/** A footprint that stands for its key only (a sleep set stored in canonical choice keys: symmetry.ts). */
export function keyOnly(key: string): Footprint {
  return { key, actor: -1, local: false, global: true, slots: -1, memRead: -1, memWrite: -1, vars: -1, watch: -1, timers: true, seen: -1 };
}

/** What a footprint is made of, as both engines observe a decision (see `footprintOf`). */
export interface StepParts {
  key: string;
  actor: number;
  local: boolean;
  /** A record of GLOBAL was written, or the flags changed. */
  global: boolean;
  /** The slots the simulation's tracking says it read or moved (Simulation.endTracking). */
  reads: readonly number[];
  /** The slots of the pending items it added or took away (`itemSlot`). */
  owners: readonly number[];
  fieldsRead: number;
  /** Fields assigned (tracking) or whose value changed. */
  fieldsWritten: number;
  written: number;
  watch: number;
  timers: boolean;
  seen: number;
}

export function footprintOf(p: StepParts): Footprint {
  let slots = 0;
  for (const s of p.reads) slots |= bitOf(s);
  for (const s of p.owners) slots |= s < 0 ? -1 : bitOf(s);
  return {
    key: p.key,
    actor: p.actor,
    local: p.local,
    global: p.global || p.owners.includes(-1),
    slots,
    memRead: p.fieldsRead,
    memWrite: p.fieldsWritten,
    vars: p.written,
    watch: p.watch,
    timers: p.timers,
    seen: p.seen,
  };
}

/** A footprint as text: equal texts, equal footprints (the transition cache interns them). */
export function footprintText(f: Footprint): string {
  return `${f.key}|${f.actor}|${f.local ? 1 : 0}${f.global ? 1 : 0}${f.timers ? 1 : 0}|${f.slots}|${f.memRead}|${f.memWrite}|${f.vars}|${f.watch}|${f.seen}`;
}

/**
 * The slot a pending item belongs to: a CPU's step, timer or delivery to it is the CPU's; a guest
 * actor's item is its slot after the CPUs (vCPU i at cpus + 2i, its VMM thread after it, then the
 * vsock devices: Guests.track); a scripted action belongs to none (-1).
 */
export function itemSlot(i: Pick<ItemView, 'kind' | 'cpu' | 'index'>, cpus: number, vcpus: number): number {
  if (i.kind === 'vcpu') return cpus + 2 * i.index;
  if (i.kind === 'vmm') return cpus + 2 * i.index + 1;
  if (i.kind === 'vhost') return cpus + 2 * vcpus + i.index;
  return i.cpu;
}

/** A pending item as text: the same item due at the same distance, the same text (as the transition cache interns it). */
export function itemText(v: Pick<ItemView, 'key' | 'kind' | 'rel' | 'dur' | 'ord' | 'held'>): string {
  return v.kind === 'timer' ? `${v.key}@${v.rel}/${v.dur}#${v.ord}${v.held ? '!' : ''}` : `${v.key}@${v.rel}`;
}

/** What `Simulation.endTracking` tells of a decision. */
export type Tracked = ReturnType<Simulation['endTracking']>;

/**
 * A decision's footprint as the simulation shows it, the same for both engines: `before` at the
 * state (after its poll), then the decision taken between `Simulation.trackReads()` and
 * `endTracking()`, then `footprint` — the slots tracked, the pending items it added or took away
 * (by their text, as the transition cache interns them), the fields assigned or changed, whether
 * the flags changed, what the CPUs read wait on now.
 */
export class StepFootprints {
  private items = new Map<string, { n: number; slot: number; timer: boolean; step: boolean }>();
  private fields = new Float64Array(MEMORY_FIELDS.length);
  private flags = '';
  private readonly cpus: number;
  private readonly vcpus: number;

  constructor(private readonly sim: Simulation) {
    this.cpus = sim.scenario.machine.cpus;
    this.vcpus = sim.scenario.vcpus.length;
  }

  /** Remember the state a decision starts from (the simulation after its poll). */
  before(): void {
    const v = this.sim.view();
    const fields = new Float64Array(MEMORY_FIELDS.length);
    for (let f = 0; f < MEMORY_FIELDS.length; f++) fields[f] = memoryFieldHash(this.sim.memory, MEMORY_FIELDS[f] as keyof KernelMemoryState);
    this.beforeFrom(
      v.items.map((i) => ({ text: itemText(i), slot: itemSlot(i, this.cpus, this.vcpus), kind: i.kind })),
      fields,
      v.flagsKey,
    );
  }

  /**
   * The same from what is known of that state already (the transition cache: its interned items,
   * memory field hashes and flags): each pending item's text (`itemText`), slot (`itemSlot`) and kind.
   */
  beforeFrom(items: Iterable<{ text: string; slot: number; kind: ItemView['kind'] }>, fields: Float64Array, flagsKey: string): void {
    this.items = new Map();
    for (const i of items) {
      const e = this.items.get(i.text);
      if (e) e.n += 1;
      else this.items.set(i.text, { n: 1, slot: i.slot, timer: i.kind === 'timer', step: i.kind === 'vcpu' || i.kind === 'vmm' });
    }
    this.fields.set(fields);
    this.flags = flagsKey;
  }

  /** What `before` remembered, as text (to check `beforeFrom` against it). */
  beforeText(): string {
    return JSON.stringify([[...this.items].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)), Array.from(this.fields), this.flags]);
  }

  /**
   * The footprint of the decision just taken from the state of `before`, with what its records
   * showed (Harness.decide) and what tracking saw. `apart`: guest thread slots whose step items'
   * comings and goings are left out (the transition cache adds them back: refresh-table.ts).
   */
  footprint(
    key: string,
    shown: { actor: number; local: boolean; global: boolean; seen: number },
    tracked: Tracked,
    v: StateView = this.sim.view(),
    apart?: ReadonlySet<number>,
  ): Footprint {
    const left = new Map<string, number>();
    for (const [text, e] of this.items) left.set(text, e.n);
    const owners: number[] = [];
    let timers = tracked.armed.length > 0;
    for (const i of v.items) {
      const text = itemText(i);
      const n = left.get(text) ?? 0;
      if (n > 0) left.set(text, n - 1);
      else {
        const slot = itemSlot(i, this.cpus, this.vcpus);
        if (apart && apart.has(slot) && (i.kind === 'vcpu' || i.kind === 'vmm')) continue;
        owners.push(slot);
        if (i.kind === 'timer') timers = true;
      }
    }
    for (const [text, n] of left) {
      if (n === 0) continue;
      const e = this.items.get(text) as { slot: number; timer: boolean; step: boolean };
      if (apart && apart.has(e.slot) && e.step) continue;
      owners.push(e.slot);
      if (e.timer) timers = true;
    }
    // A field changed in place was read (through its accessor); one assigned is written anyway.
    let changed = 0;
    const candidates = tracked.fieldsRead & ~tracked.fieldsWritten;
    for (let f = 0; f < MEMORY_FIELDS.length; f++) {
      if (candidates & (1 << f) && memoryFieldHash(this.sim.memory, MEMORY_FIELDS[f] as keyof KernelMemoryState) !== this.fields[f]) changed |= 1 << f;
    }
    // A CPU looked at only to see whether it runs tasks (the transition cache keys that on one bit)
    // is still read: a step that moves it does not commute with this one.
    // (So is a slot read only in looking again at whether a guest thread can step.)
    const bits = tracked.refreshRuns.length === 0 ? tracked.runsRead : [...tracked.runsRead, ...tracked.refreshRuns];
    const reads = bits.length === 0 ? tracked.reads : [...new Set([...tracked.reads, ...bits])].sort((a, b) => a - b);
    let watch = 0;
    for (const c of reads) if (c < this.cpus) watch |= this.sim.watchMask(c);
    return footprintOf({
      key,
      actor: shown.actor,
      local: shown.local,
      global: shown.global || v.flagsKey !== this.flags,
      reads,
      owners,
      fieldsRead: tracked.fieldsRead,
      fieldsWritten: tracked.fieldsWritten | changed,
      written: tracked.written,
      watch,
      timers,
      seen: shown.seen,
    });
  }
}
