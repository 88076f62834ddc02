import { describe, expect, it } from 'vitest';
import type { CpuHw } from '../../src/hw/cpu-state.js';
import {
  addToIrr,
  cli,
  exceptionReturn,
  fixedIpiArrival,
  hlt,
  hltWakes,
  iret,
  latchNmi,
  nmiArrival,
  nmiLatchedDeliverable,
  pendingIrqDeliverable,
  sti,
  takeIrq,
  takeLatchedNmi,
  takeNestedNmi,
  takeNmi,
  takeSmi,
  type Arrival,
} from '../../src/hw/interrupts.js';
import { REBOOT_VECTOR, CALL_FUNCTION_VECTOR } from '../../src/hw/apic.js';
import { amd, frozen, intel, okHw, vmxNonroot, vmxRoot } from './fixtures.js';

type Expect = { kind: Arrival['kind']; why?: string };
const why = (kind: Arrival['kind'], text: string): Expect => ({ kind, why: expect.stringContaining(text) as string });

/** A CPU parked in crash_nmi_callback: NMI taken, IRQs off, halted, APIC soft-disabled. */
const parkedInNmi = (over: Partial<CpuHw> = {}): CpuHw =>
  intel({ nmiBlocked: true, if: false, activity: 'hlt', lapicEnabled: false, ...over });

describe('NMI arrival (docs/model.md §3.4; SDM "Handling Multiple NMIs")', () => {
  it.each<[string, CpuHw, Expect]>([
    ['unblocked NMI is taken', intel(), { kind: 'take' }],
    ['NMI is taken with IF=0: never masked by IF', intel({ if: false }), { kind: 'take' }],
    ['NMI is taken by a soft-disabled APIC (stop_this_cpu comment)', intel({ lapicEnabled: false }), { kind: 'take' }],
    ['NMI wakes HLT', intel({ activity: 'hlt' }), { kind: 'take' }],
    ['NMI while blocked is latched', intel({ nmiBlocked: true }), why('latched', 'until the next IRET')],
    ['second NMI while blocked is dropped: at most one latched', intel({ nmiBlocked: true, nmiLatched: 1 }), why('dropped', 'an NMI is already latched')],
    ['NMI in SMM is latched (SDM "NMI Handling While in SMM")', takeSmi(intel()), why('latched', 'SMM')],
    ['NMI in SMM entered from VMX non-root is latched, not a VM exit', takeSmi(vmxNonroot()), why('latched', 'SMM')],
    ['NMI with GIF=0 is held in the latch (APM 15.17)', amd({ svme: true, gif: false }), why('latched', 'GIF=0')],
    ['second NMI with GIF=0 is dropped', amd({ svme: true, gif: false, nmiLatched: 1 }), why('dropped', 'already latched')],
    ['NMI in VMX non-root → VM exit (NMI exiting)', vmxNonroot(), { kind: 'vmexit' }],
    ['NMI in VMX root is taken', vmxRoot(), { kind: 'take' }],
    ['NMI in wait-for-SIPI is held pending (choice: one-deep latch)', intel({ activity: 'wait-for-sipi' }), why('pending', 'wait-for-SIPI')],
    ['NMI in shutdown outside an NMI handler is taken', intel({ activity: 'shutdown' }), { kind: 'take' }],
    ['NMI in shutdown inside an NMI handler is only latched: RESET only (SDM #DF)', intel({ activity: 'shutdown', nmiBlocked: true }), why('latched', 'only RESET')],
  ])('%s', (_name, hw, expected) => {
    expect(nmiArrival(hw)).toMatchObject(expected);
  });
});

