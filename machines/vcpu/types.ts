/** Events, port and world of the vCPU actor (the contract the simulator codes against). */
import type { KernelMemory } from '../../src/kernel/memory.js';
import type { KvmExitName, KvmIoctlArg, KvmIoctlName, KvmIoctlReturn } from '../../src/kvm/uapi.js';
import type { HostInsn, HostInsnResult } from '../../src/kvm/types.js';

export type VcpuEvent =
  | { type: 'ioctl'; name: KvmIoctlName; arg: KvmIoctlArg }
  | { type: 'sched.vcpu' }
  | { type: 'host.exit'; reason: 'nmi' | 'intr' }
  /** An interrupt for the guest from the kernel (an irqfd the vhost worker signalled): kvm_set_irq. */
  | { type: 'irq'; vector: number };

export interface VcpuPort {
  /** Execute on the vCPU thread's physical CPU; returns what the CPU did. */
  hostInsn(vcpu: number, insn: HostInsn): HostInsnResult;
  /** `device`: for an MMIO exit the VMM must route (the vsock status register), which device. */
  ioctlReturn(vcpu: number, name: KvmIoctlName, ret: KvmIoctlReturn, exit: KvmExitName | null, device?: string | null): void;
  /** The guest's virtio-vsock driver: its probe (`ready`) or a packet sent on TX (`send`). */
  vsock?(vcpu: number, what: 'ready' | 'send'): void;
  /** An interrupt was injected into the guest, which now runs its handler. */
  injected?(vcpu: number, vector: number): void;
  /** A WARN_ON splat (where: function name); execution continues. */
  warn(vcpu: number, where: string, message: string): void;
  /** A BUG()/oops in the ioctl: the thread dies. */
  oops(vcpu: number, lines: string[]): void;
  console(vcpu: number, text: string): void;
  kvmEvent(vcpu: number, what: string, data: Record<string, number | string | boolean | null>): void;
}

export interface VcpuWorld {
  k: KernelMemory;
  io: VcpuPort;
}
