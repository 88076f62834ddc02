/**
 * AMD SVM instructions and MSR writes (APM vol. 2 ch. 15, vol. 3 instruction pages; docs/model.md §3.2,
 * last paragraph). Guest mode itself is modelled by the caller: VMRUN here only checks and sets GIF,
 * and `svmVmexit` is the #VMEXIT's effect on the host's state.
 */
import type { CpuHw } from './cpu-state.js';
import { isValidPageAddress, type InsnResult } from './vmx.js';

/**
 * APM vol. 3 CLGI/STGI/VMRUN: #UD when EFER.SVME=0, and outside protected mode (real or
 * virtual-8086). STGI is also legal with SVME=0 on CPUs with SKINIT or SVM-Lock (open:
 * docs/model.md §8 item 7); the model takes the kernel's view that STGI "may #UD if SVM is disabled".
 */
function svmUd(hw: CpuHw, insn: string): InsnResult | null {
  if (!hw.svme) return { kind: 'fault', fault: '#UD', why: `${insn}: EFER.SVME=0` };
  if (!hw.mode.cr0Pe || hw.mode.v86) return { kind: 'fault', fault: '#UD', why: `${insn}: only recognised in protected mode` };
  return null;
}

function cplGp(hw: CpuHw, insn: string): InsnResult | null {
  return hw.mode.cpl !== 0 ? { kind: 'fault', fault: '#GP', why: `${insn}: CPL≠0` } : null;
}

export function clgi(hw: CpuHw): InsnResult {
  const early = svmUd(hw, 'CLGI') ?? cplGp(hw, 'CLGI');
  if (early !== null) return early;
  // APM vol. 2 15.17: with GIF=0 the CPU holds interrupts, NMI, SMI and INIT pending; interrupts.ts
  // reads gif for each of them.
  return { kind: 'ok', hw: { ...hw, gif: false } };
}

export function stgi(hw: CpuHw): InsnResult {
  const early = svmUd(hw, 'STGI') ?? cplGp(hw, 'STGI');
  if (early !== null) return early;
  // Whatever GIF=0 held (INIT, NMI, SMI, IRQs) becomes deliverable now; the caller asks
  // initDeliverable / nmiLatchedDeliverable / smiLatchedDeliverable / pendingIrqDeliverable.
  return { kind: 'ok', hw: { ...hw, gif: true } };
}

export function vmrun(hw: CpuHw, vmcbPa: number): InsnResult {
  const early = svmUd(hw, 'VMRUN') ?? cplGp(hw, 'VMRUN');
  if (early !== null) return early;
  // APM vol. 3 VMRUN: #GP(0) if rAX is not 4 KiB aligned or is beyond the maximum physical address.
  if (!isValidPageAddress(vmcbPa)) {
    return { kind: 'fault', fault: '#GP', why: 'VMRUN: VMCB address not 4 KiB aligned or beyond the physical-address width' };
  }
  // APM vol. 2 15.17: VMRUN sets GIF, so the guest runs with interrupts deliverable (to intercepts).
  // The guest then runs until a #VMEXIT (an intercepted NMI, interrupt or INIT, or its own exit).
  return { kind: 'ok', hw: { ...hw, gif: true, svmGuest: true } };
}

/** APM vol. 2 15.17: every #VMEXIT clears GIF; KVM's run loop executes STGI afterwards. */
export function svmVmexit(hw: CpuHw): CpuHw {
  return { ...hw, gif: false, svmGuest: false };
}

/** WRMSR has no VM exit or SVM-specific #UD; it faults on privilege and on reserved bits. */
function wrmsrGp(hw: CpuHw, msr: string): InsnResult | null {
  // SDM/APM WRMSR: #GP(0) if CPL≠0 (virtual-8086 mode runs at CPL 3).
  if (hw.mode.cpl !== 0 || hw.mode.v86) return { kind: 'fault', fault: '#GP', why: `WRMSR ${msr}: CPL≠0` };
  return null;
}

export function writeEfer(hw: CpuHw, svme: boolean): InsnResult {
  const early = wrmsrGp(hw, 'EFER');
  if (early !== null) return early;
  // SDM Vol. 4 IA32_EFER: bit 12 is reserved on Intel; setting a reserved bit is #GP(0).
  if (svme && hw.vendor === 'intel') return { kind: 'fault', fault: '#GP', why: 'WRMSR EFER: SVME is reserved on Intel' };
  // Clearing SVME leaves GIF as it was: a CPU that clears SVME with GIF=0 can no longer execute
  // STGI (#UD) and stays deaf to INIT until RESET. That is why the kernel forces GIF=1 first
  // ("x86/virt: Force GIF=1 prior to disabling SVM (for reboot flows)", 6a3236580b0b).
  return { kind: 'ok', hw: { ...hw, svme } };
}

export function writeVmHsavePa(hw: CpuHw, pa: number): InsnResult {
  const early = wrmsrGp(hw, 'VM_HSAVE_PA');
  if (early !== null) return early;
  // SDM: MSR C001_0117h does not exist on Intel, and WRMSR to an unimplemented MSR is #GP(0).
  if (hw.vendor === 'intel') return { kind: 'fault', fault: '#GP', why: 'WRMSR VM_HSAVE_PA: no such MSR on Intel' };
  // APM vol. 2 15.30.4: the host save area must be 4 KiB aligned and within the physical-address
  // width; writing anything else is #GP(0). From the APM MSR description.
  if (!isValidPageAddress(pa)) {
    return { kind: 'fault', fault: '#GP', why: 'WRMSR VM_HSAVE_PA: not 4 KiB aligned or beyond the physical-address width' };
  }
  return { kind: 'ok', hw: { ...hw, vmHsavePa: pa } };
}
