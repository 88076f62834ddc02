// Over 400 lines because one class holds the whole run (actors, bus, scheduler, memory, trace, capture and restore); being split in the one-machine-value refactor, issue 12.
/**
 * The composition root: builds a host from a scenario (one XState actor per CPU, all in one actor
 * system), connects them through the interconnect, and runs them under one scheduler. Every choice
 * goes through the chooser; time is the agenda's virtual clock; every act is a trace record.
 * The whole simulation saves to a JSON value and restores exactly.
 */
import { TraceStream } from '../trace/stream.js';
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import type { CpuContext, CpuEvent, CpuInput, Region } from '../../machines/physical-cpu/types.js';
import { BUS_EVENT_OF } from '../../machines/physical-cpu/types.js';
import { initialCpuHw, VMCS_REGION_BASE, VMXON_REGION_BASE, type CpuHw } from '../hw/cpu-state.js';
import type { OutgoingMessage } from '../hw/apic.js';
import { KernelMemory, type KernelMemoryState, type WatchedVar } from '../kernel/memory.js';
import { copyMemoryState, MEMORY, memoryHash, memoryText, MEMORY_FIELDS } from '../state/memory.js';
import { CPU_STATE } from '../state/cpu.js';
import { FLAGS, flagsHash, initialFlags, type FlagValues } from '../state/flags.js';
import { PENDING, pendingHash, type PendingItem } from '../state/pending.js';
import { hash53, mix } from '../state/hash.js';
import type { CpuPort, Disposition, World } from '../kernel/port.js';
import { resolveFeatures, type KernelFeatures } from '../kernel/variants.js';
import { collapsedReason, Interconnect, type InterconnectState } from '../bus/interconnect.js';
import { describeDestination, type DeliveryRequest, type Message } from '../bus/messages.js';
import type { Scenario, ScriptStep } from '../scenarios/types.js';
import { TRACE_VERSION, type BranchPoint, type RunEnd, type TraceRecord } from '../trace/records.js';

export { hash53, mix, type FlagValues };
import { Agenda, type AgendaState, type Item } from './agenda.js';
import { ReplayChooser, SeededChooser, restoreChooser, type Chooser, type ChooserState, type Pick } from './chooser.js';
import { inState, stateTable, StatePattern, type StateInfo } from './state-table.js';
import { makeDriver, type CpuCapture, type CpuDriver, type EngineName } from './cpu-drivers.js';
import type { InspectionEvent } from 'xstate';
import { Guests, type GuestKind, type GuestsCapture, type GuestsState } from './guests.js';

const CPU_STATES = stateTable(physicalCpuMachine);

export interface SimulationOptions {
  seed: number;
  /** Choices to replay instead of drawing from the seed. */
  replay?: readonly Pick[];
  /** Or any chooser (exploration's prefix replays). */
  chooser?: Chooser;
  maxSteps?: number;
  /** How the CPU charts are executed; both give the same trace. Default: compiled. */
  engine?: EngineName;
  /** XState's inspection API: every CPU actor's events and snapshots (runs on real actors). */
  inspect?: (event: InspectionEvent) => void;
  /**
   * 'timed' (default): steps take stepNs, deliveries a chosen latency, and only what is due now
   * competes. 'untimed' (exploration): every pending step, delivery and scripted action competes
   * at once, whatever its time, and a timer fires only when nothing else can happen — a kernel
   * timeout is a million steps long — so the choices are exactly the interleavings.
   */
  mode?: SchedulingMode;
  /**
   * Exploration: leave out the records no property observer reads (steps, choices, instructions,
   * deliveries, timers) — their leaf paths cost more than the step. Counterexamples are replayed
   * with the full trace.
   */
  lean?: boolean;
  /** A what-if branch of another run: written in the header, so a replay writes it too. */
  branch?: BranchPoint;
}

export type SchedulingMode = 'timed' | 'untimed';

/** A script step waiting for `actor` `id` to enter `state`, which never happened in the run. */
export interface UnfiredTrigger {
  /** Index in the scenario's script array. */
  index: number;
  actor: 'cpu' | 'vcpu' | 'vsock';
  id: number;
  state: string;
}

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

const ROUTABLE: readonly string[] = ['task', 'irq', 'nmi', 'smm'];

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
 * An effect of a chart step that leaves the CPU's actor, as a value: what the port was asked for.
 * Memory writes are applied to the shared memory at once (a later action of the same step reads
 * them); what a write does outside the actor (its trace record, waking the CPUs that watch the
 * variable) is an effect like the others.
 */
export type Effect =
  | { kind: 'send'; cpu: number; message: OutgoingMessage }
  | { kind: 'arm timer'; cpu: number; name: string; ns: number }
  | { kind: 'cancel timer'; cpu: number; name: string }
  | { kind: 'record'; record: TraceRecord }
  | { kind: 'platform reset'; cpu: number; method: string }
  | { kind: 'kexec'; cpu: number }
  | { kind: 'guest exit'; cpu: number; reason: 'nmi' | 'intr' }
  | { kind: 'mem'; name: WatchedVar; cpu: number; op: string; value: unknown };

/**
 * What one chart step hands back to the scheduler: its effects, in the order its actions asked for
 * them (the scheduler applies them after the step, in that order), how the delivery it took ended
 * at the CPU (the first `account` of the step), and the result of the VMX/SVM instruction a vCPU
 * thread ran on it.
 */
interface Outbox {
  readonly cpu: number;
  readonly effects: Effect[];
  disposition: Disposition | null;
  hostResult: string | null;
}

/** One bit per memory field, in MEMORY_FIELDS order. */
const FIELD_BITS = new Map<string | symbol, number>(MEMORY_FIELDS.map((f, i) => [f, 1 << i]));

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

/** Whether a scenario has guest actors (vCPUs, VMM threads, vsock devices). */
export function hasGuests(scenario: Scenario): boolean {
  return scenario.vcpus.length > 0 || scenario.vsock.length > 0;
}

/** Build the per-CPU inputs of a scenario: architectural state from the initial settings. */
export function cpuInputs(scenario: Scenario, features: KernelFeatures): CpuInput[] {
  return scenario.initial.map((init, id) => {
    let hw: CpuHw = initialCpuHw(scenario.machine.vendor);
    const loadedVmcss: number[] = [];
    if (init.vmx === 'root') {
      hw = { ...hw, cr4Vmxe: true, vmx: 'root', vmxonPtr: VMXON_REGION_BASE + id * 0x1000 };
      for (let v = 0; v < init.loadedVmcs; v++) {
        const addr = VMCS_REGION_BASE + (id * 64 + v) * 0x1000;
        loadedVmcss.push(addr);
        // The last VMCS KVM loaded here is current and was launched by its vCPU.
        hw = { ...hw, vmcsLaunch: { ...hw.vmcsLaunch, [addr]: 'launched' }, currentVmcs: addr };
      }
    } else if (init.cr4Vmxe) {
      hw = { ...hw, cr4Vmxe: true };
    }
    hw = { ...hw, if: init.if, svme: init.svme, gif: init.gif };
    return {
      id,
      hw,
      loadedVmcss,
      features,
      opts: {
        vendor: scenario.machine.vendor,
        kdump: scenario.options.kdump,
        kdumpBringsUpAps: scenario.options.kdumpBringsUpAps,
        crashKexecPostNotifiers: scenario.options.crashKexecPostNotifiers,
        panicTimeout: scenario.options.panicTimeout,
        kvmLoaded: scenario.options.kvmLoaded,
        debugList: scenario.options.debugList,
        rebootForce: scenario.options.rebootForce,
        resetMethod: scenario.options.reset.method,
        cpus: scenario.machine.cpus,
      },
    };
  });
}

