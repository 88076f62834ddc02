/** The actor kinds the viewer and the exporters know, each read from its machine definition. */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { vhostVsockMachine } from '../../machines/vhost-vsock.machine.js';
import { vcpuMachine } from '../../machines/vcpu.machine.js';
import { vmmMachine } from '../../machines/vmm.machine.js';
import { chartOf, type ChartModel } from './chart-model.js';

export interface ActorKind {
  name: string;
  title: string;
  chart(): ChartModel;
}

let physicalCpuChart: ChartModel | null = null;
let vhostVsockChart: ChartModel | null = null;
let vcpuChart: ChartModel | null = null;
let vmmChart: ChartModel | null = null;

export const ACTOR_KINDS: readonly ActorKind[] = [
  {
    name: 'physical-cpu',
    title: 'x86 physical CPU and the host kernel it runs',
    chart: () => (physicalCpuChart ??= chartOf(physicalCpuMachine, 'physical-cpu', 'x86 physical CPU and the host kernel it runs')),
  },
  {
    name: 'vhost-vsock',
    title: 'vhost-vsock device file (drivers/vhost/vsock.c)',
    chart: () => (vhostVsockChart ??= chartOf(vhostVsockMachine, 'vhost-vsock', 'vhost-vsock device file (drivers/vhost/vsock.c)')),
  },
  {
    name: 'vcpu',
    title: 'KVM vCPU: the KVM_RUN loop, L1/L2, SMM (arch/x86/kvm)',
    chart: () => (vcpuChart ??= chartOf(vcpuMachine, 'vcpu', 'KVM vCPU: the KVM_RUN loop, L1/L2, SMM (arch/x86/kvm)')),
  },
  {
    name: 'vmm',
    title: "VMM vCPU thread (QEMU's kvm_cpu_exec loop)",
    chart: () => (vmmChart ??= chartOf(vmmMachine, 'vmm', "VMM vCPU thread (QEMU's kvm_cpu_exec loop)")),
  },
];

/** Kinds the project plans but has no machine for yet. */
export const PLANNED_KINDS: readonly string[] = [];

export function findActorKind(name: string): ActorKind | undefined {
  return ACTOR_KINDS.find((k) => k.name === name);
}
