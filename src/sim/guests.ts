// Over 400 lines because routing the vCPU and VMM threads' events, their scheduling (the owner index) and exploration's read tracking share one per-vCPU bookkeeping (in `run`, being sent, read); the vsock side, the outboxes, the state key/hash parts, inputs and final records are in guest-vsock.ts, thread-outbox.ts, guest-state-parts.ts, guest-inputs.ts, guest-finals.ts.
/**
 * The guest side of a run: one vCPU actor per KVM vCPU and one VMM thread actor driving it, each
 * pair pinned to a physical CPU. The composition root owns them through this class; it routes the
 * ioctls between a VMM thread and its vCPU, runs the vCPU's VMX/SVM instructions on the physical
 * CPU actor (a `kvm.insn` event), and hands a host VM exit (an NMI or interrupt that hit the CPU
 * while the guest ran) to the vCPU that was in guest mode there.
 *
 * A vCPU thread runs only while its CPU runs tasks (the CPU's task region is in its workload, in no
 * interrupt, NMI or SMM handler, not halted or stalled), and one thread per CPU is inside KVM_RUN
 * at a time: there is no host preemption in the model, so a thread in KVM_RUN keeps its CPU until
 * KVM returns to userspace.
 *
 * A VM's vhost-vsock device is an actor here too (machines/vhost-vsock.machine.ts; guest-vsock.ts
 * drives it). Its VMM thread's vhost ioctls go to it; its worker is a kernel thread pinned to a
 * physical CPU, runnable while work is queued and the CPU runs tasks (and no vCPU holds it inside
 * KVM_RUN); host sockets send to it by CID from script steps. A call the worker signals on a queue
 * whose call eventfd is the guest notifier is the irqfd: the interrupt becomes pending on the VM's
 * first vCPU and, if that vCPU is in guest mode, its CPU is kicked with a reschedule IPI over the
 * bus (kvm_vcpu_kick), so the VM exit happens as on hardware. The guest's driver takes the RX ring
 * when the interrupt is injected.
 */
import {
  vcpuImplementations,
  vcpuMachine,
  type VcpuContext,
  type VcpuEffect,
  type VcpuEvent,
  type VcpuPort,
  type VcpuWorld,
} from '../../machines/vcpu.machine.js';
import {
  vmmImplementations,
  vmmMachine,
  type VmmContext,
  type VmmEffect,
  type VmmEvent,
  type VmmWorld,
} from '../../machines/vmm.machine.js';
import { vhostVsockMachine, vsockImplementations, type VsockContext, type VsockEvent, type VsockWorld } from '../../machines/vhost-vsock.machine.js';
import { DEFAULT_MAX_MEM_REGIONS } from '../vhost/device.js';
import type { CpuEvent } from '../../machines/physical-cpu/types.js';
import { KVM_EXIT, KVM_IOCTLS, shownKvmArg, type KvmIoctlArg, type KvmIoctlName } from '../kvm/uapi.js';
import type { KernelFeatures } from '../kernel/variants.js';
import type { HostExitReason } from '../kvm/types.js';
import type { KernelMemory } from '../kernel/memory.js';
import type { Vendor } from '../hw/cpu-state.js';
import type { VcpuSpec, VsockSpec } from '../scenarios/vms.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';
import type { TraceRecord } from '../trace/records.js';
import type { GuestEffect } from './effects.js';
import type { Renaming } from '../state/codec.js';
import { makeChartDriver, type ChartCapture, type ChartDriver } from './chart-driver.js';
import type { EngineName } from './cpu-drivers.js';
import type { InspectionEvent } from 'xstate';
import { readBit } from './slot.js';
import { guestFinals } from './guest-finals.js';
import { GuestVsock, WORK } from './guest-vsock.js';
import { GuestStateParts } from './guest-state-parts.js';
import { ThreadOutboxes } from './thread-outbox.js';
import { VmCreatedVcpus } from './guest-vm-counts.js';
import { vcpuInputs, vmcsRegions, vmmInputs, vsockInputs } from './guest-inputs.js';

/** The stepped actors: a vCPU thread, a VMM thread, a vhost worker (index = device). */
export type GuestKind = 'vcpu' | 'vmm' | 'vhost';

const VCPU_STEP: VcpuEvent = { type: 'sched.vcpu' };
const VMM_STEP: VmmEvent = { type: 'sched.vmm' };
/** A vCPU's bits (Guests.bitsOf): in `run` (holds its CPU), can step, in guest mode (a kick sends an IPI). */
const IN_RUN = 1;
const CAN_STEP = 2;
const KICKED = 4;
/** RESCHEDULE_VECTOR: what kvm_vcpu_kick() sends a CPU running the vCPU in guest mode. */
export const RESCHEDULE_VECTOR = 0xfd;

