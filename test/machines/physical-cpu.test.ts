/**
 * The physical CPU chart alone, through XState's pure transition(): no scheduler, no bus. The
 * world (shared memory and port) is a recording fake.
 */
import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyStateMachine, type StateNode } from 'xstate';
import { cpuImplementations, physicalCpuMachine } from '../../machines/physical-cpu.machine.js';
import type { CpuEvent, CpuInput } from '../../machines/physical-cpu/types.js';
import { makeActions } from '../../machines/physical-cpu/actions.js';
import { makeGuards, worldFromEvent } from '../../machines/physical-cpu/guards.js';
import { initialCpuHw, type CpuHw } from '../../src/hw/cpu-state.js';
import { KernelMemory } from '../../src/kernel/memory.js';
import type { CpuPort } from '../../src/kernel/port.js';
import { resolveFeatures } from '../../src/kernel/variants.js';
import { leafPath } from '../../src/sim/state-table.js';
import { unimplementedNames } from './chart-names.js';

function fakeWorld(cpus: number) {
  const k = new KernelMemory(cpus);
  const log: string[] = [];
  const io: CpuPort = {
    send: (cpu, m) => log.push(`send ${cpu} ${m.mode} ${m.dest.kind}`),
    armTimer: (cpu, name) => log.push(`arm ${cpu} ${name}`),
    cancelTimer: (cpu, name) => log.push(`cancel ${cpu} ${name}`),
    console: (cpu, text) => log.push(`console ${cpu} ${text}`),
    warn: (cpu, where) => log.push(`warn ${cpu} ${where}`),
    insn: (cpu, insn, result) => log.push(`insn ${cpu} ${insn} ${result}`),
    fault: (cpu, f) => log.push(`fault ${cpu} ${f.insn} ${f.handling}`),
    kernelEvent: (cpu, what) => log.push(`kernel ${cpu} ${what}`),
    account: (cpu, d) => log.push(`account ${cpu} ${d.status}${'reason' in d ? `: ${d.reason}` : ''}`),
    platformReset: (cpu) => log.push(`reset ${cpu}`),
    kexec: (cpu) => log.push(`kexec ${cpu}`),
    guestExit: (cpu, reason) => log.push(`guest exit ${cpu} ${reason}`),
    hostInsnDone: (cpu, result) => log.push(`host insn ${cpu} ${result}`),
    now: () => 0,
  };
  return { k, io, log };
}

function input(id: number, preset: string, vmcs: number, patch: Partial<CpuHw>): CpuInput {
  const hw = { ...initialCpuHw('intel'), cr4Vmxe: true, vmx: 'root' as const, vmxonPtr: 0x1000_0000 + id * 0x1000, ...patch };
  return {
    id,
    hw,
    loadedVmcss: Array.from({ length: vmcs }, (_, i) => 0x2000_0000 + i * 0x1000),
    features: resolveFeatures(preset, [], []),
    opts: { vendor: 'intel', kdump: true, kdumpBringsUpAps: false, crashKexecPostNotifiers: false, panicTimeout: 0, kvmLoaded: true, debugList: true, rebootForce: false, resetMethod: 'acpi', cpus: 4 },
  };
}

function driver(preset: string, id = 1, vmcs = 1, patch: Partial<CpuHw> = {}) {
  const world = fakeWorld(4);
  const machine = physicalCpuMachine.provide(cpuImplementations(() => world) as never);
  let [snap] = initialTransition(machine, input(id, preset, vmcs, patch));
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

describe('crash_nmi_callback through pure transitions (F1.4)', () => {
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
