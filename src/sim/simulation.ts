// Over 400 lines because the composition root wires the actors, the scheduler, the bus and the trace together and is the one API the CLI, exploration and the viewer drive (run and step, choices, capture and restore, read tracking, scripted actions, the CPU port); the scheduler core, the slots and the state codec are in scheduler.ts, cpu-slots.ts, guest-slots.ts and state-codec.ts.
/**
 * The composition root: builds a host from a scenario (one chart per CPU and per guest actor, each a
 * slot the scheduler steps: slot.ts), connects them through the interconnect, and runs them under
 * one scheduler (scheduler.ts). Every choice goes through the chooser; time is the agenda's virtual
 * clock; every act is a trace record. The whole simulation saves to a JSON value and restores exactly.
 */
import { TraceStream } from '../trace/stream.js';
import type { CpuHw } from '../hw/cpu-state.js';
import type { OutgoingMessage } from '../hw/apic.js';
import { KernelMemory, type KernelMemoryState, type WatchedVar } from '../kernel/memory.js';
import { copyMemoryState } from '../state/memory.js';
import { FLAGS, initialFlags, type FlagValues } from '../state/flags.js';
import { hash53, mix } from '../state/hash.js';
import type { CpuPort, Disposition, World } from '../kernel/port.js';
import { resolveFeatures, type KernelFeatures } from '../kernel/variants.js';
import { collapsedReason, Interconnect } from '../bus/interconnect.js';
import { describeDestination, type DeliveryRequest } from '../bus/messages.js';
import type { Scenario, ScriptStep } from '../scenarios/types.js';
import { TRACE_VERSION, type BranchPoint, type RunEnd, type TraceRecord } from '../trace/records.js';

export { hash53, mix, type FlagValues };
export { composeHash, cpusHash, finishHash, varBit, type Capture, type ItemView, type SimulationState, type StateView, type SymmetryView } from './state-codec.js';
import { Agenda, type Item } from './agenda.js';
import { ReplayChooser, SeededChooser, restoreChooser, type Chooser, type Pick } from './chooser.js';
import { makeDriver, type CpuCapture, type EngineName } from './cpu-drivers.js';
import { Guests } from './guests.js';
import { SharedMemory } from './shared-memory.js';
import { itemKey, stateHash, stateKey, stateView, symmetryView, varBit, type Capture, type CodecParts, type SimulationState, type StateView, type SymmetryView } from './state-codec.js';
import type { Renaming } from '../state/codec.js';
import type { ChartCapture } from './chart-driver.js';
import type { InspectionEvent } from 'xstate';
import { CpuSlots, cpuInputs, scriptActsInTask, scriptEvent } from './cpu-slots.js';
import { GuestSlots } from './guest-slots.js';
import type { Effect } from './effects.js';
import { readBit, type Slot } from './slot.js';
import { Scheduler } from './scheduler.js';

export { cpuInputs, type Effect };

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
   * competes. 'untimed' (exploration): every pending step and delivery competes at once, and the
   * scripted actions due first with them, whatever their time (agenda.ts, earlyScripts); a timer fires
   * only when nothing else can happen — a kernel timeout is a million steps long — so the choices are
   * exactly the interleavings.
   */
  mode?: SchedulingMode;
  /**
   * Exploration: leave out the records no property observer reads (steps, choices, instructions,
   * deliveries, timers) — their leaf paths cost more than the step. Counterexamples are replayed
   * with the full trace.
   */
  lean?: boolean;
  /**
   * Record kinds the caller does not read (the CLI's timeline without `--steps` and its JSON outcome
   * show no step, choice, instruction or timer record; they are most of a long run's records): they
   * are not built. Every other record is the same, in the same order.
   */
  unread?: readonly UnreadRecord[];
  /** A what-if branch of another run: written in the header, so a replay writes it too. */
  branch?: BranchPoint;
}

export type SchedulingMode = 'timed' | 'untimed';

/** The record kinds a run can leave out for a caller that does not read them (`unread`). */
export type UnreadRecord = 'step' | 'choice' | 'insn' | 'timer';