/** What the guests need from the composition root. */
export interface GuestHost {
  readonly k: KernelMemory;
  readonly lean: boolean;
  /** The scenario's panicOnOops: an oops in a thread's ioctl panics its CPU instead of killing the thread. */
  readonly panicOnOops?: boolean;
  now(): number;
  emit(record: TraceRecord): void;
  /**
   * Write `record`, run `effects`, and add to the record the fields `after()` gives then (the leaves
   * the effects moved); records the effects write follow it. Lean runs just write it first.
   */
  around(record: TraceRecord, effects: () => void, after: () => object): void;
  /** Send a physical CPU an event now; returns what `hostInsnDone` reported for it. */
  hostInsn(pcpu: number, event: CpuEvent): string;
  /** Whether the CPU runs tasks now (its task region in the workload, nothing on top of it). */
  threadsRun(pcpu: number): boolean;
  /** Exploration: a step looked at guest slot `slot` only through its bits `mask` (`Guests.bitsOf`), not its whole chart. */
  bitRead?(slot: number, mask: number, whole?: boolean): void;
  /** Exploration: whether guest slot `slot`'s step is pending decided what a step did (Guests.runnable). */
  itemsRead?(slot: number): void;
  /**
   * Exploration: vCPU slot `slot` received interrupt `vector` and moved by itself (Guests.react):
   * its state after is a function of its state before and the vector, and the step read only its bits after.
   */
  reacted?(slot: number, vector: number): void;
  /**
   * Exploration: the scheduler looks again at whether guest thread slot `slot` can step; `runnable`
   * answers, a function of the bits of `inputs` (Guests.refreshInputs).
   */
  refresh?(slot: number, inputs: readonly number[], runnable: () => boolean): boolean;
  /**
   * Exploration: whether CPU `from` sends CPU `to` IPI `vector` was decided by bit `mask` of vCPU
   * slot `slot` alone, after the vCPU reacted to its interrupt (`kicked`: it was sent, right after).
   */
  kickLook?(slot: number, mask: number, from: number, to: number, vector: number, kicked: boolean): void;
  /** The launch state of a VMCS region on a CPU, or null if the CPU never touched it. */
  launchState(pcpu: number, addr: number): 'clear' | 'launched' | null;
  /** Send an IPI from one CPU to another over the interconnect. */
  ipi(from: number, to: number, vector: number): void;
  /** Put an effect of a vCPU or VMM thread chart in the outbox of the guest-side work running now. */
  effect(effect: GuestEffect): void;
  /**
   * Run `body` (a guest step, a VM exit, a host socket's send: work of the guest side) with an outbox
   * whose effects are applied first in, first out when `drain` is called, and what is left at the end.
   */
  queue(body: () => void): void;
  /** Apply the effects queued in that outbox so far, and those they queue, until it is empty (`apply` below). */
  drain(): void;
}

export interface GuestsCapture {
  vcpus: ChartCapture<VcpuContext>[];
  vmms: ChartCapture<VmmContext>[];
  devices: ChartCapture<VsockContext>[];
  /** Each actor's part of the state hash, when known (in `hashes()` order): not computed again. */
  hashes?: readonly number[];
}

export interface GuestsState {
  vcpus: unknown;
  vmms: unknown;
  devices?: unknown;
}

const KVM_NAMES: ReadonlySet<string> = new Set(Object.keys(KVM_IOCTLS));

