/**
 * The physical CPU chart alone, through XState's pure transition(): no scheduler, no bus. The
 * world (shared memory and port) is a recording fake.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyStateMachine, type StateNode } from 'xstate';
import { cpuImplementations, physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import type { CpuEvent, CpuInput, KernelOptions } from '../../machines/physical-cpu/types.js';
import { makeActions } from '../../machines/physical-cpu/actions.js';
import { makeGuards, worldFromEvent } from '../../machines/physical-cpu/guards.js';
import { defaultCpuMode, initialCpuHw, type CpuHw } from '../../src/hw/cpu-state.js';
import { KernelMemory } from '../../src/kernel/memory.js';
import type { CpuEffect, CpuPort } from '../../src/kernel/port.js';
import { resolveFeatures } from '../../src/kernel/variants.js';
import { leafPath } from '../../src/sim/state-table.js';
import { unimplementedNames } from './chart-names.js';
import { CALL_FUNCTION_VECTOR } from '../../src/hw/apic.js';

/** An effect a chart action put in its outbox, as the fake world logs it. */
function shown(e: CpuEffect): string {
  switch (e.kind) {
    case 'send':
      return `send ${e.cpu} ${e.message.mode} ${e.message.dest.kind}`;
    case 'arm timer':
      return `arm ${e.cpu} ${e.name}`;
    case 'cancel timer':
      return `cancel ${e.cpu} ${e.name}`;
    case 'console':
      return `console ${e.cpu} ${e.text}`;
    case 'warn':
      return `warn ${e.cpu} ${e.where}`;
    case 'insn':
      return `insn ${e.cpu} ${e.insn} ${e.result}`;
    case 'fault':
      return `fault ${e.cpu} ${e.report.insn} ${e.report.handling}`;
    case 'kernel event':
      return `kernel ${e.cpu} ${e.what}`;
    case 'account':
      return `account ${e.cpu} ${e.disposition.status}${'reason' in e.disposition ? `: ${e.disposition.reason}` : ''}`;
    case 'platform reset':
      return `reset ${e.cpu}`;
    case 'kexec':
      return `kexec ${e.cpu}`;
    case 'guest exit':
      return `guest exit ${e.cpu} ${e.reason}`;
    case 'host insn done':
      return `host insn ${e.cpu} ${e.result}`;
  }
}

function fakeWorld(cpus: number) {
  const k = new KernelMemory(cpus);
  const log: string[] = [];
  const io: CpuPort = { out: (e) => log.push(shown(e)), now: () => 0 };
  return { k, io, log };
}

interface Variant {
  noFix?: string[];
  opts?: Partial<KernelOptions>;
}

function input(id: number, preset: string, vmcs: number, patch: Partial<CpuHw>, v: Variant = {}): CpuInput {
  const vendor = patch.vendor ?? 'intel';
  const base = vendor === 'intel' ? { cr4Vmxe: true, vmx: 'root' as const, vmxonPtr: 0x1000_0000 + id * 0x1000 } : {};
  const hw = { ...initialCpuHw(vendor), ...base, ...patch };
  return {
    id,
    hw,
    loadedVmcss: Array.from({ length: vmcs }, (_, i) => 0x2000_0000 + i * 0x1000),
    features: resolveFeatures(preset, [], v.noFix ?? []),
    opts: { vendor, kdump: true, kdumpBringsUpAps: false, crashKexecPostNotifiers: false, panicTimeout: 0, kvmLoaded: true, debugList: true, rebootForce: false, panicOnOops: false, resetMethod: 'acpi', cpus: 4, ...v.opts },
  };
}

function driver(preset: string, id = 1, vmcs = 1, patch: Partial<CpuHw> = {}, v: Variant = {}) {
  const world = fakeWorld(4);
  const machine = physicalCpuMachine.provide(cpuImplementations(() => world) as never);
  let [snap] = initialTransition(machine, input(id, preset, vmcs, patch, v));
  const send = (event: CpuEvent) => {
    const [next, actions] = transition(machine, snap, event);
    for (const a of actions) a.exec?.(a.info, a.params);
    snap = next;
    return snap;
  };
  const region = () => (snap.context.ctx.at(-1) ?? 'task') as 'task' | 'nmi' | 'irq' | 'smm';
  const at = () => leafPath(snap.value as never, region());
  const stepUntil = (pred: () => boolean, max = 60) => {
    const path: string[] = [];
    for (let i = 0; i < max && !pred(); i++) {
      send({ type: `sched.${region()}` } as CpuEvent);
      path.push(at());
    }
    return path;
  };
  return { world, send, at, stepUntil, snap: () => snap };
}

