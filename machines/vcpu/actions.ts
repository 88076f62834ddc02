/**
 * Actions of the vCPU chart. Context changes go through `assign` updaters built from the pure rules
 * of src/kvm/; what a step asks of the world outside the actor (ioctl returns, WARN, oops,
 * tracepoints, the guest's vsock driver, an injected interrupt) is a value (`VcpuEffect`) put in
 * the step's outbox through the port's one `out`, by plain actions that read the context as it is
 * when they run. One exception, as in the physical CPU chart: a host VMX/SVM instruction is
 * executed (`io.hostInsn`, the port's one synchronous call) inside the updater that records its
 * result, because it runs on the thread's physical CPU within this step and the result (ok, #UD,
 * VMfail) decides where the thread goes next; the chart may not send itself an event.
 */
import { assign } from 'xstate';
import type { HostInsn, VcpuContext } from '../../src/kvm/types.js';
import type { VcpuEvent, VcpuWorld } from './types.js';
import { ioctlOk, type KvmExitName } from '../../src/kvm/uapi.js';
import { vcpuFd, vcpuIoctl } from '../../src/kvm/ioctl.js';
import {
  completeUserspaceIo,
  countEmulation,
  currentInsn,
  executeInsn,
  vcpuLoadInsn,
  vmEntered,
  vmEntryInsn,
  vmrunSkipped,
  vmxFaultReadAsExit,
} from '../../src/kvm/guest.js';
import {
  EXIT_REASON_INIT_SIGNAL,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  unexpectedExitLines,
  emulationFailed,
  emulatorTripleFault,
  enterSmm,
  lateVmFailToL1,
  lateVmFailWarns,
  leaveNested,
  leaveSmm,
  loadSmram,
  nestedEntry,
  nestedExitName,
  nestedExitWarns,
  nestedVmexit,
  saveSmram,
  vendorEnterSmm,
  vmexitFunction,
  type NestedExitReason,
  type Step,
} from '../../src/kvm/nested.js';

type Args = { context: VcpuContext; event: VcpuEvent };
export type WorldOf = () => VcpuWorld;

function upd<P = undefined>(fn: (args: Args, params: P) => Partial<VcpuContext>) {
  return assign<VcpuContext, VcpuEvent, P, VcpuEvent, never>(fn);
}

/** Apply a rule's step: run its host instruction (if any) on this thread's CPU and record the result. */
function run(world: WorldOf, c: VcpuContext, step: Step): Partial<VcpuContext> {
  if (!step.host) return step.set;
  return { ...step.set, host: hostRecord(world, c, step.host) };
}

function hostRecord(world: WorldOf, c: VcpuContext, insn: HostInsn): VcpuContext['host'] {
  const w = world();
  const result = w.io.hostInsn(c.id, insn);
  return { insn: insn.insn, result, rebooting: w.k.state.kvm_rebooting };
}

function where(c: VcpuContext): Record<string, number | string | boolean | null> {
  return { rip: c.rip, guestMode: c.guestMode, inSmm: c.inSmm, nestedRunPending: c.nestedRunPending };
}