export class Guests {
  readonly vcpus: ChartDriver<VcpuContext, VcpuEvent>;
  readonly vmms: ChartDriver<VmmContext, VmmEvent>;
  /** The vCPUs pinned to each physical CPU. */
  readonly on: Map<number, number[]> = new Map();
  /** The vsock devices whose vhost worker runs on each physical CPU. */
  readonly workersOn: Map<number, number[]> = new Map();
  /** Physical CPUs whose state a guest action changed since the last `takeTouched`. */
  private touched = new Set<number>();
  /** vCPUs that changed since the last `takeChanged` (their keys and runnability). */
  private changed = new Set<number>();
  private readonly pcpuOf: number[];
  private readonly vmOf: number[];
  /** kvm->created_vcpus of each VM, for KVM_CREATE_VCPU. */
  private readonly createdVcpus: VmCreatedVcpus;
  private readonly vendor: Vendor;
  readonly devices: ChartDriver<VsockContext, VsockEvent>;
  readonly vsock: readonly VsockSpec[];
  /** Devices whose context changed since the last `takeChangedDevices` (their worker's runnability). */
  private devChanged = new Set<number>();
  /** Each actor's part of the state key and hash. */
  private readonly parts: GuestStateParts;
  /**
   * The owner index: whether each vCPU's chart is in `run` (inside KVM_RUN), and the vCPUs in `run`
   * on each physical CPU. Kept up to date on every vCPU event, so finding a CPU's owner is O(1)
   * where scanning every vCPU pinned there made a step cost grow with their square.
   */
  private inRun: Uint8Array;
  private readonly running = new Map<number, Set<number>>();
  /** vCPUs whose event is being sent (nested sends stack up). */
  private readonly sending: number[] = [];
  /** Each vCPU's and VMM thread's leaf as the trace last named it (a gstep's `to` or a `guestLeaves`). */
  private namedVcpu: string[] = [];
  private namedVmm: string[] = [];
  /** The vCPUs and VMM threads sent an event since `moved()` last looked (not kept in lean runs). */
  private readonly sentVcpu = new Set<number>();
  private readonly sentVmm = new Set<number>();
  /** The outboxes of the thread steps running now. */
  private readonly outboxes: ThreadOutboxes;
  /** The vhost-vsock devices' side: their ioctls, work, packet path and interrupts. */
  private readonly vhost: GuestVsock;

  constructor(
    private readonly host: GuestHost,
    specs: readonly VcpuSpec[],
    vsock: readonly VsockSpec[],
    vendor: Vendor,
    features: KernelFeatures,
    engine: EngineName,
    saved?: GuestsState,
    inspect?: (event: InspectionEvent) => void,
  ) {
    this.outboxes = new ThreadOutboxes(host.lean, (effect) => this.applyThread(effect));
    this.vendor = vendor;
    this.vsock = vsock;
    this.pcpuOf = specs.map((s) => s.pcpu);
    this.vmOf = specs.map((s) => s.vm);
    this.createdVcpus = new VmCreatedVcpus(specs, features);
    for (const s of specs) {
      const list = this.on.get(s.pcpu);
      if (list) list.push(s.index);
      else this.on.set(s.pcpu, [s.index]);
    }
    for (const s of vsock) {
      const list = this.workersOn.get(s.worker);
      if (list) list.push(s.index);
      else this.workersOn.set(s.worker, [s.index]);
    }
    const vcpuWorld: VcpuWorld = { k: host.k, io: this.vcpuPort() };
    const vmmWorld: VmmWorld = { io: { out: (effect) => this.outboxes.out(effect) } };
    const vsockWorld: VsockWorld = {
      host: () => ({
        devices: Array.from({ length: this.devices.size }, (_, d) => this.devices.context(d).device),
        localCids: [],
        maxMemRegions: DEFAULT_MAX_MEM_REGIONS,
      }),
    };
    const vcpu = vcpuMachine.provide(vcpuImplementations(() => vcpuWorld));
    const vmm = vmmMachine.provide(vmmImplementations(() => vmmWorld));
    const dev = vhostVsockMachine.provide(vsockImplementations(() => vsockWorld));
    this.vcpus = makeChartDriver(engine, vcpu, saved ? null : vcpuInputs(specs, vendor, features), saved?.vcpus, inspect);
    this.vmms = makeChartDriver(engine, vmm, saved ? null : vmmInputs(specs), saved?.vmms, inspect);
    this.devices = makeChartDriver(engine, dev, saved ? null : vsockInputs(vsock, features), saved?.devices, inspect);
    this.parts = new GuestStateParts(specs.length, this.vcpus, this.vmms, this.devices, vsock.length);
    this.vhost = new GuestVsock(
      {
        lean: host.lean,
        now: () => host.now(),
        emit: (record) => host.emit(record),
        cause: (record, effects) => this.cause(record, effects),
        queue: (body) => host.queue(body),
        drain: () => this.drain(),
        deviceMoved: (d) => {
          this.devChanged.add(d);
          this.parts.deviceMoved(d);
        },
        interrupt: (vcpu, vector, from) => this.interrupt(vcpu, vector, from),
        vmmReturn: (vcpu, event) => this.sendVmm(vcpu, event),
      },
      this.devices,
      vsock,
    );
    this.inRun = new Uint8Array(specs.length);
    for (let i = 0; i < specs.length; i++) this.noteRun(i);
    if (!host.lean) {
      this.namedVcpu = specs.map((_, i) => this.vcpus.leaf(i));
      this.namedVmm = specs.map((_, i) => this.vmms.leaf(i));
    }
  }

