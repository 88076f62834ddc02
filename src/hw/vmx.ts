/**
 * Intel VMX instructions as the SDM pseudo-code applies them (docs/model.md §3.2), plus the CR4.VMXE
 * write and the VM exit that other rules need. Each instruction checks in the SDM's order:
 * #UD conditions, then the VM exit from non-root, then #GP(0), then VMfail, then the effects.
 *
 * Not modelled: the register-operand #UD (an address here is always a memory operand's contents),
 * segment/canonical faults on the operand, and the VM-entry failure on bad guest state, which
 * loads host state and reports a VM-entry-failure exit instead of a VMfail.
 *
 * SDM sections are cited by title: their numbers differ between editions.
 */
import type { CpuHw } from './cpu-state.js';

export type Fault = '#UD' | '#GP';

export type InsnResult =
  | { kind: 'ok'; hw: CpuHw }
  | { kind: 'fault'; fault: Fault; why: string }
  | { kind: 'vmfail-invalid'; why: string }
  | { kind: 'vmfail-valid'; error: number; why: string }
  | { kind: 'vmexit'; why: string };

/**
 * Physical-address width of the modelled processor (CPUID.80000008H:EAX[7:0]); a typical server
 * value. VMX and SVM reject addresses that set bits at or above it.
 */
export const MAXPHYADDR = 46;

/** SDM Vol. 3C table "VM-Instruction Error Numbers" (14, 21 and 27 are reserved). */
export const VM_INSTRUCTION_ERRORS: Record<number, string> = {
  1: 'VMCALL executed in VMX root operation',
  2: 'VMCLEAR with invalid physical address',
  3: 'VMCLEAR with VMXON pointer',
  4: 'VMLAUNCH with non-clear VMCS',
  5: 'VMRESUME with non-launched VMCS',
  6: 'VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)',
  7: 'VM entry with invalid control field(s)',
  8: 'VM entry with invalid host-state field(s)',
  9: 'VMPTRLD with invalid physical address',
  10: 'VMPTRLD with VMXON pointer',
  11: 'VMPTRLD with incorrect VMCS revision identifier',
  12: 'VMREAD/VMWRITE from/to unsupported VMCS component',
  13: 'VMWRITE to read-only VMCS component',
  15: 'VMXON executed in VMX root operation',
  16: 'VM entry with invalid executive-VMCS pointer',
  17: 'VM entry with non-launched executive VMCS',
  18: 'VM entry with executive-VMCS pointer not VMXON pointer',
  19: 'VMCALL with non-clear VMCS',
  20: 'VMCALL with invalid VM-exit control fields',
  22: 'VMCALL with incorrect MSEG revision identifier',
  23: 'VMXOFF under dual-monitor treatment of SMIs and SMM',
  24: 'VMCALL with invalid SMM-monitor features',
  25: 'VM entry with invalid VM-execution control fields in executive VMCS',
  26: 'VM entry with events blocked by MOV SS',
  28: 'Invalid operand to INVEPT/INVVPID',
};

/** Conditions of the VMXON checks that `CpuHw` does not carry; all default to the kernel's normal case. */
export interface VmxonOpts {
  /** The first 32 bits of the VMXON region hold the right revision identifier with bit 31 clear. */
  revisionOk?: boolean;
  /** A20M is asserted. */
  a20m?: boolean;
  /** CR0 and CR4 satisfy IA32_VMX_CR0/CR4_FIXED0/1. */
  crFixedBitsOk?: boolean;
}

export interface VmptrldOpts {
  /** The VMCS region holds the processor's VMCS revision identifier. */
  revisionOk?: boolean;
}

export interface VmxoffOpts {
  /** The dual-monitor treatment of SMIs and SMM is active (an STM is loaded). */
  dualMonitor?: boolean;
}

export interface VmEntryOpts {
  /** Events are blocked by MOV SS (the instruction follows MOV SS / POP SS). */
  movSsBlocking?: boolean;
  /** The VM-execution, VM-exit and VM-entry control fields pass the VM-entry checks. */
  controlsOk?: boolean;
  /** The host-state area passes the VM-entry checks. */
  hostStateOk?: boolean;
}

const ok = (hw: CpuHw): InsnResult => ({ kind: 'ok', hw });
const fault = (f: Fault, why: string): InsnResult => ({ kind: 'fault', fault: f, why });

/**
 * SDM Vol. 3C "Conventions" (VMX instruction reference): VMfail(ErrorNumber) is VMfailValid when
 * there is a current VMCS (the error is written into it) and VMfailInvalid otherwise (CF=1,
 * nowhere to write the number).
 */
function vmfail(hw: CpuHw, error: number): InsnResult {
  const why = VM_INSTRUCTION_ERRORS[error] ?? `VM-instruction error ${error}`;
  return hw.currentVmcs === null ? { kind: 'vmfail-invalid', why } : { kind: 'vmfail-valid', error, why };
}

