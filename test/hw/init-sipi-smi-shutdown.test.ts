import { describe, expect, it } from 'vitest';
import type { CpuHw } from '../../src/hw/cpu-state.js';
import {
  holdInit,
  initArrival,
  initBlocked,
  initDeliverable,
  latchSmi,
  nmiArrival,
  rsm,
  shutdownExitBy,
  sipiArrival,
  smiArrival,
  smiEntry,
  smiLatchedDeliverable,
  takeInit,
  takeLatchedSmi,
  takeSipi,
  takeSmi,
  tripleFault,
  type Arrival,
} from '../../src/hw/interrupts.js';
import { vmxoff } from '../../src/hw/vmx.js';
import { amd, frozen, intel, okHw, svmOn, VMCS_PA, vmxNonroot, vmxRoot, withVmcs } from './fixtures.js';

type Expect = { kind: Arrival['kind']; why?: string };

describe('INIT arrival (docs/model.md §3.3)', () => {
  it.each<[string, CpuHw, Expect]>([
    ['INIT outside VMX is taken', intel(), { kind: 'take' }],
    ['INIT in VMX root is held (SDM "Restrictions on VMX Operation")', vmxRoot(), { kind: 'pending', why: 'VMX root operation' }],
    ['INIT in VMX non-root → VM exit (SDM "Other Causes of VM Exits")', vmxNonroot(), { kind: 'vmexit' }],
    ['INIT in SMM is held (SDM "SMI Handler Execution Environment")', takeSmi(intel()), { kind: 'pending', why: 'SMM' }],
    ['INIT with GIF=0 is held (kernel: "SVM blocks INIT if GIF=0")', svmOn({ gif: false }), { kind: 'pending', why: 'GIF=0' }],
    // KVM's init_vmcb() sets no INTERCEPT_INIT (v5.10 to mainline): GIF=1 in the guest (VMRUN set it), so the INIT is taken.
    ['INIT in an SVM guest is taken, not a #VMEXIT: KVM does not intercept INIT', svmOn({ svmGuest: true }), { kind: 'take' }],
    // The SDM's "wait-for-SIPI blocks INIT" is for a guest in VMX non-root; KVM's kvm_apic_accept_events() resets an INIT_RECEIVED vCPU again.
    ['INIT in wait-for-SIPI is taken: an INIT reset again', intel({ activity: 'wait-for-sipi' }), { kind: 'take' }],
    ['INIT with only CR4.VMXE=1 (after VMXOFF) is taken', intel({ cr4Vmxe: true }), { kind: 'take' }],
    ['INIT to a CPU parked in crash_nmi_callback with VMX off is taken (docs/model.md §3.3 item 3)', intel({ nmiBlocked: true, if: false, activity: 'hlt', lapicEnabled: false }), { kind: 'take' }],
    ['INIT in shutdown inside an NMI handler is held: RESET only (SDM #DF)', intel({ activity: 'shutdown', nmiBlocked: true }), { kind: 'pending', why: expect.stringContaining('only RESET') as string }],
  ])('%s', (_name, hw, expected) => {
    expect(initArrival(hw)).toMatchObject(expected);
  });

  it.each<[string, CpuHw, (hw: CpuHw) => CpuHw]>([
    ['VMXOFF', withVmcs('launched'), (hw) => okHw(vmxoff(hw))],
    ['RSM', takeSmi(intel()), (hw) => okHw(rsm(hw, true))],
  ])('INIT held pending is deliverable once %s unblocks it (docs/model.md §3.7)', (_name, blocked, unblock) => {
    const held = holdInit(blocked);
    expect(initBlocked(held)).not.toBeNull();
    expect(initDeliverable(held)).toBe(false);
    expect(initDeliverable(unblock(held))).toBe(true);
  });

  it('INIT held in VMX root stays held across RSM back into VMX root (SMM does not leave VMX)', () => {
    const afterRsm = okHw(rsm(holdInit(takeSmi(vmxRoot())), true));
    expect([afterRsm.vmx, initBlocked(afterRsm), initDeliverable(afterRsm)]).toEqual(['root', 'VMX root operation', false]);
  });

  it('INIT reset of an AP: wait-for-SIPI with virtualization, NMI state, IRR and APIC enable reset (SDM table "Processor States Following Power-up, Reset, or INIT")', () => {
    const before = intel({
      cr4Vmxe: true, if: true, nmiBlocked: true, nmiLatched: 1, irr: [0xf8], initPending: true, activity: 'hlt',
      vmcsLaunch: { [VMCS_PA]: 'launched' }, mode: { cpl: 0 },
    });
    const hw = takeInit(before);
    expect(hw).toEqual({
      ...before, activity: 'wait-for-sipi', if: false, nmiBlocked: false, nmiLatched: 0, irr: [], initPending: false,
      svme: false, gif: true, cr4Vmxe: false, currentVmcs: null, lapicEnabled: false,
    });
  });

  it('INIT reset of the BSP restarts it at the reset vector instead of waiting for SIPI', () => {
    expect(takeInit(intel(), { bsp: true }).activity).toBe('running');
  });

  it('INIT reset on AMD clears EFER.SVME (EFER=0)', () => {
    expect(takeInit(svmOn()).svme).toBe(false);
  });

  it('INIT reset in an SVM guest leaves guest mode: EFER.SVME=0, GIF=1, no guest runs (an AP waits for SIPI, the BSP restarts)', () => {
    for (const bsp of [false, true]) {
      const hw = takeInit(svmOn({ svmGuest: true, if: true }), { bsp });
      expect([hw.svmGuest, hw.svme, hw.gif, hw.if, hw.activity]).toEqual([false, false, true, false, bsp ? 'running' : 'wait-for-sipi']);
    }
  });
});

