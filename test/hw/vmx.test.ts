import { describe, expect, it } from 'vitest';
import type { CpuHw } from '../../src/hw/cpu-state.js';
import {
  MAXPHYADDR,
  VM_INSTRUCTION_ERRORS,
  vmclear,
  vmExit,
  vmlaunch,
  vmptrld,
  vmresume,
  vmxoff,
  vmxon,
  writeCr4Vmxe,
  type InsnResult,
} from '../../src/hw/vmx.js';
import { frozen, intel, okHw, VMCS2_PA, VMCS_PA, VMXON_PA, vmxNonroot, vmxRoot, withVmcs } from './fixtures.js';

type Outcome = Partial<Exclude<InsnResult, { kind: 'ok' }>> & { kind: InsnResult['kind'] };
interface Row {
  name: string;
  run: () => InsnResult;
  expected: Outcome;
}

const TOO_WIDE = 2 ** MAXPHYADDR;
const UD = (why: string): Outcome => ({ kind: 'fault', fault: '#UD', why: expect.stringContaining(why) as string });
const GP: Outcome = { kind: 'fault', fault: '#GP' };
const EXIT: Outcome = { kind: 'vmexit' };
const INVALID: Outcome = { kind: 'vmfail-invalid' };
const VALID = (error: number): Outcome => ({ kind: 'vmfail-valid', error, why: VM_INSTRUCTION_ERRORS[error] });
const CR4_ON = { cr4Vmxe: true };

/** The #UD, VM-exit and #GP rows every VMX instruction except VMXON shares (SDM pseudo-code prologue). */
function prologueRows(insn: string, run: (hw: CpuHw) => InsnResult): Row[] {
  return [
    { name: `${insn} outside VMX operation (CR4.VMXE=1) → #UD`, run: () => run(intel(CR4_ON)), expected: UD('not in VMX operation') },
    { name: `${insn} with CR0.PE=0 → #UD`, run: () => run(vmxRoot({ mode: { cr0Pe: false } })), expected: UD('CR0.PE=0') },
    { name: `${insn} with RFLAGS.VM=1 → #UD`, run: () => run(vmxRoot({ mode: { v86: true } })), expected: UD('RFLAGS.VM=1') },
    { name: `${insn} in compatibility mode → #UD`, run: () => run(vmxRoot({ mode: { compat: true } })), expected: UD('compatibility') },
    { name: `${insn} in VMX non-root, even at CPL 3 → VM exit, before the CPL check`, run: () => run(vmxNonroot({ mode: { cpl: 3 } })), expected: EXIT },
    { name: `${insn} in compatibility mode in non-root → #UD before VM exit`, run: () => run(vmxNonroot({ mode: { compat: true } })), expected: UD('compatibility') },
    { name: `${insn} at CPL 3 in VMX root → #GP(0)`, run: () => run(withVmcs('clear', { mode: { cpl: 3 } })), expected: GP },
  ];
}

