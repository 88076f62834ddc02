/**
 * What the kernel code running on a CPU can ask of the world outside its own actor: send over the
 * interconnect, arm a timer on the virtual clock, print to the console, report a fault or a kernel
 * event, reset the platform, jump to the crash kernel. The simulator implements it; tests pass a
 * recording fake. Every event the simulator sends a machine carries the port and the shared kernel
 * memory, so the machines import neither the bus, the clock nor the scheduler.
 */
import type { OutgoingMessage } from '../hw/apic.js';
import type { KernelMemory } from './memory.js';

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

export interface CpuPort {
  send(cpu: number, message: OutgoingMessage): void;
  armTimer(cpu: number, name: string, ns: number): void;
  cancelTimer(cpu: number, name: string): void;
  console(cpu: number, text: string): void;
  /** A WARN splat of the host kernel at `where` (file and function): printed, and execution goes on. */
  warn(cpu: number, where: string, text: string): void;
  /** A VMX/SVM instruction and what it did ('ok', '#UD', 'VMfailInvalid', …). */
  insn(cpu: number, insn: string, result: string): void;
  fault(cpu: number, report: FaultReport): void;
  /** A kernel-level event the outcome and the spec observers read (shootdown start/end, stop phases…). */
  kernelEvent(cpu: number, what: string, data: Record<string, number | string | boolean | null>): void;
  /** How the message being delivered ended at this CPU. */
  account(cpu: number, disposition: Disposition): void;
  platformReset(cpu: number, method: string): void;
  /**
   * A guest running on this CPU was left by a VM exit for a host event (an NMI, an external
   * interrupt, INIT); the host handler runs first, then the vCPU thread handles the exit.
   */
  guestExit(cpu: number, reason: 'nmi' | 'intr'): void;
  /** The result of a VMX/SVM instruction a vCPU thread executed on this CPU (`kvm.insn`). */
  hostInsnDone(cpu: number, result: string): void;
  kexec(cpu: number): void;
  now(): number;
}

/** Carried by every event the simulator sends to a machine. */
export interface World {
  k: KernelMemory;
  io: CpuPort;
}
