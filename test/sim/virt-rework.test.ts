/**
 * The 2026 virtualization rework (switch emergency-virt-in-virt-subsystem: arch/x86/virt/hw.c,
 * 428afac5a8ea, a1450a8156c6) through the whole simulator with a fixed seed, each rule with the switch
 * on (mainline) and off (mainline without it, or v6.6). KVM is not loaded in most of them: that is where
 * calling x86_virt_emergency_disable_virtualization_cpu() directly differs from KVM's callback (VMX
 * root without KVM stands for another in-kernel user of VMXON, e.g. TDX).
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';

const E6 = 'emergency-virt-in-virt-subsystem';

function run(raw: Record<string, unknown>, preset: string, noFix: string[] = []) {
  const r = validateScenario({ ...raw, kernel: { preset, noFix } }, String(raw.name), validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return runScenario(r.scenario, { seed: 1, keepTrace: true });
}

const vmxRootNoKvm = { all: { vmx: 'root' } };

describe('stop paths call x86_virt_emergency_disable_virtualization_cpu() directly', () => {
  const reboot = { name: 'reboot-no-kvm', machine: { cpus: 4 }, initial: vmxRootNoKvm, options: { kvmLoaded: false }, script: [{ cpu: 0, do: 'reboot', at: 0 }] };

  it('mainline: the REBOOT_VECTOR handler turns VMX off on every responder, KVM or not', () => {
    const { outcome } = run(reboot, 'mainline');
    expect(outcome.end).toBe('reset');
    for (const c of outcome.cpus.slice(1)) expect(c).toMatchObject({ vmx: 'off', cr4Vmxe: false, state: 'os.irq.rebootVector.stop.halted' });
  });

  it.each([['mainline', [E6]], ['v6.6', []]])('%s without the switch: no KVM callback, the responders halt in VMX root', (preset, noFix) => {
    const { outcome } = run(reboot, preset, noFix);
    for (const c of outcome.cpus.slice(1)) expect(c).toMatchObject({ vmx: 'root', cr4Vmxe: true });
    expect(outcome.violations.filter((v) => v.property === 'no-cpu-left-in-vmx-root')).toHaveLength(4);
  });

  const kdump = { name: 'kdump-no-kvm', machine: { cpus: 4 }, initial: vmxRootNoKvm, options: { kvmLoaded: false, kdump: true, kdumpBringsUpAps: false }, script: [{ cpu: 0, do: 'panic', at: 0 }] };

  it('mainline: crash_nmi_callback() and native_machine_crash_shutdown() leave no CPU in VMX root for the crash kernel', () => {
    const { outcome } = run(kdump, 'mainline');
    expect(outcome.end).toBe('kexec');
    for (const c of outcome.cpus) expect(c).toMatchObject({ vmx: 'off', cr4Vmxe: false });
    expect(outcome.violations).toEqual([]);
  });

  it('mainline without the switch: every CPU jumps to the crash kernel still in VMX root', () => {
    const { outcome } = run(kdump, 'mainline', [E6]);
    expect(outcome.cpus.filter((c) => c.vmx === 'root')).toHaveLength(4);
  });
});

describe('virt_rebooting: the flag of E0–E5 kvm_rebooting, in core x86 and named so in the trace', () => {
  const restart = { name: 'sysrq', machine: { cpus: 2 }, initial: { all: { vmx: 'root', loadedVmcs: 1 } }, script: [{ cpu: 0, do: 'emergency-restart', at: 0 }] };

  it('mainline: each CPU writes virt_rebooting before its VMCLEAR walk; without the switch KVM\'s callback writes kvm_rebooting', () => {
    const names = (preset: string, noFix: string[]) =>
      run(restart, preset, noFix).trace.flatMap((r) => (r.t === 'mem' && /_rebooting$/.test(r.name) ? [`${r.cpu}:${r.name}`] : []));
    expect(names('mainline', [])).toEqual(['0:virt_rebooting', '1:virt_rebooting']);
    expect(names('mainline', [E6])).toEqual(['0:kvm_rebooting', '1:kvm_rebooting']);
  });
});

describe('set_emergency_nmi_handler() WARNs when the slot already holds crash_nmi_callback (E5+)', () => {
  it('T2 on mainline without shootdown-only-once: the second nmi_shootdown_cpus() WARNs, in the trace and the outcome, and still sends', () => {
    const { outcome, trace } = run({ name: 't2', machine: { cpus: 4 }, initial: { all: { vmx: 'root', loadedVmcs: 1 } }, options: { crashKexecPostNotifiers: true, panicTimeout: 1 }, script: [{ cpu: 0, do: 'panic', at: 0 }] }, 'mainline', ['shootdown-only-once']);
    const warn = { cpu: 0, vcpu: null, where: 'arch/x86/kernel/nmi.c set_emergency_nmi_handler', message: 'WARNING: CPU: 0 PID: 0 at arch/x86/kernel/nmi.c set_emergency_nmi_handler' };
    expect(outcome.warnings).toEqual([warn]);
    expect(trace.filter((r) => r.t === 'warning')).toHaveLength(1);
    expect(outcome.console.map((c) => c.text)).toContain(warn.message);
    expect(outcome.shootdowns.map((s) => s.sent)).toEqual([true, true]);
  });
});
