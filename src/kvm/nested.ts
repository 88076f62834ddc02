/**
 * Nested virtualization and SMM rules (docs/model.md §4.3–§4.5): pure functions from the vCPU
 * context to its next context and, where KVM switches VMCS, the host instruction it executes.
 */
import type { HostInsn, VcpuContext } from './types.js';
import { SMM_ENTRY } from './types.js';
import { eferWithoutLma, kvmValidEfer } from './ioctl.js';
import { entryFaultEaten } from './guest.js';

export interface Step {
  set: Partial<VcpuContext>;
  host?: HostInsn;
}

/**
 * EXCEPTION_UD: nested_vmx_inject_exception_vmexit / nested_svm_inject_exception_vmexit for a pending #UD.
 * INIT_SIGNAL: a physical INIT's VM exit (reason 3) from L2, reflected by nested_vmx_reflect_vmexit()
 * (Intel only; hostInitExit).
 */
export type NestedExitReason = 'TRIPLE_FAULT' | 'EXTERNAL_INTERRUPT' | 'SMM' | 'EXCEPTION_UD' | 'INIT_SIGNAL';

/** The exit reason as trace_kvm_nested_vmexit_inject prints it; null for VMX's untraced exit reason -1. */
export function nestedExitName(c: VcpuContext, reason: NestedExitReason): { name: string; code: number } | null {
  if (c.vendor === 'intel') {
    if (reason === 'SMM') return null; // vmx_enter_smm: nested_vmx_vmexit(vcpu, -1, 0, 0), not traced
    if (reason === 'EXCEPTION_UD') return { name: 'EXCEPTION_NMI', code: 0 }; // EXIT_REASON_EXCEPTION_NMI
    if (reason === 'INIT_SIGNAL') return { name: 'INIT_SIGNAL', code: 3 }; // EXIT_REASON_INIT_SIGNAL
    return reason === 'TRIPLE_FAULT' ? { name: 'TRIPLE_FAULT', code: 2 } : { name: 'EXTERNAL_INTERRUPT', code: 1 };
  }
  if (reason === 'SMM') return { name: 'SW', code: 0xf000_0000 }; // svm_enter_smm: nested_svm_simple_vmexit(SVM_EXIT_SW)
  if (reason === 'EXCEPTION_UD') return { name: 'UD excp', code: 0x46 }; // SVM_EXIT_EXCP_BASE + UD_VECTOR
  if (reason === 'INIT_SIGNAL') return { name: 'INIT', code: 0x63 }; // SVM_EXIT_INIT; never a host exit on AMD (no INTERCEPT_INIT)
  return reason === 'TRIPLE_FAULT' ? { name: 'SHUTDOWN', code: 0x7f } : { name: 'INTR', code: 0x60 };
}

export function vmexitFunction(c: VcpuContext): string {
  return c.vendor === 'intel' ? 'nested_vmx_vmexit' : 'nested_svm_vmexit';
}

/**
 * nested_run_pending as the vmexit function sees it. The rejected 2024 proposal clears it in the
 * vendor triple_fault handler when the triple fault came from RSM (its NeedVMEnter flag).
 */
function runPendingAtExit(c: VcpuContext, reason: NestedExitReason): boolean {
  if (reason === 'TRIPLE_FAULT' && c.rsmTripleFault && c.features['rsm-clears-nested-run-pending']) return false;
  return c.nestedRunPending;
}

/** nested_vmx_vmexit / nested_svm_vmexit: WARN_ON_ONCE(nested_run_pending) — "trying to cancel vmlaunch/vmresume is a bug". */
export function nestedExitWarns(c: VcpuContext, reason: NestedExitReason): boolean {
  return runPendingAtExit(c, reason) && !c.warned.includes(vmexitFunction(c));
}

/**
 * The nested VM exit KVM synthesizes from L2 to L1. L2's RIP goes to vmcs12/vmcb12: nVMX takes it
 * from the register cache (sync_vmcs02_to_vmcs12 → kvm_rip_read); nSVM before b6162e82aef1 copied
 * the vmcb02 save area, which is stale after an emulation that completed in the cache only. L1
 * resumes after its vmlaunch/vmresume/vmrun on vmcs01/vmcb01 (vmx_switch_vmcs → VMPTRLD).
 * nested_run_pending is left as it is (the WARN is the only reaction).
 */
