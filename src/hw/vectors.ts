/**
 * One name per interrupt message, the same at both ends of it: the send line, the receive line, the
 * viewer's arrows and the exports all call a fixed IPI by its vector's kernel name and number.
 */
import { CALL_FUNCTION_VECTOR, REBOOT_VECTOR, RESCHEDULE_VECTOR, SCRIPT_DEVICE_VECTOR } from './apic.js';

/** Kernel names of the vectors the model sends (arch/x86/include/asm/irq_vectors.h). */
export const VECTOR_NAMES: Readonly<Record<number, string>> = {
  [REBOOT_VECTOR]: 'REBOOT_VECTOR',
  [CALL_FUNCTION_VECTOR]: 'CALL_FUNCTION_VECTOR',
  [RESCHEDULE_VECTOR]: 'RESCHEDULE_VECTOR',
  [SCRIPT_DEVICE_VECTOR]: 'device IRQ',
};

/** `REBOOT_VECTOR (0xf8)` for a fixed IPI (`IPI (0x31)` for an unnamed vector); `NMI`, `INIT`, `SIPI`, `SMI` otherwise. */
export function messageLabel(mode: string, vector: number | null): string {
  if (mode !== 'fixed') return mode.toUpperCase();
  const hex = `0x${(vector ?? 0).toString(16)}`;
  return `${(vector !== null && VECTOR_NAMES[vector]) || 'IPI'} (${hex})`;
}
