/**
 * The actor kinds the viewer and the exporters know, each read from its machine definition. The
 * vCPU and vhost-vsock machines are named by the issue but not modelled yet: asking for them says
 * so rather than pretending they are unknown words.
 */
import { physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import { chartOf, type ChartModel } from './chart-model.js';

export interface ActorKind {
  name: string;
  title: string;
  chart(): ChartModel;
}

let physicalCpuChart: ChartModel | null = null;

export const ACTOR_KINDS: readonly ActorKind[] = [
  {
    name: 'physical-cpu',
    title: 'x86 physical CPU and the host kernel it runs',
    chart: () => (physicalCpuChart ??= chartOf(physicalCpuMachine, 'physical-cpu', 'x86 physical CPU and the host kernel it runs')),
  },
];

/** Kinds the project plans but has no machine for yet. */
export const PLANNED_KINDS: readonly string[] = ['vcpu', 'vhost-vsock'];

export function findActorKind(name: string): ActorKind | undefined {
  return ACTOR_KINDS.find((k) => k.name === name);
}
