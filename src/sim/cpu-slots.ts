// Over 400 lines because the CPU family is one class whose per-CPU caches (the leaf per region, the parts of the state key and hash, the leaves before an event) are private fields its steps, records, runnability and codec all read; the inputs and script events that build it come first.
/**
 * The physical CPUs as slots (slot.ts): each CPU's chart, through its driver (cpu-drivers.ts), as
 * the scheduler steps, reads and hashes it. A CPU steps in the region on top of its context stack
 * (task, irq, nmi, smm); its leaf per region is remembered until its next event, its parts of the
 * state key and hash until it moves.
 */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import type { CpuContext, CpuEvent, CpuInput, Region } from '../../machines/physical-cpu/types.js';
import { BUS_EVENT_OF } from '../../machines/physical-cpu/types.js';
import { initialCpuHw, VMCS_REGION_BASE, VMXON_REGION_BASE, type CpuHw } from '../hw/cpu-state.js';
import type { KernelMemoryState } from '../kernel/memory.js';
import type { Disposition } from '../kernel/port.js';
import type { KernelFeatures } from '../kernel/variants.js';
import type { DeliveryRequest, Message } from '../bus/messages.js';
import { CPU_STATE } from '../state/cpu.js';
import type { Scenario, ScriptStep } from '../scenarios/types.js';
import type { TraceRecord } from '../trace/records.js';
import type { CpuCapture, CpuDriver } from './cpu-drivers.js';
import type { Outbox } from './effects.js';
import type { Slot, SlotFamily } from './slot.js';
import { stateTable, type StateInfo } from './state-table.js';

const CPU_STATES = stateTable(physicalCpuMachine);

/** The regions a CPU steps in (the scheduler's `sched.<region>` events). */
const ROUTABLE: readonly string[] = ['task', 'irq', 'nmi', 'smm'];

/** A region by its code in `CpuSlots.top` (0: not known). */
const REGION_OF: readonly (Region | null)[] = [null, 'task', 'irq', 'nmi', 'smm'];
const CODE_OF: Readonly<Record<Region, number>> = { task: 1, irq: 2, nmi: 3, smm: 4 };

const NOTHING: readonly string[] = [];

/** A CPU's active leaves before an event: node numbers (compiled engine) or paths (`leavesNow`). */
export type LeafMark = readonly number[] | readonly string[];

const NO_LEAVES: LeafMark = [];

/** A record with its `leaves` last, when there are any (the key order the trace has always had). */
function withLeaves(record: TraceRecord, leaves: string[] | null): TraceRecord {
  if (leaves) (record as { leaves?: string[] }).leaves = leaves;
  return record;
}

/** Where a chart step's outbox opens and closes (the scheduler). */
export interface Outboxes {
  /** Open an outbox for one chart step of slot `slot` (the port's calls go to it). */
  open(slot: number): Outbox;
  /** The step is over: close the outbox and apply its effects in order (unless it failed: `apply` false). */
  close(outbox: Outbox, apply: boolean): void;
}

/** What the CPU slots need from the composition root. */
export interface CpuSlotHost {
  readonly lean: boolean;
  /** Whether step and timer records are written (not in a lean run, nor for a caller that does not read them). */
  readonly stepRecords: boolean;
  readonly timerRecords: boolean;
  now(): number;
  emit(record: TraceRecord): void;
  /** The interconnect hands message `msg` to CPU `cpu` (through `deliver` below). */
  deliver(msg: number, cpu: number): { msg: Message; disposition: Disposition };
}

