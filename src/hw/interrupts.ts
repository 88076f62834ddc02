/**
 * What a processor does with an arriving NMI, fixed-vector interrupt, INIT, SIPI or SMI, and the
 * instructions and events that change whether it can take them: IRET, STI/CLI, HLT, RSM, triple
 * fault (docs/model.md §3.3–§3.6).
 *
 * An `*Arrival` function only classifies; the caller applies the outcome: `take*` for 'take',
 * `latchNmi` / `latchSmi` / `holdInit` / `addToIrr` for 'latched' and 'pending', `vmExit` for
 * 'vmexit'. Whatever was held is later offered by the `*Deliverable` functions.
 *
 * VMX operation is suspended in SMM (SDM Vol. 3C "Default Treatment of SMI Delivery") but the model
 * keeps `vmx` unchanged across SMM, so every rule tests `inSmm` before it tests `vmx`.
 *
 * SDM sections are cited by title: their numbers differ between editions.
 */
import type { CpuHw } from './cpu-state.js';
import { vmExit, type InsnResult } from './vmx.js';
import { svmVmexit } from './svm.js';

export type Arrival =
  | { kind: 'take' }
  | { kind: 'pending'; why: string }
  | { kind: 'latched'; why: string }
  | { kind: 'dropped'; why: string }
  | { kind: 'vmexit'; why: string };

const take: Arrival = { kind: 'take' };
/**
 * A guest runs: VMX non-root, or an SVM guest after VMRUN. KVM sets NMI exiting / external-interrupt
 * exiting (VMX) and intercepts NMI and INTR (SVM), so each of these becomes a VM exit. INIT differs by
 * vendor: a VM exit in VMX non-root, but taken by the CPU in an SVM guest (initArrival).
 */
export const inGuest = (hw: CpuHw): boolean => (hw.vmx === 'nonroot' || hw.svmGuest) && !hw.inSmm;

/**
 * The CPU leaves a guest for the host. VMX: a VM exit (IF=0 from the host RFLAGS). SVM: #VMEXIT
 * clears GIF and KVM's svm_vcpu_run executes STGI right after it, so what the exit was for (an
 * NMI, an interrupt) is taken by the host at once; the model folds the STGI into the exit.
 */
export function leaveGuest(hw: CpuHw): CpuHw {
  if (hw.svmGuest) return { ...svmVmexit(hw), gif: true, if: false };
  return vmExit(hw);
}

/**
 * SDM Vol. 3A "Interrupt 8—Double Fault Exception (#DF)": "If shutdown occurs while the processor is
 * executing an NMI interrupt handler, then only a hardware reset can restart the processor";
 * docs/model.md §3.6 adds SMM. NMI blocking is the architectural meaning of "executing an NMI handler".
 */
export function shutdownNeedsReset(hw: CpuHw): boolean {
  return hw.activity === 'shutdown' && (hw.nmiBlocked || hw.inSmm);
}

// ---- NMI -------------------------------------------------------------------------------------

/** SDM Vol. 3A "Handling Multiple NMIs"; Linux default_do_nmi: "Only one NMI can be latched at a time". */
function latchOrDrop(hw: CpuHw, kind: 'latched' | 'pending', why: string): Arrival {
  return hw.nmiLatched === 1 ? { kind: 'dropped', why: 'an NMI is already latched' } : { kind, why };
}

