/** Events, port, effects and world of the vCPU actor (the contract the simulator codes against). */
import type { KernelMemory } from '../../src/kernel/memory.js';
import type { KvmExitName, KvmIoctlArg, KvmIoctlName, KvmIoctlReturn } from '../../src/kvm/uapi.js';
import type { HostExitReason, HostInsn, HostInsnResult } from '../../src/kvm/types.js';

export type VcpuEvent =
  /** `createdVcpus`: KVM_CREATE_VCPU's view of its VM's kvm->created_vcpus (see vcpuIoctl in src/kvm/ioctl.ts). */
  | { type: 'ioctl'; name: KvmIoctlName; arg: KvmIoctlArg; createdVcpus?: number }
  | { type: 'sched.vcpu' }
  | { type: 'host.exit'; reason: HostExitReason }
  /** An interrupt for the guest from the kernel (an irqfd the vhost worker signalled): kvm_set_irq. */
  | { type: 'irq'; vector: number };

/**
 * What a vCPU step writes to the trace, as values: KVM's own records, written in the order the step
 * asks for them among the records of the host instructions it runs (`vcpu`: the vCPU).
 */
export type VcpuRecordEffect =
  /** A WARN_ON splat (where: function name); execution continues. */
  | { kind: 'kvm warn'; vcpu: number; where: string; message: string }
  /** A printk from KVM (pr_err / pr_warn, e.g. vcpu_unimpl): one console line. */
  | { kind: 'kvm printk'; vcpu: number; text: string }
  /** A BUG()/oops in the ioctl: its console lines (the thread's death is the `died` effect after it). */
  | { kind: 'kvm oops'; vcpu: number; lines: readonly string[] }
  /** A KVM tracepoint (kvm_entry, kvm_exit, kvm_inj_virq, …) and what it shows. */
  | { kind: 'kvm event'; vcpu: number; what: string; data: Record<string, number | string | boolean | null> };

/**
 * What a vCPU step hands the guest side to route, as values, first in, first out after the step
 * and what it set off: the ioctl's return to the VMM thread, the thread's death, the guest's
 * virtio-vsock driver, an injected interrupt.
 */
export type VcpuGuestEffect =
  /** `device`: for an MMIO exit the VMM must route (the vsock status register), which device. */
  | { kind: 'return'; vcpu: number; name: KvmIoctlName; ret: KvmIoctlReturn; exit: KvmExitName | null; device: string | null }
  /** The thread died in its ioctl (after an oops). */
  | { kind: 'died'; vcpu: number }
  /** The guest's virtio-vsock driver: its probe (`ready`) or a packet sent on TX (`send`). */
  | { kind: 'vsock'; vcpu: number; what: 'ready' | 'send' }
  /** An interrupt was injected into the guest, which now runs its handler. */
  | { kind: 'injected'; vcpu: number; vector: number };

/** Everything a vCPU chart action asks of the world outside its actor but the host instruction. */
export type VcpuEffect = VcpuRecordEffect | VcpuGuestEffect;

/**
 * The port of the vCPU chart: one way out for effects, as values (`out`), and one synchronous call.
 *
 * `hostInsn` is the one call that returns a result: the VMX/SVM instruction (VMPTRLD, VMLAUNCH,
 * VMRESUME, VMRUN, a VM exit) executes on the physical CPU the vCPU thread runs on, as part of the
 * thread's step (Intel SDM Vol. 3C "VM Entries", "VM Exits"; AMD APM Vol. 2 "VMRUN Instruction"),
 * and what it did (ok, #UD, #GP, VMfail) decides the branch the same step takes. The port applies the effects put out before it
 * first, so the trace keeps the order the step asked for.
 */
export interface VcpuPort {
  /** Put an effect in the outbox of the step running now. */
  out(effect: VcpuEffect): void;
  /** Execute on the vCPU thread's physical CPU; returns what the CPU did. */
  hostInsn(vcpu: number, insn: HostInsn): HostInsnResult;
}

export interface VcpuWorld {
  k: KernelMemory;
  io: VcpuPort;
}
