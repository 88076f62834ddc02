/**
 * The vCPU chart alone, driven like the VMM thread would drive it (docs/model.md §4, §6 T8–T10). The
 * world is a recording fake whose host instructions succeed unless a test says otherwise.
 */
import { describe, expect, it } from 'vitest';
import { vcpuImplementations, vcpuMachine } from '../../machines/vcpu.machine.js';
import { vcpuGuards } from '../../machines/vcpu/guards.js';
import { makeVcpuActions } from '../../machines/vcpu/actions.js';
import { ChartRunner } from '../../src/sim/chart-runner.js';
import type { HostInsnResult, VcpuContext } from '../../src/kvm/types.js';
import type { VcpuEvent } from '../../machines/vcpu/types.js';
import { fakeWorld, startVcpu, vcpuInput } from '../kvm/helpers.js';

const NONE: string[] = [];

describe('vCPU chart: lifecycle', () => {
  it('sched.vcpu is refused while absent, in userspace and when dead; ioctls before creation → -EBADF', () => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'io' }] }));
    expect(v.snap().can({ type: 'sched.vcpu' })).toBe(false);
    const before = v.ctx();
    expect(v.ioctl('KVM_RUN')?.ret).toMatchObject({ ok: false, errno: 'EBADF', value: -9 });
    expect(v.ctx()).toEqual(before);
    expect(v.ioctl('KVM_CREATE_VCPU', { id: 0 })?.ret).toMatchObject({ ok: true });
    expect(v.snap().value).toBe('userspace');
    expect(v.snap().can({ type: 'sched.vcpu' })).toBe(false);
    const created = v.ctx();
    expect(v.ioctl('KVM_CREATE_VCPU', { id: 0 })?.ret).toMatchObject({ ok: false, errno: 'EEXIST', value: -17 });
    expect(v.ioctl('KVM_SET_SREGS', { efer: 0x101 })?.ret).toMatchObject({ ok: false, errno: 'EINVAL' });
    expect(v.ctx()).toEqual(created);
    expect(v.kvmRun()).toMatchObject({ name: 'KVM_RUN', ret: { ok: true, value: 0 }, exit: 'IO' });
    expect(v.world.log[0]).toBe('VMPTRLD 10000 → ok');
    expect(v.world.log).toContain('VMLAUNCH → ok');
  });

  it('an I/O exit completes on the next KVM_RUN in the register cache; hlt exits with KVM_EXIT_HLT', () => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'io' }, { op: 'nop' }, { op: 'hlt' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    expect(v.kvmRun()?.exit).toBe('IO');
    expect(v.ctx().rip).toBe(0x1000);
    expect(v.kvmRun()?.exit).toBe('HLT');
    expect(v.ctx().rip).toBe(0x1003);
    expect(v.world.log.filter((l) => l.startsWith('VMRESUME'))).toHaveLength(1);
  });

  it('host.exit in guest mode: the thread handles the exit and re-enters', () => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'spin' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    v.runUntilBlocked();
    expect(v.snap().hasTag('blocked')).toBe(true);
    expect(v.snap().value).toEqual({ run: 'spinning' });
    v.send({ type: 'host.exit', reason: 'nmi' });
    expect(v.snap().can({ type: 'sched.vcpu' })).toBe(true);
    v.runUntilBlocked();
    expect(v.snap().value).toEqual({ run: 'spinning' });
    expect(v.world.log.filter((l) => l.startsWith('VMRESUME'))).toHaveLength(1);
  });
});