describe('NMI blocking until IRET (SDM "Handling Multiple NMIs", docs/model.md §0.1)', () => {
  it('taking an NMI blocks NMIs, clears IF and leaves HLT', () => {
    const hw = takeNmi(intel({ activity: 'hlt', if: true }));
    expect([hw.nmiBlocked, hw.if, hw.activity]).toEqual([true, false, 'running']);
  });

  it('taking an NMI leaves shutdown', () => {
    expect(takeNmi(intel({ activity: 'shutdown' })).activity).toBe('running');
  });

  it('three NMIs during one handler: one runs, one latched, one lost; the latched one runs after IRET', () => {
    const inHandler = takeNmi(intel());
    const second = nmiArrival(inHandler);
    expect(second.kind).toBe('latched');
    const latched = latchNmi(inHandler);
    expect(nmiArrival(latched)).toMatchObject(why('dropped', 'already latched'));
    expect(nmiLatchedDeliverable(latched)).toBe(false);
    const returned = iret(latched, true);
    expect([returned.nmiBlocked, returned.nmiLatched, returned.if]).toEqual([false, 1, true]);
    expect(nmiLatchedDeliverable(returned)).toBe(true);
    const again = takeLatchedNmi(returned);
    expect([again.nmiLatched, again.nmiBlocked, again.if]).toEqual([0, true, false]);
  });

  it("an exception handled inside an NMI handler returns with IRET: NMIs unblocked, IF kept, the latched NMI deliverable", () => {
    const faulted = exceptionReturn(latchNmi(parkedInNmi({ activity: 'running' })));
    expect([faulted.nmiBlocked, faulted.if, faulted.nmiLatched]).toEqual([false, false, 1]);
    expect(nmiLatchedDeliverable(faulted)).toBe(true);
    expect(nmiArrival(exceptionReturn(parkedInNmi())).kind).toBe('take');
  });

  it('a nested NMI (entry_64.S) is taken and returned from at once: leaves HLT, NMIs still unblocked, IF kept', () => {
    const halted = exceptionReturn(parkedInNmi());
    const hw = takeNestedNmi(halted);
    expect([hw.activity, hw.nmiBlocked, hw.if, hw.nmiLatched]).toEqual(['running', false, false, 0]);
    expect(nmiArrival(hw).kind).toBe('take');
  });

  it('IRET without a restored IF leaves IF alone', () => {
    expect(iret(intel({ nmiBlocked: true, if: false })).if).toBe(false);
  });

  it.each<[string, CpuHw, boolean]>([
    ['latched and unblocked', intel({ nmiLatched: 1 }), true],
    ['latched but blocked', intel({ nmiLatched: 1, nmiBlocked: true }), false],
    ['nothing latched', intel(), false],
    ['latched with GIF=0', amd({ nmiLatched: 1, gif: false }), false],
    ['latched in wait-for-SIPI', intel({ nmiLatched: 1, activity: 'wait-for-sipi' }), false],
    ['latched in SMM (NMIs blocked by SMM entry)', latchNmi(takeSmi(intel())), false],
    ['latched in SMM after an IRET inside SMM re-enabled NMIs (docs/model.md §3.5)', iret(latchNmi(takeSmi(intel()))), true],
    ['latched in shutdown inside SMM: RESET only', intel({ nmiLatched: 1, inSmm: true, activity: 'shutdown' }), false],
  ])('latched NMI deliverable: %s → %s', (_name, hw, expected) => {
    expect(nmiLatchedDeliverable(hw)).toBe(expected);
  });
});

describe('Fixed-vector IPIs (docs/model.md §3.4)', () => {
  it.each<[string, CpuHw, number, Expect]>([
    ['IF=1: taken', intel(), REBOOT_VECTOR, { kind: 'take' }],
    ['IF=0: held in IRR', intel({ if: false }), REBOOT_VECTOR, why('pending', 'IF=0')],
    ['GIF=0: held (APM 15.17)', amd({ gif: false }), REBOOT_VECTOR, why('pending', 'GIF=0')],
    ['soft-disabled APIC: dropped (SDM "Local APIC State After It Has Been Software Disabled")', intel({ lapicEnabled: false }), REBOOT_VECTOR, why('dropped', 'software-disabled')],
    ['VMX non-root with host IF=0: VM exit (external-interrupt exiting)', vmxNonroot({ if: false }), REBOOT_VECTOR, { kind: 'vmexit' }],
    ['illegal vector 2: dropped (SDM local APIC "Error Handling")', intel(), 2, why('dropped', 'illegal vector')],
    ['wait-for-SIPI with the APIC enabled: held', intel({ activity: 'wait-for-sipi' }), REBOOT_VECTOR, why('pending', 'wait-for-SIPI')],
    ['shutdown: held, shutdown ignores maskable interrupts (SDM #DF)', intel({ activity: 'shutdown' }), REBOOT_VECTOR, why('pending', 'shutdown')],
    ['HLT with IF=1: taken', intel({ activity: 'hlt' }), REBOOT_VECTOR, { kind: 'take' }],
  ])('%s', (_name, hw, vector, expected) => {
    expect(fixedIpiArrival(hw, vector)).toMatchObject(expected);
  });

  it('IPIs held while IF=0 are delivered highest first after STI, one at a time', () => {
    const off = intel({ if: false });
    const held = addToIrr(addToIrr(addToIrr(off, CALL_FUNCTION_VECTOR), REBOOT_VECTOR), CALL_FUNCTION_VECTOR);
    expect(held.irr).toEqual([REBOOT_VECTOR, CALL_FUNCTION_VECTOR]);
    expect(pendingIrqDeliverable(held)).toBeNull();
    const on = sti(held);
    expect(pendingIrqDeliverable(on)).toBe(CALL_FUNCTION_VECTOR);
    const inHandler = takeIrq(on, CALL_FUNCTION_VECTOR);
    expect([inHandler.irr, inHandler.if]).toEqual([[REBOOT_VECTOR], false]);
    expect(pendingIrqDeliverable(inHandler)).toBeNull();
    expect(pendingIrqDeliverable(iret(inHandler, true))).toBe(REBOOT_VECTOR);
  });

  it.each<[string, CpuHw, number | null]>([
    ['IF=1, running', intel({ irr: [0x41] }), 0x41],
    ['IF=1, halted', intel({ irr: [0x41], activity: 'hlt' }), 0x41],
    ['IF=0', intel({ irr: [0x41], if: false }), null],
    ['GIF=0', amd({ irr: [0x41], gif: false }), null],
    ['soft-disabled APIC keeps IRR but delivers nothing', intel({ irr: [0x41], lapicEnabled: false }), null],
    ['shutdown', intel({ irr: [0x41], activity: 'shutdown' }), null],
    ['empty IRR', intel(), null],
  ])('pending IRQ deliverable: %s → %s', (_name, hw, expected) => {
    expect(pendingIrqDeliverable(hw)).toBe(expected);
  });

  it('taking an IRQ from HLT resumes execution with IF=0', () => {
    const hw = takeIrq(intel({ activity: 'hlt', irr: [0x41] }), 0x41);
    expect([hw.activity, hw.if, hw.irr]).toEqual(['running', false, []]);
  });

  it('CLI clears IF, STI sets it', () => {
    expect([cli(intel()).if, sti(intel({ if: false })).if]).toEqual([false, true]);
  });
});

