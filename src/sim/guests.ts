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
 */
import { vcpuImplementations, vcpuMachine, type VcpuContext, type VcpuEvent, type VcpuInput, type VcpuWorld } from '../../machines/vcpu.machine.js';
import { vmmImplementations, vmmMachine, type VmmContext, type VmmEvent, type VmmInput } from '../../machines/vmm.machine.js';
import type { CpuEvent } from '../../machines/physical-cpu/types.js';
import { KVM_EXIT, KVM_IOCTLS, type KvmExitName, type KvmIoctlArg, type KvmIoctlName, type KvmIoctlReturn } from '../kvm/uapi.js';
import type { KernelFeatures } from '../kernel/variants.js';
import type { KernelMemory } from '../kernel/memory.js';
import type { Vendor } from '../hw/cpu-state.js';
import { VMCS_REGION_BASE } from '../hw/cpu-state.js';
import type { VcpuSpec } from '../scenarios/vms.js';
import type { TraceRecord } from '../trace/records.js';
import { makeChartDriver, type ChartCapture, type ChartDriver } from './chart-driver.js';
import type { EngineName } from './cpu-drivers.js';
import type { InspectionEvent } from 'xstate';

export type GuestKind = 'vcpu' | 'vmm';

const VCPU_STEP: VcpuEvent = { type: 'sched.vcpu' };
const VMM_STEP: VmmEvent = { type: 'sched.vmm' };

/** vCPU VMCS/VMCB regions sit above the ones the scenario's `loadedVmcs` puts on the CPUs. */
export const GUEST_VMCS_BASE = VMCS_REGION_BASE + 0x0800_0000;

/** What the guests need from the composition root. */
export interface GuestHost {
  readonly k: KernelMemory;
  readonly lean: boolean;
  now(): number;
  emit(record: TraceRecord): void;
  /** Send a physical CPU an event now; returns what `hostInsnDone` reported for it. */
  hostInsn(pcpu: number, event: CpuEvent): string;
  /** Whether the CPU runs tasks now (its task region in the workload, nothing on top of it). */
  threadsRun(pcpu: number): boolean;
  /** The launch state of a VMCS region on a CPU, or null if the CPU never touched it. */
  launchState(pcpu: number, addr: number): 'clear' | 'launched' | null;
}

export interface GuestsCapture {
  vcpus: ChartCapture<VcpuContext>[];
  vmms: ChartCapture<VmmContext>[];
}

export interface GuestsState {
  vcpus: unknown;
  vmms: unknown;
}

type Pending =
  | { kind: 'ioctl'; vcpu: number; name: KvmIoctlName; arg: KvmIoctlArg }
  | { kind: 'return'; vcpu: number; name: KvmIoctlName; ret: KvmIoctlReturn; exit: KvmExitName | null }
  | { kind: 'died'; vcpu: number };

export function vcpuInputs(specs: readonly VcpuSpec[], vendor: Vendor, features: KernelFeatures): VcpuInput[] {
  return specs.map((s) => ({
    id: s.index,
    vm: s.vm,
    vcpuId: s.vcpuId,
    pcpu: s.pcpu,
    vendor,
    features,
    program: s.program,
    vmcs: vmcsRegions(s.index),
  }));
}

/** vmcs01 and vmcs02 (VMX), or vmcb01 and vmcb02 (SVM), of a vCPU: distinct 4 KiB regions. */
export function vmcsRegions(vcpu: number): { l1: number; l2: number } {
  return { l1: GUEST_VMCS_BASE + vcpu * 0x2000, l2: GUEST_VMCS_BASE + vcpu * 0x2000 + 0x1000 };
}

export class Guests {
  readonly vcpus: ChartDriver<VcpuContext, VcpuEvent>;
  readonly vmms: ChartDriver<VmmContext, VmmEvent>;
  /** The vCPUs pinned to each physical CPU. */
  readonly on: Map<number, number[]> = new Map();
  private readonly pending: Pending[] = [];
  /** Physical CPUs whose state a guest action changed since the last `takeTouched`. */
  private touched = new Set<number>();
  /** vCPUs that changed since the last `takeChanged` (their keys and runnability). */
  private changed = new Set<number>();
  private readonly pcpuOf: number[];
  private readonly vendor: Vendor;

