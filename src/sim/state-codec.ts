/**
 * The machine state as values: the exploration capture and the JSON save of a simulation, the
 * state key and hash composed from each part's (each slot's, the memory's, each pending item's,
 * the flags'), and the views exploration and symmetry reduction read. The parts' own codecs are in
 * src/state/; this file puts them together over the scheduler's parts (`CodecParts`).
 */
import type { CpuContext } from '../../machines/physical-cpu/types.js';
import type { KernelMemoryState, WatchedVar } from '../kernel/memory.js';
import type { InterconnectState, Interconnect } from '../bus/interconnect.js';
import type { Message } from '../bus/messages.js';
import { FLAGS, flagsHash, type FlagValues } from '../state/flags.js';
import { PENDING, pendingHash, type PendingItem } from '../state/pending.js';
import { mix } from '../state/hash.js';
import type { Renaming } from '../state/codec.js';
import type { ChartCapture } from './chart-driver.js';
import type { Agenda, AgendaState, Item } from './agenda.js';
import type { ChooserState } from './chooser.js';
import type { CpuCapture, EngineName } from './cpu-drivers.js';
import type { CpuSlots } from './cpu-slots.js';
import type { GuestSlots } from './guest-slots.js';
import type { GuestsCapture, GuestsState } from './guests.js';
import type { SharedMemory } from './shared-memory.js';

export interface Capture {
  cpus: CpuCapture[];
  memory: KernelMemoryState;
  agenda: AgendaState;
  bus: InterconnectState;
  steps: number;
  choices: number;
  flags: FlagValues;
  keys: (string | null)[];
  hashes: number[];
  memKey: string | null;
  memHash: number;
  guests: GuestsCapture | null;
}

export interface SimulationState {
  version: 1;
  steps: number;
  choices: number;
  engine: EngineName;
  cpus: unknown;
  memory: KernelMemoryState;
  agenda: AgendaState;
  bus: InterconnectState;
  chooser: ChooserState;
  flags: FlagValues;
  guests?: GuestsState;
}

/**
 * The state hash from its parts: the CPUs' hashes in order, shared memory, the pending items as an
 * order-free multiset (`lo`/`hi`: exact sums of the item hashes' low and high 32-bit halves), the
 * flags, the guests. One function for the simulation's own `stateHash()` and for exploration's
 * transition cache, which combines the parts of states it never builds.
 */
export function composeHash(cpus: readonly number[], mem: number, lo: number, hi: number, flags: number, guests: readonly number[] | null): number {
  return finishHash(cpusHash(cpus), mem, lo, hi, flags, guests);
}

/** The CPUs' part of the state hash (the cache keeps it per combination of CPU states). */
export function cpusHash(cpus: readonly number[]): number {
  let h = 0x9e3779b9;
  for (let cpu = 0; cpu < cpus.length; cpu++) h = mix(h, cpus[cpu] as number);
  return h;
}

/** The state hash from the CPUs' part and the rest (see composeHash). */
export function finishHash(cpus: number, mem: number, lo: number, hi: number, flags: number, guests: readonly number[] | null): number {
  let h = mix(cpus, mem);
  h = mix(mix(h, lo % 4294967296), (hi + Math.floor(lo / 4294967296)) % 2097152);
  if (guests) for (const g of guests) h = mix(h, g);
  return mix(h, flags);
}

/** A pending item as exploration's transition cache sees it (see `Simulation.view`). */
export interface ItemView {
  /** The choice key (`choiceKeys()`), the same on any path. */
  key: string;
  kind: Item['kind'];
  /** The CPU whose state the item moves (a script step's CPU), -1 if none. */
  actor: number;
  /** The CPU the item belongs to in the agenda (step, timer, delivery), -1 for scripts and guests. */
  cpu: number;
  /** Timer name ('' otherwise). */
  name: string;
  /** Script step index, or the guest actor's index (vcpu, vmm, vhost items); -1 otherwise. */
  index: number;
  /** The message a delivery delivers (its content; the id is this path's). */
  msg: Message | null;
  /** Due in this many ns from now. */
  rel: number;
  /** A timer's duration (due time less arming time), place and whether it is held back (see agenda.ts); 0, 0, false otherwise. */
  dur: number;
  ord: number;
  held: boolean;
  hash: number;
}