describe('HLT (SDM HLT, docs/model.md §3.4)', () => {
  it.each([
    ['HLT at CPL 3 → #GP(0)', intel({ mode: { cpl: 3 } }), { kind: 'fault', fault: '#GP' }],
    ['HLT at CPL 3 in non-root → #GP(0) before the VM exit', vmxNonroot({ mode: { cpl: 3 } }), { kind: 'fault', fault: '#GP' }],
    ['HLT in VMX non-root → VM exit (HLT exiting)', vmxNonroot(), { kind: 'vmexit' }],
  ] as const)('%s', (_name, hw, expected) => {
    expect(hlt(hw)).toMatchObject(expected);
  });

  it('HLT at CPL 0 halts', () => {
    expect(okHw(hlt(intel())).activity).toBe('hlt');
  });

  it.each<[string, CpuHw, 'irq' | 'nmi' | 'smi' | 'init', boolean]>([
    ['enabled interrupt (IF=1) wakes', intel({ activity: 'hlt' }), 'irq', true],
    ['interrupt with IF=0 does not wake', intel({ activity: 'hlt', if: false }), 'irq', false],
    ['interrupt with GIF=0 does not wake', amd({ activity: 'hlt', gif: false }), 'irq', false],
    ['unblocked NMI wakes', intel({ activity: 'hlt', if: false }), 'nmi', true],
    ['NMI does not wake a CPU halted in an NMI handler', parkedInNmi(), 'nmi', false],
    ['SMI wakes a CPU halted in an NMI handler', parkedInNmi(), 'smi', true],
    ['INIT wakes a CPU halted in an NMI handler with VMX off (docs/model.md §3.3 item 3)', parkedInNmi(), 'init', true],
    ['INIT does not wake a CPU halted in VMX root', vmxRoot({ activity: 'hlt' }), 'init', false],
    ['INIT does not wake a CPU halted with GIF=0', amd({ activity: 'hlt', gif: false }), 'init', false],
    ['nothing "wakes" a CPU that is not halted', intel(), 'irq', false],
  ])('HLT wake: %s', (_name, hw, what, expected) => {
    expect(hltWakes(hw, what)).toBe(expected);
  });
});

it('interrupt rules return new states and never mutate their input', () => {
  const hw = frozen(intel({ irr: [0x41], nmiBlocked: true }));
  expect(() => [takeNmi(hw), iret(hw), latchNmi(hw), takeLatchedNmi(hw), addToIrr(hw, 0x42), takeIrq(hw, 0x41), sti(hw), cli(hw), hlt(hw)]).not.toThrow();
  expect([hw.irr, hw.nmiBlocked]).toEqual([[0x41], true]);
});