  constructor(
    private readonly host: GuestHost,
    specs: readonly VcpuSpec[],
    vendor: Vendor,
    features: KernelFeatures,
    engine: EngineName,
    saved?: GuestsState,
    inspect?: (event: InspectionEvent) => void,
  ) {
    this.vendor = vendor;
    this.pcpuOf = specs.map((s) => s.pcpu);
    specs.forEach((s) => this.on.set(s.pcpu, [...(this.on.get(s.pcpu) ?? []), s.index]));
    const vcpuWorld: VcpuWorld = { k: host.k, io: this.vcpuPort() };
    const vmmWorld = { io: { ioctl: (vmm: number, name: KvmIoctlName, arg: KvmIoctlArg) => this.pending.push({ kind: 'ioctl', vcpu: vmm, name, arg }) } };
    const vcpu = vcpuMachine.provide(vcpuImplementations(() => vcpuWorld) as never);
    const vmm = vmmMachine.provide(vmmImplementations(() => vmmWorld) as never);
    const vmmInputs: VmmInput[] = specs.map((s) => ({ id: s.index, vm: s.vm, pcpu: s.pcpu, calls: s.calls }));
    this.vcpus = makeChartDriver(engine, vcpu as never, saved ? null : vcpuInputs(specs, vendor, features), saved?.vcpus, inspect);
    this.vmms = makeChartDriver(engine, vmm as never, saved ? null : vmmInputs, saved?.vmms, inspect);
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

  private vcpuPort(): VcpuWorld['io'] {
    const base = (vcpu: number) => ({ ns: this.host.now(), vcpu, cpu: this.pcpu(vcpu) });
    return {
      hostInsn: (vcpu, insn) => {
        const pcpu = this.pcpu(vcpu);
        this.touched.add(pcpu);
        const event = {
          type: 'kvm.insn',
          insn: insn.insn,
          addr: insn.insn === 'VMPTRLD' ? insn.vmcs : insn.insn === 'VMRUN' ? insn.vmcb : 0,
          why: insn.insn === 'vmexit' ? insn.why : '',
        } as CpuEvent;
        return this.host.hostInsn(pcpu, event) as ReturnType<VcpuWorld['io']['hostInsn']>;
      },
      ioctlReturn: (vcpu, name, ret, exit) => this.pending.push({ kind: 'return', vcpu, name, ret, exit }),
      warn: (vcpu, where, message) => {
        this.host.emit({ t: 'warning', ...base(vcpu), where, message });
        this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(vcpu), text: message });
      },
      oops: (vcpu, lines) => {
        this.host.emit({ t: 'kvm', ...base(vcpu), what: 'oops', data: { lines: lines.length } });
        for (const text of lines) this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(vcpu), text });
        this.pending.push({ kind: 'died', vcpu });
      },
      console: (vcpu, text) => this.host.emit({ t: 'console', ns: this.host.now(), cpu: this.pcpu(vcpu), text }),
      kvmEvent: (vcpu, what, data) => {
        if (!this.host.lean || what === 'kvm_nested_vmexit_inject') this.host.emit({ t: 'kvm', ...base(vcpu), what, data });
      },
    };
  }

  // ---- scheduling ------------------------------------------------------------------------------

  /**
   * The vCPU whose KVM_RUN holds the CPU (its chart is in `run`), or -1: a thread inside KVM_RUN
   * keeps its CPU until KVM returns to userspace or the thread dies.
   */
  private owner(pcpu: number): number {
    for (const v of this.on.get(pcpu) ?? []) if (this.vcpus.leaf(v).startsWith('run.')) return v;
    return -1;
  }

  /** Whether the actor can take a step now. */
  runnable(kind: GuestKind, i: number): boolean {
    const pcpu = this.pcpu(i);
    const owner = this.owner(pcpu);
    if (owner !== -1 && owner !== i) return false;
    if (!this.host.threadsRun(pcpu)) return false;
    return kind === 'vcpu' ? this.vcpus.can(i, VCPU_STEP) : this.vmms.can(i, VMM_STEP);
  }

  leaf(kind: GuestKind, i: number): string {
    return kind === 'vcpu' ? this.vcpus.leaf(i) : this.vmms.leaf(i);
  }

  activePaths(i: number): string[] {
    return this.vcpus.activePaths(i);
  }

  /** One step of a vCPU thread or a VMM thread, and everything it sets off between the two. */
  step(kind: GuestKind, i: number): void {
    const from = this.host.lean ? '' : this.leaf(kind, i);
    if (kind === 'vcpu') this.sendVcpu(i, VCPU_STEP);
    else this.sendVmm(i, VMM_STEP);
    if (!this.host.lean) this.host.emit({ t: 'gstep', ns: this.host.now(), actor: kind, vcpu: i, cpu: this.pcpu(i), from, to: this.leaf(kind, i) });
    this.drain();
  }

  /** The physical CPU left a guest for a host event: the vCPU in guest mode there sees the VM exit. */
  hostExit(pcpu: number, reason: 'nmi' | 'intr'): void {
    const owner = this.owner(pcpu);
    if (owner < 0) return;
    this.host.emit({ t: 'kvm', ns: this.host.now(), vcpu: owner, cpu: pcpu, what: 'host_exit', data: { reason } });
    this.sendVcpu(owner, { type: 'host.exit', reason });
  }

  private sendVcpu(i: number, event: VcpuEvent): void {
    this.changed.add(i);
    this.vcpus.send(i, event);
  }

  private sendVmm(i: number, event: VmmEvent): void {
    this.changed.add(i);
    this.vmms.send(i, event);
  }

  /** Route the ioctls and returns the last step queued, until nothing is left. */
  drain(): void {
    while (this.pending.length > 0) {
      const p = this.pending.shift() as Pending;
      const pcpu = this.pcpu(p.vcpu);
      switch (p.kind) {
        case 'ioctl':
          this.host.emit({ t: 'ioctl', ns: this.host.now(), vcpu: p.vcpu, cpu: pcpu, phase: 'call', name: p.name, number: KVM_IOCTLS[p.name], arg: p.arg });
          this.sendVcpu(p.vcpu, { type: 'ioctl', name: p.name, arg: p.arg });
          break;
        case 'return':
          this.host.emit({
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
          });
          this.sendVmm(p.vcpu, { type: 'ioctl.return', name: p.name, ret: p.ret, exit: p.exit });
          break;
        case 'died':
          // The thread died in its ioctl (the vCPU is dead, out of KVM_RUN): the CPU runs on.
          this.sendVmm(p.vcpu, { type: 'thread.died' });
          break;
      }
    }
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

  // ---- exploration and saving -------------------------------------------------------------------

  capture(): GuestsCapture | null {
    const vcpus = this.vcpus.capture?.();
    const vmms = this.vmms.capture?.();
    if (!vcpus || !vmms) return null;
    return { vcpus, vmms };
  }

  restoreCapture(c: GuestsCapture): number[] {
    const a = this.vcpus.restoreCapture?.(c.vcpus) ?? [];
    const b = this.vmms.restoreCapture?.(c.vmms) ?? [];
    return [...new Set([...a, ...b])];
  }

  save(): GuestsState {
    return { vcpus: this.vcpus.save(), vmms: this.vmms.save() };
  }

  /** The guest part of the state key: every actor's program point and context. */
  key(): string {
    let k = '';
    for (let i = 0; i < this.count; i++) {
      k += `|${this.vcpus.activePaths(i).join(',')}:${JSON.stringify(this.vcpus.context(i))}`;
      k += `|${this.vmms.activePaths(i).join(',')}:${JSON.stringify(this.vmms.context(i))}`;
    }
    return k;
  }

  /** The final record of each vCPU, for the outcome. */
  finals(): TraceRecord[] {
    const out: TraceRecord[] = [];
    for (let i = 0; i < this.count; i++) {
      const c = this.vcpus.context(i);
      out.push({
        t: 'vfinal',
        vcpu: i,
        vm: c.vm,
        cpu: c.pcpu,
        state: this.vcpus.leaf(i),
        vmm: this.vmms.leaf(i),
        guestMode: c.guestMode,
        inSmm: c.inSmm,
        nestedRunPending: c.nestedRunPending,
        rip: c.rip,
        exitReason: c.exitReason ? `KVM_EXIT_${c.exitReason}` : null,
        exitCode: c.exitReason ? KVM_EXIT[c.exitReason] : null,
        thread: c.thread,
        livelock: c.livelock,
        vendor: this.vendor,
        vmcs:
          this.vendor === 'intel'
            ? [this.vmcsOf(i).l1, this.vmcsOf(i).l2].map((addr) => ({ addr, launch: this.host.launchState(c.pcpu, addr) ?? 'never loaded' }))
            : [],
      });
    }
    return out;
  }
}