export function nmiArrival(hw: CpuHw): Arrival {
  // docs/model.md §3.3: wait-for-SIPI blocks NMI. The model holds it in the one-deep NMI latch
  // (caller: latchNmi), offered after SIPI. The SDM does not say whether it is held or lost:
  // chosen because a blocked NMI is otherwise always latched.
  if (hw.activity === 'wait-for-sipi') return latchOrDrop(hw, 'pending', 'wait-for-SIPI blocks NMIs');
  if (shutdownNeedsReset(hw)) return latchOrDrop(hw, 'latched', 'shutdown in an NMI handler or SMM: only RESET restarts');
  // SDM Vol. 3C "NMI Handling While in SMM": SMM entry blocks NMIs (takeSmi sets nmiBlocked) and an
  // IRET inside SMM unblocks them, so nmiBlocked alone decides in SMM too.
  if (hw.nmiBlocked) return latchOrDrop(hw, 'latched', hw.inSmm ? 'NMIs are blocked in SMM' : 'NMIs are blocked until the next IRET');
  // APM vol. 2 15.17: GIF=0 holds NMIs pending.
  if (!hw.gif) return latchOrDrop(hw, 'latched', 'GIF=0 holds NMIs');
  // SDM Vol. 3C "Other Causes of VM Exits": with "NMI exiting" (KVM sets it) an NMI in non-root is a
  // VM exit; KVM then runs the host NMI handler on the same CPU.
  if (inGuest(hw)) return { kind: 'vmexit', why: hw.svmGuest ? 'NMI in an SVM guest (NMI intercept)' : 'NMI in VMX non-root with NMI exiting' };
  return take;
}

export function latchNmi(hw: CpuHw): CpuHw {
  return { ...hw, nmiLatched: 1 };
}

/** NMI delivery through an interrupt gate; SDM Vol. 3A "Handling Multiple NMIs": blocks NMIs until IRET. */
export function takeNmi(hw: CpuHw): CpuHw {
  const wakes = hw.activity === 'hlt' || hw.activity === 'shutdown';
  return { ...hw, nmiBlocked: true, if: false, activity: wakes ? 'running' : hw.activity };
}

/**
 * SDM Vol. 3A "Handling Multiple NMIs": IRET unblocks NMIs, even an IRET that faults (docs/model.md §0.1).
 * IF comes back from the interrupted context's frame (the caller's context stack): `restoredIf`, or kept.
 */
export const iret = (hw: CpuHw, restoredIf?: boolean): CpuHw => ({ ...hw, nmiBlocked: false, if: restoredIf ?? hw.if });
/** docs/model.md §3.4: an eaten fault's IRET unblocks NMIs, IF kept; a nested NMI (entry_64.S) IRETs at once. */
export const exceptionReturn = (hw: CpuHw): CpuHw => iret(hw);
export const takeNestedNmi = (hw: CpuHw, latched = false): CpuHw => iret(latched ? takeLatchedNmi(hw) : takeNmi(hw), hw.if);

/**
 * The latched NMI is delivered now (in non-root the delivery is a VM exit first: vmExit, then
 * takeLatchedNmi). SMM needs no separate test: it blocks NMIs until RSM or an IRET inside SMM.
 */
export function nmiLatchedDeliverable(hw: CpuHw): boolean {
  return (
    hw.nmiLatched === 1 && !hw.nmiBlocked && hw.gif && hw.activity !== 'wait-for-sipi' && !shutdownNeedsReset(hw)
  );
}

export function takeLatchedNmi(hw: CpuHw): CpuHw {
  return takeNmi({ ...hw, nmiLatched: 0 });
}

// ---- Fixed-vector interrupts (IPIs) ---------------------------------------------------------

export function fixedIpiArrival(hw: CpuHw, vector: number): Arrival {
  // SDM Vol. 3A local APIC "Error Handling": vectors 0–15 are illegal for fixed delivery; the
  // receiving APIC sets "receive illegal vector" and does not accept the interrupt.
  if (!Number.isInteger(vector) || vector < 16 || vector > 255) return { kind: 'dropped', why: `illegal vector ${vector}` };
  // SDM Vol. 3A "Local APIC State After It Has Been Software Disabled": the APIC responds normally
  // to INIT, NMI, SMI and SIPI; fixed interrupts are not accepted. Hence NMI is the only way to
  // stop a CPU after disable_local_APIC().
  if (!hw.lapicEnabled) return { kind: 'dropped', why: 'local APIC software-disabled' };
  if (hw.activity === 'wait-for-sipi') return { kind: 'pending', why: 'wait-for-SIPI blocks external interrupts' };
  // SDM Vol. 3C "Other Causes of VM Exits": with "external-interrupt exiting" (KVM sets it) an
  // external interrupt in non-root is a VM exit whatever RFLAGS.IF is, so this precedes the IF test.
  if (inGuest(hw)) return { kind: 'vmexit', why: hw.svmGuest ? 'external interrupt in an SVM guest (INTR intercept)' : 'external interrupt in VMX non-root' };
  if (!hw.gif) return { kind: 'pending', why: 'GIF=0 holds interrupts' };
  if (!hw.if) return { kind: 'pending', why: 'IF=0: held in IRR' };
  // SDM Vol. 3A #DF: shutdown is left only by NMI, SMI, INIT or RESET.
  if (hw.activity === 'shutdown') return { kind: 'pending', why: 'shutdown ignores maskable interrupts' };
  return take;
}

