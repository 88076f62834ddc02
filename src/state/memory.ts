/**
 * The shared kernel memory's part of the machine state (src/kernel/memory.ts), described once:
 * its copy, canonical text and hash, and the list of fields exploration tracks reads and writes
 * of, are derived from this codec.
 */
import type { KernelMemoryState } from '../kernel/memory.js';
import { array, bool, cpuId, int, members, nullable, oneOf, type Codec } from './codec.js';
import { constant, derived, struct } from './struct.js';

const handler = members({ crash: true, smp_stop: true });
/** A cpumask as 0/1 per CPU. */
const cpuMask = (): Codec<number[]> => array(oneOf([0, 1]) as Codec<number>, 'cpu-mask');

export const MEMORY = struct<KernelMemoryState>('KernelMemoryState', {
  cpus: constant('the machine\'s CPU count: the scenario\'s, the same in every state'),
  kvm_rebooting: bool(),
  crash_ipi_issued: oneOf([0, 1] as const),
  crashing_cpu: cpuId(),
  shootdown_callback: nullable(members({ vmxoff_nmi: true, kdump_nmi_callback: true })),
  waiting_for_crash_ipi: int(),
  nmi_local: array(handler),
  nmi_list_corrupt: bool(),
  nmi_emergency: nullable(handler),
  nmi_emergency_warned: bool(),
  stopping_cpu: cpuId(),
  panic_cpu: cpuId(),
  kexec_lock: cpuId(),
  cpus_stopped: bool(),
  reboot_emergency: oneOf([0, 1] as const),
  online: cpuMask(),
  onlineCount: derived('the population count of `online`, kept alongside it', int()),
  stopMask: cpuMask(),
  stopMaskCount: derived('the population count of `stopMask`, kept alongside it', int()),
  call_function_pending: int(),
  crashKernelCallin: cpuMask(),
  die_counter: int(),
  reboot_task_cpu: cpuId(),
  system_transition_mutex: cpuId(),
});

/** The fields that can change (not the constant CPU count), in declaration order: exploration tracks reads and writes by field. */
export const MEMORY_FIELDS: readonly (keyof KernelMemoryState)[] = MEMORY.fields
  .filter((f) => f.omitted?.omitted !== 'constant')
  .map((f) => f.name as keyof KernelMemoryState);

const FIELD_CODECS = new Map(MEMORY.fields.map((f) => [f.name, f.codec]));

/** A copy that shares nothing mutable. */
export function copyMemoryState(m: KernelMemoryState): KernelMemoryState {
  return MEMORY.copy(m);
}

/** The memory as canonical text: equal texts, equal memories (state identity in exploration). */
export function memoryText(m: KernelMemoryState): string {
  return MEMORY.text(m);
}

const MEMORY_SEED = 0x6d656d;

/** The memory's part of the state hash. */
export function memoryHash(m: KernelMemoryState): number {
  return MEMORY.hash(MEMORY_SEED, m);
}

/** A hash of one field's value (exploration compares the fields a decision read by these). */
export function memoryFieldHash(m: KernelMemoryState, field: keyof KernelMemoryState): number {
  return (FIELD_CODECS.get(field) as Codec<unknown>).hash(MEMORY_SEED, m[field]);
}

/** A copy of a value of one field (exploration records the values a decision wrote, and writes them). */
export function copyMemoryField<K extends keyof KernelMemoryState>(field: K, value: KernelMemoryState[K]): KernelMemoryState[K] {
  return (FIELD_CODECS.get(field) as Codec<KernelMemoryState[K]>).copy(value);
}