describe('SIPI (docs/model.md §3.3)', () => {
  it.each<[CpuHw['activity'], Arrival['kind']]>([
    ['wait-for-sipi', 'take'],
    ['running', 'dropped'],
    ['hlt', 'dropped'],
    ['shutdown', 'dropped'],
  ])('SIPI in %s → %s: SIPIs are ignored outside wait-for-SIPI', (activity, kind) => {
    expect(sipiArrival(intel({ activity }), 0x9a).kind).toBe(kind);
  });

  it('INIT-SIPI brings an AP from wait-for-SIPI to running; a second SIPI is then ignored', () => {
    const waiting = takeInit(intel());
    expect(sipiArrival(waiting, 0x9a).kind).toBe('take');
    const started = takeSipi(waiting);
    expect(started.activity).toBe('running');
    expect(sipiArrival(started, 0x9a)).toEqual({ kind: 'dropped', why: 'SIPI ignored outside wait-for-SIPI' });
  });
});

describe('SMI, SMM and RSM (docs/model.md §3.5)', () => {
  it.each<[string, CpuHw, Expect]>([
    ['SMI is taken', intel(), { kind: 'take' }],
    ['SMI is taken in VMX non-root (default treatment, no VM exit)', vmxNonroot(), { kind: 'take' }],
    ['SMI is taken in an NMI handler with IF=0', intel({ nmiBlocked: true, if: false }), { kind: 'take' }],
    ['SMI in SMM is latched (SDM "Entering SMM")', takeSmi(intel()), { kind: 'latched', why: 'SMM is not re-entrant' }],
    ['second SMI in SMM is dropped', latchSmi(takeSmi(intel())), { kind: 'dropped', why: 'an SMI is already latched' }],
    ['SMI with GIF=0 is held (APM 15.17)', svmOn({ gif: false }), { kind: 'pending', why: 'GIF=0 holds SMIs' }],
    ['SMI in wait-for-SIPI is held', intel({ activity: 'wait-for-sipi' }), { kind: 'pending', why: 'wait-for-SIPI blocks SMI' }],
    // KVM's init_vmcb() sets INTERCEPT_SMI; the host (SVME=1, not in a guest) takes it as any CPU.
    ['SMI in an SVM guest is a #VMEXIT (INTERCEPT_SMI)', svmOn({ svmGuest: true }), { kind: 'vmexit', why: 'SMI in an SVM guest (INTERCEPT_SMI)' }],
    ['SMI on the SVM host (SVME=1, no guest) is taken', svmOn(), { kind: 'take' }],
    ['SMI in SMM entered from an SVM guest is latched', takeSmi(svmOn({ svmGuest: true })), { kind: 'latched', why: 'SMM is not re-entrant' }],
  ])('%s', (_name, hw, expected) => {
    expect(smiArrival(hw)).toEqual(expected);
  });

  it('AMD, INTERCEPT_SMI: #VMEXIT first (guest left, GIF set again at KVM\'s STGI), then SMM in host context; RSM returns to the host', () => {
    for (const hostIf of [true, false]) {
      const guest = svmOn({ svmGuest: true, if: hostIf });
      const r = smiEntry(guest, false);
      expect(r.vmexit).toBe(true);
      expect([r.hw.svmGuest, r.hw.gif, r.hw.inSmm, r.hw.if, r.hw.ifBeforeSmm]).toEqual([false, true, true, false, hostIf]);
      const back = okHw(rsm(r.hw, true));
      expect([back.inSmm, back.svmGuest, back.if]).toEqual([false, false, hostIf]);
      // A latched SMI found when the guest runs is intercepted the same way, and leaves the latch.
      const fromLatch = smiEntry(latchSmi(guest), true);
      expect([fromLatch.vmexit, fromLatch.hw.smiLatched, fromLatch.hw.svmGuest]).toEqual([true, 0, false]);
    }
    // Intel VMX non-root and the AMD host: SMM directly, no exit.
    for (const hw of [vmxNonroot(), svmOn()]) {
      const r = smiEntry(hw, false);
      expect([r.vmexit, r.hw.inSmm, r.hw.vmx, r.hw.svmGuest]).toEqual([false, true, hw.vmx, false]);
    }
  });

  it('SMM entry clears IF, blocks NMIs, saves IF and NMI blocking, and leaves HLT (SDM "SMI Handler Execution Environment")', () => {
    const hw = takeSmi(intel({ if: true, nmiBlocked: false, activity: 'hlt' }));
    expect([hw.inSmm, hw.if, hw.ifBeforeSmm, hw.nmiBlocked, hw.nmiBlockedBeforeSmm, hw.activity]).toEqual([true, false, true, true, false, 'running']);
  });

  it('RSM outside SMM → #UD (SDM RSM)', () => {
    expect(rsm(intel(), true)).toMatchObject({ kind: 'fault', fault: '#UD' });
  });

  it('RSM with invalid SMRAM state → shutdown, still in SMM, so only RESET restarts (SDM RSM)', () => {
    const hw = okHw(rsm(takeSmi(vmxNonroot()), false));
    expect([hw.activity, hw.inSmm]).toEqual(['shutdown', true]);
    expect(shutdownExitBy(hw, 'nmi', false)).toBe(false);
    expect(shutdownExitBy(hw, 'init', false)).toBe(false);
    expect(shutdownExitBy(hw, 'reset', false)).toBe(true);
  });

  it.each<[string, boolean, boolean]>([
    ['NMIs unblocked before the SMI are unblocked after RSM', false, false],
    ['NMIs blocked before the SMI stay blocked after RSM', true, true],
  ])('%s (SDM "NMI Handling While in SMM")', (_name, blockedBefore, blockedAfter) => {
    const hw = okHw(rsm(takeSmi(intel({ nmiBlocked: blockedBefore, if: !blockedBefore })), true));
    expect([hw.inSmm, hw.nmiBlocked, hw.if]).toEqual([false, blockedAfter, !blockedBefore]);
  });

  it('an NMI latched in SMM is taken after RSM when NMIs were not blocked before', () => {
    const inSmm = takeSmi(intel());
    expect(nmiArrival(inSmm).kind).toBe('latched');
    const after = okHw(rsm({ ...inSmm, nmiLatched: 1 }, true));
    expect([after.nmiLatched, after.nmiBlocked]).toEqual([1, false]);
  });

  it('a latched SMI is serviced after RSM, not before (SDM "Entering SMM")', () => {
    const latched = latchSmi(takeSmi(intel()));
    expect(smiLatchedDeliverable(latched)).toBe(false);
    const after = okHw(rsm(latched, true));
    expect(smiLatchedDeliverable(after)).toBe(true);
    const again = takeLatchedSmi(after);
    expect([again.smiLatched, again.inSmm]).toEqual([0, true]);
  });

  it('an SMI held with GIF=0 is serviced after STGI sets GIF', () => {
    const held = latchSmi(amd({ gif: false }));
    expect(smiLatchedDeliverable(held)).toBe(false);
    expect(smiLatchedDeliverable({ ...held, gif: true })).toBe(true);
  });
});

