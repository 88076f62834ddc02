/**
 * The actor kinds the viewer and the exporters know, each read from its machine definition. The
 * vCPU machine is named by the issue but not modelled yet: asking for it says so rather than
 * pretending it is an unknown word.
 */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { vhostVsockMachine } from '../../machines/vhost-vsock.machine.js';
import { chartOf, type ChartModel } from './chart-model.js';

export interface ActorKind {
  name: string;
  title: string;
  chart(): ChartModel;
}

let physicalCpuChart: ChartModel | null = null;
let vhostVsockChart: ChartModel | null = null;

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
];

/** Kinds the project plans but has no machine for yet. */
export const PLANNED_KINDS: readonly string[] = ['vcpu'];

export function findActorKind(name: string): ActorKind | undefined {
  return ACTOR_KINDS.find((k) => k.name === name);
}
