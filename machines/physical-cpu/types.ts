/** Context, input and events of the physical CPU actor. */
import type { CpuHw, ExecContext, Vendor } from '../../src/hw/cpu-state.js';
import type { DeliveryMode, MessageSource } from '../../src/hw/apic.js';
import type { KernelFeatures } from '../../src/kernel/variants.js';
import type { World } from '../../src/kernel/port.js';

/** oops_end()'s panic message for an oops in interrupt context (arch/x86/kernel/dumpstack.c). */
export const FATAL_IN_INTERRUPT = 'Fatal exception in interrupt';
/** oops_end()'s panic message for an oops in task context with panic_on_oops. */
export const FATAL_IN_TASK = 'Fatal exception';

/** The panic message oops_end() gives an oops in region `r`. */
export const fatalMessage = (r: Region): string => (r === 'task' ? FATAL_IN_TASK : FATAL_IN_INTERRUPT);

/** The regions of the running kernel that execute code: one per interrupt context. */
export type Region = 'task' | 'irq' | 'nmi' | 'smm';

export interface KernelOptions {
  vendor: Vendor;
  kdump: boolean;
  kdumpBringsUpAps: boolean;
  crashKexecPostNotifiers: boolean;
  panicTimeout: number;
  kvmLoaded: boolean;
  debugList: boolean;
  rebootForce: boolean;
  panicOnOops: boolean;
  resetMethod: string;
  cpus: number;
}

export interface CpuContext {
  id: number;
  hw: CpuHw;
  /** Execution-context stack; the top is where the next instruction runs. */
  ctx: ExecContext[];
  /** RFLAGS.IF of each interrupted context, restored by its IRET. */
  savedIf: boolean[];
  /** loaded_vmcss_on_cpu: VMCS addresses KVM loaded here (kernel per-CPU list). */
  loadedVmcss: number[];
  /** Position in a VMCLEAR walk of loadedVmcss, per region (a walk in NMI can interrupt one in task). */
  walk: Record<Region, number>;
  features: KernelFeatures;
  opts: KernelOptions;
  /** The CPU's current context does not execute until an interrupt arrives (scripted stall). */
  stalled: boolean;
  /** Message of the panic in progress in each region. */
  panicMsg: Record<Region, string>;
  /** What the NMI being handled came from (the perf watchdog or an IPI). */
  nmiSource: MessageSource;
  /** Some NMI handler on the list returned NMI_HANDLED for the NMI being handled. */
  nmiHandled: boolean;
  /** What the watchdog NMI handler will do: nmi_panic() or emergency_restart(). */
  nmiAction: 'panic' | 'emergency-restart' | null;
  nmiActionMsg: string;
  /** Action a scripted device interrupt will run in IRQ context. */
  irqAction: 'panic' | 'emergency-restart' | null;
  irqActionMsg: string;
  /** Fixed vector being handled in the IRQ region. */
  irqVector: number;
  /** The virtual time a kernel wait began, for reporting how long it waited. */
  waitStart: number;
  /** Crash kernel: next AP to bring up. */
  nextAp: number;
  /** The reboot task, moved here by migrate_to_reboot_cpu(), waits on this CPU's runqueue (its reschedule IPI was taken). */
  rebootQueued: boolean;
}

export interface CpuInput {
  id: number;
  hw: CpuHw;
  loadedVmcss: number[];
  features: KernelFeatures;
  opts: KernelOptions;
}

/** Events may carry the world (tests); the simulator provides it instead (see guards.ts). */
type WithWorld<E> = E & Partial<World>;

export type CpuEvent =
  | WithWorld<{ type: 'sched.task' | 'sched.irq' | 'sched.nmi' | 'sched.smm' }>
  | WithWorld<{ type: 'bus.nmi'; from: number; source: MessageSource }>
  | WithWorld<{ type: 'bus.ipi'; from: number; vector: number }>
  | WithWorld<{ type: 'bus.init'; from: number }>
  | WithWorld<{ type: 'bus.sipi'; from: number; vector: number }>
  | WithWorld<{ type: 'bus.smi'; from: number }>
  | WithWorld<{ type: 'timer.expired'; name: string }>
  | WithWorld<{ type: 'script.reboot' }>
  | WithWorld<{ type: 'script.emergency-restart'; context: 'task' | 'irq' | 'nmi' }>
  | WithWorld<{ type: 'script.panic'; context: 'task' | 'irq' | 'nmi'; message: string }>
  | WithWorld<{ type: 'script.nmi-panic'; message: string }>
  | WithWorld<{ type: 'script.irqs-off' }>
  | WithWorld<{ type: 'script.irqs-on' }>
  | WithWorld<{ type: 'script.stall' }>
  | WithWorld<{ type: 'script.smi' }>
  | WithWorld<{ type: 'platform.reset' }>
  /** A vCPU thread running on this CPU executes a VMX/SVM instruction, or its guest exits (`vmexit`). */
  | WithWorld<{ type: 'kvm.insn'; insn: 'VMPTRLD' | 'VMLAUNCH' | 'VMRESUME' | 'VMRUN' | 'vmexit'; addr: number; why: string }>
  /** A vCPU or VMM thread running on this CPU oopsed in its ioctl (its oops printed already), with panic_on_oops: oops_end() goes on here. */
  | WithWorld<{ type: 'kvm.oops' }>;

export type CpuEventType = CpuEvent['type'];

export const BUS_EVENT_OF: Record<DeliveryMode, CpuEventType> = {
  fixed: 'bus.ipi',
  nmi: 'bus.nmi',
  init: 'bus.init',
  sipi: 'bus.sipi',
  smi: 'bus.smi',
};
