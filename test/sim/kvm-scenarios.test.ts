/**
 * The KVM rows of docs/model.md §6 (T8–T10) and the host flows with vCPUs running (§4.6), through the
 * whole simulator: VMM thread, vCPU, physical CPU, bus, scheduler.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin, validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';

function scenario(id: string, preset = 'mainline', fix: string[] = [], noFix: string[] = []): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(`built-in ${id} does not load`);
  return { ...r.scenario, kernel: { preset, fix, noFix } };
}

function run(s: Scenario, seed = 1) {
  return runScenario(s, { seed, keepTrace: true });
}

const text = (trace: TraceRecord[]) => trace.flatMap((r) => (r.t === 'console' ? [r.text] : []));
/** Nested VM exits for the triple fault (TRIPLE_FAULT on VMX, SHUTDOWN on SVM), not the synthetic one of SMM entry. */
const nestedExits = (trace: TraceRecord[]) =>
  trace.flatMap((r) => (r.t === 'kvm' && r.what === 'kvm_nested_vmexit_inject' && ['TRIPLE_FAULT', 'SHUTDOWN'].includes(String(r.data.reason)) ? [r.data] : []));

describe('T8: KVM_RUN before KVM_SET_CPUID2 (KVM: x86: Initialize tdp_level during vCPU creation)', () => {
  it('without the fix: "kernel BUG at arch/x86/kvm/mmu/mmu.c", the VMM thread dies, the host runs on', () => {
    const { outcome, trace } = run(scenario('T8', 'mainline', [], ['tdp-level-at-vcpu-create']));
    expect(text(trace).some((t) => t.startsWith('kernel BUG at arch/x86/kvm/mmu/mmu.c'))).toBe(true);
    expect(outcome.vcpus[0]).toMatchObject({ thread: 'dead' });
    expect(outcome.end).toBe('idle');
    expect(outcome.violations.map((v) => v.property)).toContain('no-kernel-bug');
  });

  it('with the fix: the guest runs to its HLT and KVM_RUN returns KVM_EXIT_HLT (5)', () => {
    const { outcome, trace } = run(scenario('T8'));
    expect(text(trace).some((t) => t.includes('kernel BUG'))).toBe(false);
    expect(outcome.vcpus[0]).toMatchObject({ thread: 'alive', exitReason: 'KVM_EXIT_HLT', exitCode: 5 });
    expect(outcome.violations).toEqual([]);
  });
});

describe.each([
  ['T9', 'nested_vmx_vmexit'],
  ['T9-svm', 'nested_svm_vmexit'],
])('%s: triple fault on RSM back to L2 (docs/model.md §4.4)', (id, where) => {
  it(`no RSM fix: WARN at ${where} and a TRIPLE_FAULT exit injected into L1`, () => {
    const { outcome, trace } = run(scenario(id, 'v6.6'));
    expect(outcome.warnings.map((w) => w.where)).toContain(where);
    expect(nestedExits(trace).length).toBeGreaterThan(0);
    expect(outcome.vcpus[0]?.exitReason).not.toBe('KVM_EXIT_SHUTDOWN');
    // The WARN is a violation of no-kernel-warn (before that property the run said "all hold").
    expect(outcome.violations).toEqual([{ property: 'no-kernel-warn', message: `CPU 1 (vCPU0 thread): WARN at ${where}` }]);
  });

  it('the rejected proposal (rsm-clears-nested-run-pending): no WARN, L1 still sees the exit', () => {
    const { outcome, trace } = run(scenario(id, 'v6.6', ['rsm-clears-nested-run-pending']));
    expect(outcome.warnings).toEqual([]);
    expect(nestedExits(trace).length).toBeGreaterThan(0);
  });

  it('the merged fix (rsm-shutdown-leaves-nested): KVM_EXIT_SHUTDOWN (8) to userspace, not in guest mode, no WARN', () => {
    const { outcome, trace } = run(scenario(id, 'mainline'));
    expect(outcome.warnings).toEqual([]);
    expect(nestedExits(trace)).toEqual([]);
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_SHUTDOWN', exitCode: 8, guestMode: 'l1' });
    expect(outcome.violations).toEqual([]);
  });

  it('the ioctl order is in the trace, each with its number and return', () => {
    const { trace } = run(scenario(id, 'mainline'));
    const calls = trace.flatMap((r) => (r.t === 'ioctl' && r.phase === 'call' ? [r.name] : []));
    expect(calls).toEqual(['KVM_CREATE_VCPU', 'KVM_SET_CPUID2', 'KVM_RUN', 'KVM_SET_SREGS', 'KVM_SMI', 'KVM_RUN']);
    const returns = trace.filter((r): r is Extract<TraceRecord, { t: 'ioctl' }> => r.t === 'ioctl' && r.phase === 'return');
    expect(returns.every((r) => typeof r.number === 'number' && r.number > 0)).toBe(true);
  });
});

describe('T10: nSVM stale RIP (b6162e82aef1, nested_svm_vmexit reads the register cache)', () => {
  it('without the fix: a livelock on the MMIO instruction, the repeat count growing', () => {
    const { outcome } = run(scenario('T10', 'mainline', [], ['nsvm-vmexit-reads-register-cache']));
    expect(outcome.livelock).toMatchObject({ vcpu: 0, rip: 0x2000 });
    expect(outcome.livelock?.repeats ?? 0).toBeGreaterThanOrEqual(3);
    expect(outcome.end).toBe('running');
  });

  it('with the fix: RIP advances once and L2 goes on to its HLT', () => {
    const { outcome } = run(scenario('T10'));
    expect(outcome.livelock).toBeNull();
    expect(outcome.vcpus[0]).toMatchObject({ exitReason: 'KVM_EXIT_HLT', guestMode: 'l2' });
    expect(outcome.end).toBe('idle');
  });
});