export function addToIrr(hw: CpuHw, vector: number): CpuHw {
  if (hw.irr.includes(vector)) return hw;
  return { ...hw, irr: [...hw.irr, vector].sort((a, b) => a - b) };
}

/**
 * The vector the CPU takes next from its IRR, if any: the highest, as the APIC delivers by priority
 * (SDM Vol. 3A "Interrupt, Task, and Processor Priority"); TPR and ISR are not modelled. A
 * soft-disabled APIC holds what is in IRR but delivers nothing.
 */
export function pendingIrqDeliverable(hw: CpuHw): number | null {
  const ready = hw.if && hw.gif && hw.lapicEnabled && (hw.activity === 'running' || hw.activity === 'hlt');
  // The length is tested first: index -1 of an empty IRR is a named-property lookup in V8, off the fast
  // path, and an idle CPU's chart asks this after every step (180k times in the 8192-CPU run).
  const irr = hw.irr;
  return ready && irr.length > 0 ? (irr[irr.length - 1] as number) : null;
}

export function takeIrq(hw: CpuHw, vector: number): CpuHw {
  return {
    ...hw,
    irr: hw.irr.filter((v) => v !== vector),
    if: false,
    activity: hw.activity === 'hlt' ? 'running' : hw.activity,
  };
}

/** STI (local_irq_enable): whatever waits in IRR becomes deliverable; ask pendingIrqDeliverable. */
export function sti(hw: CpuHw): CpuHw {
  return { ...hw, if: true };
}

export function cli(hw: CpuHw): CpuHw {
  return { ...hw, if: false };
}

// ---- INIT and SIPI --------------------------------------------------------------------------

/** Why an INIT would be held pending now, or null if it would be acted on. */
export function initBlocked(hw: CpuHw): string | null {
  // SDM Vol. 3C "Restrictions on VMX Operation": "INIT signals are blocked whenever a logical
  // processor is in VMX root operation."
  if (hw.vmx === 'root' && !hw.inSmm) return 'VMX root operation';
  // SDM Vol. 3C "SMI Handler Execution Environment" / docs/model.md §3.5: SMM entry inhibits INIT until RSM.
  if (hw.inSmm) return 'SMM';
  // APM vol. 2 15.17; Linux arch/x86/virt/hw.c: "SVM blocks INIT if GIF=0".
  if (!hw.gif) return 'GIF=0';
  // Not wait-for-SIPI: the SDM's "the wait-for-SIPI state blocks … INIT signals" (Vol. 3C, VM entry
  // "Activity State"; "Other Causes of VM Exits") is about a guest left in that state by VM entry, in
  // VMX non-root. A physical CPU waiting for SIPI takes INIT: an INIT reset again, and it waits for
  // SIPI again. KVM's kvm_apic_accept_events() does the same to a vCPU in any mp_state,
  // KVM_MP_STATE_INIT_RECEIVED included, and blocks INIT only in SMM, VMX root and with GIF=0.
  if (shutdownNeedsReset(hw)) return 'shutdown in an NMI handler: only RESET restarts';
  return null;
}

