/**
 * Which pieces of "disable virtualization" each kernel call site runs, by era (SEMANTICS §1(b) F1.2,
 * F1.4, F1.5, F1.7 and §2(b)). The physical CPU chart has one block per piece; this table decides
 * which blocks a call site runs for a given set of switches, so the chart itself stays era-free.
 */
import type { Vendor } from '../hw/cpu-state.js';
import type { KernelFeatures } from './variants.js';

/**
 * - `emergency-self`: the restart initiator on itself (emergency_vmx_disable_all /
 *   emergency_reboot_disable_virtualization).
 * - `vmxoff-nmi`: the E0/E1 shootdown callback of the restart path (vmxoff_nmi).
 * - `stop`: the REBOOT_VECTOR handler and smp_stop_nmi_callback before stop_this_cpu().
 * - `crash-core`: crash_nmi_callback() after the callback (E2+).
 * - `kdump-callback`: inside kdump_nmi_callback() on a responder.
 * - `kdump-self`: native_machine_crash_shutdown() on the kdump initiator.
 */
export type VirtDisableSite = 'emergency-self' | 'vmxoff-nmi' | 'stop' | 'crash-core' | 'kdump-callback' | 'kdump-self';

export interface VirtBlocks {
  /** E3+: the callback KVM registered (vmx_emergency_disable / svm_emergency_disable). */
  callback: boolean;
  /** E0–E2: crash_vmclear_local_loaded_vmcss, KVM's VMCLEAR hook for the kdump path. */
  vmclearHook: boolean;
  /** cpu_emergency_vmxoff(): VMXOFF if CR4.VMXE, then clear CR4.VMXE. */
  vmx: boolean;
  /** cpu_emergency_svm_disable(): VM_HSAVE_PA=0, (E2: STGI if SVME), clear EFER.SVME. */
  svm: boolean;
}

const NONE: VirtBlocks = { callback: false, vmclearHook: false, vmx: false, svm: false };

export function virtBlocks(site: VirtDisableSite, f: KernelFeatures): VirtBlocks {
  const viaCallback = f['virt-disable-via-kvm-callback'];
  switch (site) {
    case 'emergency-self':
      if (viaCallback) return { ...NONE, callback: true };
      // E0/E1 emergency_vmx_disable_all() knows nothing of SVM (R8); E2 adds it.
      return { ...NONE, vmx: true, svm: f['emergency-disables-svm'] };
    case 'vmxoff-nmi':
      return { ...NONE, vmx: true };
    case 'stop':
      // smp.c: E0/E1 cpu_emergency_vmxoff() (VMX only); v6.3 a2b07fa7b933 adds SVM; E3+ the KVM callback.
      if (viaCallback) return { ...NONE, callback: true };
      return { ...NONE, vmx: true, svm: f['stop-disables-svm'] };
    case 'crash-core':
      if (!f['core-nmi-handler-disables-virt']) return NONE;
      return viaCallback ? { ...NONE, callback: true } : { ...NONE, vmx: true, svm: true };
    case 'kdump-callback':
      // E3 moved the VMCLEAR into the step-4 callback; E2 kept only the hook in the callback.
      if (viaCallback) return NONE;
      if (f['core-nmi-handler-disables-virt']) return { ...NONE, vmclearHook: true };
      return { ...NONE, vmclearHook: true, vmx: true, svm: true };
    case 'kdump-self':
      return viaCallback ? { ...NONE, callback: true } : { ...NONE, vmclearHook: true, vmx: true, svm: true };
  }
}

/**
 * Whether emergency restart disables virtualization and shoots down the other CPUs at all
 * (F1.2 step 1): E0 only with VMX on this CPU, E1 whenever CPUID has VMX, E2 with VMX or SVM,
 * E3 only when KVM registered its callback.
 */
export function emergencyRestartDisablesVirt(
  f: KernelFeatures,
  vendor: Vendor,
  cr4Vmxe: boolean,
  kvmLoaded: boolean,
): boolean {
  if (f['virt-disable-via-kvm-callback']) return kvmLoaded;
  if (f['emergency-disables-svm']) return true;
  if (f['shootdown-if-vmx-supported']) return vendor === 'intel';
  return vendor === 'intel' && cr4Vmxe;
}
