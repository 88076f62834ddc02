/**
 * A set of actors of one chart (the vCPUs of a run, or the VMM threads), behind one interface for
 * both engines: real XState actors, or the compiled chart runner over the same machine definition.
 * The physical CPUs have their own driver (cpu-drivers.ts) because of their per-region leaves; the
 * guest-side charts are driven whole, one step event at a time.
 */
import { createActor, type AnyActorRef, type AnyStateMachine, type ContextFrom, type EventFromLogic, type InputFrom, type InspectionEvent, type Snapshot } from 'xstate';
import { ChartRunner, type ChartEvent, type ChartState } from './chart-runner.js';
import { activePaths } from './state-table.js';

/** Which engine drives the charts: the compiled chart runner, or real XState actors (docs/architecture.md §3). */
export type EngineName = 'compiled' | 'actors';

/** One actor's state, compact: its active leaves and its context. */
export interface ChartCapture<C> {
  leaves: number[];
  context: C;
  status: 'active' | 'done';
}

export interface ChartDriver<C, E extends ChartEvent> {
  readonly engine: EngineName;
  readonly size: number;
  send(i: number, event: E): void;
  context(i: number): C;
  active(i: number): boolean;
  can(i: number, event: E): boolean;
  /** The active leaf paths, dot-separated, document order. */
  activePaths(i: number): string[];
  /** The first active leaf (the chart's program point). */
  leaf(i: number): string;
  capture?(): ChartCapture<C>[];
  /** One actor's capture (exploration's transition cache keeps actor states apart). */
  captureOne?(i: number): ChartCapture<C>;
  /** A capture's active leaf paths (as `activePaths` gives them), from its leaves. */
  pathsOf?(leaves: readonly number[]): string[];
  restoreCapture?(captures: readonly ChartCapture<C>[]): number[];
  /**
   * While `reads` is set, add `base + i * stride` to it for each actor `i` read or moved (the
   * transition cache keys a decision on the actors it read).
   */
  track?(reads: Set<number> | null, base: number, stride: number): void;
  save(): unknown;
}

/** A snapshot `getPersistedSnapshot()` gave (what a driver's `save()` returned), checked where it comes back. */
export function persistedSnapshot(saved: unknown): Snapshot<unknown> {
  if (isSnapshot(saved)) return saved;
  throw new Error('internal error: a saved actor state is not an XState snapshot');
}

function isSnapshot(x: unknown): x is Snapshot<unknown> {
  return typeof x === 'object' && x !== null && 'status' in x && typeof x.status === 'string';
}

class ActorSet<C, E extends ChartEvent> implements ChartDriver<C, E> {
  readonly engine = 'actors';
  private readonly refs: AnyActorRef[];

  constructor(machine: AnyStateMachine, inputs: readonly unknown[] | null, saved: unknown[] | undefined, inspect?: (e: InspectionEvent) => void) {
    const observe = inspect ? { inspect } : {};
    this.refs = saved
      ? saved.map((snapshot) => createActor(machine, { snapshot: persistedSnapshot(snapshot), ...observe }))
      : (inputs ?? []).map((input) => createActor(machine, { input, ...observe }));
    for (const r of this.refs) r.start();
  }

  get size(): number {
    return this.refs.length;
  }

  /** What the driver reads of an actor's snapshot (an untyped actor's snapshot is `any` to XState). */
  private snap(i: number): { status: string; context: C; value: Parameters<typeof activePaths>[0]; can(event: E): boolean } {
    return (this.refs[i] as AnyActorRef).getSnapshot();
  }

  send(i: number, event: E): void {
    if (this.snap(i).status === 'active') (this.refs[i] as AnyActorRef).send(event);
  }
  context(i: number): C {
    return this.snap(i).context;
  }
  active(i: number): boolean {
    return this.snap(i).status === 'active';
  }
  can(i: number, event: E): boolean {
    const s = this.snap(i);
    return s.status === 'active' && s.can(event);
  }
  activePaths(i: number): string[] {
    return activePaths(this.snap(i).value);
  }
  leaf(i: number): string {
    return this.activePaths(i)[0] ?? '';
  }
  save(): unknown {
    return this.refs.map((r) => r.getPersistedSnapshot());
  }
}

/** A chart state as JSON: its active nodes by document order. */
export interface SavedChart<C> {
  active: number[];
  context: C;
  status: 'active' | 'done';
}

// ---- what every compiled driver does with its array of chart states ------------------------------
// `sameAs[i]` is the capture actor i's state equals exactly (null once an event moved it): captures
// are never changed, so an untouched actor shares its capture and restoring skips it.

export function loadCharts<C, E extends ChartEvent>(runner: ChartRunner<C, E>, saved: readonly SavedChart<C>[]): ChartState<C>[] {
  return saved.map((s) => ({ context: s.context, status: s.status, leaves: null, child: runner.childOf(s.active) }));
}