/** A guest thread's runnability looked at again while a decision was tracked (Simulation.endTracking). */
export interface GuestRefresh {
  slot: number;
  /** The slots its answer is a function of the bits of (Guests.refreshInputs), and their bits after the look. */
  inputs: readonly number[];
  bits: number[];
  /** Whether it could step (the last look). */
  answer: boolean;
  /** How many looks (Infinity: one that read a chart whole, or nested in another). */
  times: number;
  /** The slots those looks read through their bits, and whose pending steps they read. */
  bitReads: number[];
  itemReads: number[];
}

/**
 * A kick looked at while a decision was tracked (Guests.kickLook): vCPU slot `slot`, which reacted
 * to its interrupt, was looked at only through bit `mask` to decide whether CPU `from` sends CPU `to`
 * IPI `vector`; `kicked` says whether it did, `at` how many records the decision had written before
 * (the IPI's `send` record is the next one).
 */
export interface KickLook {
  slot: number;
  mask: number;
  from: number;
  to: number;
  vector: number;
  kicked: boolean;
  at: number;
}

/** A script step waiting for `actor` `id` to enter `state`, which never happened in the run. */
export interface UnfiredTrigger {
  /** Index in the scenario's script array. */
  index: number;
  actor: 'cpu' | 'vcpu' | 'vsock';
  id: number;
  state: string;
}

/** Whether a scenario has guest actors (vCPUs, VMM threads, vsock devices). */
export function hasGuests(scenario: Scenario): boolean {
  return scenario.vcpus.length > 0 || scenario.vsock.length > 0;
}

export class Simulation {
  readonly features: KernelFeatures;
  readonly trace$ = new TraceStream();
  readonly k: KernelMemory;
  readonly bus: Interconnect;
  private agenda = new Agenda();
  private chooser: Chooser;
  /** The physical CPUs (slots 0…n−1). */
  private cpus!: CpuSlots;
  /** What this simulation's CPU charts see: its kernel memory and its port. */
  private readonly world: World;
  private readonly cpuCount: number;
  private readonly maxSteps: number;