/** The simulation as the parts its state hash is made of (exploration's transition cache). */
export interface StateView {
  cpus: number[];
  mem: number;
  items: ItemView[];
  /** Everything else that is part of the state: script steps fired, reset and kexec, the end. */
  flagsKey: string;
  flagsHash: number;
  flags: FlagValues;
  now: number;
  /** Each guest actor's part of the hash (in `Guests.hashes()` order), null without guests. */
  guests: number[] | null;
}

/**
 * One bit per shared variable a CPU can wait on, in this fixed order (every WatchedVar once), so a
 * mask means the same in every process and does not depend on which variable a run met first.
 */
const WATCHED_VARS = [
  'waiting_for_crash_ipi',
  'crash_ipi_issued',
  'cpu_online_mask',
  'cpus_stop_mask',
  'call_function_pending',
  'crash_kernel_callin',
  'kvm_rebooting',
  'virt_rebooting',
  'crashing_cpu',
  'shootdown_callback',
  'stopping_cpu',
  'panic_cpu',
  'nmi_handlers',
  'kexec_lock',
  'cpus_stopped',
  'reboot_emergency',
  'die_counter',
  'reboot_task_cpu',
  'system_transition_mutex',
] as const satisfies readonly WatchedVar[];
// Every WatchedVar is in the list (a name missing here is a compile error).
type MissingWatchedVar = Exclude<WatchedVar, (typeof WATCHED_VARS)[number]>;
const allWatched: [MissingWatchedVar] extends [never] ? true : never = true;
const VAR_BITS: ReadonlyMap<string, number> = new Map(WATCHED_VARS.map((v, i) => [v, 1 << i]));
export function varBit(name: string): number {
  const b = VAR_BITS.get(name);
  if (b === undefined || !allWatched) throw new Error(`internal error: '${name}' is not a shared variable a CPU can wait on`);
  return b;
}


/** What the state is made of, as the scheduler holds it now (getters: a restore replaces the agenda and flags). */
export interface CodecParts {
  readonly cpus: CpuSlots;
  readonly guests: GuestSlots | null;
  readonly agenda: Agenda;
  readonly bus: Interconnect;
  readonly flags: FlagValues;
  readonly memory: SharedMemory;
  /** The CPU a pending item acts on (see `Simulation.choiceActor`). */
  actorOf(item: Item): number;
}

/** What a choice is, independent of its position: the same event has the same key on any path. */
export function itemKey(item: Item, bus: Interconnect): string {
  switch (item.kind) {
    case 'step':
      return `s${item.cpu}`;
    case 'timer':
      return `t${item.cpu}:${item.name}`;
    case 'script':
      return `x${item.index}`;
    case 'vcpu':
      return `v${item.cpu}`;
    case 'vmm':
      return `u${item.cpu}`;
    case 'vhost':
      return `w${item.cpu}`;
    case 'deliver': {
      const m = bus.message(item.msg);
      return m ? `d${item.cpu}<${m.mode}:${m.vector ?? ''}:${m.from}:${m.source}` : `d${item.cpu}<?${item.msg}`;
    }
  }
}

/** A pending item as it enters the state (src/state/pending.ts): times from now, a delivery by its message's content. */
function pendingItem(p: CodecParts, i: Item, now: number): PendingItem {
  switch (i.kind) {
    case 'timer':
      return { kind: 'timer', cpu: i.cpu, name: i.name, rel: i.time - now, dur: i.time - i.start, ord: i.ord, held: p.agenda.held(i) };
    case 'deliver':
      return { kind: 'deliver', cpu: i.cpu, msg: p.bus.message(i.msg) ?? null };
    case 'script':
      return { kind: 'script', index: i.index, rel: i.time - now };
    default:
      return { kind: i.kind, cpu: i.cpu };
  }
}

/**
 * The state as a canonical string: two paths that reach the same machine (whatever the message
 * ids, the order of the pending list, the step count) give the same key.
 */
export function stateKey(p: CodecParts): string {
  let key = '';
  for (let cpu = 0; cpu < p.cpus.count; cpu++) key += p.cpus.key(cpu);
  key += p.memory.key();
  const now = p.agenda.now;
  const pending = p.agenda
    .live()
    .map((i) => PENDING.text(pendingItem(p, i, now)))
    .sort();
  key += pending.join(';') + '|' + FLAGS.text(p.flags);
  if (p.guests) {
    key += '|';
    for (const slot of p.guests.slots) key += `|${slot.key()}`;
  }
  return key;
}