describe('Triple fault and shutdown (docs/model.md §3.6; SDM #DF)', () => {
  it('a triple fault enters shutdown', () => {
    expect(tripleFault(intel(), false).activity).toBe('shutdown');
  });

  it('a triple fault in VMX non-root is a VM exit: the host resumes in VMX root', () => {
    const hw = tripleFault(vmxNonroot(), false);
    expect([hw.vmx, hw.activity]).toEqual(['root', 'running']);
  });

  const shutdown = (over: Partial<CpuHw> = {}): CpuHw => tripleFault(intel(over), false);
  it.each<[string, CpuHw, 'nmi' | 'smi' | 'init' | 'reset', boolean, boolean]>([
    ['NMI leaves shutdown', shutdown(), 'nmi', false, true],
    ['SMI leaves shutdown', shutdown(), 'smi', false, true],
    ['INIT leaves shutdown', shutdown(), 'init', false, true],
    ['RESET leaves shutdown', shutdown(), 'reset', false, true],
    ['NMI does not leave shutdown inside an NMI handler', shutdown(), 'nmi', true, false],
    ['SMI does not leave shutdown inside an NMI handler', shutdown(), 'smi', true, false],
    ['INIT does not leave shutdown inside an NMI handler', shutdown(), 'init', true, false],
    ['RESET leaves shutdown inside an NMI handler', shutdown(), 'reset', true, true],
    ['INIT does not leave shutdown in SMM', shutdown({ inSmm: true }), 'init', false, false],
    ['NMI does not leave shutdown when the CPU state shows NMIs blocked (BOOT_TRIPLE from NMI context)', shutdown({ nmiBlocked: true }), 'nmi', false, false],
    ['INIT does not leave shutdown in VMX root (INIT blocked)', tripleFault(vmxRoot(), false), 'init', false, false],
    ['nothing "leaves" shutdown on a running CPU', intel(), 'reset', false, false],
  ])('%s', (_name, hw, what, inNmiOrSmm, expected) => {
    expect(shutdownExitBy(hw, what, inNmiOrSmm)).toBe(expected);
  });

  it('BOOT_TRIPLE from an NMI handler: NMI latched, SMI and INIT held, only RESET restarts', () => {
    const hw = tripleFault(intel({ nmiBlocked: true, if: false }), true);
    expect([nmiArrival(hw).kind, smiArrival(hw).kind, initArrival(hw).kind]).toEqual(['latched', 'pending', 'pending']);
  });
});

it('INIT/SIPI/SMI rules return new states and never mutate their input', () => {
  const hw = frozen(vmxRoot({ irr: [0x41] }));
  expect(() => [holdInit(hw), takeInit(hw), takeSipi(hw), takeSmi(hw), latchSmi(hw), tripleFault(hw, false)]).not.toThrow();
  expect(() => rsm(frozen(takeSmi(intel())), true)).not.toThrow();
  expect([hw.activity, hw.irr]).toEqual(['running', [0x41]]);
});
