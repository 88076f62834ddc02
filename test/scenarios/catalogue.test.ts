/**
 * docs/model.md §6, rows T1–T7: each row is run for every era column the table gives, through the
 * assembled simulator with a fixed seed. Eras map to presets: E0 v5.10, E1 v5.11, E2 v6.2,
 * E3+ v6.6 and mainline.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { Outcome } from '../../src/sim/outcome.js';

function scenario(id: string, preset: string, patch: (s: Scenario) => Scenario = (s) => s): Scenario {
  const r = loadBuiltin(id);
  if (!r || !r.ok) throw new Error(`built-in ${id} did not load: ${JSON.stringify(r)}`);
  return patch({ ...r.scenario, kernel: { ...r.scenario.kernel, preset } });
}

function run(id: string, preset: string, patch?: (s: Scenario) => Scenario): Outcome {
  return runScenario(scenario(id, preset, patch), { seed: 1 }).outcome;
}

const texts = (o: Outcome) => o.console.map((c) => c.text);
const responders = (o: Outcome, initiator: number) => o.cpus.filter((c) => c.id !== initiator);
const E3_PLUS = ['v6.6', 'mainline'];

describe('T1 panic with kdump, VMs on all 4 CPUs (docs/model.md §1.6, §1.7)', () => {
  it.each(['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'])(
    '%s: NMI shootdown, 3 acks, kexec; responders VMX off with their VMCSes VMCLEARed',
    (preset) => {
      const o = run('T1', preset, (s) => ({ ...s, options: { ...s.options, kdumpBringsUpAps: false } }));
      expect(o.end).toBe('kexec');
      expect(o.shootdowns).toHaveLength(1);
      expect(o.shootdowns[0]).toMatchObject({ initiator: 0, sent: true, timedOut: false });
      expect([...(o.shootdowns[0]?.acked ?? [])].sort()).toEqual([1, 2, 3]);
      for (const c of responders(o, 0)) {
        expect(c).toMatchObject({ vmx: 'off', cr4Vmxe: false, loadedVmcs: 0, activity: 'hlt', context: 'nmi', nmiBlocked: true });
      }
      expect(o.faults).toEqual([]);
      expect(o.violations).toEqual([]);
    },
  );
});

describe('T2 double shootdown: crash_kexec_post_notifiers, no kdump, panic=1 (R1)', () => {
  it.each(['v5.10', 'v5.11'])('%s with CONFIG_DEBUG_LIST: second registration is the list_add double add BUG', (preset) => {
    const o = run('T2', preset);
    expect(o.shootdowns.filter((s) => s.sent)).toHaveLength(1);
    expect(texts(o)).toContain('kernel BUG at lib/list_debug.c:29!');
    expect(texts(o).some((t) => t.startsWith('list_add double add'))).toBe(true);
    expect(o.end).toBe('hang');
    expect(o.violations.map((v) => v.property)).toContain('no-kernel-bug');
  });

  it.each(['v5.10', 'v5.11'])('%s without CONFIG_DEBUG_LIST: NMIs to NMI-blocked CPUs, 1000 ms timeout, then reset', (preset) => {
    const o = run('T2', preset, (s) => ({ ...s, options: { ...s.options, debugList: false } }));
    const sent = o.shootdowns.filter((s) => s.sent);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ timedOut: true, waitedMs: expect.closeTo(1000, 0) as number, acked: [] });
    expect(o.end).toBe('reset');
  });

  it.each(['v6.2', 'v6.6', 'mainline'])('%s: second shootdown skipped; reset after the 1 s panic delay', (preset) => {
    const o = run('T2', preset);
    expect(o.shootdowns.filter((s) => s.sent)).toHaveLength(1);
    expect(texts(o)).toContain('Rebooting in 1 seconds..');
    expect(texts(o).some((t) => t.includes('list_debug'))).toBe(false);
    expect(o.end).toBe('reset');
    expect(o.timeNs).toBeGreaterThanOrEqual(1_000_000_000);
    expect(o.violations).toEqual([]);
  });
});

describe('T3 SysRq-b on CPU0 with CR4.VMXE=0, others in VMX root, INIT-based reset (R3)', () => {
  it('v5.10: no shootdown; the others stay in VMX root and ignore the reset INIT', () => {
    const o = run('T3', 'v5.10');
    expect(o.shootdowns).toEqual([]);
    for (const c of responders(o, 0)) expect(c.vmx).toBe('root');
    expect(o.initIgnored).toEqual([1, 2, 3]);
    expect(o.end).toBe('hang');
  });

  it.each(['v5.11', 'v6.2', 'v6.6', 'mainline'])('%s: shootdown; every CPU leaves VMX root and takes the INIT', (preset) => {
    const o = run('T3', preset);
    expect(o.shootdowns[0]).toMatchObject({ initiator: 0, sent: true, timedOut: false });
    expect(o.initIgnored).toEqual([]);
    for (const c of o.cpus) expect(c).toMatchObject({ vmx: 'off', activity: 'wait-for-sipi' });
    expect(o.end).toBe('reset');
  });

  it.each(E3_PLUS)('%s: the KVM callback also VMCLEARs before the reset', (preset) => {
    const trace = runScenario(scenario('T3', preset), { seed: 1, keepTrace: true }).trace;
    const vmclears = trace.filter((r) => r.t === 'insn' && r.insn === 'VMCLEAR' && r.result === 'ok').map((r) => (r as { cpu: number }).cpu);
    expect([...new Set(vmclears)].sort()).toEqual([1, 2, 3]);
  });

  it('v6.6 with KVM not loaded: no callback, so no shootdown at all (E3+)', () => {
    const o = run('T3', 'v6.6', (s) => ({ ...s, options: { ...s.options, kvmLoaded: false } }));
    expect(o.shootdowns).toEqual([]);
    expect(o.messages.sent).toBe(1); // only the platform's INIT
  });

  it('mainline with KVM not loaded: the CPUs in VMX root are shot down anyway (E6) and take the INIT', () => {
    const o = run('T3', 'mainline', (s) => ({ ...s, options: { ...s.options, kvmLoaded: false } }));
    expect(o.shootdowns[0]).toMatchObject({ initiator: 0, sent: true, timedOut: false });
    for (const c of o.cpus) expect(c).toMatchObject({ vmx: 'off', activity: 'wait-for-sipi' });
    expect(o.end).toBe('reset');
  });
});

describe('reboot-completes judges every run that never resets or kexecs', () => {
  const restartMessage = "'emergency-restart' on CPU 0 never reset the machine";

  it('T3 on v5.10: the INIT-based reset hangs on the CPUs left in VMX root (end: hang)', () => {
    const o = run('T3', 'v5.10');
    expect(o.end).toBe('hang');
    expect(o.violations.filter((v) => v.property === 'reboot-completes').map((v) => v.message)).toEqual([`${restartMessage}: nothing can move any more`]);
  });

  it('T3 on v5.10 with CR4.VMXE=1 but no VMXON on CPU0: its own VMXOFF oopses, the task dies, every CPU runs on (end: idle) — the restart never completed', () => {
    const o = run('T3', 'v5.10', (s) => ({ ...s, initial: s.initial.map((c, i) => (i === 0 ? { ...c, cr4Vmxe: true } : c)) }));
    expect(o.faults).toEqual([{ cpu: 0, insn: 'VMXOFF', fault: '#UD', context: 'task', handling: 'oops' }]);
    expect(o.end).toBe('idle');
    expect(o.violations.filter((v) => v.property === 'reboot-completes').map((v) => v.message)).toEqual([
      `${restartMessage}: it was abandoned and every CPU runs its tasks again`,
    ]);
  });

  it('an idle end with no reboot, restart or ending panic started is no violation (T8 with its fix: the VMM thread finishes)', () => {
    const o = run('T8', 'mainline');
    expect(o.end).toBe('idle');
    expect(o.violations).toEqual([]);
  });
});

describe('T4 AMD: CPU2 crashes between CLGI and STGI (R8)', () => {
  it.each(['v5.10', 'v5.11'])('%s: SVM untouched; CPU2 keeps GIF=0 and blocks the reset INIT', (preset) => {
    const { outcome: o, trace } = runScenario(scenario('T4', preset), { seed: 1, keepTrace: true });
    expect(trace.some((r) => r.t === 'insn' && (r.insn.startsWith('WRMSR EFER') || r.insn === 'STGI'))).toBe(false);
    // The others took the INIT (which resets EFER); CPU2 could not.
    expect(o.cpus[2]).toMatchObject({ gif: false, svme: true });
    expect(o.initIgnored).toEqual([2]);
    expect(o.end).toBe('hang');
  });

  it.each(['v6.2', 'v6.6', 'mainline'])('%s: STGI then SVME cleared on every CPU; the reset INIT is taken', (preset) => {
    const o = run('T4', preset);
    for (const c of o.cpus) expect(c).toMatchObject({ svme: false, gif: true });
    expect(o.initIgnored).toEqual([]);
    expect(o.end).toBe('reset');
  });

  it.each(['v6.2', 'mainline'])('%s, T4-sysrq: GIF=0 holds the shootdown NMI, so CPU2 cannot be reached (APM: GIF=0 holds NMI)', (preset) => {
    const o = run('T4-sysrq', preset);
    expect(o.shootdowns[0]).toMatchObject({ initiator: 0, timedOut: true });
    expect(o.shootdowns[0]?.acked).not.toContain(2);
    expect(o.cpus[2]).toMatchObject({ gif: false, svme: true });
    expect(o.initIgnored).toEqual([2]);
  });
});

describe('T3-nokvm SysRq-b with KVM not loaded (E6: shootdown whenever a VMX/SVM backend exists)', () => {
  it.each(['v6.6', 'mainline'])('%s: the run resets with every property holding', (preset) => {
    const o = run('T3-nokvm', preset);
    expect(o.end).toBe('reset');
    expect(o.violations).toEqual([]);
  });

  it('v6.6: no callback registered, so no NMI shootdown at all; the other CPUs are still running their tasks', () => {
    const o = run('T3-nokvm', 'v6.6');
    expect(o.shootdowns).toEqual([]);
    expect(o.messages.sent).toBe(0);
    for (const c of responders(o, 0)) expect(c).toMatchObject({ activity: 'running', context: 'task' });
  });

  it('mainline: CPU0 shoots the other three down (all ack, each halts in NMI) before the reset; without the E6 switch it does not', () => {
    const o = run('T3-nokvm', 'mainline');
    expect(o.shootdowns).toHaveLength(1);
    expect(o.shootdowns[0]).toMatchObject({ initiator: 0, sent: true, timedOut: false });
    expect([...(o.shootdowns[0]?.acked ?? [])].sort()).toEqual([1, 2, 3]);
    for (const c of responders(o, 0)) expect(c).toMatchObject({ activity: 'hlt', context: 'nmi', nmiBlocked: true });
    const off = run('T3-nokvm', 'mainline', (s) => ({ ...s, kernel: { ...s.kernel, noFix: ['emergency-virt-in-virt-subsystem'] } }));
    expect(off.shootdowns).toEqual([]);
  });
});

describe('T5 emergency restart on CPU1 racing a kdump panic on CPU2 (R2)', () => {
  const bugNoAck = (o: Outcome) => {
    expect(o.faults).toEqual([{ cpu: 1, insn: 'VMCLEAR', fault: '#UD', context: 'nmi', handling: 'bug' }]);
    expect(texts(o)).toContain('kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)');
    expect(o.shootdowns[0]).toMatchObject({ initiator: 2, timedOut: true });
    expect(o.shootdowns[0]?.waitedMs).toBeCloseTo(1000, 0);
    expect(o.shootdowns[0]?.acked).not.toContain(1);
    expect(o.end).toBe('kexec');
  };
  const promptAck = (o: Outcome) => {
    expect(o.faults.every((f) => f.handling === 'eaten')).toBe(true);
    expect(o.shootdowns[0]).toMatchObject({ initiator: 2, timedOut: false });
    expect(o.shootdowns[0]?.acked).toContain(1);
    expect(o.shootdowns[0]?.waitedMs).toBeLessThan(1);
    expect(o.end).toBe('kexec');
  };
  const noAps = (s: Scenario) => ({ ...s, options: { ...s.options, kdumpBringsUpAps: false } });

  it.each(['v5.10', 'v5.11', 'v6.2'])(
    'case (ii), NMI between VMXOFF and CR4.VMXE clear, %s: VMCLEAR #UD in NMI → kvm_spurious_fault BUG (kvm_rebooting=0), no ack, 1000 ms wait',
    (preset) => bugNoAck(run('T5', preset)),
  );

  it.each(E3_PLUS)('case (ii), %s: the callback set kvm_rebooting, so VMCLEAR and VMXOFF faults are eaten; CR4.VMXE cleared; prompt ack', (preset) => {
    const o = run('T5', preset, noAps);
    promptAck(o);
    expect(o.faults.map((f) => f.insn)).toEqual(['VMCLEAR', 'VMXOFF']);
    expect(o.cpus[1]).toMatchObject({ vmx: 'off', cr4Vmxe: false, activity: 'hlt', context: 'nmi' });
  });

  it('case (ii) with an empty VMCS list, v5.10: VMXOFF #UD without fixup → oops (x86/virt: Eat faults on VMXOFF, case a)', () => {
    const o = run('T5', 'v5.10', (s) => ({
      ...s,
      initial: s.initial.map((c, i) => (i === 1 ? { ...c, loadedVmcs: 0 } : c)),
    }));
    expect(o.faults).toEqual([{ cpu: 1, insn: 'VMXOFF', fault: '#UD', context: 'nmi', handling: 'oops' }]);
    expect(o.shootdowns[0]).toMatchObject({ timedOut: true });
  });

  it('case (ii) with an empty VMCS list, v5.11: the VMXOFF fault is eaten and CPU1 acks', () => {
    const o = run('T5', 'v5.11', (s) => ({
      ...s,
      initial: s.initial.map((c, i) => (i === 1 ? { ...c, loadedVmcs: 0 } : c)),
    }));
    expect(o.faults).toEqual([{ cpu: 1, insn: 'VMXOFF', fault: '#UD', context: 'nmi', handling: 'eaten' }]);
    expect(o.shootdowns[0]).toMatchObject({ timedOut: false });
  });

  it.each(['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'])(
    'case (i), NMI before VMXOFF, %s: the handler VMCLEARs, VMXOFFs, acks and halts',
    (preset) => {
      const o = run('T5-i', preset, noAps);
      expect(o.faults).toEqual([]);
      promptAck(o);
      expect(o.cpus[1]).toMatchObject({ vmx: 'off', loadedVmcs: 0, activity: 'hlt', context: 'nmi' });
    },
  );

  it.each(['v5.10', 'v5.11', 'v6.2'])('case (iii), after CR4.VMXE cleared, %s: the VMCLEAR hook still walks the list → #UD → BUG', (preset) =>
    bugNoAck(run('T5-iii', preset)),
  );

  it.each(E3_PLUS)('case (iii), %s: CR4.VMXE=0 → the callback returns at once; prompt ack', (preset) => {
    const o = run('T5-iii', preset, noAps);
    expect(o.faults).toEqual([]);
    promptAck(o);
  });

  // The E3 switches are tested on v6.6: from E6 the core x86 function checks CR4.VMXE and sets
  // virt_rebooting itself, before KVM's callback, so neither switch matters on mainline (below).
  it('case (iii), v6.6 without skip-vmclear-if-vmxe-clear: the walk VMCLEARs anyway, the #UD is eaten (kvm_rebooting)', () => {
    const o = run('T5-iii', 'v6.6', (s) => noAps({ ...s, kernel: { ...s.kernel, noFix: ['skip-vmclear-if-vmxe-clear'] } }));
    expect(o.faults).toEqual([{ cpu: 1, insn: 'VMCLEAR', fault: '#UD', context: 'nmi', handling: 'eaten' }]);
    promptAck(o);
  });

  it('case (ii), v6.6 without emergency-callback-sets-kvm-rebooting: the BUG is back', () => {
    bugNoAck(run('T5', 'v6.6', (s) => ({ ...s, kernel: { ...s.kernel, noFix: ['emergency-callback-sets-kvm-rebooting'] } })));
  });

  it('case (iii), mainline without skip-vmclear-if-vmxe-clear: x86_vmx_emergency_disable_virtualization_cpu() returns on CR4.VMXE=0 before KVM\'s walk', () => {
    const o = run('T5-iii', 'mainline', (s) => noAps({ ...s, kernel: { ...s.kernel, noFix: ['skip-vmclear-if-vmxe-clear'] } }));
    expect(o.faults).toEqual([]);
    promptAck(o);
  });

  it('case (ii), mainline without emergency-callback-sets-kvm-rebooting: the core sets virt_rebooting, so BUG_ON(!virt_rebooting) stays quiet; without the E6 switch the BUG is back', () => {
    const noCb = (extra: string[]) => (s: Scenario) => ({ ...s, kernel: { ...s.kernel, noFix: ['emergency-callback-sets-kvm-rebooting', ...extra] } });
    promptAck(run('T5', 'mainline', (s) => noAps(noCb([])(s))));
    bugNoAck(run('T5', 'mainline', noCb(['emergency-virt-in-virt-subsystem'])));
  });

  it.each(['v5.10', 'mainline'])('%s: CPU1 never resumes its interrupted restart; CPU2 wins', (preset) => {
    const trace = runScenario(scenario('T5', preset), { seed: 1, keepTrace: true }).trace;
    expect(trace.some((r) => r.t === 'kernel' && r.cpu === 1 && r.what === 'shootdown-sent')).toBe(false);
    expect(trace.some((r) => r.t === 'kexec' && r.cpu === 2)).toBe(true);
  });
});

describe('T6 panic without kdump while CPU3 spins with IRQs off (R5)', () => {
  it.each(['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'])(
    '%s: REBOOT_VECTOR ignored for 1 s, "Shutting down cpus with NMI", CPU3 parked in NMI',
    (preset) => {
      const trace = runScenario(scenario('T6', preset), { seed: 1, keepTrace: true }).trace;
      const sends = trace.filter((r): r is Extract<typeof r, { t: 'send' }> => r.t === 'send');
      const reboot = sends.find((s) => s.mode === 'fixed' && s.vector === 0xf8);
      const nmi = sends.find((s) => s.mode === 'nmi');
      expect(reboot && nmi).toBeTruthy();
      expect((nmi?.ns ?? 0) - (reboot?.ns ?? 0)).toBeGreaterThanOrEqual(1_000_000_000);
      expect(trace.some((r) => r.t === 'console' && r.text === 'Shutting down cpus with NMI')).toBe(true);
      const cpu3 = trace.find((r) => r.t === 'final' && r.cpu === 3);
      expect(cpu3).toMatchObject({ activity: 'hlt', context: 'nmi', nmiBlocked: true, online: false });
      // E2b+: the fallback NMI goes only to CPUs still in cpus_stop_mask.
      expect(nmi?.dest).toBe(E3_PLUS.includes(preset) ? 'mask[3]' : 'all-but-self');
    },
  );
});

describe('T7 reboot(2) (`reboot -f`) with VMs running (docs/model.md §1.1)', () => {
  it.each(['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'])(
    '%s: "kvm: exiting hardware virtualization", REBOOT_VECTOR stop with wait=1, no emergency virt step',
    (preset) => {
      const trace = runScenario(scenario('T7', preset), { seed: 1, keepTrace: true }).trace;
      expect(trace.some((r) => r.t === 'console' && r.text === 'kvm: exiting hardware virtualization')).toBe(true);
      expect(trace.some((r) => r.t === 'send' && r.mode === 'fixed' && r.vector === 0xf8)).toBe(true);
      expect(trace.some((r) => r.t === 'kernel' && r.what === 'shootdown-sent')).toBe(false);
      expect(trace.some((r) => r.t === 'step' && r.to.includes('emergencyRestart.selfVirt'))).toBe(false);
      expect(trace.some((r) => r.t === 'mem' && r.name === 'reboot_emergency' && r.value === 0)).toBe(true);
      const finals = trace.filter((r) => r.t === 'final');
      for (const f of finals) expect(f).toMatchObject({ vmx: 'off', cr4Vmxe: false });
      expect(trace.at(-1)).toMatchObject({ t: 'end', end: 'reset' });
    },
  );
});