describe('vCPU chart: interrupts from the kernel (irqfd)', () => {
  /** Step a fresh KVM_RUN until the chart is at `state`. */
  const runTo = (state: string) => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'spin' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    for (let i = 0; i < 50 && JSON.stringify(v.snap().value) !== JSON.stringify({ run: state }); i++) v.send({ type: 'sched.vcpu' });
    expect(v.snap().value).toEqual({ run: state });
    return v;
  };

  it('an interrupt raised after injection cancels the entry: back to the requests, no VM entry, then injected', () => {
    for (const state of ['mmu', 'enter']) {
      const v = runTo(state);
      const entries = v.world.log.filter((l) => l.startsWith('VMLAUNCH') || l.startsWith('VMRESUME')).length;
      v.send({ type: 'irq', vector: 0x51 });
      expect(v.snap().value).toEqual({ run: 'requests' });
      expect(v.world.log.filter((l) => l.startsWith('VMLAUNCH') || l.startsWith('VMRESUME'))).toHaveLength(entries);
      v.runUntilBlocked();
      expect(v.ctx().injected).toEqual([{ vector: 0x51, into: 'l1' }]);
    }
  });

  it('a second vector waits behind the pending one; the same vector again is one interrupt', () => {
    const v = runTo('requests');
    v.send({ type: 'irq', vector: 0x51 });
    v.send({ type: 'irq', vector: 0x51 });
    v.send({ type: 'irq', vector: 0x60 });
    // After the first injection KVM opens an interrupt window: the guest exits at once and takes the second.
    v.runUntilBlocked();
    expect(v.ctx().injected.map((i) => i.vector)).toEqual([0x51, 0x60]);
    expect(v.ctx().pendingIrq).toBeNull();
  });
});

