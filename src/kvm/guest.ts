/**
 * The guest side and the run loop's bookkeeping (docs/model.md §4.1, §4.5): which instruction the
 * guest executes next, what a VM entry executes on the host, completion of userspace I/O, and the
 * livelock counter.
 */
import type { GuestInsn, HostInsn, VcpuContext } from './types.js';
import { L1_BASE, L2_BASE, SMM_ENTRY } from './types.js';

/** The code and base RIP of the current mode: SMM handler, L1 or L2. */
function codeOf(c: VcpuContext): { code: GuestInsn[]; base: number } {
  if (c.inSmm) return { code: c.program.smm, base: SMM_ENTRY };
  return c.guestMode === 'l2' ? { code: c.program.l2, base: L2_BASE } : { code: c.program.l1, base: L1_BASE };
}

/** The instruction at RIP; falling off the end (or an unhandled #UD) spins. */
export function currentInsn(c: VcpuContext): GuestInsn {
  if (c.guestStuck) return { op: 'spin' };
  const { code, base } = codeOf(c);
  return code[c.rip - base] ?? { op: 'spin' };
}

/** nop and jmp execute in hardware: the architectural RIP moves, and with it the VMCB's. */
export function executeInsn(c: VcpuContext): Partial<VcpuContext> {
  const insn = currentInsn(c);
  const rip = insn.op === 'jmp' ? insn.to : c.rip + 1;
  return { rip, vmcbRip: rip };
}

/** The instructions that leave guest mode (a VM exit to KVM). */
export function exits(insn: GuestInsn): boolean {
  return insn.op !== 'nop' && insn.op !== 'jmp' && insn.op !== 'spin' && insn.op !== 'vsock-send';
}

/** The hardware VM entry: VMLAUNCH/VMRESUME by the VMCS launch state (Intel), VMRUN on vmcb01/vmcb02 (AMD). */
export function vmEntryInsn(c: VcpuContext): HostInsn {
  const level = c.guestMode;
  if (c.vendor === 'amd') return { insn: 'VMRUN', vmcb: level === 'l2' ? c.vmcs.l2 : c.vmcs.l1 };
  return c.launched[level] ? { insn: 'VMRESUME' } : { insn: 'VMLAUNCH' };
}

/**
 * After a successful entry: the VMCS is launched; nested_run_pending is cleared (vmx_vcpu_run
 * unconditionally, svm_vcpu_run when in guest mode); svm_vcpu_run wrote the cached RIP into the
 * VMCB save area before VMRUN.
 */
export function vmEntered(c: VcpuContext): Partial<VcpuContext> {
  const clears = c.vendor === 'intel' || c.guestMode === 'l2';
  return {
    launched: { ...c.launched, [c.guestMode]: true },
    nestedRunPending: clears ? false : c.nestedRunPending,
    vmcbRip: c.rip,
    ranOnce: true,
    immediateExit: false,
  };
}

/**
 * AMD: VMRUN faulted (#UD: EFER.SVME cleared under it by the reboot's hardware disable; #GP) while
 * kvm_rebooting was set. arch/x86/kvm/svm/vmenter.S __svm_vcpu_run (an SVM file since v5.9, so every
 * modelled era; E6 reads virt_rebooting) fixes the fault up with `cmpb $0, kvm_rebooting; jne <after
 * vmrun>; ud2`: execution carries on as if VMRUN had returned. Nothing sets SVM_EXIT_ERR — unlike
 * VMX, whose vmenter.S .Lfixup turns the eaten fault into VM-Fail (KVM_EXIT_FAIL_ENTRY).
 */
export function vmrunFaultSkipped(c: VcpuContext): boolean {
  return c.vendor === 'amd' && entryFaultEaten(c);
}

/**
 * The vendor's VM entry instruction (VMRUN; VMLAUNCH or VMRESUME) faulted (#UD or #GP) with
 * kvm_rebooting set: its vmenter.S fixup eats the fault. What follows is the vendor's and the era's.
 */
export function entryFaultEaten(c: VcpuContext): boolean {
  const h = c.host;
  if (h === null || !h.rebooting || (h.result !== '#UD' && h.result !== '#GP')) return false;
  return c.vendor === 'amd' ? h.insn === 'VMRUN' : h.insn === 'VMLAUNCH' || h.insn === 'VMRESUME';
}