export function nestedVmexit(c: VcpuContext, reason: NestedExitReason): Step {
  const fromCache = c.vendor === 'intel' || c.features['nsvm-vmexit-reads-register-cache'] || reason === 'SMM';
  const warned = nestedExitWarns(c, reason) ? [...c.warned, vmexitFunction(c)] : c.warned;
  const name = nestedExitName(c, reason);
  const set: Partial<VcpuContext> = {
    guestMode: 'l1',
    vmcs12Rip: fromCache ? c.rip : c.vmcbRip,
    rip: c.l1Rip,
    vmcbRip: c.l1Rip,
    nestedRunPending: runPendingAtExit(c, reason),
    warned,
    lastNestedExit: name ? name.name : c.lastNestedExit,
  };
  return c.vendor === 'intel' ? { set, host: { insn: 'VMPTRLD', vmcs: c.vmcs.l1 } } : { set };
}

/** L1's vmlaunch/vmresume (Intel, after VMXON) or vmrun (AMD) can be emulated as a nested VM entry. */
export function nestedEntryAllowed(c: VcpuContext, op: string): boolean {
  if (c.guestMode !== 'l1' || c.inSmm) return false;
  if (c.vendor === 'intel') return (op === 'vmlaunch' || op === 'vmresume') && c.nestedVmxon;
  return op === 'vmrun';
}

/**
 * nested_vmx_run → nested_vmx_enter_non_root_mode (vmx_switch_vmcs(vmcs02): VMPTRLD) /
 * nested_svm_vmrun → enter_svm_guest_mode (vmcb02 prepared from vmcb12): nested_run_pending = 1,
 * RIP := vmcs12/vmcb12 guest RIP. L1 will continue after the instruction.
 */
export function nestedEntry(c: VcpuContext): Step {
  const set: Partial<VcpuContext> = {
    guestMode: 'l2',
    nestedRunPending: true,
    l1Rip: c.rip + 1,
    rip: c.vmcs12Rip,
    vmcbRip: c.vmcs12Rip,
  };
  return c.vendor === 'intel' ? { set, host: { insn: 'VMPTRLD', vmcs: c.vmcs.l2 } } : { set };
}

/**
 * nested_ops->triple_fault for KVM_REQ_TRIPLE_FAULT in L2 (cb6a32c2b877, v5.12): nested_vmx_triple_fault
 * always synthesizes the TRIPLE_FAULT exit; nested_svm_triple_fault synthesized SVM_EXIT_SHUTDOWN
 * unconditionally until 92e7d5c83aff (v6.1), which returns first, leaving the request (KVM_EXIT_SHUTDOWN),
 * unless vmcb12 intercepts SHUTDOWN.
 */
export function tripleFaultReflected(c: VcpuContext): boolean {
  return c.vendor === 'intel' || !c.features['nsvm-triple-fault-needs-intercept'] || c.program.l1InterceptsShutdown;
}

/**
 * A triple fault L2 itself takes: the hardware exits to L0 (TRIPLE_FAULT / #VMEXIT(SHUTDOWN), which KVM
 * always intercepts). nested_vmx_l1_wants_exit() reflects EXIT_REASON_TRIPLE_FAULT always;
 * nested_svm_exit_handled() reflects SVM_EXIT_SHUTDOWN only if vmcb12 intercepts it — in every era;
 * else shutdown_interception(): KVM_EXIT_SHUTDOWN.
 */
export function shutdownExitReflected(c: VcpuContext): boolean {
  return c.vendor === 'intel' || c.program.l1InterceptsShutdown;
}

/** enter_smm(): the state-save area gets the current (possibly L2) state before the vendor hook. */
export function saveSmram(c: VcpuContext): Partial<VcpuContext> {
  return { smiPending: false, smram: { rip: c.rip, efer: c.efer, guestMode: c.guestMode === 'l2' } };
}

/**
 * vmx_enter_smm / svm_enter_smm: from L2, force the synthetic nested exit (VMX reason -1, SVM
 * SVM_EXIT_SW after copying RAX/RSP/RIP into the VMCB), remember guest mode; save nested.vmxon into
 * smm.vmxon and clear it.
 */