/** Build the per-CPU inputs of a scenario: architectural state from the initial settings. */
export function cpuInputs(scenario: Scenario, features: KernelFeatures): CpuInput[] {
  // One options object for every CPU: they are the scenario's, the same for each, and never changed.
  const opts: CpuInput['opts'] = {
    vendor: scenario.machine.vendor,
    kdump: scenario.options.kdump,
    kdumpBringsUpAps: scenario.options.kdumpBringsUpAps,
    crashKexecPostNotifiers: scenario.options.crashKexecPostNotifiers,
    panicTimeout: scenario.options.panicTimeout,
    kvmLoaded: scenario.options.kvmLoaded,
    debugList: scenario.options.debugList,
    rebootForce: scenario.options.rebootForce,
    panicOnOops: scenario.options.panicOnOops,
    resetMethod: scenario.options.reset.method,
    cpus: scenario.machine.cpus,
  };
  return scenario.initial.map((init, id) => {
    const hw: CpuHw = initialCpuHw(scenario.machine.vendor);
    const loadedVmcss: number[] = [];
    // Each CPU's state in one object, built once (thousands of CPUs are set up before the first step);
    // every key is one initialCpuHw has, so the key order stays its own.
    let cpuHw: CpuHw;
    const vmcsLaunch = init.loadedVmcs > 0 ? { ...hw.vmcsLaunch } : hw.vmcsLaunch;
    let lastLoaded = hw.currentVmcs;
    for (let v = 0; v < init.loadedVmcs; v++) {
      const addr = VMCS_REGION_BASE + (id * 64 + v) * 0x1000;
      loadedVmcss.push(addr);
      // Each was launched by its vCPU; the last KVM loaded here is current while VMX is on.
      vmcsLaunch[addr] = 'launched';
      lastLoaded = addr;
    }
    if (init.vmx === 'root') {
      cpuHw = { ...hw, cr4Vmxe: true, vmx: 'root', vmxonPtr: VMXON_REGION_BASE + id * 0x1000, vmcsLaunch, currentVmcs: lastLoaded, if: init.if, svme: init.svme, gif: init.gif };
    } else {
      // VMX off (VMXOFF left the list, if any, as it was: no current VMCS outside VMX operation).
      cpuHw = { ...hw, cr4Vmxe: init.cr4Vmxe ? true : hw.cr4Vmxe, vmcsLaunch, if: init.if, svme: init.svme, gif: init.gif };
    }
    return { id, hw: cpuHw, loadedVmcss, features, opts };
  });
}

/**
 * Whether a scripted action is the interrupted task's to do (its chart's task region takes it): a
 * reboot(2), IRQs off or on, a panic or emergency restart in `task` context. The others send an
 * interrupt, stall or SMI the CPU, or are a host thread's (vsock-send).
 */
export function scriptActsInTask(step: ScriptStep): boolean {
  switch (step.action) {
    case 'reboot':
    case 'irqs-off':
    case 'irqs-on':
      return true;
    case 'panic':
    case 'emergency-restart':
      return step.context === 'task';
    default:
      return false;
  }
}

/** The CPU event of a scripted action. */
export function scriptEvent(step: ScriptStep): CpuEvent {
  switch (step.action) {
    case 'reboot':
      return { type: 'script.reboot' };
    case 'emergency-restart':
      return { type: 'script.emergency-restart', context: step.context };
    case 'panic':
      return { type: 'script.panic', context: step.context, message: step.message };
    case 'nmi-panic':
      return { type: 'script.nmi-panic', message: step.message };
    case 'irqs-off':
      return { type: 'script.irqs-off' };
    case 'irqs-on':
      return { type: 'script.irqs-on' };
    case 'stall':
      return { type: 'script.stall' };
    case 'smi':
      return { type: 'script.smi' };
    case 'vsock-send':
      throw new Error('vsock-send is not a CPU event');
  }
}

class CpuSlot implements Slot {
  readonly kind = 'cpu';
  readonly settledBy = 'scheduler';
  readonly item: { kind: 'step'; cpu: number };
  dependents: readonly number[] = [];

  constructor(
    private readonly family: CpuSlots,
    readonly index: number,
  ) {
    this.item = { kind: 'step', cpu: index };
  }
  get id(): number {
    return this.index;
  }
  get cpu(): number {
    return this.index;
  }
  runnable(): boolean {
    return this.family.runnable(this.index);
  }
  watches(): readonly string[] {
    return this.family.watches(this.index);
  }
  step(): void {
    this.family.step(this.index);
  }
  timer(name: string): void {
    this.family.timer(this.index, name);
  }
  deadTimers(names: Iterable<string>): readonly string[] {
    // Asked at every settle of a CPU with a timer armed: the cheap test (a walk of a context stack
    // that is one deep but in handlers) first, the names only for a CPU stopped for good.
    if (this.family.stoppedAboveTask(this.index) === null) return NOTHING;
    return [...names].filter((n) => n.startsWith('task:'));
  }
  receive(msg: number): void {
    this.family.receive(this.index, msg);
  }
  activePaths(): string[] {
    return this.family.driver.activePaths(this.index);
  }
  hash(): number {
    return this.family.hash(this.index);
  }
  key(): string {
    return this.family.key(this.index);
  }
  capture(): CpuCapture {
    const c = this.family.driver.captureOne?.(this.index);
    if (!c) throw new Error('exploration needs the compiled engine');
    return c;
  }
}