describe('T8: KVM_RUN without KVM_SET_CPUID2 (KVM: x86: Initialize tdp_level during vCPU creation)', () => {
  it('pre-fix: kernel BUG in kvm_mmu_load, the thread dies and never returns', () => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], ['tdp-level-at-vcpu-create'], { l1: [{ op: 'hlt' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    expect(v.kvmRun()).toBeUndefined();
    expect(v.world.oopses).toHaveLength(1);
    expect(v.world.oopses[0]?.[0]).toContain('kernel BUG at arch/x86/kvm/mmu/mmu.c');
    expect(v.world.oopses[0]?.[1]).toContain('invalid opcode: 0000 [#1]');
    expect(v.world.oopses[0]).toContain('RIP: 0010:kvm_mmu_load');
    expect(v.ctx().thread).toBe('dead');
    expect(v.snap().value).toBe('dead');
    expect(v.snap().can({ type: 'sched.vcpu' })).toBe(false);
  });
  it('pre-fix, with KVM_SET_CPUID2 first: runs', () => {
    const v = startVcpu(vcpuInput('amd', 'mainline', [], ['tdp-level-at-vcpu-create'], { l1: [{ op: 'hlt' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.ioctl('KVM_SET_CPUID2', { maxphyaddr: 52 });
    expect(v.ctx().tdpLevel).toBe(5);
    expect(v.kvmRun()?.exit).toBe('HLT');
  });
  it('post-fix: the guest runs', () => {
    const v = startVcpu(vcpuInput('intel', 'v5.10', [], [], { l1: [{ op: 'hlt' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    expect(v.kvmRun()?.exit).toBe('HLT');
    expect(v.world.oopses).toEqual([]);
  });
});

describe('a host VM entry that faults (vmenter.S fixup)', () => {
  const program = { l1: [{ op: 'hlt' as const }] };
  it('#UD with kvm_rebooting=0: kvm_spurious_fault BUG', () => {
    const world = fakeWorld((insn) => (insn === 'VMLAUNCH' ? '#UD' : 'ok'));
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], program), world);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    expect(v.kvmRun()).toBeUndefined();
    expect(world.oopses[0]?.join('\n')).toContain('kvm_spurious_fault');
    expect(v.ctx().thread).toBe('dead');
  });
  // KVM: VMX: Flatten __vmx_vcpu_run() (8bd200d23ec4, v5.19): switch vmx-entry-fault-is-vmfail.
  const FLAT: [string, string[], string[]][] = [
    ['v6.2', [], []],
    ['v6.6', [], []],
    ['mainline', [], []],
    ['v5.10', ['vmx-entry-fault-is-vmfail'], []],
  ];
  const PRE_FLAT: [string, string[], string[]][] = [
    ['v5.10', [], []],
    ['v5.11', [], []],
    ['mainline', [], ['vmx-entry-fault-is-vmfail']],
  ];
  it.each(FLAT)('%s (fix %j, no-fix %j), VMX: #UD with kvm_rebooting=1 is VM-Fail (vmenter.S .Lfixup → .Lvmfail): KVM_EXIT_FAIL_ENTRY', (preset, fix, noFix) => {
    for (const insn of ['VMLAUNCH', 'VMRESUME']) {
      const world = fakeWorld((i) => (i === insn ? '#UD' : 'ok'));
      world.k.state.kvm_rebooting = true;
      const v = startVcpu(vcpuInput('intel', preset, fix, noFix, { l1: [{ op: 'io' }, { op: 'hlt' }] }), world);
      v.ioctl('KVM_CREATE_VCPU', { id: 0 });
      // VMRESUME is reached only after a first exit (the I/O one).
      if (insn === 'VMRESUME') expect(v.kvmRun()?.exit).toBe('IO');
      const exits = world.events.filter((e) => e.what === 'kvm_exit').length;
      expect(v.kvmRun()).toMatchObject({ ret: { ok: true, value: 0 }, exit: 'FAIL_ENTRY' });
      // vmx->fail: vmx_vcpu_run returns before trace_kvm_exit and before marking the VMCS launched.
      expect(world.events.filter((e) => e.what === 'kvm_exit')).toHaveLength(exits);
      expect(v.ctx().launched.l1).toBe(insn === 'VMRESUME');
      expect(world.oopses).toEqual([]);
    }
  });
  it.each(PRE_FLAT)(
    '%s (fix %j, no-fix %j), VMX: #UD with kvm_rebooting=1 returns from vmx_vmenter as a VM-Exit: exit reason 0 (the VMREAD faulted), handle_exception_nmi: KVM_EXIT_EXCEPTION',
    (preset, fix, noFix) => {
      for (const insn of ['VMLAUNCH', 'VMRESUME']) {
        // After the first fault, VMX stays off: every entry faults.
        let off = false;
        const world = fakeWorld((i) => (i === insn || (off && (i === 'VMLAUNCH' || i === 'VMRESUME')) ? '#UD' : 'ok'));
        world.k.state.kvm_rebooting = true;
        const v = startVcpu(vcpuInput('intel', preset, fix, noFix, { l1: [{ op: 'io' }, { op: 'hlt' }] }), world);
        v.ioctl('KVM_CREATE_VCPU', { id: 0 });
        if (insn === 'VMRESUME') expect(v.kvmRun()?.exit).toBe('IO');
        off = true;
        const before = world.events.length;
        expect(v.kvmRun()).toMatchObject({ ret: { ok: true, value: 0 }, exit: 'EXCEPTION' });
        expect(world.oopses).toEqual([]);
        // trace_kvm_exit(0): EXCEPTION_NMI, then the exit to userspace.
        const after = world.events.slice(before);
        expect(after.map((e) => e.what)).toEqual(['kvm_exit', 'kvm_userspace_exit']);
        expect(after[0]?.data.reason).toBe('EXCEPTION_NMI');
        expect(after[1]?.data.reason).toBe('EXCEPTION');
        expect(v.ctx().exitReason).toBe('EXCEPTION');
        expect(v.snap().value).toBe('userspace');
        // vmx_vcpu_run took it for an exit: loaded_vmcs->launched = 1, so the next entry is a VMRESUME.
        expect(v.ctx().launched.l1).toBe(true);
        expect(v.ctx().rip).toBe(insn === 'VMRESUME' ? 0x1001 : 0x1000);
        const entries = world.log.filter((l) => /^VM(LAUNCH|RESUME)/.test(l)).length;
        expect(v.kvmRun()?.exit).toBe('EXCEPTION');
        expect(world.log.filter((l) => /^VM(LAUNCH|RESUME)/.test(l)).slice(entries)).toEqual(['VMRESUME → #UD']);
      }
    },
  );
  it.each(PRE_FLAT)('%s (fix %j, no-fix %j), VMX in L2: the eaten fault is an exit from L2 with reason 0; L1 does not intercept #DE, so KVM_EXIT_EXCEPTION', (preset, fix, noFix) => {
    const ok = fakeWorld();
    const v = startVcpu(vcpuInput('intel', preset, fix, noFix, { l1: [{ op: 'vmlaunch' }, { op: 'spin' }], l2: [{ op: 'spin' }] }), ok);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    for (let i = 0; i < 50 && !v.ctx().nestedRunPending; i++) v.send({ type: 'sched.vcpu' });
    expect([v.ctx().guestMode, v.ctx().nestedRunPending]).toEqual(['l2', true]);
    ok.k.state.kvm_rebooting = true;
    const faulting = fakeWorld((insn) => (insn === 'VMLAUNCH' ? '#UD' : 'ok'));
    ok.io.hostInsn = faulting.io.hostInsn;
    v.runUntilBlocked(20);
    expect(ok.returns.filter((r) => r.name === 'KVM_RUN').map((r) => r.exit)).toEqual(['EXCEPTION']);
    expect(v.ctx().guestMode).toBe('l2');
    expect(v.ctx().nestedRunPending).toBe(false);
    expect(v.ctx().launched.l2).toBe(true);
    expect(ok.oopses).toEqual([]);
  });
  /** L1 VMLAUNCHes L2; step until nested_run_pending is set (before the hardware entry of vmcs02), then the world turns to `result`. */
  const intoL2 = (preset: string, fix: string[], noFix: string[], result: (insn: string) => HostInsnResult) => {
    const w = fakeWorld();
    const v = startVcpu(vcpuInput('intel', preset, fix, noFix, { l1: [{ op: 'vmlaunch' }, { op: 'spin' }], l2: [{ op: 'spin' }] }), w);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    for (let i = 0; i < 50 && !v.ctx().nestedRunPending; i++) v.send({ type: 'sched.vcpu' });
    expect([v.ctx().guestMode, v.ctx().nestedRunPending]).toEqual(['l2', true]);
    const turned = fakeWorld(result);
    w.io.hostInsn = turned.io.hostInsn;
    return { v, w, log: turned.log };
  };
  const vmxOff = (insn: string): HostInsnResult => (['VMLAUNCH', 'VMRESUME', 'VMPTRLD'].includes(insn) ? '#UD' : 'ok');
  it.each(FLAT)(
    '%s (fix %j, no-fix %j), VMX in L2: VM-Fail is a late nested VM-Fail to L1 (nested_vmx_reflect_vmexit), whose VM_INSTRUCTION_ERROR (VMREAD faulted: 0) WARNs; the vmcs01 entry then fails: KVM_EXIT_FAIL_ENTRY',
    (preset, fix, noFix) => {
      const { v, w, log } = intoL2(preset, fix, noFix, vmxOff);
      w.k.state.kvm_rebooting = true;
      v.runUntilBlocked(40);
      expect(log.filter((l) => /^VM(LAUNCH|RESUME|PTRLD)/.test(l))).toEqual(['VMLAUNCH → #UD', 'VMPTRLD 10000 → #UD', 'VMRESUME → #UD']);
      expect(w.events.map((e) => e.what)).toContain('kvm_nested_vmenter_failed');
      expect(w.warns).toEqual(['nested_vmx_vmexit']);
      expect(w.returns.filter((r) => r.name === 'KVM_RUN').map((r) => r.exit)).toEqual(['FAIL_ENTRY']);
      expect([v.ctx().guestMode, v.ctx().nestedRunPending]).toEqual(['l1', false]);
      expect(w.oopses).toEqual([]);
    },
  );
  it('VMX in L2, VMfailValid(7) (invalid control field, the one error nested_vmx_vmexit expects): back in L1 after its VMLAUNCH, no WARN; VMfailValid(9): the WARN', () => {
    for (const [error, warns] of [[7, []], [9, ['nested_vmx_vmexit']]] as const) {
      let once = false;
      const { v, w } = intoL2('mainline', [], [], (insn) => {
        if (insn !== 'VMLAUNCH' || once) return 'ok';
        once = true;
        return `VMfailValid(${error})`;
      });
      v.runUntilBlocked(40);
      expect(w.returns.filter((r) => r.name === 'KVM_RUN')).toEqual([]);
      expect(w.warns).toEqual(warns);
      expect(v.snap().value).toEqual({ run: 'spinning' });
      expect([v.ctx().guestMode, v.ctx().rip]).toEqual(['l1', 0x1001]);
    }
  });
  it.each(['v5.10', 'v5.11', 'v6.6', 'mainline'])(
    '%s, SVM: #UD with kvm_rebooting=1 is skipped (__svm_vcpu_run fixup): the stale exit is handled and the thread loops in KVM_RUN, which never returns',
    (preset) => {
      for (const fault of ['#UD', '#GP'] as const) {
        const world = fakeWorld((insn) => (insn === 'VMRUN' ? fault : 'ok'));
        world.k.state.kvm_rebooting = true;
        const v = startVcpu(vcpuInput('amd', preset, [], [], program), world);
        v.ioctl('KVM_CREATE_VCPU', { id: 0 });
        expect(v.kvmRun()).toBeUndefined();
        expect(world.returns.filter((r) => r.name === 'KVM_RUN')).toEqual([]);
        expect(world.log.filter((l) => l.startsWith('VMRUN'))).toEqual([`VMRUN 10000 → ${fault}`]);
        expect(world.events.map((e) => e.what)).toEqual(['kvm_exit']);
        expect(world.oopses).toEqual([]);
        expect(v.ctx().exitReason).toBeNull();
        // Inside KVM_RUN for good: the loop moves nothing, so the thread waits like a spinning guest.
        expect(v.snap().value).toEqual({ run: 'vmrunLoop' });
        expect(v.snap().hasTag('blocked')).toBe(true);
        expect(v.ctx().rip).toBe(0x1000);
      }
    },
  );
  it('SVM: a VMRUN that faults with kvm_rebooting=1 while L2 is pending entry clears nested_run_pending, as svm_vcpu_run does after any VMRUN', () => {
    const ok = fakeWorld();
    const v = startVcpu(vcpuInput('amd', 'mainline', [], [], { l1: [{ op: 'vmrun' }, { op: 'spin' }], l2: [{ op: 'spin' }] }), ok);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    // Step until L1's VMRUN has been emulated (nested_run_pending set), before the hardware VMRUN of vmcb02.
    for (let i = 0; i < 50 && !v.ctx().nestedRunPending; i++) v.send({ type: 'sched.vcpu' });
    expect([v.ctx().guestMode, v.ctx().nestedRunPending]).toEqual(['l2', true]);
    ok.k.state.kvm_rebooting = true;
    const faulting = fakeWorld((insn) => (insn === 'VMRUN' ? '#UD' : 'ok'));
    ok.io.hostInsn = faulting.io.hostInsn;
    v.runUntilBlocked(20);
    expect(v.snap().value).toEqual({ run: 'vmrunLoop' });
    expect(v.ctx().nestedRunPending).toBe(false);
    expect(ok.returns.filter((r) => r.name === 'KVM_RUN')).toEqual([]);
  });
  it('VMfailValid: KVM_EXIT_FAIL_ENTRY', () => {
    const world = fakeWorld((insn) => (insn === 'VMLAUNCH' ? 'VMfailValid(7)' : 'ok'));
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], program), world);
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    expect(v.kvmRun()?.exit).toBe('FAIL_ENTRY');
  });
});

/** T9: L1 launches L2, bad EFER stored with KVM_SET_SREGS, KVM_SMI while in L2, the SMI handler's RSM fails. */
function t9(vendor: 'intel' | 'amd', preset: string, fix: string[] = NONE, noFix: string[] = NONE) {
  const enter = vendor === 'intel' ? ({ op: 'vmlaunch' } as const) : ({ op: 'vmrun' } as const);
  const v = startVcpu(
    vcpuInput(vendor, preset, fix, noFix, {
      l1: [enter, { op: 'spin' }],
      l2: [{ op: 'io' }, { op: 'spin' }],
      smm: [{ op: 'rsm' }],
      l1InterceptsShutdown: true,
    }),
  );
  v.ioctl('KVM_CREATE_VCPU', { id: 0 });
  v.ioctl('KVM_SET_CPUID2', { maxphyaddr: 40 });
  expect(v.ioctl('KVM_SET_SREGS', { efer: 0x2501 })?.ret.ok).toBe(true);
  expect(v.kvmRun()?.exit).toBe('IO');
  expect(v.ctx().guestMode).toBe('l2');
  expect(v.ctx().nestedRunPending).toBe(false);
  v.ioctl('KVM_SMI');
  const ret = v.kvmRun();
  return { v, ret };
}

describe('T9: RSM to L2 with an EFER KVM rejects (KVM: x86: Forcibly leave nested if RSM to L2 hits shutdown)', () => {
  it.each([
    ['intel', 'nested_vmx_vmexit', 'TRIPLE_FAULT'],
    ['amd', 'nested_svm_vmexit', 'SHUTDOWN'],
  ] as const)('%s, no RSM fix: WARN in %s and a %s exit injected into L1', (vendor, fn, reason) => {
    const { v, ret } = t9(vendor, 'v6.6');
    expect(v.world.warns).toEqual([fn]);
    expect(v.world.events.filter((e) => e.what === 'kvm_nested_vmexit_inject').map((e) => e.data.reason)).toContain(reason);
    expect(v.world.events.some((e) => e.what === 'kvm_enter_smm')).toBe(true);
    expect(v.ctx().guestMode).toBe('l1');
    expect(v.ctx().lastNestedExit).toBe(reason);
    expect(ret).toBeUndefined(); // L1 goes on (spins); no exit to userspace
    expect(v.snap().value).toEqual({ run: 'spinning' });
  });
  it.each(['intel', 'amd'] as const)('%s with the rejected proposal (rsm-clears-nested-run-pending): no WARN, L1 still sees the exit', (vendor) => {
    const { v } = t9(vendor, 'v6.6', ['rsm-clears-nested-run-pending']);
    expect(v.world.warns).toEqual([]);
    expect(v.world.events.filter((e) => e.what === 'kvm_nested_vmexit_inject')).not.toHaveLength(0);
    expect(v.ctx().guestMode).toBe('l1');
  });
  it.each(['intel', 'amd'] as const)('%s mainline (merged fix): KVM_EXIT_SHUTDOWN, not in guest mode, no WARN', (vendor) => {
    const { v, ret } = t9(vendor, 'mainline');
    expect(ret).toMatchObject({ ret: { ok: true, value: 0 }, exit: 'SHUTDOWN' });
    expect(v.ctx().guestMode).toBe('l1');
    expect(v.ctx().nestedRunPending).toBe(false);
    expect(v.world.warns).toEqual([]);
    expect(v.world.events.filter((e) => e.what === 'kvm_nested_vmexit_inject' && e.data.reason !== 'SW')).toEqual([]);
  });
  it('both RSM switches: the merged fix acts first', () => {
    const { v, ret } = t9('intel', 'mainline', ['rsm-clears-nested-run-pending']);
    expect(ret?.exit).toBe('SHUTDOWN');
    expect(v.world.warns).toEqual([]);
  });
  it.each(['intel', 'amd'] as const)('%s v5.10 + rsm-failure-triple-faults (no nested triple_fault op): KVM_EXIT_SHUTDOWN although still in L2', (vendor) => {
    const { v, ret } = t9(vendor, 'v5.10', ['rsm-failure-triple-faults']);
    expect(ret?.exit).toBe('SHUTDOWN');
    expect(v.ctx().guestMode).toBe('l2');
    expect(v.world.warns).toEqual([]);
  });
  it.each(['intel', 'amd'] as const)('%s v5.10 (em_rsm X86EMUL_UNHANDLEABLE): #UD queued in L2, injected there (L1 does not intercept it)', (vendor) => {
    const { v, ret } = t9(vendor, 'v5.10');
    expect(ret).toBeUndefined();
    expect(v.world.events.some((e) => e.what === 'kvm_emulate_insn_failed')).toBe(true);
    expect(v.world.events.filter((e) => e.what === 'kvm_inj_exception').map((e) => e.data.guestMode)).toEqual(['l2']);
    expect(v.ctx()).toMatchObject({ guestMode: 'l2', guestStuck: true, udPending: false });
    expect(v.world.warns).toEqual([]);
  });
  it('a valid EFER: RSM returns to L2, which goes on after the I/O instruction', () => {
    const v = startVcpu(
      vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'vmlaunch' }], l2: [{ op: 'io' }, { op: 'hlt' }], smm: [{ op: 'rsm' }] }),
    );
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.kvmRun();
    v.ioctl('KVM_SMI');
    expect(v.kvmRun()?.exit).toBe('HLT');
    expect(v.ctx()).toMatchObject({ guestMode: 'l2', inSmm: false, rip: 0x2002 });
    expect(v.world.warns).toEqual([]);
  });
  it('RSM outside SMM is #UD (em_rsm)', () => {
    const v = startVcpu(vcpuInput('intel', 'mainline', [], [], { l1: [{ op: 'rsm' }, { op: 'hlt' }] }));
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.send({ type: 'ioctl', name: 'KVM_RUN', arg: {} });
    v.runUntilBlocked();
    expect(v.ctx().guestStuck).toBe(true);
    expect(v.world.events.some((e) => e.what === 'kvm_inj_exception')).toBe(true);
  });
});

/** T10: L2 MMIO completed in userspace while L1 intercepts a queued IRQ (KVM: nSVM, b6162e82aef1). */
function t10(fix: boolean, rounds: number) {
  const v = startVcpu(
    vcpuInput('amd', 'mainline', [], fix ? [] : ['nsvm-vmexit-reads-register-cache'], {
      l1: [{ op: 'vmrun' }, { op: 'jmp', to: 0x1000 }],
      l2: [{ op: 'mmio' }, { op: 'hlt' }],
      l1InterceptsIrq: true,
    }),
  );
  v.ioctl('KVM_CREATE_VCPU', { id: 0 });
  const exits = [v.kvmRun()?.exit];
  for (let i = 0; i < rounds; i++) {
    v.ioctl('KVM_INTERRUPT', { vector: 0x20 });
    exits.push(v.kvmRun()?.exit);
  }
  return { v, exits };
}

describe('T10: nSVM stale RIP in nested_svm_vmexit', () => {
  it('pre-fix: L2 re-executes the MMIO store forever (livelock, repeats growing)', () => {
    const { v, exits } = t10(false, 4);
    expect(exits).toEqual(['MMIO', 'MMIO', 'MMIO', 'MMIO', 'MMIO']);
    expect(v.ctx().livelock).toEqual({ rip: 0x2000, repeats: 5 });
    expect(v.ctx().injected.map((i) => i.into)).toEqual(['l1', 'l1', 'l1', 'l1']);
  });
  it('post-fix: RIP advances once and L2 goes on', () => {
    const { v, exits } = t10(true, 1);
    expect(exits).toEqual(['MMIO', 'HLT']);
    expect(v.ctx().livelock).toBeNull();
    expect(v.ctx().rip).toBe(0x2002);
  });
  it('nVMX never had the bug', () => {
    const v = startVcpu(
      vcpuInput('intel', 'v5.10', [], [], { l1: [{ op: 'vmlaunch' }, { op: 'jmp', to: 0x1000 }], l2: [{ op: 'mmio' }, { op: 'hlt' }], l1InterceptsIrq: true }),
    );
    v.ioctl('KVM_CREATE_VCPU', { id: 0 });
    v.kvmRun();
    v.ioctl('KVM_INTERRUPT', { vector: 0x20 });
    expect(v.kvmRun()?.exit).toBe('HLT');
  });
});

describe('vCPU chart on the compiled runner', () => {
  it('every guard and action the chart names is implemented', () => {
    const impl = vcpuImplementations(() => fakeWorld());
    const names = { guards: new Set(Object.keys(impl.guards)), actions: new Set(Object.keys(impl.actions)) };
    expect(Object.keys(vcpuGuards).length).toBeGreaterThan(10);
    expect(Object.keys(makeVcpuActions(() => fakeWorld())).length).toBeGreaterThan(10);
    // Compiling on the runner checks every action name; guards are checked when evaluated below.
    expect(() => ChartRunner.of(vcpuMachine.provide(impl))).not.toThrow();
    expect(names.guards.has('ioctl fails')).toBe(true);
  });
  it('T10 pre-fix gives the same result under ChartRunner as under createActor', () => {
    const world = fakeWorld();
    const runner = ChartRunner.of(vcpuMachine.provide(vcpuImplementations(() => world)));
    const input = vcpuInput('amd', 'mainline', [], ['nsvm-vmexit-reads-register-cache'], {
      l1: [{ op: 'vmrun' }, { op: 'jmp', to: 0x1000 }],
      l2: [{ op: 'mmio' }, { op: 'hlt' }],
      l1InterceptsIrq: true,
    });
    const state = runner.initial(input);
    const step = () => {
      let n = 0;
      while (runner.can(state, { type: 'sched.vcpu' }) && n++ < 200) runner.send(state, { type: 'sched.vcpu' });
    };
    runner.send(state, { type: 'ioctl', name: 'KVM_CREATE_VCPU', arg: { id: 0 } });
    runner.send(state, { type: 'ioctl', name: 'KVM_RUN', arg: {} });
    step();
    for (let i = 0; i < 3; i++) {
      runner.send(state, { type: 'ioctl', name: 'KVM_INTERRUPT', arg: { vector: 0x20 } });
      runner.send(state, { type: 'ioctl', name: 'KVM_RUN', arg: {} });
      step();
    }
    expect(state.context.livelock).toEqual({ rip: 0x2000, repeats: 4 });
    const { v } = t10(false, 3);
    expect(world.log).toEqual(v.world.log);
    expect(world.events).toEqual(v.world.events);
    expect(state.context).toEqual(v.ctx());
  });
  it('T8 pre-fix under ChartRunner: the thread dies', () => {
    const world = fakeWorld();
    const runner = ChartRunner.of(vcpuMachine.provide(vcpuImplementations(() => world)));
    const state = runner.initial(vcpuInput('intel', 'mainline', [], ['tdp-level-at-vcpu-create'], { l1: [{ op: 'hlt' }] }));
    runner.send(state, { type: 'ioctl', name: 'KVM_CREATE_VCPU', arg: { id: 0 } });
    runner.send(state, { type: 'ioctl', name: 'KVM_RUN', arg: {} });
    let n = 0;
    while (runner.can(state, { type: 'sched.vcpu' }) && n++ < 50) runner.send(state, { type: 'sched.vcpu' });
    expect(state.context.thread).toBe('dead');
    expect(world.oopses[0]?.[0]).toContain('mmu.c');
  });
});