export function vendorEnterSmm(c: VcpuContext): Step {
  const fromL2 = c.guestMode === 'l2';
  const exit = fromL2 ? nestedVmexit({ ...c, vmcbRip: c.rip }, 'SMM') : { set: {} };
  return {
    set: { ...exit.set, smm: { guestMode: fromL2, vmxon: c.nestedVmxon }, nestedVmxon: false },
    ...(exit.host ? { host: exit.host } : {}),
  };
}

/** SMM is emulated in L1's context: RIP = 0x8000 at SMBASE. */
export function enterSmm(): Partial<VcpuContext> {
  return { inSmm: true, rip: SMM_ENTRY, vmcbRip: SMM_ENTRY };
}

/**
 * emulator_leave_smm → vendor leave_smm: leave SMM; if the SMI came from L2, restore vmxon and
 * re-enter L2 (nested_vmx_enter_non_root_mode / enter_svm_guest_mode), setting nested_run_pending=1
 * (759cbd59674a) BEFORE rsm_load_state_64 loads the SMRAM state.
 */
export function leaveSmm(c: VcpuContext): Step {
  const base: Partial<VcpuContext> = { inSmm: false, nestedVmxon: c.smm.vmxon, smm: { guestMode: false, vmxon: false } };
  if (!c.smm.guestMode) return { set: base };
  const set: Partial<VcpuContext> = {
    ...base,
    guestMode: 'l2',
    nestedRunPending: c.features['rsm-sets-nested-run-pending'],
    rip: c.vmcs12Rip,
    vmcbRip: c.vmcs12Rip,
  };
  return c.vendor === 'intel' ? { set, host: { insn: 'VMPTRLD', vmcs: c.vmcs.l2 } } : { set };
}

/** rsm_load_state_64: kvm_set_msr(MSR_EFER, efer & ~LMA) fails for a bit kvm_valid_efer rejects. */
export function smramLoads(c: VcpuContext): boolean {
  return c.smram !== null && kvmValidEfer(c.vendor, eferWithoutLma(c.smram.efer));
}

export function loadSmram(c: VcpuContext): Partial<VcpuContext> {
  if (!c.smram) return {};
  return { efer: c.smram.efer, rip: c.smram.rip, smram: null };
}

/** "KVM: x86: Forcibly leave nested if RSM to L2 hits shutdown": the failed RSM left guest mode already. */
export function leavesNestedOnRsmFailure(c: VcpuContext): boolean {
  return c.features['rsm-shutdown-leaves-nested'] && c.guestMode === 'l2';
}

/**
 * kvm_leave_nested → vmx_leave_nested (nested_run_pending = 0; nested_vmx_vmexit(-1); free_nested)
 * / svm_leave_nested (nested_run_pending = 0; leave_guest_mode; switch to vmcb01). No WARN, no
 * exit visible to L1.
 */
export function leaveNested(c: VcpuContext): Step {
  const set: Partial<VcpuContext> = {
    guestMode: 'l1',
    nestedRunPending: false,
    nestedVmxon: false,
    vmcs12Rip: c.rip,
    rip: c.l1Rip,
    vmcbRip: c.l1Rip,
  };
  return c.vendor === 'intel' ? { set, host: { insn: 'VMPTRLD', vmcs: c.vmcs.l1 } } : { set };
}

/** em_rsm: a failed leave_smm raises the emulator's triple fault: KVM_REQ_TRIPLE_FAULT (25b17226cd9a, v5.14). */
export function emulatorTripleFault(c: VcpuContext): Partial<VcpuContext> {
  return { requests: { ...c.requests, tripleFault: true }, rsmTripleFault: true, smram: null };
}

/** Whether em_rsm raises the triple fault on failure (v5.14) or returns X86EMUL_UNHANDLEABLE (before). */
export function rsmFailureTripleFaults(c: VcpuContext): boolean {
  return c.features['rsm-failure-triple-faults'];
}