export class Simulation {
  readonly features: KernelFeatures;
  readonly trace$ = new TraceStream();
  readonly k: KernelMemory;
  readonly bus: Interconnect;
  private agenda = new Agenda();
  private chooser: Chooser;
  private cpus!: CpuDriver;
  /** What this simulation's CPU charts see: its kernel memory and its port. */
  private readonly world: World;
  private readonly cpuCount: number;
  private readonly maxSteps: number;

  steps = 0;
  private choices = 0;
  private stepItems: (Item | null)[];
  private readonly leafRegion: (Region | null)[];
  /** Parts of the state key, remembered until the CPU (or shared memory) changes. */
  private cpuKeys: (string | null)[];
  private cpuHashes: number[];
  private memKey: string | null = null;
  /** The capture whose memory the shared kernel memory equals, until the next write. */
  private memSameAs: KernelMemoryState | null = null;
  private memHash = 0;
  private readonly leafPath: string[];
  private timerItems = new Map<string, Item>();
  private watchers = new Map<string, Set<number>>();
  private watching: (readonly string[])[];
  private dirty = new Set<number>();
  /** Script steps fired, reset and kexec, how the run ended (src/state/flags.ts). */
  private flags: FlagValues;
  private triggers: Map<number, { step: ScriptStep; pattern: StatePattern }[]> = new Map();
  private readonly scriptByIndex: Map<number, ScriptStep>;
  /** The outboxes of the chart steps running now (innermost last): the port writes into the last. */
  private readonly outboxes: Outbox[] = [];
  private readonly stepEvents: Record<string, CpuEvent>;
  private readonly port: CpuPort;
  /** The KVM side: vCPU threads and their VMM threads (null without `vms`). */
  private guests: Guests | null = null;
  private guestItems = new Map<string, Item>();
  /** Script steps waiting for a vCPU to enter a state, by vCPU. */
  private guestTriggers: Map<number, { step: ScriptStep; pattern: StatePattern }[]> = new Map();
  private vsockTriggers: Map<number, { step: ScriptStep; pattern: StatePattern }[]> = new Map();
  private hostExits: { cpu: number; reason: 'nmi' | 'intr' }[] = [];
  readonly mode: SchedulingMode;
  private readonly lean: boolean;
  /** Transition cache: the CPUs read and the shared variables written since trackReads(). */
  private tracked: Set<number> | null = null;
  private written = 0;
  /** Memory fields read and assigned while tracking (bits in MEMORY_FIELDS order), and the memory itself. */
  private fieldsRead = 0;
  private fieldsWritten = 0;
  /** CPUs read only through threadsRun while tracking (whether they run tasks, not their charts). */
  private runsRead = new Set<number>();
  private rawMemory: KernelMemoryState | null = null;