export function saveCharts<C, E extends ChartEvent>(runner: ChartRunner<C, E>, states: readonly ChartState<C>[]): SavedChart<C>[] {
  return states.map((s) => ({ active: runner.activeOrders(s), context: structuredClone(s.context), status: s.status }));
}

export function captureCharts<C, E extends ChartEvent>(runner: ChartRunner<C, E>, states: readonly ChartState<C>[], sameAs: (ChartCapture<C> | null)[]): ChartCapture<C>[] {
  return states.map((_, i) => captureChart(runner, states, sameAs, i));
}

/** One actor's capture (the one it already equals, if any). */
export function captureChart<C, E extends ChartEvent>(runner: ChartRunner<C, E>, states: readonly ChartState<C>[], sameAs: (ChartCapture<C> | null)[], i: number): ChartCapture<C> {
  const same = sameAs[i];
  if (same) return same;
  const s = states[i] as ChartState<C>;
  if (!s.leaves) runner.leaves(s);
  const c: ChartCapture<C> = { leaves: [...(s.leaves as number[])], context: { ...s.context }, status: s.status };
  sameAs[i] = c;
  return c;
}

/** Returns the actors whose state changed. */
export function restoreCharts<C, E extends ChartEvent>(
  runner: ChartRunner<C, E>,
  states: readonly ChartState<C>[],
  sameAs: (ChartCapture<C> | null)[],
  captures: readonly ChartCapture<C>[],
): number[] {
  const changed: number[] = [];
  captures.forEach((c, i) => {
    if (sameAs[i] === c) return;
    const s = states[i] as ChartState<C>;
    runner.loadLeaves(s, c.leaves);
    s.context = { ...c.context };
    s.status = c.status;
    sameAs[i] = c;
    changed.push(i);
  });
  return changed;
}

class CompiledSet<C, E extends ChartEvent> implements ChartDriver<C, E> {
  readonly engine = 'compiled';
  private readonly runner: ChartRunner<C, E>;
  private readonly states: ChartState<C>[];
  /** Which capture each actor's state is exactly (null once an event moved it). */
  private readonly sameAs: (ChartCapture<C> | null)[] = [];

  constructor(machine: AnyStateMachine, inputs: readonly unknown[] | null, saved: SavedChart<C>[] | undefined) {
    this.runner = new ChartRunner<C, E>(machine);
    this.states = saved ? loadCharts(this.runner, saved) : (inputs ?? []).map((input) => this.runner.initial(input));
  }

  get size(): number {
    return this.states.length;
  }

  private reads: Set<number> | null = null;
  private base = 0;
  private stride = 1;

  track(reads: Set<number> | null, base: number, stride: number): void {
    this.reads = reads;
    this.base = base;
    this.stride = stride;
  }

  /** An actor's chart, as something read or moved (what the transition cache keys on). */
  private state(i: number): ChartState<C> {
    if (this.reads) this.reads.add(this.base + i * this.stride);
    return this.states[i] as ChartState<C>;
  }

  send(i: number, event: E): void {
    this.sameAs[i] = null;
    this.runner.send(this.state(i), event);
  }
  context(i: number): C {
    return this.state(i).context;
  }
  active(i: number): boolean {
    return this.state(i).status === 'active';
  }
  can(i: number, event: E): boolean {
    return this.runner.can(this.state(i), event);
  }
  activePaths(i: number): string[] {
    return this.runner.leaves(this.state(i)).map((n) => this.runner.path(n.order));
  }
  leaf(i: number): string {
    return this.activePaths(i)[0] ?? '';
  }

  capture(): ChartCapture<C>[] {
    return captureCharts(this.runner, this.states, this.sameAs);
  }

  captureOne(i: number): ChartCapture<C> {
    return captureChart(this.runner, this.states, this.sameAs, i);
  }

  pathsOf(leaves: readonly number[]): string[] {
    return leaves.map((o) => this.runner.path(o));
  }

  restoreCapture(captures: readonly ChartCapture<C>[]): number[] {
    return restoreCharts(this.runner, this.states, this.sameAs, captures);
  }

  save(): unknown {
    return saveCharts(this.runner, this.states);
  }
}

/** The driver of `machine`'s actors, typed by the machine's context and events. */
export function makeChartDriver<M extends AnyStateMachine>(
  engine: EngineName,
  machine: M,
  inputs: readonly InputFrom<M>[] | null,
  saved?: unknown,
  inspect?: (event: InspectionEvent) => void,
): ChartDriver<ContextFrom<M>, EventFromLogic<M>> {
  return engine === 'actors'
    ? new ActorSet<ContextFrom<M>, EventFromLogic<M>>(machine, inputs, saved as unknown[] | undefined, inspect)
    : new CompiledSet<ContextFrom<M>, EventFromLogic<M>>(machine, inputs, saved as SavedChart<ContextFrom<M>>[] | undefined);
}