  /**
   * The vCPU and VMM leaves that moved since the trace last named them, as a record's `guestLeaves`
   * (now named).
   */
  private moved(): { guestLeaves?: Record<string, string> } {
    const out: Record<string, string> = {};
    for (const [kind, sent, named, driver] of [['vcpu', this.sentVcpu, this.namedVcpu, this.vcpus], ['vmm', this.sentVmm, this.namedVmm, this.vmms]] as const) {
      for (const i of [...sent].sort((a, b) => a - b)) {
        const leaf = driver.leaf(i);
        if (named[i] !== leaf) out[`${kind}${i}`] = named[i] = leaf;
      }
      sent.clear();
    }
    return Object.keys(out).length > 0 ? { guestLeaves: out } : {};
  }

  /** Write `record` as the cause of `effects`, naming the vCPU and VMM leaves they move. */
  private cause(record: TraceRecord, effects: () => void): void {
    this.host.around(record, effects, () => this.moved());
  }

  get count(): number {
    return this.pcpuOf.length;
  }

  pcpu(vcpu: number): number {
    return this.pcpuOf[vcpu] as number;
  }

  vmcsOf(vcpu: number): { l1: number; l2: number } {
    return vmcsRegions(vcpu);
  }

  /** Send physical CPU `pcpu` an event now (it settles with this step's movers): what hostInsn reported for it. */
  private toHost(pcpu: number, event: CpuEvent): string {
    this.touched.add(pcpu);
    return this.host.hostInsn(pcpu, event);
  }

  /**
   * The vCPU chart's port: effects go to the step's outbox (`ThreadOutboxes.out`); a host instruction runs on the
   * thread's physical CPU now, within the step (see VcpuPort), after the effects put out before it.
   */
  private vcpuPort(): VcpuPort {
    return {
      out: (effect) => this.outboxes.out(effect),
      hostInsn: (vcpu, insn) => {
        this.outboxes.hostInsn();
        const event = {
          type: 'kvm.insn',
          insn: insn.insn,
          addr: insn.insn === 'VMPTRLD' ? insn.vmcs : insn.insn === 'VMRUN' ? insn.vmcb : 0,
          why: insn.insn === 'vmexit' ? insn.why : '',
        } as CpuEvent;
        return this.toHost(this.pcpu(vcpu), event) as ReturnType<VcpuPort['hostInsn']>;
      },
    };
  }

  // ---- the thread steps' effects ---------------------------------------------------------------

