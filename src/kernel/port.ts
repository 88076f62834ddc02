/**
 * What the kernel code running on a CPU can ask of the world outside its own actor — send over the
 * interconnect, arm a timer on the virtual clock, print to the console, report a fault or a kernel
 * event, reset the platform, jump to the crash kernel — as effect values in its step's outbox. The
 * simulator applies them; tests pass a recording fake. Every event the simulator sends a machine carries the port and the shared kernel
 * memory, so the machines import neither the bus, the clock nor the scheduler.
 */
import type { OutgoingMessage } from '../hw/apic.js';
import type { KernelMemory } from './memory.js';
import type { HostExitReason } from '../kvm/types.js';

export type FaultHandling = 'eaten' | 'bug' | 'oops' | 'warn';

export interface FaultReport {
  insn: string;
  fault: '#UD' | '#GP';
  context: string;
  handling: FaultHandling;
}

export type Disposition =
  | { status: 'delivered' }
  | { status: 'pending'; reason: string }
  | { status: 'latched'; reason: string }
  | { status: 'dropped'; reason: string };

/**
 * What a CPU chart action asks of the world outside its actor, as a value. The action puts it in the
 * outbox of its step (`CpuPort.out`); the simulator applies the outbox after the step, in order.
 */
export type CpuEffect =
  | { kind: 'send'; cpu: number; message: OutgoingMessage }
  | { kind: 'arm timer'; cpu: number; name: string; ns: number }
  | { kind: 'cancel timer'; cpu: number; name: string }
  | { kind: 'console'; cpu: number; text: string }
  /** A WARN splat of the host kernel at `where` (file and function): printed, and execution goes on. */
  | { kind: 'warn'; cpu: number; where: string; text: string }
  /** A VMX/SVM instruction and what it did ('ok', '#UD', 'VMfailInvalid', …). */
  | { kind: 'insn'; cpu: number; insn: string; result: string }
  | { kind: 'fault'; cpu: number; report: FaultReport }
  /** A kernel-level event the outcome and the spec observers read (shootdown start/end, stop phases…). */
  | { kind: 'kernel event'; cpu: number; what: string; data: Record<string, number | string | boolean | null> }
  /** How the message being delivered ended at this CPU. */
  | { kind: 'account'; cpu: number; disposition: Disposition }
  | { kind: 'platform reset'; cpu: number; method: string }
  /**
   * A guest running on this CPU was left by a VM exit for a host event (an NMI, an external
   * interrupt, INIT; on AMD an SMI); the host handler runs first, then the vCPU thread handles the exit.
   */
  | { kind: 'guest exit'; cpu: number; reason: HostExitReason }
  /** The result of a VMX/SVM instruction a vCPU thread executed on this CPU (`kvm.insn`). */
  | { kind: 'host insn done'; cpu: number; result: string }
  | { kind: 'kexec'; cpu: number };

export interface CpuPort {
  /** Put an effect in the outbox of the step running now. */
  out(effect: CpuEffect): void;
  /** The virtual clock (read, not an effect). */
  now(): number;
}

/** Carried by every event the simulator sends to a machine. */
export interface World {
  k: KernelMemory;
  io: CpuPort;
}