describe('NMI shootdown while vCPUs run L2 on every responder (docs/model.md §4.6)', () => {
  for (const preset of ['v5.10', 'v6.2', 'mainline']) {
    it(`${preset}: every responder's vmcs01 and vmcs02 VMCLEARed, no vCPU resumes${preset === 'mainline' ? ', no BUG' : ''}`, () => {
      const { outcome, trace } = run(scenario('T-L2', preset));
      expect(outcome.end).toBe('kexec');
      expect(outcome.vcpus).toHaveLength(3);
      for (const v of outcome.vcpus) {
        expect(v.guestMode).toBe('l2');
        expect(v.vmcs.map((x) => x.launch)).toEqual(['clear', 'clear']);
      }
      const sent = trace.findIndex((r) => r.t === 'kernel' && r.what === 'shootdown-sent');
      expect(sent).toBeGreaterThan(0);
      expect(trace.slice(sent).some((r) => r.t === 'gstep' && r.actor === 'vcpu')).toBe(false);
      expect(trace.filter((r) => r.t === 'kvm' && r.what === 'host_exit')).toHaveLength(3);
      expect(outcome.shootdowns[0]?.acked.sort()).toEqual([1, 2, 3]);
      if (preset === 'mainline') expect(outcome.violations).toEqual([]);
    });
  }
});

describe('reboot -f while vCPUs run (docs/model.md §4.6: the disable IPI between two VMX instructions of a vCPU thread)', () => {
  // E6 (a1450a8156c6) moved the flag to core x86 as virt_rebooting; kvm_arch_shutdown() sets it.
  it.each([
    ['mainline', 'virt_rebooting'],
    ['v6.6', 'kvm_rebooting'],
  ])('%s: the VM entry after hardware_disable faults and is eaten because %s was set first; the machine resets', (preset, flag) => {
    for (const seed of [1, 2, 3]) {
      const { outcome, trace } = run(scenario('T7-kvm', preset), seed);
      expect(outcome.end).toBe('reset');
      expect(text(trace).some((t) => t.includes('kernel BUG'))).toBe(false);
      expect(outcome.vcpus.every((v) => v.thread === 'alive')).toBe(true);
      const rebooting = trace.findIndex((r) => r.t === 'mem' && r.name === flag);
      expect(rebooting).toBeGreaterThan(0);
      expect(trace.some((r) => r.t === 'mem' && /_rebooting$/.test(r.name) && r.name !== flag)).toBe(false);
      const entryFaults = trace.flatMap((r, i) => (r.t === 'insn' && /^VM(RESUME|LAUNCH)/.test(r.insn) && r.result === '#UD' ? [i] : []));
      expect(entryFaults.length).toBeGreaterThan(0);
      for (const i of entryFaults) expect(i).toBeGreaterThan(rebooting);
    }
  });
});

describe('threads pinned to one CPU', () => {
  it('one thread at a time inside KVM_RUN: two vCPUs on CPU1 both reach L2, whichever runs first (seeds 1–20)', () => {
    const r = validateScenario(
      {
        name: 'two-on-one',
        machine: { cpus: 2 },
        vms: [{ vcpus: [0, 1].map((id) => ({ cpu: 1, id, guest: { l1: ['vmlaunch', { jmp: 0 }], l2: ['io', 'spin'] }, vmm: [{ ioctl: 'KVM_CREATE_VCPU' }, { ioctl: 'KVM_SET_CPUID2' }, { ioctl: 'KVM_RUN' }] })) }],
      },
      'two-on-one',
      validationContext,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    for (let seed = 1; seed <= 20; seed++) {
      const { outcome, trace } = runScenario(r.scenario, { seed, keepTrace: true });
      expect(outcome.vcpus.map((v) => [v.guestMode, v.exitReason])).toEqual([
        ['l2', 'KVM_EXIT_IO'],
        ['l2', 'KVM_EXIT_IO'],
      ]);
      // Between a KVM_RUN call and its return, no other vCPU's ioctl starts on that CPU.
      let inside: number | null = null;
      for (const rec of trace) {
        if (rec.t !== 'ioctl' || rec.name !== 'KVM_RUN') continue;
        if (rec.phase === 'call') {
          expect(inside).toBeNull();
          inside = rec.vcpu;
        } else inside = null;
      }
    }
  });
});

describe('vCPU triggers', () => {
  it('a step waiting for a vCPU state fires when a host exit moves the vCPU there', () => {
    const r = validateScenario(
      {
        name: 'trigger-on-host-exit',
        machine: { cpus: 2 },
        vms: [{ vcpus: [{ cpu: 1, guest: { l1: ['nop', 'spin'] } }] }],
        script: [
          { cpu: 1, do: 'nmi-panic', at: 20_000 },
          { cpu: 0, do: 'irqs-off', when: { vcpu: 0, enters: 'run.hostExit' } },
        ],
      },
      'trigger-on-host-exit',
      validationContext,
    );
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const { trace } = runScenario(r.scenario, { seed: 1, keepTrace: true });
    expect(trace.some((t) => t.t === 'kvm' && t.what === 'host_exit')).toBe(true);
    expect(trace.filter((t) => t.t === 'script' && t.index === 1)).toHaveLength(1);
  });
});
