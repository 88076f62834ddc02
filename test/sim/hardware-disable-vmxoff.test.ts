/**
 * KVM's orderly hardware_disable on reboot(2) (kvm_reboot sets kvm_rebooting, then
 * on_each_cpu(hardware_disable_nolock)): VMXOFF goes through KVM's fault handling in every era — v5.10's
 * kvm_cpu_vmxoff() is `asm volatile (__ex("vmxoff"))`, whose fixup calls kvm_spurious_fault(); then
 * `if (cpu_vmxoff()) kvm_spurious_fault();` ("KVM: VMX: Use the kernel's version of VMXOFF"), later with
 * KVM's own kvm_cpu_vmxoff() again; the 2026 rework
 * x86_virt_put_ref(): `BUG_ON(disable() && !virt_rebooting)`. kvm_rebooting is already set, so a #UD
 * (the CPU was left out of VMX operation with CR4.VMXE set) is ignored and CR4.VMXE is cleared.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { PRESETS } from '../../src/kernel/variants.js';
import type { TraceRecord } from '../../src/trace/records.js';

const stale = {
  name: 'reboot-stale',
  machine: { cpus: 2 },
  // CPU 1: VMXOFF already done (an emergency disable's), CR4.VMXE still set, its list empty.
  initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '1': { vmx: 'off', cr4Vmxe: true, loadedVmcs: 0 } } },
  script: [{ cpu: 0, do: 'reboot', at: 0 }],
};

describe('reboot(2): a VMXOFF #UD in KVM\'s hardware_disable is eaten while kvm_rebooting is set', () => {
  it.each(PRESETS.map((p) => p.name))('%s: no oops, CR4.VMXE cleared, the reboot resets the machine', (preset) => {
    const v = validateScenario({ ...stale, kernel: { preset } }, 'reboot-stale', validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const records: TraceRecord[] = [];
    const { outcome } = runScenario(v.scenario, { seed: 1, onRecord: (r) => records.push(r) });
    expect(outcome.faults).toEqual([{ cpu: 1, insn: 'VMXOFF', fault: '#UD', context: 'irq', handling: 'eaten' }]);
    expect(outcome.end).toBe('reset');
    expect(outcome.violations).toEqual([]);
    expect(outcome.cpus.map((c) => [c.vmx, c.cr4Vmxe])).toEqual([
      ['off', false],
      ['off', false],
    ]);
  });
});