export class CpuSlots implements SlotFamily {
  readonly slots: CpuSlot[];
  readonly items = { step: { base: 0, stride: 1 }, timer: { base: 0, stride: 1 }, deliver: { base: 0, stride: 1 } };
  private readonly leafRegion: (Region | null)[];
  /**
   * The region on top of each CPU's context stack, by code (REGION_OF), remembered until the CPU's next
   * event: a step reads it before anything else of its CPU, and the stack behind the context is two
   * more cache lines to wait for, one after the other.
   */
  private readonly top: Uint8Array;
  private readonly leafPath: string[];
  /** The state info of each CPU's remembered leaf (`leafPath`), null until looked up: `runnable` asks after every step. */
  private readonly leafInfo: (StateInfo | undefined | null)[];
  /** Parts of the state key and hash, remembered until the CPU changes (0 / null: not known). */
  keys: (string | null)[];
  hashes: number[];
  private readonly stepEvents: Record<string, CpuEvent>;
  /** The scheduler, once it is built (it is built over these slots). */
  outboxes: Outboxes | null = null;

  constructor(
    private readonly host: CpuSlotHost,
    readonly driver: CpuDriver,
    readonly count: number,
  ) {
    this.slots = Array.from({ length: count }, (_, cpu) => new CpuSlot(this, cpu));
    this.leafRegion = new Array<Region | null>(count).fill(null);
    this.top = new Uint8Array(count);
    this.leafPath = new Array<string>(count).fill('');
    this.leafInfo = new Array<StateInfo | undefined | null>(count).fill(null);
    this.keys = new Array<string | null>(count).fill(null);
    this.hashes = new Array<number>(count).fill(0);
    this.stepEvents = Object.fromEntries(ROUTABLE.map((r) => [r, { type: `sched.${r}` } as CpuEvent]));
  }

  triggerSlot(actor: string, index: number): Slot | undefined {
    return actor === 'cpu' ? this.slots[index] : undefined;
  }

  /**
   * One chart step of CPU `cpu`; returns its outbox: what the step reported back. The scheduler opens
   * that outbox again for the next step, so read its answer at once and do not keep it.
   */
  send(cpu: number, event: CpuEvent): Outbox {
    this.leafRegion[cpu] = null;
    this.top[cpu] = 0;
    this.keys[cpu] = null;
    this.hashes[cpu] = 0;
    this.infoCpu = -1;
    const outboxes = this.outboxes as Outboxes;
    const outbox = outboxes.open(cpu);
    let done = false;
    try {
      this.driver.send(cpu, event);
      done = true;
    } finally {
      outboxes.close(outbox, done);
    }
    return outbox;
  }

  /** The CPU's step in the region on top of its context stack, and its record. */
  step(cpu: number): void {
    const region = this.region(cpu);
    if (!this.host.stepRecords) {
      this.send(cpu, this.stepEvents[region] as CpuEvent);
      return;
    }
    const from = this.leaf(cpu, region);
    const before = this.leavesNow(cpu);
    this.send(cpu, this.stepEvents[region] as CpuEvent);
    this.host.emit(withLeaves({ t: 'step', ns: this.host.now(), cpu, ctx: region, from, to: this.current(cpu) }, this.newLeaves(cpu, before)));
  }

  /**
   * A timer of CPU `cpu` expired: its event, and its record. A kernel timeout is a loop that reads
   * the clock: one in a context under a loop that never returns (`stoppedAboveTask`, for a task's
   * wait) never reads it again, so its expiry moves nothing — a shootdown initiator halted in an NMI
   * handler does not "time out" (its record still says the timer ran out).
   */
  timer(cpu: number, name: string): void {
    const before = this.host.timerRecords ? this.leavesNow(cpu) : NO_LEAVES;
    const region = name.slice(0, name.indexOf(':'));
    if (!(region === 'task' && this.stoppedAboveTask(cpu) !== null)) this.send(cpu, { type: 'timer.expired', name });
    if (this.host.timerRecords) this.host.emit(withLeaves({ t: 'timer', ns: this.host.now(), cpu, name, to: this.current(cpu) }, this.newLeaves(cpu, before)));
  }