/**
 * What svm_vcpu_run() does after a skipped VMRUN: the register cache reads back the VMCB save area it
 * wrote before the entry (RIP unchanged), nested_run_pending is cleared in guest mode as after any
 * VMRUN, and the immediate exit KVM asked for (a self-IPI) is spent.
 */
export function vmrunSkipped(c: VcpuContext): Partial<VcpuContext> {
  return { nestedRunPending: c.guestMode === 'l2' ? false : c.nestedRunPending, immediateExit: false, guestExit: null };
}

/**
 * Intel before "KVM: VMX: Flatten __vmx_vcpu_run()" (8bd200d23ec4, v5.19; switch
 * vmx-entry-fault-is-vmfail off): VMLAUNCH/VMRESUME faulted with kvm_rebooting set, and
 * arch/x86/kvm/vmx/vmenter.S vmx_vmenter's fixup `3: cmpb $0, kvm_rebooting; je 4f; ret` returned
 * with CF=0 and ZF=0 (1 − 0). __vmx_vcpu_run's `jbe 2f` (VM-Fail) is not taken: it returns 0,
 * "VM-Exit", so vmx->fail stays 0. From the flatten on, `.Lfixup` jumps to `.Lvmfail` instead:
 * vmx->fail = 1, KVM_EXIT_FAIL_ENTRY (the chart's 'VM entry failed').
 */
export function vmxEntryFaultReadAsExit(c: VcpuContext): boolean {
  return c.vendor === 'intel' && !c.features['vmx-entry-fault-is-vmfail'] && entryFaultEaten(c);
}

/**
 * What vmx_vcpu_run() (v5.10/v5.11) does with that "exit": nested_run_pending and idt_vectoring_info
 * cleared as after any entry; exit_reason = vmcs_read32(VM_EXIT_REASON), a VMREAD that faults too and
 * reads 0 (vmread_error_trampoline zeroes the result, vmread_error → kvm_spurious_fault() lets it
 * pass with kvm_rebooting set); 0 is no failed VM entry, so loaded_vmcs->launched = 1 — the next
 * entry is a VMRESUME. The immediate exit asked for (the preemption timer) is spent.
 */
export function vmxFaultReadAsExit(c: VcpuContext): Partial<VcpuContext> {
  return { launched: { ...c.launched, [c.guestMode]: true }, nestedRunPending: false, immediateExit: false, guestExit: null };
}

/** vcpu_load → vmx_vcpu_load → vmx_vcpu_load_vmcs: VMPTRLD of the current VMCS (loaded_vmcs). */
export function vcpuLoadInsn(c: VcpuContext): HostInsn | null {
  if (c.vendor !== 'intel') return null;
  return { insn: 'VMPTRLD', vmcs: c.guestMode === 'l2' ? c.vmcs.l2 : c.vmcs.l1 };
}

/** complete_emulated_mmio / complete_fast_pio_out: the instruction retires in the register cache only. */
export function completeUserspaceIo(c: VcpuContext): Partial<VcpuContext> {
  if (!c.completion) return {};
  return { rip: c.rip + 1, completion: null };
}

/**
 * One more emulation at the current RIP. Consecutive emulations at the same L2 RIP are counted;
 * from the third on the vCPU is reported as livelocked (the docs/model.md §4.5 loop).
 */
export function countEmulation(c: VcpuContext): Partial<VcpuContext> {
  if (c.guestMode !== 'l2' || c.inSmm) return { emulation: null };
  const repeats = c.emulation && c.emulation.rip === c.rip ? c.emulation.repeats + 1 : 1;
  const emulation = { rip: c.rip, repeats };
  return repeats >= 3 ? { emulation, livelock: { ...emulation } } : { emulation };
}

/** Whether a pending interrupt can be injected now, and into which level. */
export function irqInjectable(c: VcpuContext): boolean {
  if (c.pendingIrq === null || c.inSmm || c.nestedRunPending) return false;
  return c.guestMode === 'l1' || !c.program.l1InterceptsIrq;
}