describe('chart definition', () => {
  it('every guard and action the chart names is implemented', () => {
    const impl = { guards: makeGuards(worldFromEvent), actions: makeActions(worldFromEvent) };
    const { missing, states } = unimplementedNames(physicalCpuMachine as unknown as AnyStateMachine, impl);
    expect(missing).toEqual([]);
    expect(states).toBeGreaterThan(300);
  });
});

describe('crash_nmi_callback through pure transitions (docs/model.md §1.4)', () => {
  it('v6.6: shootdown NMI → callback → VMCLEAR the list → VMXOFF → clear CR4.VMXE → ack → halt, never IRET', () => {
    const d = driver('v6.6');
    const { k } = d.world;
    k.state.crashing_cpu = 2;
    k.state.shootdown_callback = 'kdump_nmi_callback';
    k.state.waiting_for_crash_ipi = 3;
    k.state.nmi_local = ['crash'];
    d.send({ type: 'bus.nmi', from: 2, source: 'kernel' });
    expect(d.at()).toBe('os.nmi.dispatch');
    expect(d.snap().context.hw).toMatchObject({ nmiBlocked: true, if: false });
    d.stepUntil(() => d.snap().context.hw.activity === 'hlt');
    expect(d.at()).toBe('os.nmi.crashHandler.halted');
    expect(k.state.waiting_for_crash_ipi).toBe(2);
    expect(k.state.kvm_rebooting).toBe(true);
    expect(d.snap().context.hw).toMatchObject({ vmx: 'off', cr4Vmxe: false, nmiBlocked: true, lapicEnabled: false });
    expect(d.world.log.filter((l) => l.startsWith('insn'))).toEqual([
      'insn 1 VMCLEAR ok',
      'insn 1 VMXOFF ok',
      'insn 1 MOV CR4 (clear VMXE) ok',
      'insn 1 HLT ok',
    ]);
    // A second NMI is latched, a third is dropped: at most one waits while NMIs are blocked.
    d.send({ type: 'bus.nmi', from: 3, source: 'kernel' });
    d.send({ type: 'bus.nmi', from: 3, source: 'kernel' });
    expect(d.world.log.filter((l) => l.startsWith('account')).slice(-2)).toEqual([
      expect.stringMatching(/^account 1 latched/),
      expect.stringMatching(/^account 1 dropped/),
    ]);
    // Halted in the NMI handler with IF=0: only INIT, SMI or RESET move it (SDM HLT).
    expect(d.stepUntil(() => false, 3).every((p) => p === 'os.nmi.crashHandler.halted')).toBe(true);
  });

  it('an NMI that interrupts the task resumes it at the same program point after IRET', () => {
    const d = driver('mainline');
    d.send({ type: 'script.emergency-restart', context: 'task' });
    d.stepUntil(() => d.at().endsWith('clearVmxe'));
    const before = d.at();
    expect(before).toBe('os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe');
    // An NMI nobody claims: "Uhhuh. NMI received for unknown reason", then IRET.
    d.send({ type: 'bus.nmi', from: 0, source: 'kernel' });
    d.stepUntil(() => d.snap().context.ctx.length === 1);
    expect(d.world.log.some((l) => l.includes('NMI received for unknown reason'))).toBe(true);
    expect(d.at()).toBe(before);
    expect(d.snap().context.hw.nmiBlocked).toBe(false);
    d.send({ type: 'sched.task' });
    expect(d.snap().context.hw.cr4Vmxe).toBe(false);
  });

  it('v5.10: the VMXOFF #UD in an NMI has no fixup: oops, then panic("Fatal exception in interrupt") loses panic_cpu', () => {
    // VMXOFF done, CR4.VMXE still set: the R2 (ii) window.
    const d = driver('v5.10', 1, 0, { vmx: 'off', vmxonPtr: null });
    const { k } = d.world;
    k.state.crashing_cpu = 2;
    k.state.panic_cpu = 2;
    k.state.shootdown_callback = 'kdump_nmi_callback';
    k.state.nmi_local = ['crash'];
    d.send({ type: 'bus.nmi', from: 2, source: 'kernel' });
    d.stepUntil(() => d.at().endsWith('selfStop'));
    expect(d.world.log).toContain('fault 1 VMXOFF oops');
    expect(d.at()).toBe('os.nmi.panic.selfStop');
    expect(k.state.waiting_for_crash_ipi).toBe(0);
  });
});