  steps = 0;
  private choices = 0;
  /** The scheduler core over every actor as a slot (scheduler.ts, slot.ts). */
  private sched!: Scheduler;
  /** The shared kernel memory's parts of the state (key, hash, capture, the fields a decision reads). */
  private readonly mem: SharedMemory;
  /** The parts of the state as the codec (state-codec.ts) reads them. */
  private readonly parts: CodecParts;
  /** Script steps fired, reset and kexec, how the run ended (src/state/flags.ts). */
  private flags: FlagValues;
  private readonly scriptByIndex: Map<number, ScriptStep>;
  private readonly port: CpuPort;
  /** The KVM side: vCPU threads and their VMM threads (null without `vms`), and their slots. */
  private guests: Guests | null = null;
  private guestFamily: GuestSlots | null = null;
  readonly mode: SchedulingMode;
  private readonly lean: boolean;
  /** Whether choice records are written (not when `unread`; a lean run writes only the latency choices) and instruction records (neither lean nor `unread`). */
  private readonly choiceRecords: boolean;
  private readonly insnRecords: boolean;
  /** Transition cache: the CPUs read and the shared variables written since trackReads(). */
  private tracked: Set<number> | null = null;
  /** CPUs read only through threadsRun while tracking (whether they run tasks, not their charts), and guest slots read only through their bits (Guests.bitsOf). */
  private runsRead = new Set<number>();
  /** Guest slots whose pending step a decision kept or dropped by their runnability (Guests.runnable): the cache keys on those items. */
  private itemsRead = new Set<number>();
  /** vCPU slots that received an interrupt as a reaction of their own (Guests.react); also in runsRead: a read for dependence. */
  private reacted: { slot: number; vector: number }[] = [];
  /** The bits (Guests.bitsOf; a CPU's: 1) each slot of `runsRead` was read for. */
  private runsMask = new Map<number, number>();
  /** While a guest thread's runnability is looked at again (Guests.runnable from the scheduler): what that reads. */
  private refreshing: { bits: Set<number>; items: Set<number> } | null = null;
  /** The guest thread slots whose runnability a decision looked at again, by slot (GuestRefresh). */
  private refreshes = new Map<number, GuestRefresh>();
  /** The kicks looked at (KickLook), and the records written since trackReads(). */
  private kicks: KickLook[] = [];
  private emitted = 0;
  private written = 0;

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
    this.agenda.earlyScripts = this.mode === 'untimed';
    this.lean = options.lean ?? false;
    const unread = options.unread ?? [];
    this.choiceRecords = !unread.includes('choice');
    this.insnRecords = !this.lean && !unread.includes('insn');
    this.features = resolveFeatures(scenario.kernel.preset, scenario.kernel.fix, scenario.kernel.noFix);
    this.k = new KernelMemory(this.cpuCount, restoreFrom ? copyMemoryState(restoreFrom.memory) : undefined);
    this.k.onWrite = (name, cpu, op, value) => this.memoryWritten(name, cpu, op, value);
    this.mem = new SharedMemory(this.k);
    this.chooser = restoreFrom
      ? restoreChooser(restoreFrom.chooser)
      : options.chooser
        ? options.chooser
        : options.replay
        ? new ReplayChooser(options.replay)
        : new SeededChooser(options.seed);
    this.flags = restoreFrom ? FLAGS.copy(restoreFrom.flags) : initialFlags(scenario.script.length);
    this.port = this.makePort();
    this.world = { k: this.k, io: this.port };
    const handlers = new Map<number, (req: DeliveryRequest) => Disposition>();
    for (let i = 0; i < this.cpuCount; i++) handlers.set(i, (req) => this.cpus.deliver(req));
    this.bus = new Interconnect(this.cpuCount, handlers, { collapseNmis: this.mode !== 'untimed' });
    this.scriptByIndex = new Map(scenario.script.map((s) => [s.index, s]));
    // Getters: they read the fields a restore replaces.
    const self = this;
    this.parts = {
      get cpus() {
        return self.cpus;
      },
      get guests() {
        return self.guestFamily;
      },
      get agenda() {
        return self.agenda;
      },
      get flags() {
        return self.flags;
      },
      bus: this.bus,
      memory: this.mem,
      actorOf: (item) => this.actorOf(item),
    };
    if (restoreFrom) this.restore(restoreFrom);
    else this.start();
  }

  /** The actors of the run: the CPUs' driver, the guest side's, and every actor as a slot. */
  private makeActors(engine: EngineName, saved?: SimulationState): void {
    const inputs = saved ? null : cpuInputs(this.scenario, this.features);
    const driver = makeDriver(engine, this.world, inputs, saved?.cpus, saved ? undefined : this.options.inspect);
    this.cpus = new CpuSlots(
      {
        lean: this.lean,
        stepRecords: !this.lean && !this.options.unread?.includes('step'),
        timerRecords: !this.lean && !this.options.unread?.includes('timer'),
        now: () => this.agenda.now,
        emit: (r) => this.emit(r),
        deliver: (msg, cpu) => this.bus.deliver(msg, cpu),
      },
      driver,
      this.cpuCount,
    );
    if (hasGuests(this.scenario)) {
      this.guests = new Guests(
        {
          k: this.k,
          lean: this.lean,
          panicOnOops: this.scenario.options.panicOnOops,
          now: () => this.agenda.now,
          emit: (r) => this.emit(r),
          around: (r, effects, after) => this.around(r, effects, after),
          hostInsn: (pcpu, event) => this.cpus.send(pcpu, event).hostResult ?? 'not executed',
          threadsRun: (pcpu) => this.threadsRun(pcpu),
          bitRead: (slot, mask, whole) => this.bitRead(slot, mask, whole === true),
          itemsRead: (slot) => (this.refreshing ? this.refreshing.items : this.itemsRead).add(slot),
          reacted: (slot, vector) => {
            this.reacted.push({ slot, vector });
            this.bitRead(slot, 0, false);
          },
          refresh: (slot, inputs, runnable) => this.refresh(slot, inputs, runnable),
          // `at` places the IPI's record among the decision's records only where they go out as written (lean).
          kickLook: (slot, mask, from, to, vector, kicked) => {
            if (this.lean) this.kicks.push({ slot, mask, from, to, vector, kicked, at: this.emitted });
          },
          launchState: (pcpu, addr) => this.cpus.hw(pcpu).vmcsLaunch[addr] ?? null,
          ipi: (from, to, vector) => this.sendMessage(from, { mode: 'fixed', vector, dest: { kind: 'cpu', cpu: to }, source: 'kernel' }),
          effect: (e) => this.sched.effect(e),
          queue: (body) => this.sched.queued(body),
          drain: () => this.sched.drain(),
        },
        this.scenario.vcpus,
        this.scenario.vsock,
        this.scenario.machine.vendor,
        this.features,
        engine,
        saved?.guests,
        this.options.inspect,
      );
      this.guestFamily = new GuestSlots(this.guests, this.cpuCount);
    }
    const guestSlots = this.guestFamily;
    if (guestSlots) for (const slot of this.cpus.slots) slot.dependents = guestSlots.on(slot.index);
    // Getters: they read the fields a restore replaces.
    const self = this;
    this.sched = new Scheduler(
      {
        get agenda() {
          return self.agenda;
        },
        get fired() {
          return self.flags.fired;
        },
        untimed: this.mode === 'untimed',
        stepNs: this.scenario.options.stepNs,
        runScript: (step) => this.runScript(step),
        apply: (e) => this.apply(e),
      },
      guestSlots ? [this.cpus, guestSlots] : [this.cpus],
      this.scenario.script,
    );
    this.cpus.outboxes = this.sched;
  }

  private start(): void {
    const engine = this.options.inspect ? 'actors' : (this.options.engine ?? 'compiled');
    this.makeActors(engine);
    // Every CPU starts in its workload's idle loop, which does not step (a blocked state): only the
    // guest actors can be runnable at the start (looking at 8192 idle CPUs costs the build 30 ms).
    for (const slot of this.guestFamily?.slots ?? []) this.sched.refresh(slot.id);
    for (const step of this.scenario.script) {
      if (step.trigger.kind === 'at') {
        // Untimed too at its time: the agenda lets the steps due first happen early (Agenda.earlyScripts).
        this.agenda.add({ kind: 'script', index: step.index }, step.trigger.timeNs);
      }
    }
  }

  private restore(state: SimulationState): void {
    this.steps = state.steps;
    this.choices = state.choices;
    this.bus.restore(state.bus);
    this.makeActors(state.engine, state);
    const { agenda, items } = Agenda.restore(state.agenda, this.mode === 'untimed');
    this.agenda = agenda;
    this.sched.reset(items);
    for (const slot of this.sched.slots) this.sched.updateWatch(slot.id, slot.watches());
  }

  save(): SimulationState {
    return {
      version: 1,
      steps: this.steps,
      choices: this.choices,
      engine: this.cpus.driver.engine,
      cpus: this.cpus.driver.save(),
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
    this.emitted += 1;
    // Tested by length: index -1 of the empty list is a slow named-property lookup in V8, on every record.
    const n = this.held.length;
    if (n > 0) (this.held[n - 1] as TraceRecord[]).push(record);
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

  header(): void {
    this.emit({
      t: 'header',
      v: TRACE_VERSION,
      scenario: this.scenario.id,
      ...(this.scenario.digest !== undefined ? { scenarioDigest: this.scenario.digest } : {}),
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
    if (n > 1 && !this.lean) {
      // Counted also when not written: the count is part of the state.
      const i = this.choices++;
      if (this.choiceRecords) this.emit({ t: 'choice', i, kind: 'next', n, pick });
    }
    const item = this.agenda.takeReady(pick);
    this.steps += 1;
    this.execute(item);
    // Taken and done: nothing refers to a step item any more (the scheduler let go of it as it ran).
    this.agenda.recycle(item);
    if (this.flags.fullReset) this.finish('reset');
  }

  /**
   * One step as a function of the choice: take choice `pick` of the choices the last `poll()` (or
   * `step()`) counted, then count the next ones. Returns the records the step wrote, in order, and
   * how many choices follow (0: the run is over, and its final records are among these). The
   * machine state itself stays in this object (see `save()` and `capture()` for it as a value, and
   * step.ts for a step as a function of a saved state).
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
    return this.agenda.ready.map((item) => itemKey(item, this.bus));
  }

  /** The CPU a choice acts on (the target of a delivery); -1 for a scripted action's own CPU lookup failure. */
  choiceActor(pick: number): number {
    const item = this.agenda.ready[pick];
    return item ? this.actorOf(item) : -1;
  }

  /**
   * The execution context a CPU's next step runs in (task, irq, nmi, smm…): what a pass-over bound
   * needs to tell the kernel's steps from firmware's (src/explore/passover.ts).
   */
  stepContext(cpu: number): string {
    return this.cpus.region(cpu);
  }

  /**
   * Where a CPU is: the execution context its next step runs in and that context's state. A decision
   * that left it unchanged ran nothing on the CPU (an interrupt held in the IRR, a latched NMI).
   */
  cpuPosition(cpu: number): string {
    return `${this.cpus.region(cpu)} ${this.cpus.current(cpu)}`;
  }

  private actorOf(item: Item): number {
    if (item.kind === 'script') return this.scriptByIndex.get(item.index)?.cpu ?? -1;
    // A guest thread acts on its physical CPU (it runs VMX instructions there), a vhost worker is a
    // kernel thread on its CPU: the slot's CPU is whose choice it is.
    return item.kind === 'deliver' ? item.cpu : this.sched.slotOf(item).cpu;
  }

  /** An in-memory copy of everything that can change, for exploration (compiled engine). */
  capture(): Capture {
    const cpus = this.cpus.driver.capture?.();
    if (!cpus) throw new Error('exploration needs the compiled engine');
    return {
      cpus,
      memory: this.mem.capture(),
      agenda: this.agenda.save(),
      bus: this.bus.save(),
      steps: this.steps,
      choices: this.choices,
      flags: FLAGS.copy(this.flags),
      keys: [...this.cpus.keys],
      hashes: [...this.cpus.hashes],
      memKey: this.mem.cachedKey,
      memHash: this.mem.cachedHash,
      guests: this.guests?.capture() ?? null,
    };
  }

  restoreCapture(c: Capture): void {
    this.cpus.keys = [...c.keys];
    this.cpus.hashes = [...c.hashes];
    const changed = this.cpus.driver.restoreCapture?.(c.cpus) ?? [];
    this.mem.restore(c.memory, c.memKey, c.memHash);
    const { agenda, items } = Agenda.restore(c.agenda, this.mode === 'untimed');
    this.agenda = agenda;
    this.sched.reset(items);
    if (this.guests && c.guests) this.guests.restoreCapture(c.guests);
    this.bus.restore(c.bus);
    this.steps = c.steps;
    this.choices = c.choices;
    this.flags = FLAGS.copy(c.flags);
    // Only the CPUs the restore changed need their leaf and their watches looked at again.
    for (const cpu of changed) {
      this.cpus.forgetLeaf(cpu);
      this.sched.updateWatch(cpu, (this.cpus.slots[cpu] as Slot).watches());
    }
  }

  /** The state as a canonical string (state-codec.ts). */
  stateKey(): string {
    return stateKey(this.parts);
  }

  /** A 53-bit hash of stateKey(), from the parts' remembered hashes (state-codec.ts). */
  stateHash(): number {
    return stateHash(this.parts);
  }

  /** The state as the parts of its hash, for exploration's transition cache (state-codec.ts). */
  view(): StateView {
    return stateView(this.parts);
  }

  /** How many guest actors there are (slots after the CPUs for `trackReads`, `captureGuest`). */
  get guestSlots(): number {
    return this.guestFamily ? this.guestFamily.slots.length : 0;
  }

  /** One guest actor's chart as a capture, by its slot among the guests (see Guests.track). */
  captureGuest(j: number): unknown {
    const slot = this.guestFamily?.slots[j];
    if (!slot) throw new Error('internal error: no guest actors');
    return slot.capture();
  }

  /** A capture of guest slot `j` (`captureGuest`) hashed with its CPU and vCPU references renamed, NaN if unchanged (symmetry reduction). */
  renamedGuestHash(j: number, cap: unknown, r: Renaming): number {
    if (!this.guests) throw new Error('internal error: no guest actors');
    return this.guests.renamedHash(j, cap as ChartCapture<unknown>, r);
  }

  /** What a step may read of guest slot `j` without its chart (Guests.bitsOf), read untracked. */
  guestBits(j: number): number {
    return this.guests ? this.guests.bitsOf(j) : 0;
  }

  /** The state as symmetry reduction renames it (src/explore/symmetry.ts). */
  symmetryView(): SymmetryView {
    return symmetryView(this.parts);
  }

  /** One CPU's chart as a capture (exploration keeps CPU states apart). */
  captureCpu(cpu: number): CpuCapture {
    return (this.cpus.slots[cpu] as Slot).capture() as CpuCapture;
  }

  /**
   * The shared kernel memory as a capture (never changed afterwards): memory untouched since the
   * last restore or capture is that capture's memory.
   */
  captureMemory(): KernelMemoryState {
    return this.mem.capture();
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
    this.runsRead = new Set();
    this.itemsRead = new Set();
    this.reacted = [];
    this.runsMask = new Map();
    this.refreshes = new Map();
    this.kicks = [];
    this.emitted = 0;
    this.cpus.driver.track?.(this.tracked);
    // The guest actors are read as slots after the CPUs.
    this.guests?.track(this.tracked, this.cpuCount);
    this.agenda.armed = [];
    this.mem.track();
  }

  endTracking(): {
    reads: number[];
    runsRead: number[];
    itemsRead: number[];
    reacted: { slot: number; vector: number }[];
    /** The bits each slot of `runsRead` was read for (Guests.bitsOf; 1 for a CPU). */
    runsMasks: number[];
    /** The guest threads whose runnability was looked at again, and what that read (GuestRefresh). */
    refreshed: GuestRefresh[];
    /** The slots read only there, through their bits (a read all the same, for dependence). */
    refreshRuns: number[];
    /** The kicks looked at through the bit of a vCPU that reacted (and was not read whole after); lean runs only. */
    kicks: KickLook[];
    written: number; fieldsRead: number; fieldsWritten: number; armed: { rel: number; dur: number }[] } {
    const reads = [...(this.tracked ?? [])].sort((a, b) => a - b);
    // The CPUs whose chart was read after the bit anyway are keyed on their charts.
    const runsRead = [...this.runsRead].filter((c) => !this.tracked?.has(c)).sort((a, b) => a - b);
    const runsMasks = runsRead.map((c) => this.runsMask.get(c) ?? 0);
    const itemsRead = [...this.itemsRead].filter((c) => !this.tracked?.has(c) && !this.runsRead.has(c)).sort((a, b) => a - b);
    const reacted = this.reacted.filter((r) => !this.tracked?.has(r.slot));
    const kicks = this.kicks.filter((k) => !this.tracked?.has(k.slot));
    const refreshed = [...this.refreshes.values()].sort((a, b) => a.slot - b.slot);
    const only = new Set<number>();
    for (const r of refreshed) for (const c of r.bitReads) if (!this.tracked?.has(c) && !this.runsRead.has(c)) only.add(c);
    const refreshRuns = [...only].sort((a, b) => a - b);
    // The timers armed: each one's place depends on the other pending timers due and armed with it.
    const armed = (this.agenda.armed ?? []).map((i) => ({ rel: i.time - this.agenda.now, dur: i.time - i.start }));
    this.agenda.armed = null;
    this.cpus.driver.track?.(null);
    this.guests?.track(null, this.cpuCount);
    this.tracked = null;
    const { fieldsRead, fieldsWritten } = this.mem.endTracking();
    return { reads, runsRead, itemsRead, reacted, runsMasks, refreshed, refreshRuns, kicks, written: this.written, fieldsRead, fieldsWritten, armed };
  }

  /** Whether a guest's thread on this CPU can run (CpuSlots.threadsRun), as a guest step asks it: one bit of the CPU. */
  private threadsRun(cpu: number): boolean {
    const read = () => this.cpus.threadsRun(cpu);
    if (this.tracked === null) return read();
    if (this.tracked.has(cpu)) this.bitRead(cpu, 1, true);
    return readBit(this.tracked, cpu, read, (c) => this.bitRead(c, 1, false));
  }

  /**
   * Tracking: slot `slot` was read only for bits `mask` (in a runnability looked at again: for that);
   * `whole`: it was read whole before (keyed on its chart: only a look notes it).
   */
  private bitRead(slot: number, mask: number, whole: boolean): void {
    if (this.refreshing) {
      this.refreshing.bits.add(slot);
      return;
    }
    if (whole) return;
    this.runsRead.add(slot);
    this.runsMask.set(slot, (this.runsMask.get(slot) ?? 0) | mask);
  }

  /**
   * Tracking: the scheduler looks again at whether guest thread slot `slot` can step (`runnable`), a
   * function of the bits of `inputs` (its CPU, the vCPUs pinned there, itself). What that reads is
   * kept apart, with the answer and those bits then, so that the transition cache can look the
   * answer up by the bits the decision leaves instead of keying the whole decision on them.
   */
  private refresh(slot: number, inputs: readonly number[], runnable: () => boolean): boolean {
    const tracked = this.tracked as Set<number>;
    const outer = this.refreshing;
    const seen = { bits: new Set<number>(), items: new Set<number>() };
    const size = tracked.size;
    this.refreshing = seen;
    let answer: boolean;
    try {
      answer = runnable();
    } finally {
      this.refreshing = outer;
    }
    // (A chart read whole in there, or a look nested in another: not kept apart.)
    const apart = outer === null && tracked.size === size;
    const bits = inputs.map((c) => {
      const had = tracked.has(c);
      const b = c < this.cpuCount ? (this.cpus.threadsRun(c) ? 1 : 0) : this.guestBits(c - this.cpuCount);
      if (!had) tracked.delete(c);
      return b;
    });
    const prev = this.refreshes.get(slot);
    this.refreshes.set(slot, {
      slot,
      inputs,
      bits,
      answer,
      times: (prev?.times ?? 0) + (apart ? 1 : Infinity),
      bitReads: [...new Set([...(prev?.bitReads ?? []), ...seen.bits])],
      itemReads: [...new Set([...(prev?.itemReads ?? []), ...seen.items])],
    });
    if (outer) {
      for (const c of seen.bits) outer.bits.add(c);
      for (const c of seen.items) outer.items.add(c);
    }
    return answer;
  }

  /** Whether a CPU runs tasks (threadsRun), read without tracking: exploration keeps it per CPU state. */
  runsTasks(cpu: number): boolean {
    return this.cpus.threadsRun(cpu);
  }

  /** The shared variables a CPU waits on in its current state, as `varBit` bits. */
  watchMask(cpu: number): number {
    let mask = 0;
    for (const v of (this.cpus.slots[cpu] as Slot).watches()) mask |= varBit(v);
    return mask;
  }

  get end(): RunEnd | null {
    return this.flags.ended;
  }

  get now(): number {
    return this.agenda.now;
  }

  private finish(end: RunEnd): void {
    this.flags.ended = end;
    for (const r of this.cpus.finals(this.k.state)) this.emit(r);
    if (this.guests) for (const r of this.guests.finals()) this.emit(r);
    this.emit({ t: 'end', ns: this.agenda.now, steps: this.steps, end });
  }

  private quiescentEnd(): RunEnd {
    const cpus = this.cpus;
    if (this.flags.resetAttempt?.initOnly) {
      // An INIT-based reset completes only if every CPU took the INIT.
      for (let i = 0; i < this.cpuCount; i++) if (cpus.hw(i).initPending) return 'hang';
      return 'reset';
    }
    if (this.flags.kexecCpu !== null) return 'kexec';
    // Nothing can move, but if every CPU is running its workload the host is fine (a guest stopped).
    for (let i = 0; i < this.cpuCount; i++) if (!cpus.threadsRun(i) || cpus.hw(i).initPending) return 'hang';
    return 'idle';
  }

  private choose(n: number, kind: 'latency'): number {
    if (n <= 1) return 0;
    const pick = this.chooser.choose(n, kind);
    const i = this.choices++;
    if (this.choiceRecords) this.emit({ t: 'choice', i, kind, n, pick });
    return pick;
  }

  /** One pending item: a scripted action, or a slot's step, timer or delivery (scheduler.ts). */
  private execute(item: Item): void {
    if (item.kind !== 'script') {
      this.sched.execute(item);
      return;
    }
    const step = this.scriptByIndex.get(item.index);
    if (step) this.runScript(step);
  }

  /** What an effect does outside the slots (the scheduler's part is in scheduler.ts): the bus, the trace, the flags, the guest side. */
  private apply(e: Effect): void {
    switch (e.kind) {
      case 'send':
        this.sendMessage(e.cpu, e.message);
        return;
      case 'console':
        this.emit({ t: 'console', ns: this.agenda.now, cpu: e.cpu, text: e.text });
        return;
      case 'warn':
        this.emit({ t: 'warning', ns: this.agenda.now, cpu: e.cpu, vcpu: null, where: e.where, message: e.text });
        this.emit({ t: 'console', ns: this.agenda.now, cpu: e.cpu, text: e.text });
        return;
      case 'insn':
        if (this.insnRecords) this.emit({ t: 'insn', ns: this.agenda.now, cpu: e.cpu, insn: e.insn, result: e.result });
        return;
      case 'fault':
        this.emit({ t: 'fault', ns: this.agenda.now, cpu: e.cpu, ...e.report });
        return;
      case 'kernel event':
        this.emit({ t: 'kernel', ns: this.agenda.now, cpu: e.cpu, what: e.what, data: e.data });
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
        this.guestFamily?.hostExit(e.cpu, e.reason);
        return;
      case 'mem':
        // The scheduler wakes the slots waiting on the variable.
        this.emit({ t: 'mem', ns: this.agenda.now, cpu: e.cpu, name: e.name, op: e.op, value: e.value });
        return;
      case 'arm timer':
      case 'cancel timer':
      case 'account':
      case 'host insn done':
        throw new Error(`internal error: '${e.kind}' is the scheduler's`);
      default:
        if (!this.guests) throw new Error(`internal error: a guest effect ('${e.kind}') without guest actors`);
        this.guests.apply(e);
    }
  }

  private runScript(step: ScriptStep): void {
    const cpu = step.cpu;
    if (step.action === 'vsock-send') {
      this.hostSend(step);
      return;
    }
    const cpus = this.cpus;
    const event = scriptEvent(step);
    // A task-context step on a CPU stopped for good in an interrupt or NMI handler: the task that
    // would take it never runs again (the chart's task region would take it, and nothing would follow).
    const stopped = scriptActsInTask(step) ? cpus.stoppedAboveTask(cpu) : null;
    const accepted = stopped === null && cpus.driver.can(cpu, event);
    const why = stopped !== null ? `CPU ${cpu} never returns to its task: it is stopped in ${stopped.region} context (${stopped.state})` : `CPU ${cpu} does not take '${step.action}' in ${cpus.current(cpu)}`;
    const record = this.scriptRecord(step, accepted ? null : why);
    if (!accepted) {
      this.emit(record);
      return;
    }
    const before = this.lean ? [] : cpus.leavesNow(cpu);
    this.around(
      record,
      () => cpus.send(cpu, event),
      () => ({ to: cpus.current(cpu), ...cpus.leavesSince(cpu, before) }),
    );
    this.sched.settle(this.cpus.slots[cpu] as Slot);
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
    const runs = this.cpus.threadsRun(cpu) && !!this.guests && !!step.send;
    const why = runs
      ? null
      : !this.guests || !step.send
        ? 'the scenario has no vsock device'
        : `CPU ${cpu} runs no tasks in ${this.cpus.current(cpu)}: the sending task does not run`;
    this.emit(this.scriptRecord(step, why));
    if (!runs || !this.guests || !step.send) return;
    this.guests.hostSend(cpu, step.send);
    this.sched.settleMoved();
  }

  hw(cpu: number): CpuHw {
    return this.cpus.hw(cpu);
  }

  private memoryWritten(name: WatchedVar, cpu: number, op: string, value: unknown): void {
    if (this.tracked) this.written |= varBit(name);
    this.mem.written();
    this.sched.effect({ kind: 'mem', name, cpu, op, value });
  }

  // ---- the interconnect ------------------------------------------------------------------------

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
        this.emit({ t: 'deliver', ns: now, msg: msg.id, cpu: c.to, mode: msg.mode, status: 'dropped', reason: collapsedReason(c), to: this.cpus.current(c.to) });
      }
    }
    const [min, max] = this.scenario.options.latencyNs;
    for (const to of targets) {
      // A CPU's own local APIC (the NMI watchdog, a device interrupt) does not cross the interconnect.
      const latency = to === from || this.mode === 'untimed' ? 0 : min + this.choose(max - min + 1, 'latency');
      this.agenda.add({ kind: 'deliver', msg: msg.id, cpu: to }, now + latency);
    }
  }

  /**
   * The port of the CPU charts: each call is an effect in the outbox of the step that makes it. An instruction's
   * effect only makes its record (`apply`): without instruction records it is dropped here, not queued and applied
   * for nothing (every VMX instruction of every CPU makes one).
   */
  private makePort(): CpuPort {
    return {
      out: (e) => {
        if (e.kind !== 'insn' || this.insnRecords) this.sched.effect(e);
      },
      now: () => this.agenda.now,
    };
  }

  stop(): void {
    this.bus.close();
    this.trace$.complete();
  }
}
