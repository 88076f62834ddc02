/**
 * Which pieces of "disable virtualization" each kernel call site runs, by era (docs/model.md §1.2,
 * §1.4, §1.5, §1.7 and §2.2). The physical CPU chart has one block per piece; this table decides
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
  /**
   * E6: x86_virt_emergency_disable_virtualization_cpu() of arch/x86/virt/hw.c, called directly by the
   * site: virt_rebooting=true; return if CR4.VMXE=0 (AMD: EFER.SVME=0); KVM's callback if registered
   * (the VMCLEAR walk; AMD: VM_HSAVE_PA=0); VMXOFF with its fault fixup (AMD: STGI, clear SVME).
   */
  core: boolean;
  /** E3+: the callback KVM registered (vmx_emergency_disable / svm_emergency_disable). */
  callback: boolean;
  /** E0–E2: crash_vmclear_local_loaded_vmcss, KVM's VMCLEAR hook for the kdump path. */
  vmclearHook: boolean;
  /** cpu_emergency_vmxoff(): VMXOFF if CR4.VMXE, then clear CR4.VMXE. */
  vmx: boolean;
  /** cpu_emergency_svm_disable(): VM_HSAVE_PA=0, (E2: STGI if SVME), clear EFER.SVME. */
  svm: boolean;
}

const NONE: VirtBlocks = { core: false, callback: false, vmclearHook: false, vmx: false, svm: false };

export function virtBlocks(site: VirtDisableSite, f: KernelFeatures): VirtBlocks {
  const viaCallback = f['virt-disable-via-kvm-callback'];
  // E6 (428afac5a8ea): reboot.c, smp.c and crash.c call x86_virt_emergency_disable_virtualization_cpu().
  const core = f['emergency-virt-in-virt-subsystem'];
  switch (site) {
    case 'emergency-self':
      if (core) return { ...NONE, core: true };
      if (viaCallback) return { ...NONE, callback: true };
      // E0/E1 emergency_vmx_disable_all() knows nothing of SVM (R8); E2 adds it.
      return { ...NONE, vmx: true, svm: f['emergency-disables-svm'] };
    case 'vmxoff-nmi':
      return { ...NONE, vmx: true };
    case 'stop':
      // smp.c: E0/E1 cpu_emergency_vmxoff() (VMX only); v6.3 a2b07fa7b933 adds SVM; E3+ the KVM callback.
      if (core) return { ...NONE, core: true };
      if (viaCallback) return { ...NONE, callback: true };
      return { ...NONE, vmx: true, svm: f['stop-disables-svm'] };
    case 'crash-core':
      if (!f['core-nmi-handler-disables-virt']) return NONE;
      if (core) return { ...NONE, core: true };
      return viaCallback ? { ...NONE, callback: true } : { ...NONE, vmx: true, svm: true };
    case 'kdump-callback':
      // E3 moved the VMCLEAR into the step-4 callback; E2 kept only the hook in the callback.
      if (viaCallback || core) return NONE;
      if (f['core-nmi-handler-disables-virt']) return { ...NONE, vmclearHook: true };
      return { ...NONE, vmclearHook: true, vmx: true, svm: true };
    case 'kdump-self':
      if (core) return { ...NONE, core: true };
      return viaCallback ? { ...NONE, callback: true } : { ...NONE, vmclearHook: true, vmx: true, svm: true };
  }
}

/**
 * The backend x86_virt_init() picks at boot (arch/x86/virt/hw.c): VMX when CPUID has it and
 * IA32_FEATURE_CONTROL lets the kernel use it (else init_ia32_feat_ctl() clears X86_FEATURE_VMX),
 * SVM on AMD. No backend: x86_virt_emergency_disable_virtualization_cpu() returns -EOPNOTSUPP.
 */
export function x86VirtBackend(vendor: Vendor, featureControlOk: boolean): 'vmx' | 'svm' | null {
  if (vendor === 'amd') return 'svm';
  return featureControlOk ? 'vmx' : null;
}

/**
 * Whether emergency restart disables virtualization and shoots down the other CPUs at all
 * (docs/model.md §1.2 step 1): E0 only with VMX on this CPU, E1 whenever CPUID has VMX, E2 with VMX or SVM,
 * E3–E5 only when KVM registered its callback, E6 whenever a VMX/SVM backend exists
 * (emergency_reboot_disable_virtualization(): `if (!x86_virt_emergency_disable_virtualization_cpu())
 * nmi_shootdown_cpus_on_restart();` — "Do the NMI shootdown even if virtualization is off on _this_ CPU").
 */
export function emergencyRestartDisablesVirt(
  f: KernelFeatures,
  vendor: Vendor,
  cr4Vmxe: boolean,
  kvmLoaded: boolean,
  backend: 'vmx' | 'svm' | null,
): boolean {
  if (f['emergency-virt-in-virt-subsystem']) return backend !== null;
  if (f['virt-disable-via-kvm-callback']) return kvmLoaded;
  if (f['emergency-disables-svm']) return true;
  if (f['shootdown-if-vmx-supported']) return vendor === 'intel';
  return vendor === 'intel' && cr4Vmxe;
}