  /** A pending delivery reaches CPU `cpu`: the interconnect hands it over (`deliver`), and its record. */
  receive(cpu: number, msgId: number): void {
    const lean = this.host.lean;
    const before = lean ? NO_LEAVES : this.leavesNow(cpu);
    const { msg, disposition } = this.host.deliver(msgId, cpu);
    if (lean) return;
    const record: TraceRecord = {
      t: 'deliver',
      ns: this.host.now(),
      msg: msg.id,
      cpu,
      mode: msg.mode,
      // A fixed IPI's vector, so the receive line names it as the send line does (REBOOT_VECTOR (0xf8)).
      ...(msg.mode === 'fixed' ? { vector: msg.vector } : {}),
      status: disposition.status,
      ...(disposition.status === 'delivered' ? {} : { reason: disposition.reason }),
      to: this.current(cpu),
    };
    this.host.emit(withLeaves(record, this.newLeaves(cpu, before)));
  }

  /** A message delivered to the CPU (the interconnect's handler): the bus event, and how it ended. */
  deliver(req: DeliveryRequest): Disposition {
    const cpu = req.to;
    if (!this.driver.active(cpu)) return { status: 'dropped', reason: `CPU ${cpu} was reset` };
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
        reason: `not accepted by CPU ${cpu} in ${this.current(cpu)}`,
      }
    );
  }

  /** The CPU's active leaves now, for `leavesSince`: node numbers (a copy: the runner updates its list in place), or paths. */
  leavesNow(cpu: number): LeafMark {
    return this.driver.leafOrders?.(cpu).slice() ?? this.driver.activePaths(cpu);
  }

  /** The leaves of CPU `cpu` that are active now and were not in `before`: a record's `leaves`. */
  leavesSince(cpu: number, before: LeafMark): { leaves?: string[] } {
    const leaves = this.newLeaves(cpu, before);
    return leaves ? { leaves } : {};
  }

  /** The same, as paths in document order, or null when no leaf is new. */
  private newLeaves(cpu: number, before: LeafMark): string[] | null {
    const was = before as readonly (number | string)[];
    const now: readonly (number | string)[] = (typeof was[0] === 'number' ? this.driver.leafOrders?.(cpu) : undefined) ?? this.driver.activePaths(cpu);
    let leaves: string[] | null = null;
    for (const x of now) if (!was.includes(x)) (leaves ??= []).push(typeof x === 'number' ? (this.driver.nodePath?.(x) as string) : x);
    return leaves;
  }

  context(cpu: number): CpuContext {
    return this.driver.context(cpu);
  }

  hw(cpu: number): CpuHw {
    return this.driver.context(cpu).hw;
  }

  /** A CPU runs tasks (so its vCPU and VMM threads can run): its task region in the workload, nothing on top. */
  threadsRun(cpu: number): boolean {
    if (!this.driver.active(cpu) || this.driver.outsideOs(cpu)) return false;
    const c = this.driver.context(cpu);
    if (c.stalled || c.hw.activity !== 'running' || c.ctx.length !== 1) return false;
    return this.leaf(cpu, 'task') === 'os.task.idle';
  }

  region(cpu: number): Region {
    const known = this.top[cpu] as number;
    if (known !== 0) {
      // Still a read of the CPU's chart, for exploration's transition cache.
      this.driver.touch?.(cpu);
      return REGION_OF[known] as Region;
    }
    const ctx = this.driver.context(cpu).ctx;
    const region = (ctx[ctx.length - 1] ?? 'task') as Region;
    this.top[cpu] = CODE_OF[region] ?? 0;
    return region;
  }

  /** The leaf path of a region, remembered until the CPU's next event (several readers per step). */
  leaf(cpu: number, region: Region): string {
    if (this.leafRegion[cpu] === region) return this.leafPath[cpu] as string;
    const path = this.driver.leaf(cpu, region);
    this.leafRegion[cpu] = region;
    this.leafPath[cpu] = path;
    this.leafInfo[cpu] = null;
    return path;
  }

  /** The leaf of the region on top of the CPU's context stack. */
  current(cpu: number): string {
    return this.leaf(cpu, this.region(cpu));
  }

  /** Forget the remembered leaf (the CPU's chart was restored). */
  forgetLeaf(cpu: number): void {
    this.leafRegion[cpu] = null;
    this.top[cpu] = 0;
  }

  stateInfo(cpu: number): StateInfo | undefined {
    const region = this.region(cpu);
    if (this.leafRegion[cpu] === region) {
      const known = this.leafInfo[cpu];
      if (known !== null) return known;
    }
    const info = CPU_STATES.get(this.leaf(cpu, region));
    this.leafInfo[cpu] = info;
    return info;
  }

  /** The state info `runnable` looked up, for the `watches` that follows it (-1: none). */
  private infoCpu = -1;
  private info: StateInfo | undefined = undefined;

  /** The shared variables the CPU waits on now. */
  watches(cpu: number): readonly string[] {
    const info = this.infoCpu === cpu ? this.info : this.stateInfo(cpu);
    this.infoCpu = -1;
    return info && info.wait ? info.watch : NOTHING;
  }

  /**
   * Where the CPU is stopped for good above its task (a `stopped` loop in an interrupt or NMI context,
   * on top or under another context taken since, such as an NMI on a CPU halted in an IRQ handler), or null.
   */
  stoppedAboveTask(cpu: number): { region: Region; state: string } | null {
    const ctx = this.driver.context(cpu).ctx;
    for (let i = ctx.length - 1; i >= 1; i--) {
      const region = ctx[i] as Region;
      if (!ROUTABLE.includes(region)) continue;
      const state = this.leaf(cpu, region);
      if (CPU_STATES.get(state)?.stopped) return { region, state };
    }
    return null;
  }

  runnable(cpu: number): boolean {
    const info = this.stateInfo(cpu);
    this.infoCpu = cpu;
    this.info = info;
    if (!info || info.blocked || info.final || !this.driver.active(cpu)) return false;
    if (this.driver.context(cpu).stalled) return false;
    const region = this.region(cpu);
    if (!ROUTABLE.includes(region)) return false;
    return info.wait ? this.driver.can(cpu, this.stepEvents[region] as CpuEvent) : true;
  }

  /** One CPU's chart state as it enters the state: its active leaves and its context (src/state/cpu.ts). */
  chartState(cpu: number): { leaves: number[]; context: CpuContext } {
    return { leaves: (this.driver.leafOrders?.(cpu) ?? []) as number[], context: this.driver.context(cpu) };
  }

  /** The CPU's part of the state hash, remembered until the CPU moves: the hot path of exploration. */
  hash(cpu: number): number {
    const cached = this.hashes[cpu] as number;
    if (cached !== 0) return cached;
    const h = CPU_STATE.hash(0x12345, this.chartState(cpu));
    const nonzero = h === 0 ? 1 : h;
    this.hashes[cpu] = nonzero;
    return nonzero;
  }

  key(cpu: number): string {
    let k = this.keys[cpu];
    if (k) return k;
    k = CPU_STATE.text(this.chartState(cpu)) + '|';
    this.keys[cpu] = k;
    return k;
  }

  /** The final record of each CPU, for the outcome. */
  finals(memory: KernelMemoryState): TraceRecord[] {
    const out: TraceRecord[] = [];
    for (let cpu = 0; cpu < this.count; cpu++) {
      const { hw, ctx, loadedVmcss } = this.driver.context(cpu);
      const outside = this.driver.outsideOs(cpu);
      out.push({
        t: 'final',
        cpu,
        state: this.current(cpu),
        activity: hw.activity,
        context: outside ? 'task' : (ctx[ctx.length - 1] ?? 'task'),
        vmx: hw.vmx,
        cr4Vmxe: hw.cr4Vmxe,
        svme: hw.svme,
        gif: hw.gif,
        nmiBlocked: hw.nmiBlocked,
        if: hw.if,
        online: memory.online[cpu] === 1,
        initPending: hw.initPending,
        loadedVmcs: loadedVmcss.filter((a) => hw.vmcsLaunch[a] !== 'clear').length,
        lapicEnabled: hw.lapicEnabled,
      });
    }
    return out;
  }
}