const vmxonRows: Row[] = [
  { name: 'VMXON with CR4.VMXE=0 → #UD', run: () => vmxon(intel(), VMXON_PA), expected: UD('CR4.VMXE=0') },
  { name: 'VMXON with CR4.VMXE=0 at CPL 3 → #UD before #GP', run: () => vmxon(intel({ mode: { cpl: 3 } }), VMXON_PA), expected: UD('CR4.VMXE=0') },
  { name: 'VMXON with CR0.PE=0 → #UD', run: () => vmxon(intel({ ...CR4_ON, mode: { cr0Pe: false } }), VMXON_PA), expected: UD('CR0.PE=0') },
  { name: 'VMXON with RFLAGS.VM=1 → #UD', run: () => vmxon(intel({ ...CR4_ON, mode: { v86: true } }), VMXON_PA), expected: UD('RFLAGS.VM=1') },
  { name: 'VMXON in compatibility mode → #UD', run: () => vmxon(intel({ ...CR4_ON, mode: { compat: true } }), VMXON_PA), expected: UD('compatibility') },
  { name: 'VMXON in VMX non-root → VM exit', run: () => vmxon(vmxNonroot(), VMXON_PA), expected: EXIT },
  { name: 'VMXON outside VMX at CPL 3 → #GP(0)', run: () => vmxon(intel({ ...CR4_ON, mode: { cpl: 3 } }), VMXON_PA), expected: GP },
  { name: 'VMXON in A20M mode → #GP(0)', run: () => vmxon(intel(CR4_ON), VMXON_PA, { a20m: true }), expected: GP },
  { name: 'VMXON with unsupported CR0/CR4 fixed bits → #GP(0)', run: () => vmxon(intel(CR4_ON), VMXON_PA, { crFixedBitsOk: false }), expected: GP },
  { name: 'VMXON with IA32_FEATURE_CONTROL not locked/enabled → #GP(0)', run: () => vmxon(intel({ ...CR4_ON, mode: { featureControlOk: false } }), VMXON_PA), expected: GP },
  { name: 'VMXON with an unaligned pointer → VMfailInvalid', run: () => vmxon(intel(CR4_ON), VMXON_PA + 8), expected: INVALID },
  { name: 'VMXON with a pointer beyond MAXPHYADDR → VMfailInvalid', run: () => vmxon(intel(CR4_ON), TOO_WIDE), expected: INVALID },
  { name: 'VMXON with a wrong revision identifier → VMfailInvalid', run: () => vmxon(intel(CR4_ON), VMXON_PA, { revisionOk: false }), expected: INVALID },
  { name: 'VMXON in VMX root at CPL 3 → #GP(0)', run: () => vmxon(vmxRoot({ mode: { cpl: 3 } }), VMXON_PA), expected: GP },
  { name: 'VMXON in VMX root with a current VMCS → VMfailValid(15)', run: () => vmxon(withVmcs('clear'), VMXON_PA), expected: VALID(15) },
  { name: 'VMXON in VMX root without a current VMCS → VMfailInvalid', run: () => vmxon(vmxRoot(), VMXON_PA), expected: INVALID },
];

const vmxoffRows: Row[] = [
  ...prologueRows('VMXOFF', (hw) => vmxoff(hw)),
  { name: 'VMXOFF under the dual-monitor treatment, VMCS current → VMfailValid(23)', run: () => vmxoff(withVmcs('clear'), { dualMonitor: true }), expected: VALID(23) },
  { name: 'VMXOFF under the dual-monitor treatment, no VMCS → VMfailInvalid', run: () => vmxoff(vmxRoot(), { dualMonitor: true }), expected: INVALID },
];

const vmclearRows: Row[] = [
  ...prologueRows('VMCLEAR', (hw) => vmclear(hw, VMCS_PA)),
  { name: 'VMCLEAR of an unaligned address → VMfail(2)', run: () => vmclear(withVmcs('clear'), VMCS_PA + 0x10), expected: VALID(2) },
  { name: 'VMCLEAR beyond MAXPHYADDR → VMfail(2)', run: () => vmclear(withVmcs('clear'), TOO_WIDE), expected: VALID(2) },
  { name: 'VMCLEAR of the VMXON pointer → VMfail(3)', run: () => vmclear(withVmcs('clear'), VMXON_PA), expected: VALID(3) },
  { name: 'VMCLEAR of the VMXON pointer, no current VMCS → VMfailInvalid', run: () => vmclear(vmxRoot(), VMXON_PA), expected: INVALID },
];

const vmptrldRows: Row[] = [
  ...prologueRows('VMPTRLD', (hw) => vmptrld(hw, VMCS_PA)),
  { name: 'VMPTRLD of an unaligned address → VMfail(9)', run: () => vmptrld(withVmcs('clear'), VMCS2_PA + 1), expected: VALID(9) },
  { name: 'VMPTRLD beyond MAXPHYADDR, no current VMCS → VMfailInvalid', run: () => vmptrld(vmxRoot(), TOO_WIDE), expected: INVALID },
  { name: 'VMPTRLD of the VMXON pointer → VMfail(10)', run: () => vmptrld(withVmcs('clear'), VMXON_PA), expected: VALID(10) },
  { name: 'VMPTRLD with a wrong revision identifier → VMfail(11)', run: () => vmptrld(withVmcs('clear'), VMCS2_PA, { revisionOk: false }), expected: VALID(11) },
];