/** Each guest slot's part of the hash, null without guests. */
function guestHashes(p: CodecParts): number[] | null {
  return p.guests ? p.guests.slots.map((slot) => slot.hash()) : null;
}

/**
 * A 53-bit hash of stateKey(), combined from hashes of its parts that are remembered while the
 * part does not change: only the CPU that moved and the pending list are hashed again.
 */
export function stateHash(p: CodecParts): number {
  const cpus: number[] = [];
  for (let cpu = 0; cpu < p.cpus.count; cpu++) cpus.push(p.cpus.hash(cpu));
  // The pending multiset, order-free: sums of the item hashes' low and high halves, each an
  // exact integer (a float sum of 53-bit values would round, and rounding depends on the order).
  const now = p.agenda.now;
  let lo = 0;
  let hi = 0;
  for (const i of p.agenda.live()) {
    const x = pendingHash(pendingItem(p, i, now));
    lo += x >>> 0;
    hi += Math.floor(x / 4294967296);
  }
  return composeHash(cpus, p.memory.hash(), lo, hi, flagsHash(p.flags), guestHashes(p));
}

/**
 * The state as the parts of its hash, for exploration's transition cache: each CPU's and the
 * memory's hash, each pending item, the flags, each guest actor's hash.
 */
export function stateView(p: CodecParts): StateView {
  const cpus: number[] = [];
  for (let cpu = 0; cpu < p.cpus.count; cpu++) cpus.push(p.cpus.hash(cpu));
  const now = p.agenda.now;
  const items = p.agenda.live().map((i): ItemView => {
    const owned = i.kind === 'step' || i.kind === 'timer' || i.kind === 'deliver';
    const guest = i.kind === 'vcpu' || i.kind === 'vmm' || i.kind === 'vhost';
    return {
      key: itemKey(i, p.bus),
      kind: i.kind,
      // The actor is the choice's (choiceActor): a guest thread's physical CPU.
      actor: p.actorOf(i),
      cpu: owned ? i.cpu : -1,
      name: i.kind === 'timer' ? i.name : '',
      index: i.kind === 'script' ? i.index : guest ? i.cpu : -1,
      msg: i.kind === 'deliver' ? (p.bus.message(i.msg) ?? null) : null,
      rel: i.time - now,
      dur: i.kind === 'timer' ? i.time - i.start : 0,
      ord: i.kind === 'timer' ? i.ord : 0,
      held: i.kind === 'timer' && p.agenda.held(i),
      hash: pendingHash(pendingItem(p, i, now)),
    };
  });
  const flags = FLAGS.copy(p.flags);
  return { cpus, mem: p.memory.hash(), items, flagsKey: FLAGS.text(flags), flagsHash: flagsHash(flags), flags, now, guests: guestHashes(p) };
}

/** The state as symmetry reduction renames it (src/explore/symmetry.ts). */
export interface SymmetryView {
  /** Each CPU's chart state (read only) and part of the state hash. */
  chart(cpu: number): { leaves: number[]; context: CpuContext };
  cpuHash(cpu: number): number;
  items: PendingItem[];
  memory: KernelMemoryState;
  flags: FlagValues;
  memHash: number;
  /** With guests: how many guest slots, each one's part of the state hash, and that part under a renaming (NaN: the same). */
  guests?: number;
  guestHash?(j: number): number;
  guestHashUnder?(j: number, r: Renaming): number;
}

export function symmetryView(p: CodecParts): SymmetryView {
  const now = p.agenda.now;
  const cpus = p.cpus;
  const g = p.guests;
  return {
    chart: (cpu) => cpus.chartState(cpu),
    cpuHash: (cpu) => cpus.hash(cpu),
    items: p.agenda.live().map((i) => pendingItem(p, i, now)),
    memory: p.memory.k.state,
    flags: p.flags,
    memHash: p.memory.hash(),
    ...(g
      ? {
          guests: g.slots.length,
          guestHash: (j: number) => (g.slots[j] as { hash(): number }).hash(),
          guestHashUnder: (j: number, r: Renaming) => g.guests.renamedHash(j, g.guests.captureSlot(j) as ChartCapture<unknown>, r),
        }
      : {}),
  };
}