/**
 * SDM VMXON/VMCLEAR/VMPTRLD: "addr is not 4KB-aligned or addr sets any bits beyond the physical-address
 * width". The APM puts the same condition on the VMCB address of VMRUN and on VM_HSAVE_PA.
 */
export function isValidPageAddress(addr: number): boolean {
  return Number.isInteger(addr) && addr >= 0 && addr < 2 ** MAXPHYADDR && addr % 0x1000 === 0;
}

/** The #UD row shared by every VMX instruction except VMXON (which checks CR4.VMXE instead). */
function vmxUd(hw: CpuHw): string | null {
  if (hw.vmx === 'off') return 'not in VMX operation';
  return modeUd(hw);
}

function modeUd(hw: CpuHw): string | null {
  if (!hw.mode.cr0Pe) return 'CR0.PE=0';
  if (hw.mode.v86) return 'RFLAGS.VM=1';
  if (hw.mode.compat) return 'IA32_EFER.LMA=1 and CS.L=0 (compatibility mode)';
  return null;
}

/**
 * The checks every VMX instruction other than VMXON makes before its own VMfail conditions:
 * #UD, then the VM exit from non-root (unconditional: SDM Vol. 3C "Instructions That Cause VM Exits
 * Unconditionally"), then CPL>0 → #GP(0).
 */
function vmxPrologue(hw: CpuHw, insn: string): InsnResult | null {
  const ud = vmxUd(hw);
  if (ud !== null) return fault('#UD', `${insn}: ${ud}`);
  if (hw.vmx === 'nonroot') return { kind: 'vmexit', why: `${insn} in VMX non-root operation` };
  if (hw.mode.cpl > 0) return fault('#GP', `${insn}: CPL>0`);
  return null;
}

export function vmxon(hw: CpuHw, addr: number, opts: VmxonOpts = {}): InsnResult {
  // SDM VMXON: CR4.VMXE=0 is a #UD, checked before anything else; that is why the kernel must set
  // CR4.VMXE first and why VMXON on a CPU whose CR4.VMXE was cleared faults rather than VMfails.
  const ud = hw.cr4Vmxe ? modeUd(hw) : 'CR4.VMXE=0';
  if (ud !== null) return fault('#UD', `VMXON: ${ud}`);
  if (hw.vmx === 'off') {
    if (hw.mode.cpl > 0) return fault('#GP', 'VMXON: CPL>0');
    if (opts.a20m === true) return fault('#GP', 'VMXON: in A20M mode');
    if (opts.crFixedBitsOk === false) return fault('#GP', 'VMXON: CR0/CR4 value not supported in VMX operation');
    if (!hw.mode.featureControlOk) {
      return fault('#GP', 'VMXON: IA32_FEATURE_CONTROL lock bit or VMX-outside-SMX bit clear');
    }
    // SDM VMXON: outside VMX operation there is no current VMCS, so both failures are VMfailInvalid.
    if (!isValidPageAddress(addr)) {
      return { kind: 'vmfail-invalid', why: 'VMXON pointer not 4 KiB aligned or beyond the physical-address width' };
    }
    if (opts.revisionOk === false) {
      return { kind: 'vmfail-invalid', why: 'VMXON region revision identifier mismatch or bit 31 set' };
    }
    // SDM VMXON: "current-VMCS pointer := FFFFFFFF_FFFFFFFFH; enter VMX operation; block INIT signals".
    // INIT blocking is not a field: initBlocked() derives it from vmx === 'root'.
    return ok({ ...hw, vmx: 'root', vmxonPtr: addr, currentVmcs: null });
  }
  if (hw.vmx === 'nonroot') return { kind: 'vmexit', why: 'VMXON in VMX non-root operation' };
  if (hw.mode.cpl > 0) return fault('#GP', 'VMXON: CPL>0');
  return vmfail(hw, 15);
}

export function vmxoff(hw: CpuHw, opts: VmxoffOpts = {}): InsnResult {
  const early = vmxPrologue(hw, 'VMXOFF');
  if (early !== null) return early;
  if (opts.dualMonitor === true) return vmfail(hw, 23);
  // SDM VMXOFF: "leave VMX operation; unblock INIT". CR4.VMXE stays 1: the kernel clears it with a
  // separate MOV to CR4 (cpu_vmxoff), and an NMI, INIT or reset landing between the two is the
  // window this simulator exists for. VMCS regions keep whatever launch state they had: the SDM
  // leaves their memory contents undefined unless they were VMCLEARed first.
  return ok({ ...hw, vmx: 'off', vmxonPtr: null, currentVmcs: null });
}