const entryRows: Row[] = [
  ...prologueRows('VMLAUNCH', (hw) => vmlaunch(hw)),
  ...prologueRows('VMRESUME', (hw) => vmresume(hw)),
  { name: 'VMLAUNCH without a current VMCS → VMfailInvalid', run: () => vmlaunch(vmxRoot()), expected: INVALID },
  { name: 'VMRESUME without a current VMCS → VMfailInvalid', run: () => vmresume(vmxRoot()), expected: INVALID },
  { name: 'VMLAUNCH blocked by MOV SS → VMfailValid(26), before the launch-state check', run: () => vmlaunch(withVmcs('launched'), { movSsBlocking: true }), expected: VALID(26) },
  { name: 'VMRESUME blocked by MOV SS → VMfailValid(26)', run: () => vmresume(withVmcs('launched'), { movSsBlocking: true }), expected: VALID(26) },
  { name: 'VMLAUNCH of a launched VMCS → VMfailValid(4)', run: () => vmlaunch(withVmcs('launched')), expected: VALID(4) },
  { name: 'VMRESUME of a clear VMCS → VMfailValid(5)', run: () => vmresume(withVmcs('clear')), expected: VALID(5) },
  { name: 'VMLAUNCH with invalid control fields → VMfailValid(7)', run: () => vmlaunch(withVmcs('clear'), { controlsOk: false }), expected: VALID(7) },
  { name: 'VMRESUME with invalid host-state fields → VMfailValid(8)', run: () => vmresume(withVmcs('launched'), { hostStateOk: false }), expected: VALID(8) },
];

describe.each([
  ['VMXON (SDM VMXON)', vmxonRows],
  ['VMXOFF (SDM VMXOFF)', vmxoffRows],
  ['VMCLEAR (SDM VMCLEAR)', vmclearRows],
  ['VMPTRLD (SDM VMPTRLD)', vmptrldRows],
  ['VMLAUNCH/VMRESUME (SDM VMLAUNCH/VMRESUME)', entryRows],
])('%s: checks in the SDM order (docs/model.md §3.2)', (_title, rows) => {
  it.each(rows)('$name', ({ run, expected }) => {
    expect(run()).toMatchObject(expected);
  });
});

describe('VMX instruction effects on success (docs/model.md §3.2)', () => {
  it('VMXON enters VMX root with no current VMCS and records the VMXON pointer (SDM VMXON)', () => {
    const hw = okHw(vmxon(intel(CR4_ON), VMXON_PA));
    expect([hw.vmx, hw.vmxonPtr, hw.currentVmcs, hw.cr4Vmxe]).toEqual(['root', VMXON_PA, null, true]);
  });

  it('VMXOFF leaves VMX operation but keeps CR4.VMXE=1: the kernel clears it separately (SDM VMXOFF)', () => {
    const hw = okHw(vmxoff(withVmcs('launched')));
    expect([hw.vmx, hw.vmxonPtr, hw.currentVmcs, hw.cr4Vmxe]).toEqual(['off', null, null, true]);
  });

  it('VMCLEAR of the current VMCS sets it clear and invalidates the current pointer (SDM VMCLEAR)', () => {
    const hw = okHw(vmclear(withVmcs('launched'), VMCS_PA));
    expect(hw.vmcsLaunch[VMCS_PA]).toBe('clear');
    expect(hw.currentVmcs).toBeNull();
  });

  it('VMCLEAR of another VMCS leaves the current pointer alone (SDM VMCLEAR)', () => {
    const hw = okHw(vmclear(withVmcs('launched'), VMCS2_PA));
    expect(hw.vmcsLaunch).toEqual({ [VMCS_PA]: 'launched', [VMCS2_PA]: 'clear' });
    expect(hw.currentVmcs).toBe(VMCS_PA);
  });

  it('VMPTRLD of a never-seen region makes it current with launch state clear (SDM "Initializing a VMCS": VMCLEAR before first use)', () => {
    const hw = okHw(vmptrld(vmxRoot(), VMCS2_PA));
    expect(hw.currentVmcs).toBe(VMCS2_PA);
    expect(hw.vmcsLaunch[VMCS2_PA]).toBe('clear');
  });

  it('VMPTRLD of a launched region keeps it launched (SDM VMPTRLD)', () => {
    const hw = okHw(vmptrld(vmxRoot({ vmcsLaunch: { [VMCS2_PA]: 'launched' } }), VMCS2_PA));
    expect(hw.vmcsLaunch[VMCS2_PA]).toBe('launched');
  });

  it('VMLAUNCH enters non-root and marks the VMCS launched (SDM VMLAUNCH)', () => {
    const hw = okHw(vmlaunch(withVmcs('clear')));
    expect([hw.vmx, hw.vmcsLaunch[VMCS_PA]]).toEqual(['nonroot', 'launched']);
  });

  it('VMRESUME of a launched VMCS enters non-root (SDM VMRESUME)', () => {
    expect(okHw(vmresume(withVmcs('launched'))).vmx).toBe('nonroot');
  });

  it('VMCLEAR then VMLAUNCH works again; VMRESUME after VMCLEAR fails with 5 (SDM launch state)', () => {
    const cleared = okHw(vmptrld(okHw(vmclear(withVmcs('launched'), VMCS_PA)), VMCS_PA));
    expect(vmresume(cleared)).toMatchObject(VALID(5));
    expect(okHw(vmlaunch(cleared)).vmx).toBe('nonroot');
  });

  it('VM-instruction error table holds the SDM numbers and leaves 14, 21, 27 reserved (SDM table "VM-Instruction Error Numbers")', () => {
    const used = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 28];
    expect(Object.keys(VM_INSTRUCTION_ERRORS).map(Number)).toEqual(used);
    expect(VM_INSTRUCTION_ERRORS[15]).toBe('VMXON executed in VMX root operation');
  });
});