export function initArrival(hw: CpuHw): Arrival {
  // SDM Vol. 3C "Other Causes of VM Exits": INIT in non-root is an unconditional VM exit (exit
  // reason 3), so KVM sees it — and has no handler for it (docs/model.md §4.6).
  if (hw.vmx === 'nonroot' && !hw.inSmm) return { kind: 'vmexit', why: 'INIT in VMX non-root operation' };
  // An SVM guest: INIT is a #VMEXIT only with the INIT intercept, and KVM's init_vmcb()
  // (arch/x86/kvm/svm/svm.c, v5.10 to mainline) sets INTERCEPT_INTR, _NMI and _SMI but never
  // INTERCEPT_INIT. VMRUN set GIF=1, so initBlocked() finds nothing and the CPU takes the INIT in guest
  // mode: an INIT reset, which leaves guest mode (takeInit). KVM emulates the same rule for a nested
  // guest (svm_check_nested_events(): no #VMEXIT unless vmcb12 intercepts INIT, then the vCPU's INIT
  // reset) and Bochs for its SVM CPU (handleAsyncEvent(): Svm_Vmexit only if SVM_INTERCEPT0_INIT,
  // else reset). docs/model.md §3.3 item 7.
  const why = initBlocked(hw);
  return why === null ? take : { kind: 'pending', why };
}

export function holdInit(hw: CpuHw): CpuHw {
  return { ...hw, initPending: true };
}

/** A held INIT is acted on now: after VMXOFF, RSM or STGI (docs/model.md §3.7). */
export function initDeliverable(hw: CpuHw): boolean {
  return hw.initPending && initBlocked(hw) === null;
}

/**
 * INIT reset. SDM Vol. 3A table "Processor States Following Power-up, Reset, or INIT": RFLAGS=2
 * (IF=0), CR4=0 (VMXE=0), EFER=0 (SVME=0); taken in an SVM guest it leaves guest mode (initArrival). "Local APIC State After an INIT Reset": the APIC is reset
 * as at power-up, so IRR is empty and SVR=FFh, i.e. software-disabled ("Local APIC State After
 * Power-Up or Reset"). An application processor then waits for SIPI; the bootstrap processor
 * restarts at the reset vector instead (opts.bsp).
 *
 * Choices of the model (docs/model.md §8), where the SDM table is silent or the model needs them:
 * - `mode` is kept: it describes the kernel the CPU runs once started again, not the real-mode
 *   trampoline in between.
 * - NMI blocking and the NMI latch are cleared, GIF is set (INIT is only taken with GIF=1 anyway);
 *   a latched SMI is kept: it belongs to the platform, not to the CPU's reset state.
 * - `vmx` and `vmxonPtr` are kept: INIT is only acted on outside VMX operation, where they are
 *   'off' and null. VMCS launch states are memory contents, which INIT does not touch.
 */
export function takeInit(hw: CpuHw, opts: { bsp?: boolean } = {}): CpuHw {
  return {
    ...hw,
    activity: opts.bsp === true ? 'running' : 'wait-for-sipi',
    if: false,
    nmiBlocked: false,
    nmiLatched: 0,
    irr: [],
    initPending: false,
    svme: false,
    svmGuest: false,
    gif: true,
    cr4Vmxe: false,
    currentVmcs: null,
    lapicEnabled: false,
  };
}

/**
 * docs/model.md §3.3 (SDM Vol. 3C): SIPIs are ignored unless the CPU is in wait-for-SIPI. The
 * vector only selects the start page (vector × 4 KiB), which the caller models.
 */
export function sipiArrival(hw: CpuHw, _vector: number): Arrival {
  return hw.activity === 'wait-for-sipi' ? take : { kind: 'dropped', why: 'SIPI ignored outside wait-for-SIPI' };
}

export function takeSipi(hw: CpuHw): CpuHw {
  return { ...hw, activity: 'running' };
}

// ---- SMI, SMM, RSM --------------------------------------------------------------------------

/**
 * An SMI here is a #VMEXIT first: the CPU runs an SVM guest, and KVM's init_vmcb() sets INTERCEPT_SMI
 * (arch/x86/kvm/svm/svm.c; unconditionally in v5.10/v5.11, later `if (intercept_smi)`, a module
 * parameter that defaults to true: "KVM: SVM: add module param to control the #SMI interception",
 * Maxim Levitsky, July 2021). The model takes the default in every era.
 * The #VMEXIT clears GIF, which holds the SMI pending (APM Vol. 2 "Response to SMI", as KVM's
 * svm_smi_blocked() cites it) until svm_vcpu_run()'s STGI: the SMI is taken there, in host context, and
 * KVM's SVM_EXIT_SMI handler does nothing (smi_interception(): return 1) before it re-enters the guest.
 * Intel has no such intercept: in VMX non-root an SMI enters SMM directly (SDM Vol. 3C "Default
 * Treatment of SMI Delivery"), and RSM returns to the guest.
 */