/** A shootdown NMI from CPU 2 that this CPU answers in crash_nmi_callback() with a NULL callback (the restart path). */
function restartShootdownNmi(d: ReturnType<typeof driver>) {
  const { k } = d.world;
  k.state.crashing_cpu = 2;
  k.state.shootdown_callback = null;
  k.state.waiting_for_crash_ipi = 3;
  k.state.nmi_emergency = 'crash';
  const names: string[] = [];
  k.onWrite = (name) => names.push(name);
  d.send({ type: 'bus.nmi', from: 2, source: 'kernel' });
  d.stepUntil(() => d.snap().context.hw.activity === 'hlt');
  return { names, insns: d.world.log.filter((l) => l.startsWith('insn')) };
}

describe('E6 x86_virt_emergency_disable_virtualization_cpu() (arch/x86/virt/hw.c) in crash_nmi_callback', () => {
  it('mainline, KVM not loaded, CPU in VMX root: virt_rebooting=true, VMXOFF, clear CR4.VMXE, ack; no VMCLEAR (no KVM callback)', () => {
    const d = driver('mainline', 1, 1, {}, { opts: { kvmLoaded: false } });
    const { names, insns } = restartShootdownNmi(d);
    expect(names.slice(0, 1)).toEqual(['virt_rebooting']);
    expect(d.world.k.state.kvm_rebooting).toBe(true);
    expect(insns).toEqual(['insn 1 VMXOFF ok', 'insn 1 MOV CR4 (clear VMXE) ok', 'insn 1 HLT ok']);
    expect(d.snap().context.hw).toMatchObject({ vmx: 'off', cr4Vmxe: false });
    expect(d.world.k.state.waiting_for_crash_ipi).toBe(2);
  });

  it('the same without the E6 switch (v6.6 rules): no callback registered, nothing disables VMX, the CPU halts in VMX root', () => {
    const d = driver('mainline', 1, 1, {}, { opts: { kvmLoaded: false }, noFix: ['emergency-virt-in-virt-subsystem'] });
    const { names, insns } = restartShootdownNmi(d);
    expect(names).not.toContain('virt_rebooting');
    expect(names).not.toContain('kvm_rebooting');
    expect(insns).toEqual(['insn 1 HLT ok']);
    expect(d.snap().context.hw).toMatchObject({ vmx: 'root', cr4Vmxe: true });
  });

  it('mainline, KVM loaded: virt_rebooting, then KVM\'s VMCLEAR walk, then VMXOFF; v6.6 names the flag kvm_rebooting', () => {
    const e6 = restartShootdownNmi(driver('mainline'));
    expect(e6.names[0]).toBe('virt_rebooting');
    expect(e6.insns).toEqual(['insn 1 VMCLEAR ok', 'insn 1 VMXOFF ok', 'insn 1 MOV CR4 (clear VMXE) ok', 'insn 1 HLT ok']);
    const e5 = restartShootdownNmi(driver('mainline', 1, 1, {}, { noFix: ['emergency-virt-in-virt-subsystem'] }));
    expect(e5.names[0]).toBe('kvm_rebooting');
    expect(e5.insns).toEqual(e6.insns);
  });

  it('mainline, CR4.VMXE=0: virt_rebooting is still set, then it returns before KVM\'s callback (no VMCLEAR of the listed VMCS)', () => {
    const { names, insns } = restartShootdownNmi(driver('mainline', 1, 1, { vmx: 'off', cr4Vmxe: false, vmxonPtr: null }));
    expect(names[0]).toBe('virt_rebooting');
    expect(insns).toEqual(['insn 1 HLT ok']);
  });

  it('mainline, AMD: virt_rebooting; EFER.SVME set → KVM\'s callback (VM_HSAVE_PA=0) only if KVM is loaded, STGI, clear SVME', () => {
    const amd = { vendor: 'amd' as const, svme: true, gif: true };
    const loaded = restartShootdownNmi(driver('mainline', 1, 0, amd, { opts: { vendor: 'amd' } }));
    expect(loaded.names[0]).toBe('virt_rebooting');
    expect(loaded.insns).toEqual(['insn 1 WRMSR VM_HSAVE_PA ok', 'insn 1 STGI ok', 'insn 1 WRMSR EFER (clear SVME) ok', 'insn 1 HLT ok']);
    const notLoaded = restartShootdownNmi(driver('mainline', 1, 0, amd, { opts: { vendor: 'amd', kvmLoaded: false } }));
    expect(notLoaded.insns).toEqual(['insn 1 STGI ok', 'insn 1 WRMSR EFER (clear SVME) ok', 'insn 1 HLT ok']);
    const v66 = restartShootdownNmi(driver('v6.6', 1, 0, amd, { opts: { vendor: 'amd', kvmLoaded: false } }));
    expect(v66.insns).toEqual(['insn 1 HLT ok']);
  });

  it('mainline, no VMX backend (IA32_FEATURE_CONTROL does not allow VMX): -EOPNOTSUPP, nothing is written', () => {
    const noVmx = { vmx: 'off' as const, cr4Vmxe: false, vmxonPtr: null, mode: { ...defaultCpuMode(), featureControlOk: false } };
    const { names, insns } = restartShootdownNmi(driver('mainline', 1, 0, noVmx));
    expect(names).not.toContain('virt_rebooting');
    expect(insns).toEqual(['insn 1 HLT ok']);
  });
});

