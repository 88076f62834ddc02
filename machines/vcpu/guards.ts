/**
 * Guards of the vCPU chart: pure questions about the context (and the event), each answered by a
 * rule of src/kvm/.
 */
import type { VcpuContext } from '../../src/kvm/types.js';
import type { GuestInsn } from '../../src/kvm/types.js';
import type { VcpuEvent } from './types.js';
import { vcpuIoctl } from '../../src/kvm/ioctl.js';
import { currentInsn, exits, irqInjectable, vmrunFaultSkipped, vmxEntryFaultReadAsExit } from '../../src/kvm/guest.js';
import {
  hostInitExit,
  lateNestedVmFail,
  leavesNestedOnRsmFailure,
  nestedEntryAllowed,
  rsmFailureTripleFaults,
  shutdownExitReflected,
  smramLoads,
  tripleFaultReflected,
  udForL1,
} from '../../src/kvm/nested.js';

type Args = { context: VcpuContext; event: VcpuEvent };

const exitOp = (c: VcpuContext): string | null => (c.guestExit?.kind === 'insn' ? c.guestExit.op : null);

export const vcpuGuards = {
  // ---- ioctls -------------------------------------------------------------------------------------
  'ioctl fails': ({ context, event }: Args) => event.type === 'ioctl' && !vcpuIoctl(context, event.name, event.arg, event.createdVcpus).ret.ok,
  'ioctl is': ({ event }: Args, p: { name: string }) => event.type === 'ioctl' && event.name === p.name,
  // ---- requests (vcpu_enter_guest) ----------------------------------------------------------------
  'triple fault requested': ({ context }: Args) => context.requests.tripleFault,
  'nested triple_fault op': ({ context }: Args) => context.features['nested-triple-fault-to-l1'],
  'in L2': ({ context }: Args) => context.guestMode === 'l2',
  'triple fault reflected to L1': ({ context }: Args) => tripleFaultReflected(context),
  /** L2's own triple fault: the hardware exit L0 reflects to L1 (nested_vmx_l1_wants_exit / nested_svm_exit_handled). */
  'SHUTDOWN exit reflected to L1': ({ context }: Args) => shutdownExitReflected(context),
  /** kvm_x86_vcpu_pre_run (2026): a triple fault pending in L2 before the nested VM entry completed. */
  'triple fault before nested run': ({ context }: Args) =>
    context.features['triple-fault-before-nested-run-exits'] && context.guestMode === 'l2' && context.nestedRunPending && context.requests.tripleFault,
  'SMI requested': ({ context }: Args) => context.requests.smi,
  // ---- events (inject_pending_event) --------------------------------------------------------------
  /** vcpu->arch.exception.pending (#UD) while in L2: check_events sees it before interrupts. */
  '#UD pending in L2': ({ context }: Args) => context.udPending && context.guestMode === 'l2',
  '#UD for L1 intercept': ({ context }: Args) => udForL1(context),
  '#UD pending': ({ context }: Args) => context.udPending,
  'IRQ for L1 intercept': ({ context }: Args) =>
    context.guestMode === 'l2' && context.pendingIrq !== null && context.program.l1InterceptsIrq,
  'nested_run_pending': ({ context }: Args) => context.nestedRunPending,
  'SMI deliverable': ({ context }: Args) => context.smiPending && !context.inSmm,
  'IRQ injectable': ({ context }: Args) => irqInjectable(context),
  // ---- MMU and VM entry ---------------------------------------------------------------------------
  'MMU root loaded': ({ context }: Args) => context.mmuLoaded,
  'tdp_level is 0': ({ context }: Args) => context.tdpLevel === 0,
  'host insn faulted without kvm_rebooting': ({ context }: Args) =>
    context.host !== null && (context.host.result === '#UD' || context.host.result === '#GP') && !context.host.rebooting,
  'VMRUN fault skipped': ({ context }: Args) => vmrunFaultSkipped(context),
  'VMX entry fault read as VM-Exit': ({ context }: Args) => vmxEntryFaultReadAsExit(context),
  'late nested VM-Fail': ({ context }: Args) => lateNestedVmFail(context),
  'VM entry failed': ({ context }: Args) => context.host !== null && context.host.result !== 'ok',
  'immediate exit requested': ({ context }: Args) => context.immediateExit,
  // ---- guest --------------------------------------------------------------------------------------
  'guest insn is': ({ context }: Args, p: { op: GuestInsn['op'] }) => currentInsn(context).op === p.op,
  'guest insn exits': ({ context }: Args) => exits(currentInsn(context)),
  // ---- exit handling ------------------------------------------------------------------------------
  'exit is': ({ context }: Args, p: { op: string }) => exitOp(context) === p.op,
  'host exit': ({ context }: Args) => context.guestExit?.kind === 'host',
  /** A physical INIT's VM exit (EXIT_REASON_INIT_SIGNAL, Intel), and what KVM does with it (hostInitExit). */
  'INIT signal exit': ({ context }: Args) => context.guestExit?.kind === 'host' && context.guestExit.reason === 'init',
  'INIT exit reflected to L1': ({ context }: Args) => hostInitExit(context) === 'reflect-to-l1',
  'nested entry allowed': ({ context }: Args) => nestedEntryAllowed(context, exitOp(context) ?? ''),
  'in SMM': ({ context }: Args) => context.inSmm,
  'SMRAM state loads': ({ context }: Args) => smramLoads(context),
  'RSM failure leaves nested': ({ context }: Args) => leavesNestedOnRsmFailure(context),
  'RSM failure triple faults': ({ context }: Args) => rsmFailureTripleFaults(context),
};

export type VcpuGuardName = keyof typeof vcpuGuards;