export const smiIntercepted = (hw: CpuHw): boolean => hw.svmGuest && !hw.inSmm;

export function smiArrival(hw: CpuHw): Arrival {
  const held = (kind: 'latched' | 'pending', why: string): Arrival =>
    hw.smiLatched === 1 ? { kind: 'dropped', why: 'an SMI is already latched' } : { kind, why };
  // SDM Vol. 3C "Entering SMM": SMM is not re-entrant; one SMI is latched and serviced after RSM.
  if (hw.inSmm) return held('latched', 'SMM is not re-entrant');
  if (hw.activity === 'wait-for-sipi') return held('pending', 'wait-for-SIPI blocks SMI');
  if (shutdownNeedsReset(hw)) return held('pending', 'shutdown in an NMI handler: only RESET restarts');
  // APM vol. 2 15.17: GIF=0 holds SMIs pending.
  if (!hw.gif) return held('pending', 'GIF=0 holds SMIs');
  if (smiIntercepted(hw)) return { kind: 'vmexit', why: 'SMI in an SVM guest (INTERCEPT_SMI)' };
  // An SMI is taken in VMX non-root too: under SDM Vol. 3C "Default Treatment of SMI Delivery" it
  // enters SMM directly, without a VM exit to the host.
  return take;
}

export function latchSmi(hw: CpuHw): CpuHw {
  return { ...hw, smiLatched: 1 };
}

/**
 * SMM entry. SDM Vol. 3C "SMI Handler Execution Environment": IF cleared, NMI and INIT blocked
 * (initBlocked reads inSmm). RFLAGS and whether NMIs were blocked are saved for RSM. A halted CPU
 * leaves HLT and RSM returns after it: the SMI handler's auto-HALT-restart choice is not modelled.
 * stop_this_cpu()'s `for (;;) native_halt()` halts again either way; crash_nmi_callback()'s
 * `halt(); for (;;) cpu_relax();` spins from then on (docs/model.md §1.4 step 6, §11).
 */
export function takeSmi(hw: CpuHw): CpuHw {
  const wakes = hw.activity === 'hlt' || hw.activity === 'shutdown';
  return {
    ...hw,
    inSmm: true,
    if: false,
    ifBeforeSmm: hw.if,
    nmiBlockedBeforeSmm: hw.nmiBlocked,
    nmiBlocked: true,
    activity: wakes ? 'running' : hw.activity,
  };
}

/**
 * AMD, KVM's INTERCEPT_SMI (smiIntercepted): #VMEXIT(SMI) clears GIF, which holds the SMI until
 * svm_vcpu_run()'s STGI ("Any pending NMI will happen here"); it is taken there, in host context, and
 * RSM returns to KVM, whose SVM_EXIT_SMI handler returns 1 (smi_interception(); v5.12–v5.13's
 * kvm_emulate_as_nop skipped a guest instruction, fixed by "KVM: SVM: #SMI interception must not skip
 * the instruction"; v5.10/v5.11 had nop_on_interception). The model folds the STGI into the exit, as
 * for an NMI (leaveGuest), and keeps the host's IF across SMM as the other exits do (KVM re-enables
 * interrupts after handling the exit).
 */
export function takeInterceptedSmi(hw: CpuHw): CpuHw {
  return takeSmi({ ...leaveGuest(hw), if: hw.if });
}

/**
 * SMM entry for an SMI from the bus or, `latched`, from the latch (serviced after RSM): directly, or
 * (`vmexit`) after the #VMEXIT of KVM's INTERCEPT_SMI when an SVM guest runs.
 */