describe('E6 emergency restart: the shootdown follows the backend, not KVM', () => {
  const sendsNmi = (d: ReturnType<typeof driver>) => {
    d.send({ type: 'script.emergency-restart', context: 'task' });
    d.stepUntil(() => d.world.log.some((l) => l.startsWith('reset') || l.startsWith('send')));
    return d.world.log.some((l) => l === 'send 0 nmi all-but-self');
  };
  const idle = { vmx: 'off' as const, cr4Vmxe: false, vmxonPtr: null };

  it('mainline, KVM not loaded, VMX off on this CPU: the NMI shootdown is sent anyway', () => {
    expect(sendsNmi(driver('mainline', 0, 0, idle, { opts: { kvmLoaded: false } }))).toBe(true);
  });

  it('without the E6 switch (v6.6 rules): no callback registered, no shootdown, straight to the reset', () => {
    expect(sendsNmi(driver('mainline', 0, 0, idle, { opts: { kvmLoaded: false }, noFix: ['emergency-virt-in-virt-subsystem'] }))).toBe(false);
    expect(sendsNmi(driver('v6.6', 0, 0, idle, { opts: { kvmLoaded: false } }))).toBe(false);
  });

  it('mainline without a VMX backend: x86_virt_emergency_disable_virtualization_cpu() is -EOPNOTSUPP, no shootdown', () => {
    const noVmx = { ...idle, mode: { ...defaultCpuMode(), featureControlOk: false } };
    expect(sendsNmi(driver('mainline', 0, 0, noVmx, { opts: { kvmLoaded: false } }))).toBe(false);
  });
});