  /** What a thread step's effect does: a vCPU's records are written; the rest goes to the guest-side work's outbox (`apply`). */
  private applyThread(e: VcpuEffect | VmmEffect): void {
    switch (e.kind) {
      case 'kvm warn':
        this.host.emit({ t: 'warning', ns: this.host.now(), vcpu: e.vcpu, cpu: this.pcpu(e.vcpu), where: e.where, message: e.message });
        this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(e.vcpu), text: e.message });
        return;
      case 'kvm printk':
        this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(e.vcpu), text: e.text });
        return;
      case 'kvm oops':
        this.host.emit({ t: 'kvm', ns: this.host.now(), vcpu: e.vcpu, cpu: this.pcpu(e.vcpu), what: 'oops', data: { lines: e.lines.length } });
        for (const text of e.lines) this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(e.vcpu), text });
        // panic_on_oops: oops_end() does not kill the thread; its CPU goes on to crash_kexec() and panic()
        // (arch/x86/kernel/dumpstack.c), in the thread's task context.
        if (this.host.panicOnOops) this.toHost(this.pcpu(e.vcpu), { type: 'kvm.oops' });
        return;
      case 'kvm event':
        this.host.emit({ t: 'kvm', ns: this.host.now(), vcpu: e.vcpu, cpu: this.pcpu(e.vcpu), what: e.what, data: e.data });
        return;
      default:
        this.host.effect(e);
    }
  }

  // ---- scheduling ------------------------------------------------------------------------------

  /**
   * The vCPU whose KVM_RUN holds the CPU (its chart is in `run`), or -1: a thread inside KVM_RUN
   * keeps its CPU until KVM returns to userspace or the thread dies.
   */
  private owner(pcpu: number): number {
    // The owner index stands for whether each vCPU pinned here is in `run`: reading it reads that bit of them.
    if (this.reads) for (const v of this.on.get(pcpu) ?? []) this.bitRead(2 * v, () => this.vcpus.active(v), IN_RUN);
    // A vCPU whose event is being handled may have entered or left `run` before its send returned.
    for (const v of this.sending) if (this.pcpuOf[v] === pcpu) this.noteRun(v);
    const running = this.running.get(pcpu);
    if (running === undefined || running.size === 0) return -1;
    // Two vCPUs inside KVM_RUN on one CPU cannot happen; if it did, the first pinned there owns it, as before.
    let first = -1;
    for (const v of running) if (first < 0 || v < first) first = v;
    return first;
  }

  /** Keep the owner index up to date after vCPU `i`'s chart may have moved into or out of `run`. */
  private noteRun(i: number): void {
    const now = this.vcpus.leaf(i).startsWith('run.') ? 1 : 0;
    if (this.inRun[i] === now) return;
    this.inRun[i] = now;
    const pcpu = this.pcpu(i);
    let running = this.running.get(pcpu);
    if (running === undefined) {
      running = new Set();
      this.running.set(pcpu, running);
    }
    if (now === 1) running.add(i);
    else running.delete(i);
  }

  /** The physical CPU an actor runs on: a thread's pinned CPU, or a device's worker CPU. */
  cpuOf(kind: GuestKind, i: number): number {
    return kind === 'vhost' ? (this.vsock[i] as VsockSpec).worker : this.pcpu(i);
  }

  /** Whether the actor can take a step now. */
  runnable(kind: GuestKind, i: number): boolean {
    // A thread's answer is a function of a few bits (refreshInputs): exploration keeps it apart.
    if (this.reads && this.host.refresh && kind !== 'vhost') {
      const j = kind === 'vcpu' ? 2 * i : 2 * i + 1;
      return this.host.refresh(this.base + j, this.refreshInputs(j), () => this.runnableNow(kind, i));
    }
    return this.runnableNow(kind, i);
  }

  /**
   * The slots whose bits (`bitsOf`; a CPU's: whether it runs tasks) a guest thread's runnability
   * (guest slot `j`) is a function of: its CPU, the vCPUs pinned there (which of them is in `run`),
   * itself (whether it can step). Only while tracking (numbered after `base`).
   */
  private refreshInputs(j: number): number[] {
    const pcpu = this.pcpu(j >> 1);
    const out = [pcpu];
    for (const v of this.on.get(pcpu) ?? []) out.push(this.base + 2 * v);
    if (j % 2 === 1) out.push(this.base + j);
    return out;
  }

  private runnableNow(kind: GuestKind, i: number): boolean {
    // Its answer decides whether the actor's step stays pending or is dropped: that reads the step's
    // presence even when the answer comes from other actors (a vCPU in `run` owning the CPU).
    if (this.reads && this.host.itemsRead) this.host.itemsRead(this.base + (kind === 'vhost' ? 2 * this.count + i : kind === 'vcpu' ? 2 * i : 2 * i + 1));
    const pcpu = this.cpuOf(kind, i);
    const owner = this.owner(pcpu);
    if (kind === 'vhost') return owner === -1 && this.devices.can(i, WORK) && this.host.threadsRun(pcpu);
    if (owner !== -1 && owner !== i) return false;
    if (!this.host.threadsRun(pcpu)) return false;
    return kind === 'vcpu' ? this.bitRead(2 * i, () => this.vcpus.can(i, VCPU_STEP), CAN_STEP) : this.bitRead(2 * i + 1, () => this.vmms.can(i, VMM_STEP), 1);
  }

  /**
   * Read one bit of a vCPU or VMM thread (guest slot `j`), for exploration's transition cache: a
   * slot not read otherwise so far is reported as read only through its bits (`bitsOf`), as a
   * CPU's `threadsRun` is, so that the step is keyed on those bits rather than the whole chart.
   */
  private bitRead<T>(j: number, read: () => T, mask: number): T {
    const reads = this.reads;
    const bitRead = this.host.bitRead;
    if (reads === null || !bitRead) return read();
    // (Read whole already: keyed on its chart; a look at runnability still notes that it read it.)
    if (reads.has(this.base + j)) bitRead(this.base + j, mask, true);
    return readBit(reads, this.base + j, read, (slot) => {
      this.bitsSeen.add(slot);
      bitRead(slot, mask);
    });
  }

  /**
   * What a step may read of guest slot `j` (see `track`) without its chart (`bitRead`): for a vCPU,
   * whether it is in `run` (the owner index), whether it can step and whether a kick sends it an
   * IPI (`interrupt`); for a VMM thread, whether it
   * can step; 0 for a device. Read untracked.
   */
  bitsOf(j: number): number {
    if (j >= 2 * this.count) return 0;
    const i = j >> 1;
    if (j % 2 === 1) return this.vmms.can(i, VMM_STEP) ? 1 : 0;
    return (this.inRun[i] as number) | (this.vcpus.can(i, VCPU_STEP) ? CAN_STEP : 0) | (Guests.kicked(this.vcpus.leaf(i)) ? KICKED : 0);
  }

  leaf(kind: GuestKind, i: number): string {
    return kind === 'vcpu' ? this.vcpus.leaf(i) : kind === 'vmm' ? this.vmms.leaf(i) : this.devices.leaf(i);
  }

  activePaths(i: number): string[] {
    return this.vcpus.activePaths(i);
  }

  /** The active leaf paths of an actor (a vhost worker's: its device's). */
  activePathsOf(kind: GuestKind, i: number): string[] {
    return kind === 'vcpu' ? this.vcpus.activePaths(i) : kind === 'vmm' ? this.vmms.activePaths(i) : this.devices.activePaths(i);
  }

  /** One step of a vCPU thread, a VMM thread or a vhost worker, and everything it sets off. */
  step(kind: GuestKind, i: number): void {
    this.host.queue(() => this.stepNow(kind, i));
  }

  private stepNow(kind: GuestKind, i: number): void {
    if (kind === 'vhost') {
      this.vhost.work(i);
      this.drain();
      return;
    }
    const from = this.host.lean ? '' : this.leaf(kind, i);
    if (kind === 'vcpu') this.sendVcpu(i, VCPU_STEP);
    else this.sendVmm(i, VMM_STEP);
    if (this.host.lean) {
      this.drain();
      return;
    }
    const to = this.leaf(kind, i);
    (kind === 'vcpu' ? this.namedVcpu : this.namedVmm)[i] = to;
    // What the step set off and no record of its own names (a VMM thread dying with its vCPU) is named here.
    this.cause({ t: 'gstep', ns: this.host.now(), actor: kind, vcpu: i, cpu: this.pcpu(i), from, to }, () => this.drain());
  }

  /** The physical CPU left a guest for a host event: the vCPU in guest mode there sees the VM exit. */
  hostExit(pcpu: number, reason: HostExitReason): void {
    this.host.queue(() => this.hostExitNow(pcpu, reason));
  }

  private hostExitNow(pcpu: number, reason: HostExitReason): void {
    const owner = this.owner(pcpu);
    if (owner < 0) return;
    this.cause({ t: 'kvm', ns: this.host.now(), vcpu: owner, cpu: pcpu, what: 'host_exit', data: { reason } }, () => {
      this.sendVcpu(owner, { type: 'host.exit', reason });
      this.drain();
    });
  }

  /** Send vCPU `i` an event: one step, with its outbox; whether the step asked anything of the world. */
  private sendVcpu(i: number, event: VcpuEvent): boolean {
    this.changed.add(i);
    if (!this.host.lean) this.sentVcpu.add(i);
    this.parts.vcpuMoved(i);
    this.sending.push(i);
    const outbox = this.outboxes.open();
    let asked: boolean;
    try {
      this.vcpus.send(i, event);
    } finally {
      // What the step put out is applied even if it failed, as when each action applied it at once.
      try {
        asked = this.outboxes.close(outbox);
      } finally {
        this.sending.pop();
      }
    }
    this.parts.vcpuMoved(i); // also after: a hash taken during the send (an inspect hook) is stale
    this.noteRun(i);
    return asked;
  }

  private sendVmm(i: number, event: VmmEvent): void {
    this.changed.add(i);
    if (!this.host.lean) this.sentVmm.add(i);
    this.parts.vmmMoved(i);
    const outbox = this.outboxes.open();
    try {
      this.vmms.send(i, event);
    } finally {
      this.outboxes.close(outbox);
    }
    this.parts.vmmMoved(i);
  }

  /** Apply what the guest-side work queued so far (see GuestHost.drain). */
  drain(): void {
    this.host.drain();
  }

  /** What a guest effect does: route an ioctl, hand a return back, and the guest driver's vsock and interrupt events. */
  apply(p: GuestEffect): void {
    const pcpu = this.pcpu(p.vcpu);
    switch (p.kind) {
      case 'ioctl': {
        if (!KVM_NAMES.has(p.call.ioctl)) {
          this.vhost.vhostCall(p.vcpu, this.vmOf[p.vcpu] as number, pcpu, p.call);
          break;
        }
        const name = p.call.ioctl as KvmIoctlName;
        const arg = p.call.arg as KvmIoctlArg;
        this.cause({ t: 'ioctl', ns: this.host.now(), vcpu: p.vcpu, cpu: pcpu, phase: 'call', name, number: KVM_IOCTLS[name], arg: shownKvmArg(arg) }, () => {
          // qemu_system_reset: the guest's memory and devices go back to power-on with the vCPU.
          if (p.call.reset) this.vhost.reset(this.vmOf[p.vcpu] as number);
          const createdVcpus = name === 'KVM_CREATE_VCPU' ? this.createdVcpus.of(p.vcpu, (j) => this.vcpus.context(j).created) : undefined;
          this.sendVcpu(p.vcpu, createdVcpus === undefined ? { type: 'ioctl', name, arg } : { type: 'ioctl', name, arg, createdVcpus });
        });
        break;
      }
      case 'return':
        this.cause({
          t: 'ioctl',
          ns: this.host.now(),
          vcpu: p.vcpu,
          cpu: pcpu,
          phase: 'return',
          name: p.name,
          number: KVM_IOCTLS[p.name],
          ret: p.ret.value,
          ...(p.ret.ok ? {} : { errno: p.ret.errno }),
          ...(p.exit ? { exit: `KVM_EXIT_${p.exit}`, exitCode: KVM_EXIT[p.exit] } : {}),
          state: this.vcpus.leaf(p.vcpu),
        }, () => this.sendVmm(p.vcpu, { type: 'ioctl.return', name: p.name, ret: p.ret, exit: p.exit, device: p.device }));
        break;
      case 'died':
        // The thread died in its ioctl (the vCPU is dead, out of KVM_RUN): the CPU runs on. With
        // panic_on_oops the thread never comes back from its oops: its CPU panics (the 'kvm oops' effect).
        if (!this.host.panicOnOops) this.sendVmm(p.vcpu, { type: 'thread.died' });
        break;
      case 'vsock':
        this.vhost.guestDriver(p.vcpu, this.vmOf[p.vcpu] as number, pcpu, p.what);
        break;
      case 'injected':
        this.vhost.injected(p.vcpu, this.vmOf[p.vcpu] as number, pcpu, p.vector);
        break;
    }
  }

  /**
   * A device's interrupt for vCPU `v` (kvm_set_irq), with a kick from CPU `from` (its vhost worker's)
   * if that vCPU is in guest mode.
   */
  private interrupt(v: number, vector: number, from: number): void {
    if (!this.react(v, vector)) this.sendVcpu(v, { type: 'irq', vector });
    // kvm_vcpu_kick: a vCPU in guest mode on another CPU is made to exit with an IPI.
    const kicked = this.bitRead(2 * v, () => Guests.kicked(this.vcpus.leaf(v)), KICKED);
    // (Exploration: after a reaction the IPI is a function of that bit: the cache keeps both outcomes.)
    if (this.reads !== null && this.reactedSlots.has(this.base + 2 * v)) this.host.kickLook?.(this.base + 2 * v, KICKED, from, this.pcpu(v), RESCHEDULE_VECTOR, kicked);
    if (kicked) this.host.ipi(from, this.pcpu(v), RESCHEDULE_VECTOR);
  }

  /** Whether kvm_vcpu_kick sends a vCPU with this leaf an IPI (it is in guest mode). */
  private static kicked(leaf: string): boolean {
    return leaf === 'run.guest' || leaf === 'run.spinning';
  }

  /**
   * Exploration (transition cache): vCPU `v` receives interrupt `vector` as a reaction of its own,
   * if nothing else of it was read so far: its chart moves by itself (a function of its state and
   * the event) and the step goes on reading only its bits. A reaction whose outbox is not empty
   * (a record, an effect, a host instruction: `sendVcpu`) stays a read of the vCPU. False: not
   * tracking, or the vCPU was read before (send it the usual way).
   */
  private react(v: number, vector: number): boolean {
    const reads = this.reads;
    const slot = this.base + 2 * v;
    if (reads === null || !this.host.reacted || reads.has(slot) || this.bitsSeen.has(slot) || this.reactedSlots.has(slot)) return false;
    if (this.sendVcpu(v, { type: 'irq', vector })) return true;
    reads.delete(slot);
    this.reactedSlots.add(slot);
    this.host.reacted(slot, vector);
    return true;
  }

  /** A host socket on `cpu` sends to a guest CID (vhost_transport_send_pkt); −ENODEV without such a device. */
  hostSend(cpu: number, send: TrafficSpec & { cid: number }): void {
    this.vhost.hostSend(cpu, send);
  }

  /** Physical CPUs a guest step changed (their runnability and hashes). */
  takeTouched(): number[] {
    if (this.touched.size === 0) return [];
    const out = [...this.touched];
    this.touched.clear();
    return out;
  }

  takeChanged(): number[] {
    if (this.changed.size === 0) return [];
    const out = [...this.changed].sort((a, b) => a - b);
    this.changed.clear();
    return out;
  }

  takeChangedDevices(): number[] {
    if (this.devChanged.size === 0) return [];
    const out = [...this.devChanged].sort((a, b) => a - b);
    this.devChanged.clear();
    return out;
  }

  // ---- exploration and saving -------------------------------------------------------------------

  /** While tracking: the set of slots read (see `track`), and the first guest slot. */
  private reads: Set<number> | null = null;
  private base = 0;
  /** While tracking: the slots read through their bits, and the vCPU slots that reacted (`react`). */
  private readonly bitsSeen = new Set<number>();
  private readonly reactedSlots = new Set<number>();

  /**
   * The guest actors as numbered slots after `base` (vCPU i: base + 2i, its VMM thread: base + 2i + 1,
   * vsock device d: base + 2 * count + d, the order of `hashes()`); while `reads` is set, the slots
   * of the actors read or moved are added to it (exploration's transition cache).
   */
  track(reads: Set<number> | null, base: number): void {
    this.reads = reads;
    this.base = base;
    this.bitsSeen.clear();
    this.reactedSlots.clear();
    this.vcpus.track?.(reads, base, 2);
    this.vmms.track?.(reads, base + 1, 2);
    this.devices.track?.(reads, base + 2 * this.count, 1);
  }

  /** How many slots the guest actors take (see `track`). */
  get slots(): number {
    return 2 * this.count + this.devices.size;
  }

  /** The capture of the actor in slot `j` (counted from the first guest slot). */
  captureSlot(j: number): ChartCapture<VcpuContext> | ChartCapture<VmmContext> | ChartCapture<VsockContext> {
    const one =
      j < 2 * this.count ? (j % 2 === 0 ? this.vcpus.captureOne?.(j >> 1) : this.vmms.captureOne?.(j >> 1)) : this.devices.captureOne?.(j - 2 * this.count);
    if (!one) throw new Error('exploration needs the compiled engine');
    return one;
  }

  capture(): GuestsCapture | null {
    const vcpus = this.vcpus.capture?.();
    const vmms = this.vmms.capture?.();
    const devices = this.devices.capture?.();
    if (!vcpus || !vmms || !devices) return null;
    return { vcpus, vmms, devices };
  }

  restoreCapture(c: GuestsCapture): number[] {
    const a = this.vcpus.restoreCapture?.(c.vcpus) ?? [];
    const b = this.vmms.restoreCapture?.(c.vmms) ?? [];
    const d = this.devices.restoreCapture?.(c.devices) ?? [];
    this.parts.restored(a, b, d, c.hashes);
    for (const i of a) this.noteRun(i);
    return [...new Set([...a, ...b])];
  }

  save(): GuestsState {
    return { vcpus: this.vcpus.save(), vmms: this.vmms.save(), devices: this.devices.save() };
  }

  /** The guest part of the state key: every actor's program point and context (src/state/guests.ts). */
  key(): string {
    let k = '';
    for (let j = 0; j < this.slots; j++) k += `|${this.keyOf(j)}`;
    return k;
  }

  /** The key of the actor in guest slot `j` (see `track`). */
  keyOf(j: number): string {
    return this.parts.keyOf(j);
  }

  /** The guest part of the state hash: one number per actor, recomputed only for actors that moved since their last hash. */
  hashes(): number[] {
    const out: number[] = [];
    for (let j = 0; j < this.slots; j++) out.push(this.hashOf(j));
    return out;
  }

  /** The hash of the actor in guest slot `j`, remembered until it moves. */
  hashOf(j: number): number {
    return this.parts.hashOf(j);
  }

  /** A capture of slot `j`'s actor hashed with its CPU and vCPU references renamed, NaN if unchanged (GuestStateParts.renamedHash). */
  renamedHash(j: number, cap: ChartCapture<unknown>, r: Renaming): number {
    return this.parts.renamedHash(j, cap, r);
  }

  /** The final record of each vCPU and each vsock device, for the outcome. */
  finals(): TraceRecord[] {
    return guestFinals({
      count: this.count,
      vcpus: this.vcpus,
      vmms: this.vmms,
      devices: this.devices,
      vsock: this.vsock,
      vendor: this.vendor,
      launchState: (pcpu, addr) => this.host.launchState(pcpu, addr),
    });
  }
}
