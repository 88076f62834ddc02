/**
 * What a local APIC can send over the interconnect: the delivery modes and destinations of the
 * interrupt command register (SDM Vol. 3A 11.6.1), plus SMI. The bus carries these; the machines
 * build them.
 */

export type DeliveryMode = 'fixed' | 'nmi' | 'init' | 'sipi' | 'smi';

/** One CPU, a destination shorthand (all, all excluding self), or a logical mask of CPUs. */
export type Destination =
  | { kind: 'cpu'; cpu: number }
  | { kind: 'all' }
  | { kind: 'all-but-self' }
  | { kind: 'mask'; cpus: readonly number[] };

/** Why the sender sent it; the receiving kernel cannot see this, the trace and NMI dispatch can. */
export type MessageSource = 'kernel' | 'watchdog' | 'platform' | 'script';

export interface OutgoingMessage {
  mode: DeliveryMode;
  /** Vector for fixed interrupts (e.g. REBOOT_VECTOR 0xf8) and the start page for SIPI. */
  vector: number | null;
  dest: Destination;
  source: MessageSource;
}

/** arch/x86/include/asm/irq_vectors.h */
export const REBOOT_VECTOR = 0xf8;
export const CALL_FUNCTION_VECTOR = 0xfc;
/** The scheduler's IPI (smp_send_reschedule): wakes a CPU to run a task queued on it. */
export const RESCHEDULE_VECTOR = 0xfd;
/** A device interrupt of the model whose handler runs a scripted action in IRQ context. */
export const SCRIPT_DEVICE_VECTOR = 0x41;
export const NMI_VECTOR = 2;