export function vmclear(hw: CpuHw, addr: number): InsnResult {
  const early = vmxPrologue(hw, 'VMCLEAR');
  if (early !== null) return early;
  if (!isValidPageAddress(addr)) return vmfail(hw, 2);
  if (addr === hw.vmxonPtr) return vmfail(hw, 3);
  // SDM VMCLEAR: launch state := clear; "If the operand is the current-VMCS pointer, then that
  // pointer is made invalid".
  return ok({
    ...hw,
    vmcsLaunch: { ...hw.vmcsLaunch, [addr]: 'clear' },
    currentVmcs: hw.currentVmcs === addr ? null : hw.currentVmcs,
  });
}

export function vmptrld(hw: CpuHw, addr: number, opts: VmptrldOpts = {}): InsnResult {
  const early = vmxPrologue(hw, 'VMPTRLD');
  if (early !== null) return early;
  if (!isValidPageAddress(addr)) return vmfail(hw, 9);
  if (addr === hw.vmxonPtr) return vmfail(hw, 10);
  if (opts.revisionOk === false) return vmfail(hw, 11);
  // SDM Vol. 3C "Initializing a VMCS": software must VMCLEAR a region before its first VMPTRLD, as
  // KVM's alloc_loaded_vmcs() does. A choice of the model: a region it has never seen is taken
  // to have been VMCLEARed (launch state clear), so scenarios need not spell out that VMCLEAR.
  const launch = hw.vmcsLaunch[addr] ?? 'clear';
  return ok({ ...hw, currentVmcs: addr, vmcsLaunch: { ...hw.vmcsLaunch, [addr]: launch } });
}

function vmEntry(hw: CpuHw, insn: 'VMLAUNCH' | 'VMRESUME', opts: VmEntryOpts): InsnResult {
  const early = vmxPrologue(hw, insn);
  if (early !== null) return early;
  if (hw.currentVmcs === null) return { kind: 'vmfail-invalid', why: `${insn}: current-VMCS pointer is not valid` };
  if (opts.movSsBlocking === true) return vmfail(hw, 26);
  const launch = hw.vmcsLaunch[hw.currentVmcs] ?? 'clear';
  if (insn === 'VMLAUNCH' && launch !== 'clear') return vmfail(hw, 4);
  if (insn === 'VMRESUME' && launch !== 'launched') return vmfail(hw, 5);
  // SDM Vol. 3C "Checks on VMX Controls and Host-State Area": control-field and host-state
  // failures are VMfailValid and execution continues with the next instruction, in VMX root.
  if (opts.controlsOk === false) return vmfail(hw, 7);
  if (opts.hostStateOk === false) return vmfail(hw, 8);
  return ok({
    ...hw,
    vmx: 'nonroot',
    vmcsLaunch: insn === 'VMLAUNCH' ? { ...hw.vmcsLaunch, [hw.currentVmcs]: 'launched' } : hw.vmcsLaunch,
  });
}

export function vmlaunch(hw: CpuHw, opts: VmEntryOpts = {}): InsnResult {
  return vmEntry(hw, 'VMLAUNCH', opts);
}

export function vmresume(hw: CpuHw, opts: VmEntryOpts = {}): InsnResult {
  return vmEntry(hw, 'VMRESUME', opts);
}

/**
 * MOV to CR4 changing only VMXE. Privilege faults come before VM exits (SDM Vol. 3C "Relative
 * Priority of Faults and VM Exits"), and in
 * non-root KVM keeps VMXE in the CR4 guest/host mask, so a guest write to it exits to KVM.
 */
export function writeCr4Vmxe(hw: CpuHw, on: boolean): InsnResult {
  if (hw.mode.cpl > 0 || hw.mode.v86) return fault('#GP', 'MOV to CR4: CPL>0');
  if (hw.vmx === 'nonroot') return { kind: 'vmexit', why: 'MOV to CR4.VMXE in VMX non-root (CR4 guest/host mask)' };
  // APM vol. 2 3.1.3: CR4 bit 13 is reserved on AMD processors; setting a reserved bit is #GP(0).
  if (on && hw.vendor === 'amd') return fault('#GP', 'MOV to CR4: VMXE is reserved on AMD');
  // SDM Vol. 3C "Restrictions on VMX Operation": CR4.VMXE is fixed to 1 in VMX operation;
  // clearing it there is #GP(0). Hence VMXOFF must come first.
  if (!on && hw.vmx !== 'off') return fault('#GP', 'MOV to CR4: clearing CR4.VMXE in VMX operation');
  return ok({ ...hw, cr4Vmxe: on });
}

/**
 * A VM exit back to the host. SDM Vol. 3C "Loading Host RIP, RSP, and RFLAGS": RFLAGS is cleared
 * except bit 1 on VM exit, so the host resumes with IF=0, and it executes even if the guest was in
 * HLT. A processor not in non-root is returned unchanged: there is nothing to exit from.
 */
export function vmExit(hw: CpuHw): CpuHw {
  if (hw.vmx !== 'nonroot') return hw;
  return { ...hw, vmx: 'root', if: false, activity: 'running' };
}