/**
 * Before 25b17226cd9a: em_rsm returned X86EMUL_UNHANDLEABLE ("FIXME: should triple fault"), so
 * x86_emulate_instruction() went to handle_emulation_failure() (no retry: RSM is emulated on #UD /
 * the RSM intercept, without EMULTYPE_ALLOW_RETRY_PF): trace_kvm_emulate_insn_failed, then
 * kvm_queue_exception(UD_VECTOR). RIP and the GPRs are not written back (no writeback on failure):
 * the vCPU stays out of SMM (em_rsm cleared the SMM hflags first) at the state em_rsm left.
 */
export function emulationFailed(): Partial<VcpuContext> {
  return { udPending: true, smram: null };
}

/**
 * handle_emulation_failure(): `!is_guest_mode(vcpu) && get_cpl(vcpu) == 0` ⇒ KVM_EXIT_INTERNAL_ERROR
 * with suberror KVM_INTERNAL_ERROR_EMULATION; else return 1 and re-enter with the #UD pending. A
 * failed RSM always leaves CPL 0: em_rsm has put the vCPU in real mode with a DPL-0 CS, SS is the
 * SMM entry's (DPL 0), and the state load fails (at EFER) before any segment is loaded — so only
 * guest mode decides here (the CPL > 0 branch is not reachable in the model).
 */
export function emulationFailureExits(c: VcpuContext): boolean {
  return c.guestMode === 'l1';
}

/**
 * inject_pending_event() → kvm_check_nested_events(): a pending exception in L2 is -EBUSY while
 * nested_run_pending (block_nested_events), else a nested exception VM exit if L1 intercepts it
 * (nested_vmx_check_exception / nested_exit_on_exception), else it is injected into L2.
 */
export function udForL1(c: VcpuContext): boolean {
  return c.udPending && c.guestMode === 'l2' && c.program.l1InterceptsUd;
}

/**
 * Intel: the hardware VM entry VM-Failed in L2 — VMfailValid/VMfailInvalid, or (from "KVM: VMX: Flatten
 * __vmx_vcpu_run()", 8bd200d23ec4) a VMLAUNCH/VMRESUME fault eaten with kvm_rebooting set, which
 * vmenter.S .Lfixup turns into VM-Fail. vmx_vcpu_run() sets exit_reason 0xdead and __vmx_handle_exit()
 * asks nested_vmx_reflect_vmexit() first: "Late nested VM-Fail shares the same flow as nested
 * VM-Exit since KVM has already loaded L2's state" (arch/x86/kvm/vmx/nested.c, since v5.8; before,
 * nested_vmx_exit_reflected() returned true on vmx->fail).
 */
export function lateNestedVmFail(c: VcpuContext): boolean {
  const h = c.host;
  if (c.vendor !== 'intel' || c.guestMode !== 'l2' || h === null || (h.insn !== 'VMLAUNCH' && h.insn !== 'VMRESUME')) return false;
  if (h.result === 'ok') return false;
  if (h.result === '#UD' || h.result === '#GP') return entryFaultEaten(c) && c.features['vmx-entry-fault-is-vmfail'];
  return true;
}

/** The WARN_ON_ONCE site in nested_vmx_vmexit()'s VM-Fail branch (a second one besides nested_run_pending's). */
export const LATE_VMFAIL_WARN = 'nested_vmx_vmexit: VM_INSTRUCTION_ERROR';

/**
 * nested_vmx_vmexit() with vmx->fail: `WARN_ON_ONCE(vmcs_read32(VM_INSTRUCTION_ERROR) !=
 * VMXERR_ENTRY_INVALID_CONTROL_FIELD)` — "The only expected VM-instruction error is 'VM entry with
 * invalid control field(s).' Anything else indicates a problem with L0". After an eaten fault the
 * VMREAD faults as well and reads 0; after VMfailInvalid there is no error number either (0).
 */
export function lateVmFailWarns(c: VcpuContext): boolean {
  return c.host?.result !== 'VMfailValid(7)' && !c.warned.includes(LATE_VMFAIL_WARN);
}