describe('set_emergency_nmi_handler() WARN_ON_ONCE (E5+, arch/x86/kernel/nmi.c)', () => {
  const shootAgain = (preset: string, warned: boolean) => {
    const d = driver(preset, 0, 0, { vmx: 'off', cr4Vmxe: false, vmxonPtr: null });
    // An earlier nmi_shootdown_cpus() left crash_nmi_callback in the slot (crash_ipi_issued still 0: R2's window).
    d.world.k.state.nmi_emergency = 'crash';
    d.world.k.state.nmi_emergency_warned = warned;
    d.send({ type: 'script.emergency-restart', context: 'task' });
    d.stepUntil(() => d.world.log.some((l) => l.startsWith('send')));
    return d.world.log;
  };

  it('mainline: the slot already holds crash_nmi_callback → WARN, and the shootdown still sends its NMIs', () => {
    const log = shootAgain('mainline', false);
    const warn = log.indexOf('warn 0 arch/x86/kernel/nmi.c set_emergency_nmi_handler');
    expect(warn).toBeGreaterThan(-1);
    expect(log.indexOf('send 0 nmi all-but-self')).toBeGreaterThan(warn);
  });

  it('mainline: a WARN_ON_ONCE that already fired prints nothing the second time', () => {
    expect(shootAgain('mainline', true).some((l) => l.startsWith('warn'))).toBe(false);
  });

  it('without the slot (E1b–E4 list): the WARN is __register_nmi_handler\'s and no NMI is sent', () => {
    const d = driver('mainline', 0, 0, { vmx: 'off', cr4Vmxe: false, vmxonPtr: null }, { noFix: ['emergency-nmi-handler-slot'] });
    d.world.k.state.nmi_local = ['crash'];
    d.send({ type: 'script.emergency-restart', context: 'task' });
    d.stepUntil(() => d.world.log.some((l) => l.startsWith('warn') || l.startsWith('reset')));
    expect(d.world.log.filter((l) => l.startsWith('warn'))).toEqual(['warn 0 arch/x86/kernel/nmi.c __register_nmi_handler']);
    expect(d.world.log.some((l) => l.startsWith('send'))).toBe(false);
  });
});

describe('after kexec: the crash kernel and its APs take what the arrival rules let in (src/hw/interrupts.ts)', () => {
  /**
   * CPU 1 alone online panics with kdump — from its task, or from the NMI watchdog (the kexec then
   * happens inside the NMI handler) — no one to shoot down, VMX off, kexec: the crash kernel is up.
   */
  const inCrashKernel = (context: 'task' | 'nmi' = 'task') => {
    const d = driver('mainline', 1, 0, { vmx: 'off', cr4Vmxe: false, vmxonPtr: null }, { opts: { cpus: 1 } });
    for (const cpu of [0, 2, 3]) d.world.k.setOnline(cpu, false);
    d.send({ type: 'script.panic', context, message: 'test' });
    // The fake world delivers nothing: the watchdog NMI the script armed arrives here.
    if (context === 'nmi') d.send({ type: 'bus.nmi', from: 1, source: 'watchdog' });
    d.stepUntil(() => d.at() === 'crashKernel.booted');
    expect(d.at()).toBe('crashKernel.booted');
    d.world.log.length = 0;
    return d;
  };
  const accounts = (d: ReturnType<typeof driver>) => d.world.log.filter((l) => l.startsWith('account'));

  it('an NMI is taken by the crash kernel\'s handler: unknown NMI, IRET, NMIs unblocked; the CPU stays where it was', () => {
    const d = inCrashKernel();
    expect(d.snap().context.hw.nmiBlocked).toBe(false);
    d.send({ type: 'bus.nmi', from: 0, source: 'kernel' });
    expect(accounts(d)).toEqual(['account 1 delivered']);
    expect(d.world.log).toContain('console 1 Uhhuh. NMI received for unknown reason 00 on CPU 1.');
    expect(d.at()).toBe('crashKernel.booted');
    expect(d.snap().context.hw).toMatchObject({ nmiBlocked: false, nmiLatched: 0 });
  });

  it('an NMI while NMIs are still blocked (kexec from inside the NMI handler) is latched, not dropped', () => {
    const d = inCrashKernel('nmi');
    expect(d.snap().context.hw.nmiBlocked).toBe(true);
    d.send({ type: 'bus.nmi', from: 0, source: 'kernel' });
    expect(accounts(d)).toEqual(['account 1 latched: NMIs are blocked until the next IRET']);
    expect(d.snap().context.hw.nmiLatched).toBe(1);
  });

  it('an SMI runs the firmware handler and RSM: delivered, the CPU is not left in SMM', () => {
    const d = inCrashKernel();
    d.send({ type: 'bus.smi', from: 0 });
    expect(accounts(d)).toEqual(['account 1 delivered']);
    expect(d.snap().context.hw).toMatchObject({ inSmm: false, smiLatched: 0, nmiBlocked: false });
    expect(d.at()).toBe('crashKernel.booted');
  });

  it('INIT: wait-for-SIPI; INIT again: wait-for-SIPI again, nothing held; SIPI starts an AP, which takes INIT like the rest', () => {
    const d = inCrashKernel();
    d.send({ type: 'bus.init', from: -1 });
    expect(d.at()).toBe('waitForSipi');
    d.send({ type: 'bus.init', from: -1 });
    expect(accounts(d)).toEqual(['account 1 delivered', 'account 1 delivered']);
    expect(d.at()).toBe('waitForSipi');
    expect(d.snap().context.hw).toMatchObject({ activity: 'wait-for-sipi', initPending: false });
    d.send({ type: 'bus.sipi', from: 0, vector: 0x9a });
    d.stepUntil(() => d.at() === 'apRunning');
    expect(d.at()).toBe('apRunning');
    d.send({ type: 'bus.nmi', from: 0, source: 'kernel' });
    d.send({ type: 'bus.init', from: 0 });
    expect(accounts(d).slice(-2)).toEqual(['account 1 delivered', 'account 1 delivered']);
    expect(d.at()).toBe('waitForSipi');
  });
});