export function makeVcpuActions(world: WorldOf) {
  return {
    // ---- ioctls -----------------------------------------------------------------------------------
    'apply ioctl': upd(({ context, event }) => (event.type === 'ioctl' ? vcpuIoctl(context, event.name, event.arg, event.createdVcpus).set : {})),
    'return ioctl': ({ context, event }: Args) => {
      if (event.type !== 'ioctl') return;
      const value = event.name === 'KVM_CREATE_VCPU' ? vcpuFd(context.vcpuId) : 0;
      world().io.out({ kind: 'return', vcpu: context.id, name: event.name, ret: ioctlOk(value), exit: null, device: null });
    },
    'return ioctl error': ({ context, event }: Args) => {
      if (event.type !== 'ioctl') return;
      world().io.out({ kind: 'return', vcpu: context.id, name: event.name, ret: vcpuIoctl(context, event.name, event.arg, event.createdVcpus).ret, exit: null, device: null });
    },
    // ---- KVM_RUN entry and exit -------------------------------------------------------------------
    vcpu_load: upd(({ context }) => {
      const insn = vcpuLoadInsn(context);
      return { exitReason: null, ...(insn ? { host: hostRecord(world, context, insn) } : { host: null }) };
    }),
    complete_userspace_io: upd(({ context }) => completeUserspaceIo(context)),
    'exit to userspace': upd(({ context }, p: { reason: KvmExitName; device?: 'vsock' }) => {
      const set: Partial<VcpuContext> = { exitReason: p.reason, guestExit: null, immediateExit: false, mmioDevice: p.device ?? null };
      if (p.reason === 'SHUTDOWN') {
        // vcpu->mmio_needed = 0; the request is consumed.
        return { ...set, completion: null, requests: { ...context.requests, tripleFault: false }, rsmTripleFault: false };
      }
      if (p.reason === 'MMIO') return { ...set, completion: 'mmio' };
      if (p.reason === 'IO') return { ...set, completion: 'io' };
      // kvm_emulate_halt(): kvm_skip_emulated_instruction() before the exit.
      if (p.reason === 'HLT') return { ...set, rip: context.rip + 1 };
      return set;
    }),
    'return from KVM_RUN': ({ context }: Args) => {
      const { io } = world();
      io.out({ kind: 'kvm event', vcpu: context.id, what: 'kvm_userspace_exit', data: { reason: context.exitReason, ...where(context) } });
      const device = context.exitReason === 'MMIO' ? context.mmioDevice : null;
      io.out({ kind: 'return', vcpu: context.id, name: 'KVM_RUN', ret: ioctlOk(0), exit: context.exitReason, device });
    },
    /** A tracepoint; `reason`: the VMX/SVM exit reason it shows, where the model knows it (kvm_exit). */
    trace: ({ context }: Args, p: { what: string; reason?: string }) =>
      world().io.out({ kind: 'kvm event', vcpu: context.id, what: p.what, data: p.reason ? { reason: p.reason, ...where(context) } : where(context) }),
    // ---- requests and events ----------------------------------------------------------------------
    process_smi: upd(({ context }) => ({ requests: { ...context.requests, smi: false }, smiPending: true })),
    'request immediate exit': upd(() => ({ immediateExit: true })),
    'inject IRQ': upd(({ context }) => {
      world().io.out({ kind: 'injected', vcpu: context.id, vector: context.pendingIrq ?? -1 });
      const [next = null, ...rest] = context.moreIrqs;
      return { pendingIrq: next, moreIrqs: rest, injected: [...context.injected, { vector: context.pendingIrq ?? -1, into: context.guestMode }] };
    }),
    /**
     * kvm_set_irq from an irqfd: the interrupt is pending until the next injection point. A vector
     * already pending stays (the IRR holds one bit per vector); another one waits behind it.
     */
    'raise IRQ': upd(({ context, event }) => {
      if (event.type !== 'irq' || context.thread !== 'alive') return {};
      if (context.pendingIrq === null) return { pendingIrq: event.vector };
      if (context.pendingIrq === event.vector || context.moreIrqs.includes(event.vector)) return {};
      return { moreIrqs: [...context.moreIrqs, event.vector] };
    }),
    /** Another interrupt still pending: enable_irq_window, so the guest exits as soon as it can take it (at once: IF is set). */
    'open IRQ window': upd(({ context }) => (context.pendingIrq !== null ? { immediateExit: true } : {})),
    'notify vsock': ({ context }: Args) => world().io.out({ kind: 'vsock', vcpu: context.id, what: 'send' }),
    'vsock driver ready': ({ context }: Args) => world().io.out({ kind: 'vsock', vcpu: context.id, what: 'ready' }),
    'trace IRQ injection': ({ context }: Args) =>
      world().io.out({ kind: 'kvm event', vcpu: context.id, what: 'kvm_inj_virq', data: { vector: context.pendingIrq, ...where(context) } }),
    // ---- nested VM exit / entry -------------------------------------------------------------------
    'WARN if nested_run_pending': ({ context }: Args, p: { reason: NestedExitReason }) => {
      if (!nestedExitWarns(context, p.reason)) return;
      const fn = vmexitFunction(context);
      const file = context.vendor === 'intel' ? 'arch/x86/kvm/vmx/nested.c' : 'arch/x86/kvm/svm/nested.c';
      world().io.out({ kind: 'kvm warn', vcpu: context.id, where: fn, message: `WARNING: CPU: ${context.pcpu} PID: 0 at ${file} ${fn}` });
    },
    'trace nested vmexit': ({ context }: Args, p: { reason: NestedExitReason }) => {
      const name = nestedExitName(context, p.reason);
      if (!name) return;
      const data = { reason: name.name, code: name.code, ...where(context) };
      world().io.out({ kind: 'kvm event', vcpu: context.id, what: 'kvm_nested_vmexit_inject', data });
    },
    'nested VM exit': upd(({ context }, p: { reason: NestedExitReason }) => {
      const set = run(world, context, nestedVmexit(context, p.reason));
      // nested_vmx_triple_fault / nested_svm_triple_fault: kvm_clear_request(KVM_REQ_TRIPLE_FAULT) first.
      if (p.reason === 'TRIPLE_FAULT') return { ...set, requests: { ...context.requests, tripleFault: false }, rsmTripleFault: false, guestExit: null };
      // nested_vmx_vmexit / nested_svm_vmexit: the exception went to L1 (kvm_clear_exception_queue).
      if (p.reason === 'EXCEPTION_UD') return { ...set, udPending: false, guestExit: null };
      return { ...set, guestExit: null };
    }),
    /** nested_vmx_vmexit()'s VM-Fail branch: its WARN_ON_ONCE on VM_INSTRUCTION_ERROR, read before the VMCS switch. */
    'WARN if late VM-Fail error unexpected': ({ context }: Args) => {
      if (!lateVmFailWarns(context)) return;
      const message = `WARNING: CPU: ${context.pcpu} PID: 0 at arch/x86/kvm/vmx/nested.c nested_vmx_vmexit`;
      world().io.out({ kind: 'kvm warn', vcpu: context.id, where: 'nested_vmx_vmexit', message });
    },
    'late nested VM-Fail': upd(({ context }) => run(world, context, lateVmFailToL1(context))),
    'nested VM entry': upd(({ context }) => ({ ...run(world, context, nestedEntry(context)), guestExit: null })),
    // ---- SMM ------------------------------------------------------------------------------------
    'enter_smm: save state': upd(({ context }) => saveSmram(context)),
    'vendor enter_smm': upd(({ context }) => run(world, context, vendorEnterSmm(context))),
    'enter SMM': upd(() => enterSmm()),
    'leave SMM': upd(({ context }) => ({ ...run(world, context, leaveSmm(context)), guestExit: null })),
    rsm_load_state: upd(({ context }) => loadSmram(context)),
    kvm_leave_nested: upd(({ context }) => run(world, context, leaveNested(context))),
    'emulator triple fault': upd(({ context }) => emulatorTripleFault(context)),
    'emulation failed': upd(() => emulationFailed()),
    // ---- MMU, VM entry, guest ---------------------------------------------------------------------
    kvm_mmu_load: upd(() => ({ mmuLoaded: true })),
    'VM entry': upd(({ context }) => ({ host: hostRecord(world, context, vmEntryInsn(context)) })),
    'VM entry succeeded': upd(({ context }) => vmEntered(context)),
    'VMRUN skipped': upd(({ context }) => vmrunSkipped(context)),
    'VMX fault read as VM-Exit': upd(({ context }) => vmxFaultReadAsExit(context)),
    'execute guest insn': upd(({ context }) => executeInsn(context)),
    vmexit: ({ context }: Args) => {
      world().io.hostInsn(context.id, { insn: 'vmexit', why: currentInsn(context).op });
    },
    'immediate VM exit': ({ context }: Args) => {
      world().io.hostInsn(context.id, { insn: 'vmexit', why: 'immediate-exit' });
    },
    'record guest exit': upd(({ context }) => ({ guestExit: { kind: 'insn', op: currentInsn(context).op } })),
    'record host exit': upd(({ event }) => (event.type === 'host.exit' ? { guestExit: { kind: 'host', reason: event.reason } } : {})),
    'handle host exit': upd(() => ({ guestExit: null, immediateExit: false })),
    /** __vmx_handle_exit()'s `unexpected_vmexit` for exit reason 3: vcpu_unimpl and dump_vmcs, in the era's order (unexpectedExitLines). */
    'report unexpected exit': ({ context }: Args) => {
      for (const text of unexpectedExitLines(context, EXIT_REASON_INIT_SIGNAL)) world().io.out({ kind: 'kvm printk', vcpu: context.id, text });
    },
    /** What KVM put in run->internal for KVM_EXIT_INTERNAL_ERROR (not a tracepoint: the struct kvm_run the VMM reads). */
    'record internal error': ({ context }: Args) => {
      const data = { suberror: 'KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON', code: KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON, data0: EXIT_REASON_INIT_SIGNAL, ...where(context) };
      world().io.out({ kind: 'kvm event', vcpu: context.id, what: 'kvm_run internal', data });
    },
    emulate: upd(({ context }) => countEmulation(context)),
    'inject #UD': upd(() => ({ guestStuck: true, guestExit: null })),
    /** inject_pending_event(): the queued #UD is delivered (kvm_x86_ops.queue_exception) to the current level. */
    'inject pending #UD': upd(() => ({ udPending: false, guestStuck: true })),
    // ---- the thread dies --------------------------------------------------------------------------
    oops: ({ context }: Args, p: { bug: 'mmu' | 'spurious' }) => {
      const w = world();
      const n = w.k.nextDieCount(context.pcpu);
      const lines =
        p.bug === 'mmu'
          ? [
              // mmu_alloc_direct_roots(): shadow_root_level is neither >= PT64_ROOT_4LEVEL nor PT32E_ROOT_LEVEL.
              'kernel BUG at arch/x86/kvm/mmu/mmu.c:3722!',
              `invalid opcode: 0000 [#${n}] PREEMPT SMP KASAN`,
              `CPU: ${context.pcpu} PID: 0 Comm: vmm`,
              'RIP: 0010:kvm_mmu_load',
              'Call Trace:',
              ' kvm_mmu_reload',
              ' vcpu_enter_guest',
              ' kvm_arch_vcpu_ioctl_run',
              ' kvm_vcpu_ioctl',
            ]
          : [
              // vmenter.S fixup: a fault on VMLAUNCH/VMRESUME/VMRUN (or a VMX instruction) with kvm_rebooting == 0.
              'kernel BUG at arch/x86/kvm/x86.c! (kvm_spurious_fault)',
              `invalid opcode: 0000 [#${n}] SMP`,
              `CPU: ${context.pcpu} PID: 0 Comm: vmm`,
              'RIP: 0010:kvm_spurious_fault',
              'Call Trace:',
              context.vendor === 'intel' ? ' vmx_vcpu_run' : ' svm_vcpu_run',
              ' vcpu_enter_guest',
              ' kvm_arch_vcpu_ioctl_run',
              ' kvm_vcpu_ioctl',
            ];
      w.io.out({ kind: 'kvm oops', vcpu: context.id, lines });
      // The thread dies in its ioctl: the VMM thread never sees it return.
      w.io.out({ kind: 'died', vcpu: context.id });
    },
    'thread dies': upd(() => ({ thread: 'dead' as const })),
  };
}