export function smiEntry(hw: CpuHw, latched: boolean): { hw: CpuHw; vmexit: boolean } {
  const from = latched ? { ...hw, smiLatched: 0 as const } : hw;
  return smiIntercepted(hw) ? { hw: takeInterceptedSmi(from), vmexit: true } : { hw: takeSmi(from), vmexit: false };
}

export function smiLatchedDeliverable(hw: CpuHw): boolean {
  return hw.smiLatched === 1 && !hw.inSmm && hw.gif && hw.activity !== 'wait-for-sipi' && !shutdownNeedsReset(hw);
}

export function takeLatchedSmi(hw: CpuHw): CpuHw {
  return takeSmi({ ...hw, smiLatched: 0 });
}

export function rsm(hw: CpuHw, smramValid: boolean): InsnResult {
  if (!hw.inSmm) return { kind: 'fault', fault: '#UD', why: 'RSM outside SMM' };
  // SDM RSM; APM vol. 2 ch. 10: invalid state in the SMRAM save area ⇒ shutdown, before
  // the CPU returns to VMX or guest mode. It never left SMM, so only RESET restarts it.
  if (!smramValid) return { kind: 'ok', hw: { ...hw, activity: 'shutdown' } };
  // SDM Vol. 3C "NMI Handling While in SMM": NMIs stay blocked after RSM only if they were blocked
  // when the SMI came.
  return { kind: 'ok', hw: { ...hw, inSmm: false, if: hw.ifBeforeSmm, nmiBlocked: hw.nmiBlockedBeforeSmm } };
}

// ---- HLT and shutdown -----------------------------------------------------------------------

export function hlt(hw: CpuHw): InsnResult {
  if (hw.mode.cpl !== 0) return { kind: 'fault', fault: '#GP', why: 'HLT: CPL≠0' };
  // SDM Vol. 3C "Relative Priority of Faults and VM Exits": the CPL fault comes before the VM exit
  // that KVM's "HLT exiting" causes.
  if (inGuest(hw)) return { kind: 'vmexit', why: 'HLT in VMX non-root with HLT exiting' };
  return { kind: 'ok', hw: { ...hw, activity: 'hlt' } };
}

/**
 * SDM HLT: a halted CPU resumes on an enabled interrupt (IF=1), an NMI that is not
 * blocked, SMI, INIT or RESET. A CPU halted in an NMI handler with IF=0 moves only for SMI, INIT
 * or RESET.
 */
export function hltWakes(hw: CpuHw, what: 'irq' | 'nmi' | 'smi' | 'init'): boolean {
  if (hw.activity !== 'hlt') return false;
  switch (what) {
    case 'irq':
      return hw.if && hw.gif;
    case 'nmi':
      return nmiArrival(hw).kind === 'take';
    case 'smi':
      return smiArrival(hw).kind === 'take';
    case 'init':
      return initArrival(hw).kind === 'take';
  }
}

/**
 * A fault while delivering #DF (SDM Vol. 3A #DF). In VMX non-root it is a VM exit instead (SDM Vol.
 * 3C "Other Causes of VM Exits", basic exit reason 2), so the host resumes. Whether it happened in
 * an NMI handler or SMM does not change the shutdown state itself, only how it is left: pass the
 * same flag to shutdownExitBy.
 */
export function tripleFault(hw: CpuHw, _inNmiHandlerOrSmm: boolean): CpuHw {
  if (inGuest(hw)) return vmExit(hw);
  return { ...hw, activity: 'shutdown' };
}

/** SDM Vol. 3A #DF: NMI, SMI, INIT or RESET leave shutdown; inside an NMI handler or SMM only RESET. */
export function shutdownExitBy(hw: CpuHw, what: 'nmi' | 'smi' | 'init' | 'reset', inNmiHandlerOrSmm: boolean): boolean {
  if (hw.activity !== 'shutdown') return false;
  if (what === 'reset') return true;
  if (inNmiHandlerOrSmm) return false;
  // The arrival rules already hold every event when the state itself shows an NMI handler or SMM.
  if (what === 'nmi') return nmiArrival(hw).kind === 'take';
  if (what === 'smi') return smiArrival(hw).kind === 'take';
  return initArrival(hw).kind === 'take';
}