  constructor(
    readonly scenario: Scenario,
    readonly options: SimulationOptions,
    restoreFrom?: SimulationState,
  ) {
    this.cpuCount = scenario.machine.cpus;
    this.maxSteps = options.maxSteps ?? scenario.options.maxSteps;
    this.mode = options.mode ?? 'timed';
    // Untimed, steps take no time: pending timers keep their real-time order (see agenda.ts).
    this.agenda.ordered = this.mode === 'untimed';
    this.lean = options.lean ?? false;
    this.features = resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix);
    this.k = new KernelMemory(this.cpuCount, restoreFrom ? copyMemoryState(restoreFrom.memory) : undefined);
    this.k.onWrite = (name, cpu, op, value) => this.memoryWritten(name, cpu, op, value);
    this.chooser = restoreFrom
      ? restoreChooser(restoreFrom.chooser)
      : options.chooser
        ? options.chooser
        : options.replay
        ? new ReplayChooser(options.replay)
        : new SeededChooser(options.seed);
    this.stepItems = new Array<Item | null>(this.cpuCount).fill(null);
    this.leafRegion = new Array<Region | null>(this.cpuCount).fill(null);
    this.cpuKeys = new Array<string | null>(this.cpuCount).fill(null);
    this.cpuHashes = new Array<number>(this.cpuCount).fill(0);
    this.leafPath = new Array<string>(this.cpuCount).fill('');
    this.watching = new Array<readonly string[]>(this.cpuCount).fill([]);
    this.flags = restoreFrom ? FLAGS.copy(restoreFrom.flags) : initialFlags(scenario.script.length);
    this.port = this.makePort();
    this.world = { k: this.k, io: this.port };
    this.stepEvents = Object.fromEntries(ROUTABLE.map((r) => [r, { type: `sched.${r}` } as CpuEvent]));
    const handlers = new Map<number, (req: DeliveryRequest) => Disposition>();
    for (let i = 0; i < this.cpuCount; i++) handlers.set(i, (req) => this.deliverTo(req));
    this.bus = new Interconnect(this.cpuCount, handlers, { collapseNmis: this.mode !== 'untimed' });
    this.scriptByIndex = new Map(scenario.script.map((s) => [s.index, s]));
    for (const step of scenario.script) {
      if (step.trigger.kind !== 'enters') continue;
      const map = step.trigger.actor === 'vcpu' ? this.guestTriggers : step.trigger.actor === 'vsock' ? this.vsockTriggers : this.triggers;
      const list = map.get(step.trigger.cpu) ?? [];
      list.push({ step, pattern: new StatePattern(step.trigger.state) });
      map.set(step.trigger.cpu, list);
    }
    if (restoreFrom) this.restore(restoreFrom);
    else this.start();
  }

  private makeGuests(engine: EngineName, saved?: GuestsState): void {
    if (!hasGuests(this.scenario)) return;
    this.guests = new Guests(
      {
        k: this.k,
        lean: this.lean,
        now: () => this.agenda.now,
        emit: (r) => this.emit(r),
        around: (r, effects, after) => this.around(r, effects, after),
        hostInsn: (pcpu, event) => this.send(pcpu, event).hostResult ?? 'not executed',
        threadsRun: (pcpu) => this.threadsRun(pcpu),
        launchState: (pcpu, addr) => this.hw(pcpu).vmcsLaunch[addr] ?? null,
        ipi: (from, to, vector) => this.sendMessage(from, { mode: 'fixed', vector, dest: { kind: 'cpu', cpu: to }, source: 'kernel' }),
      },
      this.scenario.vcpus,
      this.scenario.vsock,
      this.scenario.machine.vendor,
      this.features,
      engine,
      saved,
      this.options.inspect,
    );
    if (!saved) {
      for (let i = 0; i < this.guests.count; i++) this.refreshGuest(i);
      for (let d = 0; d < this.guests.devices.size; d++) this.refreshWorker(d);
    }
  }

  /** A CPU runs tasks (so its vCPU and VMM threads can run): its task region in the workload, nothing on top. */
  private threadsRun(cpu: number): boolean {
    const tracked = this.tracked;
    // Transition cache: a decision that looks at a CPU only through this reads this one bit of it
    // (a vhost worker's step reschedules the vCPU threads of another CPU), not the CPU's chart.
    if (tracked !== null && !tracked.has(cpu)) {
      this.cpus.track?.(null);
      const runs = this.runsTasks(cpu);
      this.cpus.track?.(tracked);
      this.runsRead.add(cpu);
      return runs;
    }
    return this.runsTasks(cpu);
  }

  /** Whether a CPU runs tasks (threadsRun), read without tracking: exploration keeps it per CPU state. */
  runsTasks(cpu: number): boolean {
    if (!this.cpus.active(cpu) || this.cpus.outsideOs(cpu)) return false;
    const c = this.cpus.context(cpu);
    if (c.stalled || c.hw.activity !== 'running' || c.ctx.length !== 1) return false;
    return this.leaf(cpu, 'task') === 'os.task.idle';
  }

  private start(): void {
    const engine = this.options.inspect ? 'actors' : (this.options.engine ?? 'compiled');
    this.cpus = makeDriver(engine, this.world, cpuInputs(this.scenario, this.features), undefined, this.options.inspect);
    this.makeGuests(engine);
    for (const step of this.scenario.script) {
      if (step.trigger.kind === 'at') {
        this.agenda.add({ kind: 'script', index: step.index }, this.mode === 'untimed' ? 0 : step.trigger.timeNs);
      }
    }
  }

  private restore(state: SimulationState): void {
    this.steps = state.steps;
    this.choices = state.choices;
    this.bus.restore(state.bus);
    this.cpus = makeDriver(state.engine, this.world, null, state.cpus);
    this.makeGuests(state.engine, state.guests);
    const { agenda, items } = Agenda.restore(state.agenda, this.mode === 'untimed');
    this.agenda = agenda;
    for (const item of items) {
      if (item.kind === 'step') this.stepItems[item.cpu] = item;
      else if (item.kind === 'timer') this.timerItems.set(`${item.cpu}:${item.name}`, item);
      else if (item.kind === 'vcpu' || item.kind === 'vmm' || item.kind === 'vhost') this.guestItems.set(`${item.kind}:${item.cpu}`, item);
    }
    for (let cpu = 0; cpu < this.cpuCount; cpu++) this.updateWatch(cpu, this.stateInfo(cpu));
  }

  save(): SimulationState {
    return {
      version: 1,
      steps: this.steps,
      choices: this.choices,
      engine: this.cpus.engine,
      cpus: this.cpus.save(),
      memory: copyMemoryState(this.k.state),
      agenda: this.agenda.save(),
      bus: this.bus.save(),
      chooser: this.chooser.save(),
      flags: FLAGS.copy(this.flags),
      ...(this.guests ? { guests: this.guests.save() } : {}),
    };
  }

  // ---- the run ---------------------------------------------------------------------------------

  /** Records written while the effects of an earlier one run, held back by `around` (innermost last). */
  private readonly held: TraceRecord[][] = [];

  private emit(record: TraceRecord): void {
    const held = this.held[this.held.length - 1];
    if (held) held.push(record);
    else this.trace$.next(record);
  }

  /**
   * Writes `record`, the cause of what `effects` then does, with the fields `after()` gives once the
   * effects are done (the leaves they moved): the records the effects write meanwhile are held back
   * and follow it, so the trace's order is the order things happened in.
   */
  private around(record: TraceRecord, effects: () => void, after: () => object): void {
    if (this.lean) {
      this.emit(record);
      effects();
      return;
    }
    const held: TraceRecord[] = [];
    this.held.push(held);
    let done = false;
    try {
      effects();
      done = true;
    } finally {
      this.held.pop();
      if (done) Object.assign(record, after());
      this.emit(record);
      for (const r of held) this.emit(r);
    }
  }

  /** The records `around` holds back now, in the order they were written (a what-if probe reads them). */
  heldRecords(): TraceRecord[] {
    return this.held.flat();
  }

  /** The leaves of CPU `cpu` that are active now and were not in `before`: a record's `leaves`. */
  private leavesSince(cpu: number, before: readonly string[]): { leaves?: string[] } {
    const leaves = this.cpus.activePaths(cpu).filter((p) => !before.includes(p));
    return leaves.length > 0 ? { leaves } : {};
  }

  header(): void {
    this.emit({
      t: 'header',
      v: TRACE_VERSION,
      scenario: this.scenario.id,
      seed: this.options.seed,
      mode: this.mode,
      options: {
        kdump: this.scenario.options.kdump,
        panicTimeout: this.scenario.options.panicTimeout,
        initOnlyReset: this.scenario.options.reset.initOnly,
      },
      cpus: this.cpuCount,
      vendor: this.scenario.machine.vendor,
      preset: this.scenario.kernel.preset,
      switches: Object.entries(this.features)
        .filter(([, on]) => on)
        .map(([name]) => name),
      ...(this.options.branch ? { branch: this.options.branch } : {}),
    });
  }

  /**
   * The script steps whose `when … enters` trigger never fired: the run never put their actor in
   * that state (the chosen kernel may never enter it, or the run ended first), in script order.
   */
  unfiredTriggers(): UnfiredTrigger[] {
    const out: UnfiredTrigger[] = [];
    for (const step of this.scenario.script) {
      if (step.trigger.kind !== 'enters' || this.flags.fired[step.index]) continue;
      out.push({ index: step.index, actor: step.trigger.actor, id: step.trigger.cpu, state: step.trigger.state });
    }
    return out;
  }

  /** Run until the machine resets, nothing can move, or the step budget is spent; `limit` stops early. */
  run(limit = Infinity): RunEnd | null {
    let budget = limit;
    while (budget-- > 0) {
      const n = this.poll();
      if (n === 0) break;
      this.decide(n > 1 ? this.chooser.choose(n, 'next') : 0);
    }
    return this.flags.ended;
  }

  /**
   * How many choices the scheduler has now (moving the clock if nothing is due); 0 when the run is
   * over, in which case the final records have been written.
   */
  poll(): number {
    if (this.flags.ended !== null) return 0;
    if (this.steps >= this.maxSteps) {
      this.finish('running');
      return 0;
    }
    if (!this.agenda.advance()) {
      this.finish(this.quiescentEnd());
      return 0;
    }
    return this.agenda.ready.length;
  }

  /** Take choice `pick` of the `poll()` choices: one step, delivery, timer or scripted action. */
  decide(pick: number): void {
    const n = this.agenda.ready.length;
    if (n > 1 && !this.lean) this.emit({ t: 'choice', i: this.choices++, kind: 'next', n, pick });
    const item = this.agenda.takeReady(pick);
    this.steps += 1;
    this.execute(item);
    if (this.flags.fullReset) this.finish('reset');
  }

  /**
   * One step as a function of the choice: take choice `pick` of the choices the last `poll()` (or
   * `step()`) counted, then count the next ones. Returns the records the step wrote, in order, and
   * how many choices follow (0: the run is over, and its final records are among these). The
   * machine state itself stays in this object (see `save()` and `capture()` for it as a value).
   */
  step(pick: number): { records: TraceRecord[]; choices: number } {
    const records: TraceRecord[] = [];
    const sub = this.trace$.subscribe((r) => records.push(r));
    try {
      this.decide(pick);
      return { records, choices: this.poll() };
    } finally {
      sub.unsubscribe();
    }
  }

  /** What each current choice is, independent of its position: the same event has the same key on any path. */
  choiceKeys(): string[] {
    return this.agenda.ready.map((item) => this.itemKey(item));
  }

  private itemKey(item: Item): string {
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
        const m = this.bus.message(item.msg);
        return m ? `d${item.cpu}<${m.mode}:${m.vector ?? ''}:${m.from}:${m.source}` : `d${item.cpu}<?${item.msg}`;
      }
    }
  }

  /** The CPU a choice acts on (the target of a delivery); -1 for a scripted action's own CPU lookup failure. */
  choiceActor(pick: number): number {
    const item = this.agenda.ready[pick];
    if (!item) return -1;
    if (item.kind === 'script') return this.scriptByIndex.get(item.index)?.cpu ?? -1;
    // A guest thread acts on its physical CPU (it runs VMX instructions there), so it is that CPU's choice.
    if ((item.kind === 'vcpu' || item.kind === 'vmm') && this.guests) return this.guests.pcpu(item.cpu);
    // A vhost worker is a kernel thread on its CPU.
    if (item.kind === 'vhost' && this.guests) return this.guests.cpuOf('vhost', item.cpu);
    return item.cpu;
  }

  /** An in-memory copy of everything that can change, for exploration (compiled engine). */
  capture(): Capture {
    const cpus = this.cpus.capture?.();
    if (!cpus) throw new Error('exploration needs the compiled engine');
    return {
      cpus,
      memory: this.captureMemory(),
      agenda: this.agenda.save(),
      bus: this.bus.save(),
      steps: this.steps,
      choices: this.choices,
      flags: FLAGS.copy(this.flags),
      keys: [...this.cpuKeys],
      hashes: [...this.cpuHashes],
      memKey: this.memKey,
      memHash: this.memHash,
      guests: this.guests?.capture() ?? null,
    };
  }

  restoreCapture(c: Capture): void {
    this.cpuKeys = [...c.keys];
    this.cpuHashes = [...c.hashes];
    this.memKey = c.memKey;
    this.memHash = c.memHash;
    const changed = this.cpus.restoreCapture?.(c.cpus) ?? [];
    const m = c.memory;
    if (this.memSameAs !== m) {
      this.k.state = copyMemoryState(m);
      this.memSameAs = m;
    }
    const { agenda, items } = Agenda.restore(c.agenda, this.mode === 'untimed');
    this.agenda = agenda;
    this.stepItems.fill(null);
    this.timerItems.clear();
    this.guestItems.clear();
    for (const item of items) {
      if (item.kind === 'step') this.stepItems[item.cpu] = item;
      else if (item.kind === 'timer') this.timerItems.set(`${item.cpu}:${item.name}`, item);
      else if (item.kind === 'vcpu' || item.kind === 'vmm' || item.kind === 'vhost') this.guestItems.set(`${item.kind}:${item.cpu}`, item);
    }
    if (this.guests && c.guests) this.guests.restoreCapture(c.guests);
    this.bus.restore(c.bus);
    this.steps = c.steps;
    this.choices = c.choices;
    this.flags = FLAGS.copy(c.flags);
    // Only the CPUs the restore changed need their leaf and their watches looked at again.
    for (const cpu of changed) {
      this.leafRegion[cpu] = null;
      this.updateWatch(cpu, this.stateInfo(cpu));
    }
  }

  /**
   * The state as a canonical string: two paths that reach the same machine (whatever the message
   * ids, the order of the pending list, the step count) give the same key.
   */
  stateKey(): string {
    let key = '';
    for (let cpu = 0; cpu < this.cpuCount; cpu++) key += this.cpuKey(cpu);
    key += this.memoryKey();
    const now = this.agenda.now;
    const pending = this.agenda
      .live()
      .map((i) => PENDING.text(this.pendingItem(i, now)))
      .sort();
    key += pending.join(';') + '|' + FLAGS.text(this.flags);
    if (this.guests) key += `|${this.guests.key()}`;
    return key;
  }

  /**
   * A 53-bit hash of stateKey(), combined from hashes of its parts that are remembered while the
   * part does not change: only the CPU that moved and the pending list are hashed again.
   */
  stateHash(): number {
    const cpus: number[] = [];
    for (let cpu = 0; cpu < this.cpuCount; cpu++) cpus.push(this.cpuHash(cpu));
    // The pending multiset, order-free: sums of the item hashes' low and high halves, each an
    // exact integer (a float sum of 53-bit values would round, and rounding depends on the order).
    const now = this.agenda.now;
    let lo = 0;
    let hi = 0;
    for (const i of this.agenda.live()) {
      const x = this.itemHash(i, now);
      lo += x >>> 0;
      hi += Math.floor(x / 4294967296);
    }
    return composeHash(cpus, this.memoryHash(), lo, hi, flagsHash(this.flags), this.guests ? this.guests.hashes() : null);
  }

  /**
   * The state as the parts of its hash, for exploration's transition cache: each CPU's and the
   * memory's hash, each pending item, the flags, each guest actor's hash.
   */
  view(): StateView {
    const cpus: number[] = [];
    for (let cpu = 0; cpu < this.cpuCount; cpu++) cpus.push(this.cpuHash(cpu));
    const now = this.agenda.now;
    const items = this.agenda.live().map((i): ItemView => {
      const owned = i.kind === 'step' || i.kind === 'timer' || i.kind === 'deliver';
      const guest = i.kind === 'vcpu' || i.kind === 'vmm' || i.kind === 'vhost';
      // The actor is the choice's (choiceActor): a guest thread's physical CPU.
      const actor =
        i.kind === 'script' ? (this.scriptByIndex.get(i.index)?.cpu ?? -1) : owned ? i.cpu : guest && this.guests ? this.guests.cpuOf(i.kind, i.cpu) : -1;
      return {
        key: this.itemKey(i),
        kind: i.kind,
        actor,
        cpu: owned ? i.cpu : -1,
        name: i.kind === 'timer' ? i.name : '',
        index: i.kind === 'script' ? i.index : guest ? i.cpu : -1,
        msg: i.kind === 'deliver' ? (this.bus.message(i.msg) ?? null) : null,
        rel: i.time - now,
        dur: i.kind === 'timer' ? i.time - i.start : 0,
        ord: i.kind === 'timer' ? i.ord : 0,
        held: i.kind === 'timer' && this.agenda.held(i),
        hash: this.itemHash(i, now),
      };
    });
    const flags = FLAGS.copy(this.flags);
    return { cpus, mem: this.memoryHash(), items, flagsKey: FLAGS.text(flags), flagsHash: flagsHash(flags), flags, now, guests: this.guests ? this.guests.hashes() : null };
  }

  /** How many guest actors there are (slots after the CPUs for `trackReads`, `captureGuest`). */
  get guestSlots(): number {
    return this.guests ? this.guests.slots : 0;
  }

  /** One guest actor's chart as a capture, by its slot among the guests (see Guests.track). */
  captureGuest(j: number): unknown {
    if (!this.guests) throw new Error('internal error: no guest actors');
    return this.guests.captureSlot(j);
  }

  /**
   * The state as symmetry reduction renames it (src/explore/symmetry.ts): each CPU's chart state
   * (read only) and part of the state hash, the pending items, the memory and the flags.
   */
  symmetryView(): { chart(cpu: number): { leaves: number[]; context: CpuContext }; cpuHash(cpu: number): number; items: PendingItem[]; memory: KernelMemoryState; flags: FlagValues; memHash: number } {
    const now = this.agenda.now;
    return {
      chart: (cpu) => this.chartState(cpu),
      cpuHash: (cpu) => this.cpuHash(cpu),
      items: this.agenda.live().map((i) => this.pendingItem(i, now)),
      memory: this.k.state,
      flags: this.flags,
      memHash: this.memoryHash(),
    };
  }

  /** One CPU's chart as a capture (exploration keeps CPU states apart). */
  captureCpu(cpu: number): CpuCapture {
    const c = this.cpus.captureOne?.(cpu);
    if (!c) throw new Error('exploration needs the compiled engine');
    return c;
  }

  /**
   * The shared kernel memory as a capture (never changed afterwards): memory untouched since the
   * last restore or capture is that capture's memory.
   */
  captureMemory(): KernelMemoryState {
    this.memSameAs ??= copyMemoryState(this.k.state);
    return this.memSameAs;
  }

  /** The shared kernel memory as it is now (read only). */
  get memory(): KernelMemoryState {
    return this.k.state;
  }

  /**
   * Start remembering which CPUs the next decision reads or moves, which memory fields it reads
   * and assigns, and which shared variables it writes (for the waiters). With the flags and those
   * CPUs' pending steps and timers, that is all a decision depends on: the CPU charts read only
   * their own context and the shared memory. (The clock also reaches a chart, as `waitStart`; only
   * the `waitedNs` of kernel records depends on it, which no property reads.)
   */
  trackReads(): void {
    this.tracked = new Set();
    this.written = 0;
    this.fieldsRead = 0;
    this.fieldsWritten = 0;
    this.runsRead = new Set();
    this.cpus.track?.(this.tracked);
    // The guest actors are read as slots after the CPUs.
    this.guests?.track(this.tracked, this.cpuCount);
    this.agenda.armed = [];
    // Every read of shared memory goes through `k.state` (guards, actions, KernelMemory's own
    // read-modify-writes): an object of accessors in its place sees which fields.
    this.rawMemory = this.k.state;
    this.k.state = this.memoryTracker();
  }

  private tracker: KernelMemoryState | null = null;

  /** Accessors for every memory field that note the read and go to the real memory. */
  private memoryTracker(): KernelMemoryState {
    if (this.tracker) return this.tracker;
    const tracker = {} as Record<string, unknown>;
    for (const { name: field } of MEMORY.fields) {
      const bit = FIELD_BITS.get(field) ?? 0;
      Object.defineProperty(tracker, field, {
        enumerable: true,
        get: () => {
          this.fieldsRead |= bit;
          return (this.rawMemory as unknown as Record<string, unknown>)[field];
        },
        // An assignment is a write even when the value does not change (the same assignment on
        // another path may change it); a write into an array goes through the getter, so the
        // field counts as read, and the exploration compares its value before and after.
        set: (value: unknown) => {
          this.fieldsWritten |= bit;
          (this.rawMemory as unknown as Record<string, unknown>)[field] = value;
        },
      });
    }
    this.tracker = tracker as unknown as KernelMemoryState;
    return this.tracker;
  }

  endTracking(): { reads: number[]; runsRead: number[]; written: number; fieldsRead: number; fieldsWritten: number; armed: { rel: number; dur: number }[] } {
    const reads = [...(this.tracked ?? [])].sort((a, b) => a - b);
    // The CPUs whose chart was read after the bit anyway are keyed on their charts.
    const runsRead = [...this.runsRead].filter((c) => !this.tracked?.has(c)).sort((a, b) => a - b);
    // The timers armed: each one's place depends on the other pending timers due and armed with it.
    const armed = (this.agenda.armed ?? []).map((i) => ({ rel: i.time - this.agenda.now, dur: i.time - i.start }));
    this.agenda.armed = null;
    this.cpus.track?.(null);
    this.guests?.track(null, this.cpuCount);
    this.tracked = null;
    if (this.rawMemory) this.k.state = this.rawMemory;
    this.rawMemory = null;
    return { reads, runsRead, written: this.written, fieldsRead: this.fieldsRead, fieldsWritten: this.fieldsWritten, armed };
  }

  /** The shared variables a CPU waits on in its current state, as `varBit` bits. */
  watchMask(cpu: number): number {
    const info = this.stateInfo(cpu);
    let mask = 0;
    if (info && info.wait) for (const v of info.watch) mask |= varBit(v);
    return mask;
  }

  /** A pending item as it enters the state (src/state/pending.ts): times from now, a delivery by its message's content. */
  private pendingItem(i: Item, now: number): PendingItem {
    switch (i.kind) {
      case 'timer':
        return { kind: 'timer', cpu: i.cpu, name: i.name, rel: i.time - now, dur: i.time - i.start, ord: i.ord, held: this.agenda.held(i) };
      case 'deliver':
        return { kind: 'deliver', cpu: i.cpu, msg: this.bus.message(i.msg) ?? null };
      case 'script':
        return { kind: 'script', index: i.index };
      default:
        return { kind: i.kind, cpu: i.cpu };
    }
  }

  /** A pending item as a number. */
  private itemHash(i: Item, now: number): number {
    return pendingHash(this.pendingItem(i, now));
  }

  /** One CPU's chart state as it enters the state: its active leaves and its context (src/state/cpu.ts). */
  private chartState(cpu: number): { leaves: number[]; context: CpuContext } {
    return { leaves: (this.cpus.leafOrders?.(cpu) ?? []) as number[], context: this.cpus.context(cpu) };
  }

  /** The CPU's part of the state hash, remembered until the CPU moves: the hot path of exploration. */
  private cpuHash(cpu: number): number {
    const cached = this.cpuHashes[cpu] as number;
    if (cached !== 0) return cached;
    const h = CPU_STATE.hash(0x12345, this.chartState(cpu));
    const nonzero = h === 0 ? 1 : h;
    this.cpuHashes[cpu] = nonzero;
    return nonzero;
  }

  private cpuKey(cpu: number): string {
    let k = this.cpuKeys[cpu];
    if (k) return k;
    k = CPU_STATE.text(this.chartState(cpu)) + '|';
    this.cpuKeys[cpu] = k;
    return k;
  }

  private memoryKey(): string {
    this.memKey ??= memoryText(this.k.state) + '|';
    return this.memKey;
  }

  /** The memory's part of the state hash, remembered until the next write (0: not known). */
  private memoryHash(): number {
    if (this.memHash === 0) this.memHash = memoryHash(this.k.state);
    return this.memHash;
  }

  get end(): RunEnd | null {
    return this.flags.ended;
  }

  get now(): number {
    return this.agenda.now;
  }

  private finish(end: RunEnd): void {
    this.flags.ended = end;
    for (let cpu = 0; cpu < this.cpuCount; cpu++) {
      const { hw, ctx, loadedVmcss } = this.cpus.context(cpu);
      const outside = this.cpus.outsideOs(cpu);
      this.emit({
        t: 'final',
        cpu,
        state: this.leaf(cpu, this.region(cpu)),
        activity: hw.activity,
        context: outside ? 'task' : (ctx[ctx.length - 1] ?? 'task'),
        vmx: hw.vmx,
        cr4Vmxe: hw.cr4Vmxe,
        svme: hw.svme,
        gif: hw.gif,
        nmiBlocked: hw.nmiBlocked,
        if: hw.if,
        online: this.k.state.online[cpu] === 1,
        initPending: hw.initPending,
        loadedVmcs: loadedVmcss.filter((a) => hw.vmcsLaunch[a] !== 'clear').length,
        lapicEnabled: hw.lapicEnabled,
      });
    }
    if (this.guests) for (const r of this.guests.finals()) this.emit(r);
    this.emit({ t: 'end', ns: this.agenda.now, steps: this.steps, end });
  }

  private quiescentEnd(): RunEnd {
    if (this.flags.resetAttempt?.initOnly) {
      // An INIT-based reset completes only if every CPU took the INIT.
      for (let i = 0; i < this.cpuCount; i++) if (this.hw(i).initPending) return 'hang';
      return 'reset';
    }
    if (this.flags.kexecCpu !== null) return 'kexec';
    // Nothing can move, but if every CPU is running its workload the host is fine (a guest stopped).
    for (let i = 0; i < this.cpuCount; i++) if (!this.threadsRun(i) || this.hw(i).initPending) return 'hang';
    return 'idle';
  }

  private choose(n: number, kind: 'latency'): number {
    if (n <= 1) return 0;
    const pick = this.chooser.choose(n, kind);
    this.emit({ t: 'choice', i: this.choices++, kind, n, pick });
    return pick;
  }

  private execute(item: Item): void {
    switch (item.kind) {
      case 'step': {
        const cpu = item.cpu;
        this.stepItems[cpu] = null;
        const region = this.region(cpu);
        const from = this.lean ? '' : this.leaf(cpu, region);
        const before = this.lean ? [] : this.cpus.activePaths(cpu);
        this.send(cpu, this.stepEvents[region] as CpuEvent);
        if (!this.lean) this.emit({ t: 'step', ns: this.agenda.now, cpu, ctx: region, from, to: this.leaf(cpu, this.region(cpu)), ...this.leavesSince(cpu, before) });
        this.settle(cpu);
        return;
      }
      case 'deliver': {
        const before = this.lean ? [] : this.cpus.activePaths(item.cpu);
        const { msg, disposition } = this.bus.deliver(item.msg, item.cpu);
        const status = disposition.status;
        if (!this.lean)
          this.emit({
          t: 'deliver',
          ns: this.agenda.now,
          msg: msg.id,
          cpu: item.cpu,
          mode: msg.mode,
          // A fixed IPI's vector, so the receive line names it as the send line does (REBOOT_VECTOR (0xf8)).
          ...(msg.mode === 'fixed' ? { vector: msg.vector } : {}),
          status,
          ...(disposition.status === 'delivered' ? {} : { reason: disposition.reason }),
          to: this.leaf(item.cpu, this.region(item.cpu)),
          ...this.leavesSince(item.cpu, before),
        });
        this.settle(item.cpu);
        return;
      }
      case 'timer': {
        this.timerItems.delete(`${item.cpu}:${item.name}`);
        const before = this.lean ? [] : this.cpus.activePaths(item.cpu);
        this.send(item.cpu, { type: 'timer.expired', name: item.name });
        if (!this.lean) this.emit({ t: 'timer', ns: this.agenda.now, cpu: item.cpu, name: item.name, to: this.leaf(item.cpu, this.region(item.cpu)), ...this.leavesSince(item.cpu, before) });
        this.settle(item.cpu);
        return;
      }
      case 'script': {
        const step = this.scriptByIndex.get(item.index);
        if (step) this.runScript(step);
        return;
      }
      case 'vcpu':
      case 'vmm':
      case 'vhost': {
        this.guestItems.delete(`${item.kind}:${item.cpu}`);
        const guests = this.guests;
        if (!guests) return;
        guests.step(item.kind, item.cpu);
        this.settleGuests();
        return;
      }
    }
  }

  /** After guest actors moved: the CPUs they touched settle, then the guests are rescheduled and their triggers fire. */
  private settleGuests(): void {
    const guests = this.guests;
    if (!guests) return;
    for (;;) {
      this.flushHostExits();
      const touched = guests.takeTouched();
      const changed = guests.takeChanged();
      const devices = guests.takeChangedDevices();
      if (touched.length === 0 && changed.length === 0 && devices.length === 0) return;
      for (const cpu of touched) this.settle(cpu);
      // A thread entering or leaving KVM_RUN takes or frees its CPU for the other threads pinned there.
      const cpus = new Set(changed.map((v) => guests.pcpu(v)));
      for (const cpu of cpus) for (const w of guests.on.get(cpu) ?? []) this.refreshGuest(w);
      for (const d of devices) this.refreshWorker(d);
      for (const cpu of cpus) for (const d of guests.workersOn.get(cpu) ?? []) this.refreshWorker(d);
      for (const d of devices) this.fireTriggers(this.vsockTriggers.get(d), () => guests.devices.activePaths(d));
      for (const v of changed) this.fireTriggers(this.guestTriggers.get(v), () => guests.activePaths(v));
    }
  }

  /** VM exits a delivery caused: the vCPU that was in guest mode on that CPU sees each. */
  private flushHostExits(): void {
    if (!this.guests) {
      this.hostExits.length = 0;
      return;
    }
    while (this.hostExits.length > 0) {
      const e = this.hostExits.shift() as { cpu: number; reason: 'nmi' | 'intr' };
      this.guests.hostExit(e.cpu, e.reason);
      this.guests.drain();
    }
  }

  private refreshGuest(v: number): void {
    for (const kind of ['vcpu', 'vmm'] as GuestKind[]) this.refreshGuestItem(kind, v);
  }

  private refreshWorker(d: number): void {
    this.refreshGuestItem('vhost', d);
  }

  private refreshGuestItem(kind: GuestKind, i: number): void {
    const guests = this.guests;
    if (!guests) return;
    const key = `${kind}:${i}`;
    const runnable = guests.runnable(kind, i);
    const item = this.guestItems.get(key);
    if (runnable && !item) {
      const due = this.mode === 'untimed' ? this.agenda.now : this.agenda.now + this.scenario.options.stepNs;
      this.guestItems.set(key, this.agenda.add({ kind, cpu: i }, due));
    } else if (!runnable && item) {
      this.agenda.remove(item);
      this.guestItems.delete(key);
    }
  }

  /** One chart step of CPU `cpu`; returns its outbox: what the step reported back. */
  private send(cpu: number, event: CpuEvent): Outbox {
    this.leafRegion[cpu] = null;
    this.cpuKeys[cpu] = null;
    this.cpuHashes[cpu] = 0;
    const outbox: Outbox = { cpu, effects: [], disposition: null, hostResult: null };
    this.outboxes.push(outbox);
    try {
      this.cpus.send(cpu, event);
    } finally {
      this.outboxes.pop();
    }
    for (const effect of outbox.effects) this.apply(effect);
    return outbox;
  }

  /**
   * Queue an effect in the outbox of the step that asks for it; outside a CPU's step (a vCPU
   * thread writing kernel memory, a script) it is applied at once.
   */
  private effect(effect: Effect): void {
    const outbox = this.outboxes[this.outboxes.length - 1];
    if (outbox) outbox.effects.push(effect);
    else this.apply(effect);
  }

  /** What an effect does to the rest of the machine: the bus, the agenda, the trace, the flags. */
  private apply(e: Effect): void {
    switch (e.kind) {
      case 'send':
        this.sendMessage(e.cpu, e.message);
        return;
      case 'arm timer': {
        const key = `${e.cpu}:${e.name}`;
        const old = this.timerItems.get(key);
        if (old) this.agenda.remove(old);
        this.timerItems.set(key, this.agenda.add({ kind: 'timer', cpu: e.cpu, name: e.name }, this.agenda.now + e.ns));
        return;
      }
      case 'cancel timer': {
        const key = `${e.cpu}:${e.name}`;
        const old = this.timerItems.get(key);
        if (old) {
          this.agenda.remove(old);
          this.timerItems.delete(key);
        }
        return;
      }
      case 'record':
        this.emit(e.record);
        return;
      case 'platform reset': {
        const initOnly = this.scenario.options.reset.initOnly;
        this.emit({ t: 'reset', ns: this.agenda.now, cpu: e.cpu, method: e.method, initOnly });
        if (this.flags.resetAttempt) return;
        this.flags.resetAttempt = { initOnly };
        if (initOnly) {
          // A reset delivered as INIT: every CPU that does not block INIT restarts (docs/model.md §3.3).
          this.sendMessage('platform', { mode: 'init', vector: null, dest: { kind: 'all' }, source: 'platform' });
        } else {
          this.flags.fullReset = true;
        }
        return;
      }
      case 'kexec':
        this.flags.kexecCpu = e.cpu;
        this.emit({ t: 'kexec', ns: this.agenda.now, cpu: e.cpu });
        return;
      case 'guest exit':
        this.hostExits.push({ cpu: e.cpu, reason: e.reason });
        return;
      case 'mem': {
        this.emit({ t: 'mem', ns: this.agenda.now, cpu: e.cpu, name: e.name, op: e.op, value: e.value });
        const set = this.watchers.get(e.name);
        if (set) for (const w of set) this.dirty.add(w);
        return;
      }
    }
  }

  /** The outbox of the step CPU `cpu` is taking now (null: none is, the port call is ignored). */
  private outboxOf(cpu: number): Outbox | null {
    const outbox = this.outboxes[this.outboxes.length - 1];
    return outbox && outbox.cpu === cpu ? outbox : null;
  }

  /** After a CPU moved: reschedule it, wake the CPUs whose watched variables changed, fire triggers. */
  private settle(cpu: number): void {
    this.refresh(cpu);
    if (this.dirty.size > 0) {
      const woken = [...this.dirty].sort((a, b) => a - b);
      this.dirty.clear();
      for (const w of woken) if (w !== cpu) this.refresh(w);
    }
    if (this.guests) {
      // The CPU's threads may run or stop now; a host exit it took moves the vCPU that was in its guest.
      for (const v of this.guests.on.get(cpu) ?? []) this.refreshGuest(v);
      for (const d of this.guests.workersOn.get(cpu) ?? []) this.refreshWorker(d);
      this.settleGuests();
    }
    this.fireTriggers(this.triggers.get(cpu), () => this.cpus.activePaths(cpu));
  }

  /** The steps waiting for an actor to enter a state it is now in: run them, each once. */
  private fireTriggers(pending: { step: ScriptStep; pattern: StatePattern }[] | undefined, paths: () => string[]): void {
    if (!pending || pending.length === 0) return;
    const now = paths();
    const firing = pending.filter((t) => !this.flags.fired[t.step.index] && inState(now, t.pattern));
    // Mark them all first: running one settles CPUs again, which must not fire the others twice.
    for (const t of firing) this.flags.fired[t.step.index] = true;
    for (const t of firing) this.runScript(t.step);
  }

  private runScript(step: ScriptStep): void {
    const cpu = step.cpu;
    if (step.action === 'vsock-send') {
      this.hostSend(step);
      return;
    }
    const event = this.scriptEvent(step);
    const accepted = this.cpus.can(cpu, event);
    const record = this.scriptRecord(step, accepted ? null : `CPU ${cpu} does not take '${step.action}' in ${this.leaf(cpu, this.region(cpu))}`);
    if (!accepted) {
      this.emit(record);
      return;
    }
    const before = this.lean ? [] : this.cpus.activePaths(cpu);
    this.around(
      record,
      () => this.send(cpu, event),
      () => ({ to: this.leaf(cpu, this.region(cpu)), ...this.leavesSince(cpu, before) }),
    );
    this.settle(cpu);
  }

  private scriptEvent(step: ScriptStep): CpuEvent {
    const w = {};
    switch (step.action) {
      case 'reboot':
        return { type: 'script.reboot', ...w };
      case 'emergency-restart':
        return { type: 'script.emergency-restart', context: step.context, ...w };
      case 'panic':
        return { type: 'script.panic', context: step.context, message: step.message, ...w };
      case 'nmi-panic':
        return { type: 'script.nmi-panic', message: step.message, ...w };
      case 'irqs-off':
        return { type: 'script.irqs-off', ...w };
      case 'irqs-on':
        return { type: 'script.irqs-on', ...w };
      case 'stall':
        return { type: 'script.stall', ...w };
      case 'smi':
        return { type: 'script.smi', ...w };
      case 'vsock-send':
        throw new Error('vsock-send is not a CPU event');
    }
  }

  /** The trace record of a scripted step: done, or ignored with the reason. */
  private scriptRecord(step: ScriptStep, ignored: string | null): TraceRecord {
    return {
      t: 'script',
      ns: this.agenda.now,
      cpu: step.cpu,
      action: step.action,
      index: step.index,
      status: ignored === null ? 'done' : 'ignored',
      ...(ignored === null ? {} : { reason: ignored }),
    };
  }

  /** A host task on the step's CPU sends on its vsock socket: only while that CPU runs tasks. */
  private hostSend(step: ScriptStep): void {
    const cpu = step.cpu;
    const runs = this.threadsRun(cpu) && !!this.guests && !!step.send;
    const why = runs
      ? null
      : !this.guests || !step.send
        ? 'the scenario has no vsock device'
        : `CPU ${cpu} runs no tasks in ${this.leaf(cpu, this.region(cpu))}: the sending task does not run`;
    this.emit(this.scriptRecord(step, why));
    if (!runs || !this.guests || !step.send) return;
    this.guests.hostSend(cpu, step.send);
    this.settleGuests();
  }

  // ---- runnability -----------------------------------------------------------------------------

  hw(cpu: number): CpuHw {
    return this.cpus.context(cpu).hw;
  }

  private region(cpu: number): Region {
    const ctx = this.cpus.context(cpu).ctx;
    return (ctx[ctx.length - 1] ?? 'task') as Region;
  }

  /** The leaf path of a region, remembered until the CPU's next event (several readers per step). */
  private leaf(cpu: number, region: Region): string {
    if (this.leafRegion[cpu] === region) return this.leafPath[cpu] as string;
    const path = this.cpus.leaf(cpu, region);
    this.leafRegion[cpu] = region;
    this.leafPath[cpu] = path;
    return path;
  }

  private stateInfo(cpu: number): StateInfo | undefined {
    return CPU_STATES.get(this.leaf(cpu, this.region(cpu)));
  }

  private runnable(cpu: number, info: StateInfo | undefined): boolean {
    if (!info || info.blocked || info.final || !this.cpus.active(cpu)) return false;
    if (this.cpus.context(cpu).stalled) return false;
    const region = this.region(cpu);
    if (!ROUTABLE.includes(region)) return false;
    return info.wait ? this.cpus.can(cpu, this.stepEvents[region] as CpuEvent) : true;
  }

  private refresh(cpu: number): void {
    const info = this.stateInfo(cpu);
    this.updateWatch(cpu, info);
    const runnable = this.runnable(cpu, info);
    const item = this.stepItems[cpu];
    if (runnable && !item) {
      const due = this.mode === 'untimed' ? this.agenda.now : this.agenda.now + this.scenario.options.stepNs;
      this.stepItems[cpu] = this.agenda.add({ kind: 'step', cpu }, due);
    } else if (!runnable && item) {
      this.agenda.remove(item);
      this.stepItems[cpu] = null;
    }
  }

  private updateWatch(cpu: number, info: StateInfo | undefined): void {
    const next = info && info.wait ? info.watch : [];
    const prev = this.watching[cpu] as readonly string[];
    if (prev === next) return;
    for (const v of prev) this.watchers.get(v)?.delete(cpu);
    for (const v of next) {
      let set = this.watchers.get(v);
      if (!set) this.watchers.set(v, (set = new Set()));
      set.add(cpu);
    }
    this.watching[cpu] = next;
  }

  private memoryWritten(name: WatchedVar, cpu: number, op: string, value: unknown): void {
    if (this.tracked) this.written |= varBit(name);
    this.memKey = null;
    this.memHash = 0;
    this.memSameAs = null;
    this.effect({ kind: 'mem', name, cpu, op, value });
  }

  // ---- the interconnect ------------------------------------------------------------------------

  private deliverTo(req: DeliveryRequest): Disposition {
    const cpu = req.to;
    if (!this.cpus.active(cpu)) return { status: 'dropped', reason: `CPU ${cpu} was reset` };
    const m = req.msg;
    const base = { from: typeof m.from === 'number' ? m.from : -1 };
    const type = BUS_EVENT_OF[m.mode];
    const event = (
      type === 'bus.nmi'
        ? { type, source: m.source, ...base }
        : type === 'bus.ipi' || type === 'bus.sipi'
          ? { type, vector: m.vector ?? 0, ...base }
          : { type, ...base }
    ) as CpuEvent;
    return (
      this.send(cpu, event).disposition ?? {
        status: 'dropped' as const,
        reason: `not accepted by CPU ${cpu} in ${this.leaf(cpu, this.region(cpu))}`,
      }
    );
  }

  private sendMessage(from: number | 'platform', out: OutgoingMessage): void {
    const now = this.agenda.now;
    const { msg, targets, collapsed } = this.bus.send(from, out, now);
    this.emit({
      t: 'send',
      ns: now,
      msg: msg.id,
      from,
      mode: msg.mode,
      vector: msg.vector,
      dest: describeDestination(msg.dest),
      targets: targets.length + collapsed.length,
      source: msg.source,
    });
    if (!this.lean) {
      for (const c of collapsed) {
        this.emit({ t: 'deliver', ns: now, msg: msg.id, cpu: c.to, mode: msg.mode, status: 'dropped', reason: collapsedReason(c), to: this.leaf(c.to, this.region(c.to)) });
      }
    }
    const [min, max] = this.scenario.options.latencyNs;
    for (const to of targets) {
      // A CPU's own local APIC (the NMI watchdog, a device interrupt) does not cross the interconnect.
      const latency = to === from || this.mode === 'untimed' ? 0 : min + this.choose(max - min + 1, 'latency');
      this.agenda.add({ kind: 'deliver', msg: msg.id, cpu: to }, now + latency);
    }
  }

  /** The port of the CPU charts: each call is an effect in the outbox of the step that makes it. */
  private makePort(): CpuPort {
    const record = (r: TraceRecord) => this.effect({ kind: 'record', record: r });
    return {
      send: (cpu, message) => this.effect({ kind: 'send', cpu, message }),
      armTimer: (cpu, name, ns) => this.effect({ kind: 'arm timer', cpu, name, ns }),
      cancelTimer: (cpu, name) => this.effect({ kind: 'cancel timer', cpu, name }),
      console: (cpu, text) => record({ t: 'console', ns: this.agenda.now, cpu, text }),
      warn: (cpu, where, text) => {
        record({ t: 'warning', ns: this.agenda.now, cpu, vcpu: null, where, message: text });
        record({ t: 'console', ns: this.agenda.now, cpu, text });
      },
      insn: (cpu, insn, result) => {
        if (!this.lean) record({ t: 'insn', ns: this.agenda.now, cpu, insn, result });
      },
      fault: (cpu, f) => record({ t: 'fault', ns: this.agenda.now, cpu, ...f }),
      kernelEvent: (cpu, what, data) => record({ t: 'kernel', ns: this.agenda.now, cpu, what, data }),
      account: (cpu, disposition) => {
        const outbox = this.outboxOf(cpu);
        if (outbox && outbox.disposition === null) outbox.disposition = disposition;
      },
      platformReset: (cpu, method) => this.effect({ kind: 'platform reset', cpu, method }),
      kexec: (cpu) => this.effect({ kind: 'kexec', cpu }),
      guestExit: (cpu, reason) => this.effect({ kind: 'guest exit', cpu, reason }),
      hostInsnDone: (cpu, result) => {
        const outbox = this.outboxOf(cpu);
        if (outbox) outbox.hostResult = result;
      },
      now: () => this.agenda.now,
    };
  }

  stop(): void {
    this.bus.close();
    this.trace$.complete();
  }
}
