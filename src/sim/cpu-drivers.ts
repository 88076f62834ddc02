/**
 * Two ways to run the CPU chart under the scheduler, behind one interface: real XState actors in one
 * actor system (what XState's inspection sees), or the compiled chart runner over the same machine
 * definition (fast enough for thousands of CPUs and for exploration). The simulator cannot tell them
 * apart; a test holds them to byte-identical traces.
 */
import { createActor, setup, type Actor, type ActorRefFrom, type InspectionEvent } from 'xstate';
import { cpuImplementations, physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import type { CpuContext, CpuEvent, CpuInput, Region } from '../../machines/physical-cpu/types.js';
import type { World } from '../kernel/port.js';
import { ChartRunner, type ChartState } from './chart-runner.js';
import { activePaths, leafPath } from './state-table.js';
import { captureChart, captureCharts, loadCharts, persistedSnapshot, restoreCharts, saveCharts, type ChartCapture, type EngineName, type SavedChart } from './chart-driver.js';

type CpuMachine = typeof physicalCpuMachine;
type CpuRef = ActorRefFrom<CpuMachine>;

export type { EngineName };

/**
 * The compiled runner of the physical CPU chart, built once per process: its tables depend only on
 * the chart, and building them costs ≈15 ms (not once per run or per replay). Its own guards and
 * actions read the world from the event; a simulation binds them to its world (`boundRunner`).
 */
let sharedRunner: ChartRunner<CpuContext, CpuEvent> | null = null;

/**
 * The compiled runner with the guards and actions bound to one simulation's world: the shared
 * runner's tables (a cache of what the chart alone determines), with this world's implementations
 * and its own compiled guards and argument objects (ChartRunner's `guards`, `actions`, `checks`,
 * `actionArgs` and `guardArgs`: every field that depends on the implementations or is written
 * while a step runs). A simulation's world is a value it passes in, not a process-wide variable
 * set before each step.
 */
function boundRunner(world: World): ChartRunner<CpuContext, CpuEvent> {
  sharedRunner ??= ChartRunner.of(physicalCpuMachine);
  const impl = cpuImplementations(() => world);
  const bound: ChartRunner<CpuContext, CpuEvent> = Object.create(sharedRunner);
  return Object.assign(bound, {
    guards: impl.guards,
    actions: impl.actions,
    checks: new Map(),
    actionArgs: { context: undefined, event: undefined },
    guardArgs: { context: undefined, event: undefined },
  });
}

/** The chart as XState actors bound to one world (the actors engine: the viewer's inspection). */
function boundMachine(world: World): CpuMachine {
  return physicalCpuMachine.provide(cpuImplementations(() => world));
}

/** One CPU's chart state, compact: its active leaves and a copy of its context. */
export type CpuCapture = ChartCapture<CpuContext>;

export interface CpuDriver {
  readonly engine: EngineName;
  /** Fast in-memory copies for exploration (compiled engine only). */
  capture?(): CpuCapture[];
  /** The same for one CPU. */
  captureOne?(cpu: number): CpuCapture;
  /** Returns the CPUs whose state changed. */
  restoreCapture?(captures: readonly CpuCapture[]): number[];
  /** The active leaves, by node number (compiled engine only). */
  leafOrders?(cpu: number): readonly number[];
  /** The path of a node by its number (compiled engine only). */
  nodePath?(order: number): string;
  send(cpu: number, event: CpuEvent): void;
  context(cpu: number): CpuContext;
  /** Not yet in a final state. */
  active(cpu: number): boolean;
  can(cpu: number, event: CpuEvent): boolean;
  /** The leaf path of a region of `os` (or of the top level when the CPU is outside `os`). */
  leaf(cpu: number, region: Region): string;
  /** Whether the CPU is outside the running kernel (wait-for-SIPI, crash kernel, reset). */
  outsideOs(cpu: number): boolean;
  activePaths(cpu: number): string[];
  /** Count CPU `cpu`'s chart as read (exploration's transition cache) without reading it: the caller remembers what it read. */
  touch?(cpu: number): void;
  save(): unknown;
  /**
   * Exploration's transition cache: from now on remember every CPU whose chart is read or moved
   * (null stops it). Compiled engine only.
   */
  track?(reads: Set<number> | null): void;
}

/** One host per run: the CPU chart bound to this run's world, all CPUs in one actor system. */
function hostMachineFor(cpu: CpuMachine) {
  return setup({
    types: { context: {} as { cpus: CpuRef[] }, input: {} as { cpus: CpuInput[] } },
    actors: { cpu },
  }).createMachine({
    id: 'host',
    // All CPUs are spawned in one go (spawnChild one by one is O(N²): docs/architecture.md §4).
    context: ({ input, spawn }) => ({
      cpus: input.cpus.map((c) => spawn('cpu', { id: `cpu${c.id}`, input: c })) as CpuRef[],
    }),
  });
}

export class ActorDriver implements CpuDriver {
  readonly engine = 'actors';
  private readonly host: Actor<ReturnType<typeof hostMachineFor>>;
  private readonly cpus: CpuRef[];

  constructor(
    world: World,
    inputs: CpuInput[] | null,
    saved?: unknown,
    inspect?: (event: InspectionEvent) => void,
  ) {
    const hostMachine = hostMachineFor(boundMachine(world));
    const observe = inspect ? { inspect } : {};
    this.host = saved
      ? createActor(hostMachine, { snapshot: persistedSnapshot(saved), input: { cpus: [] }, ...observe })
      : createActor(hostMachine, { input: { cpus: inputs ?? [] }, ...observe });
    this.host.start();
    this.cpus = this.host.getSnapshot().context.cpus;
  }

  private snap(cpu: number) {
    return (this.cpus[cpu] as CpuRef).getSnapshot();
  }

  send(cpu: number, event: CpuEvent): void {
    const ref = this.cpus[cpu] as CpuRef;
    if (ref.getSnapshot().status === 'active') ref.send(event);
  }

  context(cpu: number): CpuContext {
    return this.snap(cpu).context;
  }

  active(cpu: number): boolean {
    return this.snap(cpu).status === 'active';
  }

  can(cpu: number, event: CpuEvent): boolean {
    const s = this.snap(cpu);
    return s.status === 'active' && s.can(event);
  }

  leaf(cpu: number, region: Region): string {
    return leafPath(this.snap(cpu).value, region);
  }

  outsideOs(cpu: number): boolean {
    const v = this.snap(cpu).value;
    return typeof v === 'string' || !('os' in (v as object));
  }

  activePaths(cpu: number): string[] {
    return activePaths(this.snap(cpu).value);
  }

  save(): unknown {
    // Not stopping the actors afterwards is deliberate: they hold no timers (time is the
    // agenda's), and XState's stop copies the parent's children map per child, O(N²).
    return this.host.getPersistedSnapshot();
  }
}

export class CompiledDriver implements CpuDriver {
  readonly engine = 'compiled';
  private readonly runner: ChartRunner<CpuContext, CpuEvent>;
  private readonly states: ChartState<CpuContext>[];
  private readonly os: number;
  private readonly top: number;
  private readonly regions: Record<Region, number>;

  constructor(world: World, inputs: CpuInput[] | null, saved?: unknown) {
    this.runner = boundRunner(world);
    const byPath = new Map<string, number>();
    for (let i = 0; i < this.runner.size; i++) byPath.set(this.runner.path(i), i);
    this.os = byPath.get('os') as number;
    this.top = byPath.get('') as number;
    this.regions = {
      task: byPath.get('os.task') as number,
      irq: byPath.get('os.irq') as number,
      nmi: byPath.get('os.nmi') as number,
      smm: byPath.get('os.smm') as number,
    };
    if (saved) {
      this.states = loadCharts(this.runner, saved as SavedChart<CpuContext>[]);
    } else {
      // One buffer for every CPU's configuration: thousands of small ArrayBuffers cost the GC more.
      const m = this.runner.childSize;
      const all = inputs ?? [];
      const child = new Int16Array(all.length * m);
      this.states = all.map((input, i) => this.runner.initial(input, { child: child.subarray(i * m, (i + 1) * m) }));
    }
    // Filled from the start: writing index 8191 of an empty array would make it a slow dictionary.
    this.sameAs = new Array<CpuCapture | null>(this.states.length).fill(null);
  }

  private reads: Set<number> | null = null;

  track(reads: Set<number> | null): void {
    this.reads = reads;
  }

  /** A CPU's chart, as something the simulation reads or moves (what the transition cache keys on). */
  private state(cpu: number): ChartState<CpuContext> {
    if (this.reads) this.reads.add(cpu);
    return this.states[cpu] as ChartState<CpuContext>;
  }

  touch(cpu: number): void {
    if (this.reads) this.reads.add(cpu);
  }

  send(cpu: number, event: CpuEvent): void {
    this.sameAs[cpu] = null;
    this.runner.send(this.state(cpu), event);
  }

  context(cpu: number): CpuContext {
    return this.state(cpu).context;
  }

  active(cpu: number): boolean {
    return this.state(cpu).status === 'active';
  }

  can(cpu: number, event: CpuEvent): boolean {
    return this.runner.can(this.state(cpu), event);
  }

  outsideOs(cpu: number): boolean {
    return !this.runner.isActive(this.state(cpu), this.os);
  }

  leaf(cpu: number, region: Region): string {
    const s = this.state(cpu);
    let node = this.runner.isActive(s, this.os) ? this.runner.node(this.regions[region]) : this.runner.node(this.top);
    for (;;) {
      const child = this.runner.activeChild(s, node);
      if (!child) break;
      node = child;
    }
    return this.runner.path(node.order);
  }

  activePaths(cpu: number): string[] {
    return this.runner.leaves(this.state(cpu)).map((n) => this.runner.path(n.order));
  }

  /** Which capture each CPU's state is exactly (null once an event moved it): see captureCharts. */
  private readonly sameAs: (CpuCapture | null)[];

  capture(): CpuCapture[] {
    return captureCharts(this.runner, this.states, this.sameAs);
  }

  captureOne(cpu: number): CpuCapture {
    return captureChart(this.runner, this.states, this.sameAs, cpu);
  }

  restoreCapture(captures: readonly CpuCapture[]): number[] {
    return restoreCharts(this.runner, this.states, this.sameAs, captures);
  }

  leafOrders(cpu: number): readonly number[] {
    const s = this.state(cpu);
    if (!s.leaves) this.runner.leaves(s);
    return s.leaves as number[];
  }

  nodePath(order: number): string {
    return this.runner.path(order);
  }

  save(): unknown {
    return saveCharts(this.runner, this.states);
  }
}

export function makeDriver(
  engine: EngineName,
  world: World,
  inputs: CpuInput[] | null,
  saved?: unknown,
  inspect?: (event: InspectionEvent) => void,
): CpuDriver {
  return engine === 'actors' ? new ActorDriver(world, inputs, saved, inspect) : new CompiledDriver(world, inputs, saved);
}