describe('KVM hardware_disable (CALL_FUNCTION from on_each_cpu): VMXOFF through KVM\'s fault handling in every era', () => {
  // VMXOFF already done, CR4.VMXE still set, nothing on the list.
  const staleVmxoff = (preset: string, rebooting: boolean) => {
    const d = driver(preset, 1, 0, { vmx: 'off', vmxonPtr: null });
    d.world.k.state.kvm_rebooting = rebooting;
    d.send({ type: 'bus.ipi', from: 0, vector: CALL_FUNCTION_VECTOR });
    d.stepUntil(() => d.world.log.some((l) => l.startsWith('fault')));
    d.stepUntil(() => /^os\.irq\.(complete|die\.)/.test(d.at()) || d.at().startsWith('os.irq.panic'), 5);
    return d;
  };

  it.each(['v5.10', 'v6.6', 'mainline'])('%s: kvm_rebooting set → the #UD is ignored (kvm_spurious_fault), CR4.VMXE cleared', (preset) => {
    const d = staleVmxoff(preset, true);
    expect(d.world.log.filter((l) => l.startsWith('fault'))).toEqual(['fault 1 VMXOFF eaten']);
    expect(d.snap().context.hw.cr4Vmxe).toBe(false);
    expect(d.at()).toBe('os.irq.complete');
  });

  it.each(['v5.10', 'mainline'])('%s: kvm_rebooting clear → kvm_spurious_fault() BUGs', (preset) => {
    const d = staleVmxoff(preset, false);
    expect(d.world.log.filter((l) => l.startsWith('fault'))).toEqual(['fault 1 VMXOFF bug']);
    expect(d.world.log).toContain('console 1 kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)');
  });
});

describe('NMI_LOCAL handlers run in list order (arch/x86/kernel/nmi.c): NMI_FLAG_FIRST adds at the head', () => {
  // CPU 2 shot down with crash_nmi_callback, CPU 3 stopping with smp_stop_nmi_callback; their order on the list decides.
  const nmiWith = (list: ('crash' | 'smp_stop')[]) => {
    const d = driver('v5.11');
    const { k } = d.world;
    k.state.crashing_cpu = 2;
    k.state.stopping_cpu = 3;
    k.state.shootdown_callback = 'kdump_nmi_callback';
    k.state.waiting_for_crash_ipi = 3;
    k.state.nmi_local = list;
    d.send({ type: 'bus.nmi', from: 2, source: 'kernel' });
    const path = d.stepUntil(() => d.snap().context.hw.activity === 'hlt');
    return { d, path };
  };

  it('crash registered last (at the head): crash_nmi_callback runs, acks the shootdown and halts', () => {
    const { d, path } = nmiWith(['crash', 'smp_stop']);
    expect(path.at(-1)).toMatch(/^os\.nmi\.crashHandler\./);
    expect(d.world.k.state.waiting_for_crash_ipi).toBe(2);
  });

  it('smp_stop registered last (a stop NMI fallback after a kdump shootdown): stop_this_cpu() first, no ack', () => {
    const { d, path } = nmiWith(['smp_stop', 'crash']);
    expect(path.at(-1)).toMatch(/^os\.nmi\.stopFirstHandler\./);
    expect(d.world.k.state.waiting_for_crash_ipi).toBe(3);
    expect(d.world.k.state.online[1]).toBe(0);
  });
});
