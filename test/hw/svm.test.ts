import { describe, expect, it } from 'vitest';
import type { CpuHw } from '../../src/hw/cpu-state.js';
import { initBlocked, initDeliverable, holdInit } from '../../src/hw/interrupts.js';
import { clgi, stgi, svmVmexit, vmrun, writeEfer, writeVmHsavePa } from '../../src/hw/svm.js';
import { MAXPHYADDR, type InsnResult } from '../../src/hw/vmx.js';
import { amd, frozen, intel, okHw, svmOn } from './fixtures.js';

const VMCB_PA = 0x3000_0000;
const TOO_WIDE = 2 ** MAXPHYADDR;

interface Row {
  name: string;
  run: () => InsnResult;
  expected: Partial<InsnResult>;
}

const UD = { kind: 'fault', fault: '#UD' } as const;
const GP = { kind: 'fault', fault: '#GP' } as const;

/** APM vol. 3: the #UD and #GP rows CLGI, STGI and VMRUN share (docs/model.md §3.2, last paragraph). */
function svmInsnRows(insn: string, run: (hw: CpuHw) => InsnResult): Row[] {
  return [
    { name: `${insn} with EFER.SVME=0 → #UD`, run: () => run(amd()), expected: UD },
    { name: `${insn} on Intel (no SVM) → #UD`, run: () => run(intel()), expected: UD },
    { name: `${insn} with EFER.SVME=0 at CPL 3 → #UD before #GP`, run: () => run(amd({ mode: { cpl: 3 } })), expected: UD },
    { name: `${insn} in real mode → #UD`, run: () => run(svmOn({ mode: { cr0Pe: false } })), expected: UD },
    { name: `${insn} in virtual-8086 mode → #UD`, run: () => run(svmOn({ mode: { v86: true } })), expected: UD },
    { name: `${insn} at CPL 3 → #GP(0)`, run: () => run(svmOn({ mode: { cpl: 3 } })), expected: GP },
  ];
}

describe.each([
  ['CLGI (APM vol. 3 CLGI)', svmInsnRows('CLGI', clgi)],
  ['STGI (APM vol. 3 STGI)', svmInsnRows('STGI', stgi)],
  [
    'VMRUN (APM vol. 3 VMRUN)',
    [
      ...svmInsnRows('VMRUN', (hw) => vmrun(hw, VMCB_PA)),
      { name: 'VMRUN with an unaligned VMCB address → #GP(0)', run: () => vmrun(svmOn(), VMCB_PA + 0x40), expected: GP },
      { name: 'VMRUN with a VMCB address beyond MAXPHYADDR → #GP(0)', run: () => vmrun(svmOn(), TOO_WIDE), expected: GP },
    ],
  ],
  [
    'WRMSR EFER / VM_HSAVE_PA (SDM/APM WRMSR)',
    [
      { name: 'WRMSR EFER at CPL 3 → #GP(0)', run: () => writeEfer(amd({ mode: { cpl: 3 } }), true), expected: GP },
      { name: 'WRMSR EFER in virtual-8086 mode → #GP(0)', run: () => writeEfer(amd({ mode: { v86: true } }), true), expected: GP },
      { name: 'setting EFER.SVME on Intel → #GP(0) (reserved bit)', run: () => writeEfer(intel(), true), expected: GP },
      { name: 'WRMSR VM_HSAVE_PA at CPL 3 → #GP(0)', run: () => writeVmHsavePa(svmOn({ mode: { cpl: 3 } }), 0x1000), expected: GP },
      { name: 'WRMSR VM_HSAVE_PA on Intel → #GP(0) (no such MSR)', run: () => writeVmHsavePa(intel(), 0x1000), expected: GP },
      { name: 'WRMSR VM_HSAVE_PA unaligned → #GP(0) (APM vol. 2 15.30.4)', run: () => writeVmHsavePa(svmOn(), 0x1008), expected: GP },
      { name: 'WRMSR VM_HSAVE_PA beyond MAXPHYADDR → #GP(0) (APM vol. 2 15.30.4)', run: () => writeVmHsavePa(svmOn(), TOO_WIDE), expected: GP },
    ],
  ],
] as [string, Row[]][])('%s: faults in the APM order', (_title, rows) => {
  it.each(rows)('$name', ({ run, expected }) => {
    expect(run()).toMatchObject(expected);
  });
});

describe('GIF and EFER.SVME effects (APM vol. 2 15.17)', () => {
  it.each([
    ['CLGI clears GIF', () => clgi(svmOn({ gif: true })), false],
    ['STGI sets GIF', () => stgi(svmOn({ gif: false })), true],
    ['VMRUN sets GIF', () => vmrun(svmOn({ gif: false }), VMCB_PA), true],
  ] as const)('%s', (_name, run, gif) => {
    expect(okHw(run()).gif).toBe(gif);
  });

  it('#VMEXIT clears GIF (KVM then executes STGI)', () => {
    expect(svmVmexit(svmOn({ gif: true })).gif).toBe(false);
  });

  it.each([
    ['AMD sets EFER.SVME', amd(), true],
    ['AMD clears EFER.SVME', svmOn(), false],
    ['Intel clears EFER.SVME (already 0)', intel(), false],
  ] as const)('WRMSR EFER: %s', (_name, hw, svme) => {
    expect(okHw(writeEfer(hw, svme)).svme).toBe(svme);
  });

  it('WRMSR VM_HSAVE_PA stores an aligned address', () => {
    expect(okHw(writeVmHsavePa(svmOn(), 0x4000_0000)).vmHsavePa).toBe(0x4000_0000);
  });

  it('INIT held while GIF=0 is deliverable after STGI (docs/model.md §3.2, kernel "SVM blocks INIT if GIF=0")', () => {
    const held = holdInit(okHw(clgi(svmOn())));
    expect(initBlocked(held)).toBe('GIF=0');
    expect(initDeliverable(held)).toBe(false);
    expect(initDeliverable(okHw(stgi(held)))).toBe(true);
  });

  it('clearing SVME with GIF=0 leaves GIF=0: STGI then #UDs and INIT stays blocked (x86/virt: Force GIF=1 prior to disabling SVM)', () => {
    const stuck = holdInit(okHw(writeEfer(okHw(clgi(svmOn())), false)));
    expect(stuck.gif).toBe(false);
    expect(stgi(stuck)).toMatchObject(UD);
    expect(initDeliverable(stuck)).toBe(false);
  });

  it('the fixed order STGI then clear SVME leaves INIT deliverable (x86/virt: Force GIF=1 prior to disabling SVM)', () => {
    const ok = holdInit(okHw(writeEfer(okHw(stgi(okHw(clgi(svmOn())))), false)));
    expect([ok.gif, ok.svme, initDeliverable(ok)]).toEqual([true, false, true]);
  });

  it('SVM rules return new states and never mutate their input', () => {
    const hw = frozen(svmOn());
    expect(() => [clgi(hw), stgi(hw), vmrun(hw, VMCB_PA), writeEfer(hw, false), writeVmHsavePa(hw, 0x1000), svmVmexit(hw)]).not.toThrow();
    expect(hw.gif).toBe(true);
  });
});