describe('MOV to CR4.VMXE (SDM "Restrictions on VMX Operation")', () => {
  it.each<Row>([
    { name: 'clearing CR4.VMXE in VMX root → #GP(0)', run: () => writeCr4Vmxe(vmxRoot(), false), expected: GP },
    { name: 'clearing CR4.VMXE at CPL 3 → #GP(0)', run: () => writeCr4Vmxe(intel({ ...CR4_ON, mode: { cpl: 3 } }), false), expected: GP },
    { name: 'CR4.VMXE write in VMX non-root → VM exit (KVM owns the bit)', run: () => writeCr4Vmxe(vmxNonroot(), false), expected: EXIT },
    { name: 'setting CR4.VMXE on AMD → #GP(0) (reserved bit, APM vol. 2 3.1.3)', run: () => writeCr4Vmxe(intel({ vendor: 'amd' }), true), expected: GP },
  ])('$name', ({ run, expected }) => {
    expect(run()).toMatchObject(expected);
  });

  it.each([
    ['setting CR4.VMXE outside VMX', intel(), true],
    ['setting CR4.VMXE in VMX root (already fixed to 1)', vmxRoot(), true],
    ['clearing CR4.VMXE after VMXOFF (cpu_vmxoff second step)', intel(CR4_ON), false],
  ] as const)('%s → ok', (_name, hw, on) => {
    expect(okHw(writeCr4Vmxe(hw, on)).cr4Vmxe).toBe(on);
  });

  it('the VMXOFF → CR4.VMXE window: VMXE still 1, VMCLEAR #UD, VMXON possible again (SDM VMXOFF, VMXON)', () => {
    const window = okHw(vmxoff(withVmcs('launched')));
    expect(window.cr4Vmxe).toBe(true);
    expect(vmclear(window, VMCS_PA)).toMatchObject(UD('not in VMX operation'));
    expect(vmxoff(window)).toMatchObject(UD('not in VMX operation'));
    expect(okHw(vmxon(window, VMXON_PA)).vmx).toBe('root');
    expect(vmxon(okHw(writeCr4Vmxe(window, false)), VMXON_PA)).toMatchObject(UD('CR4.VMXE=0'));
  });
});

describe('VM exit (SDM "Loading Host RIP, RSP, and RFLAGS")', () => {
  it('returns to VMX root with IF=0 and the CPU running', () => {
    const hw = vmExit(vmxNonroot({ if: true, activity: 'hlt' }));
    expect([hw.vmx, hw.if, hw.activity, hw.currentVmcs]).toEqual(['root', false, 'running', VMCS_PA]);
  });

  it('is a no-op outside non-root', () => {
    const root = vmxRoot();
    expect(vmExit(root)).toBe(root);
  });
});

it('VMX rules return new states and never mutate their input', () => {
  const root = frozen(withVmcs('clear'));
  expect(() => [vmxoff(root), vmclear(root, VMCS_PA), vmptrld(root, VMCS2_PA), vmlaunch(root), writeCr4Vmxe(root, true)]).not.toThrow();
  expect(() => [vmxon(frozen(intel(CR4_ON)), VMXON_PA), vmExit(frozen(vmxNonroot()))]).not.toThrow();
  expect(root.vmcsLaunch).toEqual({ [VMCS_PA]: 'clear' });
});
