/**
 * The pure kernel rules of src/kernel: which virt-disable pieces each call site runs per era, when
 * emergency restart shoots down, and the shared-memory operations of the 2026 rework
 * (arch/x86/virt/hw.c: virt_rebooting) and of set_emergency_nmi_handler().
 */
import { describe, expect, it } from 'vitest';
import { emergencyRestartDisablesVirt, virtBlocks, x86VirtBackend, type VirtDisableSite } from '../../src/kernel/virt-disable.js';
import { resolveFeatures, findPreset } from '../../src/kernel/variants.js';
import { KernelMemory } from '../../src/kernel/memory.js';

const E6 = 'emergency-virt-in-virt-subsystem';
const mainline = resolveFeatures('mainline', [], []);
const withoutE6 = resolveFeatures('mainline', [], [E6]);

describe('the E6 switch', () => {
  it('is in mainline and in no older preset', () => {
    expect(findPreset('mainline')?.switches).toContain(E6);
    for (const p of ['v5.10', 'v5.11', 'v6.2', 'v6.6']) expect(findPreset(p)?.switches).not.toContain(E6);
  });
});

describe('virtBlocks: x86_virt_emergency_disable_virtualization_cpu() is called directly from every stop path (E6)', () => {
  const direct: VirtDisableSite[] = ['emergency-self', 'stop', 'crash-core', 'kdump-self'];
  it.each(direct)('%s: the core function with E6, KVM\'s callback without', (site) => {
    expect(virtBlocks(site, mainline)).toEqual({ core: true, callback: false, vmclearHook: false, vmx: false, svm: false });
    expect(virtBlocks(site, withoutE6)).toEqual({ core: false, callback: true, vmclearHook: false, vmx: false, svm: false });
  });

  it('kdump_nmi_callback() disables nothing itself in either era (crash_nmi_callback does it after the callback)', () => {
    expect(virtBlocks('kdump-callback', mainline)).toEqual({ core: false, callback: false, vmclearHook: false, vmx: false, svm: false });
  });
});

describe('emergencyRestartDisablesVirt: when emergency restart shoots down', () => {
  it('E6: whenever a VMX/SVM backend exists, KVM loaded or not, VMX on this CPU or not', () => {
    for (const kvm of [true, false]) {
      expect(emergencyRestartDisablesVirt(mainline, 'intel', false, kvm, 'vmx')).toBe(true);
      expect(emergencyRestartDisablesVirt(mainline, 'amd', false, kvm, 'svm')).toBe(true);
    }
  });

  it('E6 without a backend: -EOPNOTSUPP, no shootdown', () => {
    expect(emergencyRestartDisablesVirt(mainline, 'intel', false, true, null)).toBe(false);
  });

  it('E3–E5 (mainline without E6): only if KVM registered its callback', () => {
    expect(emergencyRestartDisablesVirt(withoutE6, 'intel', true, false, 'vmx')).toBe(false);
    expect(emergencyRestartDisablesVirt(withoutE6, 'intel', true, true, 'vmx')).toBe(true);
  });
});

describe('x86VirtBackend (x86_virt_init)', () => {
  it('VMX when IA32_FEATURE_CONTROL allows it, none when firmware locked it off; SVM on AMD', () => {
    expect(x86VirtBackend('intel', true)).toBe('vmx');
    expect(x86VirtBackend('intel', false)).toBeNull();
    expect(x86VirtBackend('amd', true)).toBe('svm');
  });
});

describe('KernelMemory', () => {
  it('setRebooting writes the one flag and names it as the era does', () => {
    const k = new KernelMemory(2);
    const names: string[] = [];
    k.onWrite = (name) => names.push(name);
    k.setRebooting('virt_rebooting', 0);
    k.setRebooting('kvm_rebooting', 1);
    expect(k.state.kvm_rebooting).toBe(true);
    expect(names).toEqual(['virt_rebooting', 'kvm_rebooting']);
  });

  it('setEmergencyNmiHandler: stores the handler; the same handler again WARNs once (WARN_ON_ONCE) and leaves the slot', () => {
    const k = new KernelMemory(2);
    expect(k.setEmergencyNmiHandler('crash', 0)).toBe(false);
    expect(k.state.nmi_emergency).toBe('crash');
    expect(k.setEmergencyNmiHandler('crash', 1)).toBe(true);
    expect(k.setEmergencyNmiHandler('crash', 1)).toBe(false);
    expect(k.state).toMatchObject({ nmi_emergency: 'crash', nmi_emergency_warned: true });
  });
});