/**
 * The rest of that nested_vmx_vmexit(): vmx_vcpu_run() had cleared nested_run_pending; no
 * sync_vmcs02_to_vmcs12 / prepare_vmcs12 (vmcs12 keeps L2's entry RIP); vmx_switch_vmcs(vmcs01) is a
 * VMPTRLD; nested_vmx_fail(VMXERR_ENTRY_INVALID_CONTROL_FIELD) has L1 go on after its VMLAUNCH/VMRESUME,
 * which VM-Failed. vmcs02 was not marked launched (vmx_vcpu_run returns before that on vmx->fail).
 * With VMX off under the thread, every VMREAD of this path reads 0 (L1's RIP included): not modelled,
 * the next VM entry of vmcs01 faults anyway (docs/model.md §11).
 */
export function lateVmFailToL1(c: VcpuContext): Step {
  const warned = lateVmFailWarns(c) ? [...c.warned, LATE_VMFAIL_WARN] : c.warned;
  const set: Partial<VcpuContext> = { guestMode: 'l1', nestedRunPending: false, immediateExit: false, guestExit: null, rip: c.l1Rip, vmcbRip: c.l1Rip, warned };
  return { set, host: { insn: 'VMPTRLD', vmcs: c.vmcs.l1 } };
}

// ---- a physical INIT in VMX non-root (docs/model.md §4.6) ------------------------------------------

/**
 * What KVM does with a VM exit for EXIT_REASON_INIT_SIGNAL (basic reason 3), which only a physical
 * INIT to a CPU in VMX non-root causes (SDM Vol. 3C "Other Causes of VM Exits"):
 *
 * - from L2, __vmx_handle_exit() → nested_vmx_reflect_vmexit(): nested_vmx_l0_wants_exit() has no case
 *   for it (false), nested_vmx_l1_wants_exit() ends in `default: return true`, so nested_vmx_vmexit()
 *   gives L1 an INIT_SIGNAL exit and vcpu_run() goes on in L1 (arch/x86/kvm/vmx/nested.c);
 * - from L1, kvm_vmx_exit_handlers[] (arch/x86/kvm/vmx/vmx.c) has no entry for it: `unexpected_vmexit`,
 *   i.e. vcpu_unimpl(), dump_vmcs(), KVM_EXIT_INTERNAL_ERROR with suberror
 *   KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON and data[0] = exit_reason.full, return 0 — since
 *   7396d337cfad "KVM: x86: Return to userspace with internal error on unexpected exit reason" (v5.4,
 *   older than every preset; before it, vcpu_unimpl and a #UD queued for the guest). kvm_rebooting is
 *   not looked at on this path.
 */
export type InitExitFate = 'reflect-to-l1' | 'internal-error';

export function hostInitExit(c: VcpuContext): InitExitFate {
  return c.guestMode === 'l2' ? 'reflect-to-l1' : 'internal-error';
}

/** include/uapi/linux/kvm.h: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON. */
export const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON = 4;
/** arch/x86/include/uapi/asm/vmx.h: EXIT_REASON_INIT_SIGNAL. */
export const EXIT_REASON_INIT_SIGNAL = 3;

/**
 * The console lines of `unexpected_vmexit` for exit reason 3. vcpu_unimpl() is
 * kvm_pr_unimpl("vcpu%i, guest rIP: 0x%lx " fmt), a pr_err_ratelimited("kvm [%i]: " …) with the VMM's
 * tgid (the model's tasks have PID 0); dump_vmcs() with kvm_intel.dump_invalid_vmcs off (the default)
 * prints one pr_warn_ratelimited line. Before `unexpected-exit-reason-helper`, vmx.c prints
 * "vmx: unexpected exit reason 0x%x" first; with it, dump_vmcs() runs first and x86.c's
 * kvm_prepare_unexpected_reason_exit() prints "unexpected exit reason 0x%llx". The "kvm_intel: " /
 * "kvm: " pr_fmt prefixes of later kernels are not modelled (docs/model.md §11).
 */
export function unexpectedExitLines(c: VcpuContext, exitReason: number): string[] {
  const dump = 'set kvm_intel.dump_invalid_vmcs=1 to dump internal KVM state.';
  const unimpl = (what: string) => `kvm [0]: vcpu${c.vcpuId}, guest rIP: 0x${c.rip.toString(16)} ${what}unexpected exit reason 0x${exitReason.toString(16)}`;
  return c.features['unexpected-exit-reason-helper'] ? [dump, unimpl('')] : [unimpl('vmx: '), dump];
}
