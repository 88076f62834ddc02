/**
 * The one interface the scheduler sees of every actor: a physical CPU, a vCPU thread, a VMM thread,
 * a vhost-vsock device (whose step is a run of its vhost worker). Each actor is a slot, numbered in
 * one space — the CPUs 0…n−1, then the guest actors in the order of their part of the state hash
 * (vCPU i: n + 2i, its VMM thread: n + 2i + 1, vsock device d: n + 2·vcpus + d) — the numbering the
 * exploration's transition cache keys its reads on. The scheduler (simulation.ts) knows slots and
 * agenda items, never which chip a slot is.
 */
import type { ItemBody } from './agenda.js';
import type { StatePattern } from './state-table.js';
import type { ScriptStep } from '../scenarios/types.js';

/** What kind of actor a slot is (the trace and the viewer name it; the scheduler does not look). */
export type SlotKind = 'cpu' | 'vcpu' | 'vmm' | 'vhost';

/** The agenda item kinds that step a slot (one per slot kind). */
export type StepItemKind = 'step' | 'vcpu' | 'vmm' | 'vhost';

/** A script step waiting for a slot's actor to enter a state. */
export interface Trigger {
  step: ScriptStep;
  pattern: StatePattern;
}

export interface Slot {
  readonly kind: SlotKind;
  /** Its index among the actors of its kind (CPU number, vCPU index, device index). */
  readonly index: number;
  /** Its number among all slots (see the top of this file). */
  readonly id: number;
  /** The physical CPU whose choice its step is: a thread's pinned CPU, a worker's CPU, a CPU itself. */
  readonly cpu: number;
  /** The agenda item that steps it. */
  readonly item: ItemBody & { kind: StepItemKind };
  /**
   * Who settles it after it moved: 'scheduler' — the scheduler looks at its runnability, wakes its
   * watchers, the slots that depend on it and fires its triggers at once; 'family' — its family
   * reports it among the slots that moved (`SlotFamily.moved`), with the order of what to look at.
   */
  readonly settledBy: 'scheduler' | 'family';
  /** The slots whose runnability depends on this one's state (the threads and workers on a CPU). */
  dependents: readonly number[];
  /** Whether it can take a step now. */
  runnable(): boolean;
  /**
   * The shared variables it waits on now (a wait state's watch list; empty when not waiting). The
   * scheduler asks right after `runnable()`, which may keep what both need.
   */
  watches(): readonly string[];
  /** One step, with its trace record. */
  step(): void;
  /** A timer it armed expired (only actors with timers). */
  timer?(name: string): void;
  /**
   * Of its armed timers (by name), those that can never matter again: a CPU's task timeout under a
   * loop that never returns is read by no one (CpuSlots.stoppedAboveTask); the scheduler drops them.
   */
  deadTimers?(names: Iterable<string>): readonly string[];
  /** A message on the interconnect reaches it (only actors on the bus): message id. */
  receive?(msg: number): void;
  /** Its active leaf paths (what its triggers match). */
  activePaths(): string[];
  /** Its part of the state hash and of the state key. */
  hash(): number;
  key(): string;
  /** Its chart as an exploration capture (compiled engine). */
  capture(): unknown;
}

/** What a family of slots (the CPUs, the guest actors) reports after actors moved. */
export interface Moved {
  /** Slots to settle as if they had stepped (CPUs a guest changed), in order. */
  settle: readonly number[];
  /** Slots whose runnability to look at again, in order. */
  refresh: readonly number[];
  /** Slots whose triggers to look at, in order. */
  triggers: readonly number[];
}

/** A set of slots of the same driver: their numbering in the agenda and what moved among them. */
export interface SlotFamily {
  readonly slots: readonly Slot[];
  /** The agenda item kinds whose `cpu` field numbers a slot of this family: slot = base + cpu × stride. */
  readonly items: Readonly<Partial<Record<ItemBody['kind'], { base: number; stride: number }>>>;
  /** The slot for an actor named by a script trigger ('cpu', 'vcpu', 'vsock'), if this family has it. */
  triggerSlot(actor: string, index: number): Slot | undefined;
  /**
   * Run what the family deferred to the scheduler's settle (a VM exit a CPU step caused) and say
   * which slots moved since it was last asked; null when nothing did. A family whose slots move only
   * by their own steps (settled by the scheduler) has none.
   */
  moved?(): Moved | null;
}

/**
 * Exploration's read tracking (Simulation.trackReads): `read` looks at slot `slot` only for one bit of
 * it (whether a CPU runs tasks, whether a guest thread can step). When nothing else of the slot was
 * read so far in the step, the read is taken out of `reads` (the slots read whole) and reported to
 * `bit` instead, so the transition cache keys the step on that bit rather than the slot's state.
 */
export function readBit<T>(reads: Set<number>, slot: number, read: () => T, bit: (slot: number) => void): T {
  if (reads.has(slot)) return read();
  const value = read();
  reads.delete(slot);
  bit(slot);
  return value;
}
