/**
 * A KVM vCPU (docs/model.md §4): the vCPU fd, the thread that issues KVM_RUN on it, and the guest it
 * runs (L1, an L2 nested inside it, and SMM emulated in L1's context).
 *
 * `absent` until KVM_CREATE_VCPU; `userspace` between ioctls; `run` is KVM_RUN in the kernel, one
 * program point per state of kvm_arch_vcpu_ioctl_run → vcpu_run → vcpu_enter_guest, and `guest`
 * executes one guest instruction per step. The scheduler steps the thread with `sched.vcpu`; the
 * states where the thread waits (no fd, back in userspace, guest spinning, the AMD VMRUN loop of a
 * reboot, dead) are tagged 'blocked' and do not accept it. What each step does is a rule of src/kvm/.
 */
import { and, not, setup } from 'xstate';
import { chartDsl, withOn, type ActionRef, type StateConfig, type Transition, type TypesOf } from './physical-cpu/dsl.js';
import type { VcpuContext, VcpuInput } from './../src/kvm/types.js';
import type { VcpuEvent, VcpuWorld } from './vcpu/types.js';
import { vcpuGuards } from './vcpu/guards.js';
import { makeVcpuActions } from './vcpu/actions.js';
import { initialVcpuContext } from '../src/kvm/ioctl.js';
import type { KvmExitName } from '../src/kvm/uapi.js';
import type { NestedExitReason } from '../src/kvm/nested.js';

export type { GuestProgram, GuestInsn, VcpuInput, VcpuContext, HostInsn, HostInsnResult } from '../src/kvm/types.js';
export type { VcpuEffect, VcpuEvent, VcpuGuestEffect, VcpuPort, VcpuRecordEffect, VcpuWorld } from './vcpu/types.js';

/** The guard and action implementations bound to one world (the simulator's memory and port). */
export function vcpuImplementations(world: () => VcpuWorld) {
  return { guards: vcpuGuards, actions: makeVcpuActions(world) };
}

function noWorld(): VcpuWorld {
  throw new Error('the vCPU machine needs a world: provide vcpuImplementations(() => world)');
}

const vcpuSetup = setup({
  types: { context: {} as VcpuContext, events: {} as VcpuEvent, input: {} as VcpuInput },
  ...vcpuImplementations(noWorld),
});

export type VcpuTypes = TypesOf<typeof vcpuSetup>;
type VcpuAction = ActionRef<VcpuTypes>;
/** A way out of KVM_RUN whose actions other branches extend. */
type Exit = { to: string; do: VcpuAction[] };

const STEP = 'sched.vcpu';
const { guard: g, action: a, op, decide, route, blocked, done } = chartDsl<VcpuTypes, 'vcpu'>(() => STEP);
const toUser = (reason: KvmExitName): Exit => ({
  to: '#vcpu.userspace',
  do: [a('exit to userspace', { reason }), 'return from KVM_RUN'],
});
const nestedExit = (reason: NestedExitReason): VcpuAction[] => [
  a('WARN if nested_run_pending', { reason }),
  a('trace nested vmexit', { reason }),
  a('nested VM exit', { reason }),
];
/** handle_emulation_failure() (≤ v5.13 for a failed RSM): trace_kvm_emulate_insn_failed, #UD queued. */
const EMULATION_FAILED: VcpuAction[] = ['emulation failed', a('trace', { what: 'kvm_emulate_insn_failed' })];
const CANCEL_ENTRY: Transition<VcpuTypes> = { target: 'requests', actions: ['raise IRQ', a('trace', { what: 'entry cancelled: KVM_REQ_EVENT' })] };
const oops = (bug: 'mmu' | 'spurious'): Exit => ({ to: '#vcpu.dead', do: [a('oops', { bug }), 'thread dies'] });

const run: StateConfig<VcpuTypes> = {
  description: 'KVM_RUN: kvm_arch_vcpu_ioctl_run → vcpu_run → vcpu_enter_guest',
  initial: 'load',
  // A VMX/SVM instruction that faulted while kvm_rebooting was clear: kvm_spurious_fault() BUGs.
  ...route([{ if: 'host insn faulted without kvm_rebooting', ...oops('spurious') }]),
  states: {
    load: op('vcpu', 'preRun', 'vcpu_load', 'vcpu_load(): VMPTRLD of the current VMCS (Intel)'),
    preRun: decide('vcpu', [{ if: 'triple fault before nested run', ...toUser('SHUTDOWN') }, { to: 'completeIo' }], 'kvm_x86_vcpu_pre_run()'),
    completeIo: op('vcpu', 'requests', 'complete_userspace_io', 'arch.complete_userspace_io(): finish the MMIO/PIO instruction in the register cache'),
    requests: decide(
      'vcpu',
      [
        // ≤5.11: the request always means KVM_EXIT_SHUTDOWN, in L2 too.
        { if: and(['triple fault requested', not('nested triple_fault op')]), ...toUser('SHUTDOWN') },
        // ≥5.12: nested_ops->triple_fault first; then `goto out` with r = 1: vcpu_run loops.
        { if: and(['triple fault requested', 'in L2', 'triple fault reflected to L1']), to: 'requests', do: nestedExit('TRIPLE_FAULT') },
        { if: 'triple fault requested', ...toUser('SHUTDOWN') },
        { if: 'SMI requested', to: 'nestedEvents', do: 'process_smi' },
        { to: 'nestedEvents' },
      ],
      'vcpu_enter_guest(): kvm_request_pending() — KVM_REQ_TRIPLE_FAULT, KVM_REQ_SMI',
    ),
    nestedEvents: decide(
      'vcpu',
      [
        // A pending exception first: -EBUSY while nested_run_pending (intercepted or not), else a nested
        // exception exit if L1 intercepts #UD (nested_vmx_check_exception / nested_exit_on_exception).
        { if: and(['#UD pending in L2', 'nested_run_pending']), to: 'mmu', do: 'request immediate exit' },
        { if: '#UD for L1 intercept', to: 'inject', do: nestedExit('EXCEPTION_UD') },
        // vmx/svm check_events: -EBUSY while nested_run_pending; the event waits for an immediate exit.
        { if: and(['IRQ for L1 intercept', 'nested_run_pending']), to: 'mmu', do: 'request immediate exit' },
        { if: 'IRQ for L1 intercept', to: 'inject', do: nestedExit('EXTERNAL_INTERRUPT') },
        { to: 'inject' },
      ],
      'inject_pending_event(): kvm_check_nested_events() in guest mode',
    ),
    inject: decide(
      'vcpu',
      [
        // A pending exception is injected before anything else; SMI and IRQ wait for the next entry.
        { if: '#UD pending', to: 'mmu', do: ['inject pending #UD', a('trace', { what: 'kvm_inj_exception' })] },
        // *_smi_allowed(): -EBUSY while nested_run_pending ("we need a nested vmexit to enter SMM").
        { if: and(['SMI deliverable', 'nested_run_pending']), to: 'mmu', do: 'request immediate exit' },
        { if: 'SMI deliverable', to: 'enterSmm', do: 'enter_smm: save state' },
        { if: 'IRQ injectable', to: 'mmu', do: ['trace IRQ injection', 'inject IRQ', 'open IRQ window'] },
        { to: 'mmu' },
      ],
      'inject_pending_event(): a pending exception, then SMI, then IRQ',
    ),
    enterSmm: {
      description: 'enter_smm(): vendor enter_smm (from L2: synthetic nested VM exit), then SMM in L1 context',
      initial: 'vendor',
      states: {
        vendor: decide('vcpu', [
          // vendor enter_smm performs the synthetic exit itself; WARN and trace read the state before it.
          { if: 'in L2', to: 'smm', do: [...nestedExit('SMM').slice(0, 2), 'vendor enter_smm'] },
          { to: 'smm', do: 'vendor enter_smm' },
        ]),
        smm: op('vcpu', 'done', ['enter SMM', a('trace', { what: 'kvm_enter_smm' })]),
        done,
      },
      onDone: 'mmu',
    },
    mmu: withOn(
      decide(
        'vcpu',
        [{ if: 'MMU root loaded', to: 'enter' }, { if: 'tdp_level is 0', ...oops('mmu') }, { to: 'enter', do: 'kvm_mmu_load' }],
        'kvm_mmu_reload(): kvm_mmu_load() when the root is invalid',
      ),
      // Past inject_pending_event: kvm_set_irq's KVM_REQ_EVENT is seen by kvm_vcpu_exit_request()
      // after vcpu->mode = IN_GUEST_MODE: the entry is cancelled (cancel_injection) and
      // vcpu_enter_guest runs again from its requests, where the interrupt is injected.
      { irq: CANCEL_ENTRY },
    ),
    enter: withOn(op('vcpu', 'entered', 'VM entry', 'vmx_vcpu_run / svm_vcpu_run: VMLAUNCH, VMRESUME or VMRUN'), { irq: CANCEL_ENTRY }),
    entered: route([
      { if: 'host insn faulted without kvm_rebooting', ...oops('spurious') },
      // SVM: __svm_vcpu_run's fixup jumps past the VMRUN that faulted with kvm_rebooting set, as if the
      // guest had exited: no SVM_EXIT_ERR, so svm_handle_exit() handles the previous exit code.
      { if: 'VMRUN fault skipped', to: 'staleExit', do: 'VMRUN skipped' },
      // VMX before the flatten (v5.19): vmx_vmenter's fixup returns with CF=ZF=0, a "VM-Exit" whose
      // VM_EXIT_REASON VMREAD faults to 0 (EXCEPTION_NMI): trace_kvm_exit(0), then exceptionExit.
      {
        if: 'VMX entry fault read as VM-Exit',
        to: 'exceptionExit',
        do: ['VMX fault read as VM-Exit', a('trace', { what: 'kvm_exit', reason: 'EXCEPTION_NMI' })],
      },
      // VMX from v5.19: vmenter.S .Lfixup turns a fault with kvm_rebooting set into VM-Fail. In L2
      // a VM-Fail goes to L1 first (nested_vmx_reflect_vmexit); in L1 it, and an SVM SVM_EXIT_ERR,
      // is KVM_EXIT_FAIL_ENTRY.
      { if: 'late nested VM-Fail', to: 'lateVmFail' },
      { if: 'VM entry failed', ...toUser('FAIL_ENTRY') },
      // req_immediate_exit: the VMX preemption timer at 0 (SVM: a self-IPI) exits right after the entry.
      { if: 'immediate exit requested', to: 'hostExit', do: ['VM entry succeeded', a('trace', { what: 'kvm_entry' }), 'immediate VM exit'] },
      { to: 'guest', do: ['VM entry succeeded', a('trace', { what: 'kvm_entry' })] },
    ]),
    guest: withOn(
      decide(
        'vcpu',
        [
          { if: g('guest insn is', { op: 'spin' }), to: 'spinning' },
          { if: g('guest insn is', { op: 'vsock-send' }), to: 'guest', do: ['notify vsock', 'execute guest insn'] },
          { if: 'guest insn exits', to: 'exit', do: ['vmexit', 'record guest exit', a('trace', { what: 'kvm_exit' })] },
          { to: 'guest', do: 'execute guest insn' },
        ],
        'guest mode: one guest instruction per step',
      ),
      { 'host.exit': { target: 'hostExit', actions: 'record host exit' } },
    ),
    spinning: blocked('the guest runs without exiting until the host interrupts the CPU', {
      'host.exit': { target: 'hostExit', actions: 'record host exit' },
    }),
    hostExit: decide(
      'vcpu',
      [
        // A physical INIT (Intel, exit reason 3). From L2: nested_vmx_reflect_vmexit() gives it to L1
        // (nested_vmx_l1_wants_exit's default) and vcpu_run() goes on. From L1: no handler in
        // kvm_vmx_exit_handlers[], `unexpected_vmexit`: KVM_EXIT_INTERNAL_ERROR (docs/model.md §4.6).
        {
          if: and(['INIT signal exit', 'INIT exit reflected to L1']),
          to: 'requests',
          do: ['handle host exit', a('trace', { what: 'kvm_exit', reason: 'INIT_SIGNAL' }), ...nestedExit('INIT_SIGNAL')],
        },
        {
          if: 'INIT signal exit',
          to: '#vcpu.userspace',
          do: ['handle host exit', a('trace', { what: 'kvm_exit', reason: 'INIT_SIGNAL' }), 'report unexpected exit', 'record internal error', ...toUser('INTERNAL_ERROR').do],
        },
        { to: 'requests', do: ['handle host exit', a('trace', { what: 'kvm_exit' })] },
      ],
      'handle_exception_nmi / handle_external_interrupt: the host handler already ran; EXIT_REASON_INIT_SIGNAL has no handler',
    ),
    // IRQs are on again before vmx_handle_exit(). Exit reason 0 with VM_EXIT_INTR_INFO 0 (its VMREAD
    // faults as well): handle_exception_nmi_irqoff() finds no #PF, #MC or NMI; from L2,
    // nested_vmx_reflect_vmexit() keeps it (vector 0, #DE, not in L1's exception bitmap: §11); and
    // handle_exception_nmi() finds no #MC/NMI/#UD/#GP/#PF, vector 0 goes to its default case.
    exceptionExit: op(
      'vcpu',
      '#vcpu.userspace',
      toUser('EXCEPTION').do,
      'vmx_handle_exit() → handle_exception_nmi(): intr_info 0 is vector 0 (#DE), the default case: KVM_EXIT_EXCEPTION',
    ),
    // vmx_handle_exit() with IRQs on: in guest mode the VM-Fail is reflected to L1, which then VM-Fails
    // at its VMLAUNCH/VMRESUME; vcpu_run() goes round again (the next entry is vmcs01's).
    lateVmFail: op(
      'vcpu',
      'requests',
      [a('trace', { what: 'kvm_nested_vmenter_failed' }), 'WARN if late VM-Fail error unexpected', 'late nested VM-Fail'],
      'nested_vmx_reflect_vmexit(): a late nested VM-Fail, nested_vmx_vmexit() back to L1 after its VMLAUNCH/VMRESUME',
    ),
    // The exit code in the VMCB is stale: the last #VMEXIT's. Its handler runs again; the model takes
    // it as returning 1 (docs/model.md §2.3, §11): vcpu_run() loops back into VMRUN.
    staleExit: op(
      'vcpu',
      'vmrunLoop',
      a('trace', { what: 'kvm_exit' }),
      'svm_handle_exit(): svm->vmcb->control.exit_code of the previous #VMEXIT; its handler returns 1',
    ),
    // Every later turn (requests, VMRUN, fault skipped, the same stale exit) changes nothing: the thread
    // spins inside KVM_RUN as a guest that never exits does (`spinning`), with interrupts let in between
    // turns, until the stop IPI halts its CPU, the reset, or a signal (KVM_EXIT_INTR, not modelled).
    vmrunLoop: blocked('vcpu_run() loops: VMRUN faults with kvm_rebooting set and is skipped, the stale exit is handled again'),
    exit: decide(
      'vcpu',
      [
        { if: g('exit is', { op: 'mmio' }), to: '#vcpu.userspace', do: ['emulate', a('trace', { what: 'emulate' }), ...toUser('MMIO').do] },
        { if: g('exit is', { op: 'io' }), to: '#vcpu.userspace', do: ['emulate', ...toUser('IO').do] },
        // DRIVER_OK to the vsock device's status register: the VMM starts vhost (docs/model.md §5.6 step 2).
        {
          if: g('exit is', { op: 'vsock-ready' }),
          to: '#vcpu.userspace',
          do: ['vsock driver ready', a('exit to userspace', { reason: 'MMIO', device: 'vsock' }), 'return from KVM_RUN'],
        },
        { if: g('exit is', { op: 'hlt' }), ...toUser('HLT') },
        // A triple fault in L2: nVMX always reflects it; nSVM if vmcb12 intercepts SHUTDOWN.
        { if: and([g('exit is', { op: 'triple-fault' }), 'in L2', 'SHUTDOWN exit reflected to L1']), to: 'requests', do: nestedExit('TRIPLE_FAULT') },
        { if: g('exit is', { op: 'triple-fault' }), ...toUser('SHUTDOWN') },
        { if: 'nested entry allowed', to: 'requests', do: ['nested VM entry', a('trace', { what: 'kvm_nested_vmenter' })] },
        { if: and([g('exit is', { op: 'rsm' }), 'in SMM']), to: 'rsm' },
        // em_rsm outside SMM, or a VMX/SVM instruction KVM refuses: #UD into the guest.
        { to: 'requests', do: ['inject #UD', a('trace', { what: 'kvm_inj_exception' })] },
      ],
      'the exit handler for the guest instruction',
    ),
    rsm: {
      description: 'em_rsm → emulator_leave_smm',
      initial: 'leave',
      states: {
        leave: op('vcpu', 'load', ['leave SMM', a('trace', { what: 'kvm_leave_smm' })]),
        load: decide(
          'vcpu',
          [
            { if: 'SMRAM state loads', to: 'done', do: 'rsm_load_state' },
            // ≥ v5.14 (25b17226cd9a): the emulator's triple fault, after kvm_leave_nested (3f6821aa147b).
            { if: and(['RSM failure leaves nested', 'RSM failure triple faults']), to: 'done', do: ['kvm_leave_nested', 'emulator triple fault'] },
            { if: 'RSM failure triple faults', to: 'done', do: 'emulator triple fault' },
            // ≤ v5.13: X86EMUL_UNHANDLEABLE → handle_emulation_failure(): out of guest mode (CPL 0 after
            // the failed RSM), KVM_EXIT_INTERNAL_ERROR; in L2, back into the guest with the #UD pending.
            { if: 'RSM failure leaves nested', to: '#vcpu.userspace', do: ['kvm_leave_nested', ...EMULATION_FAILED, ...toUser('INTERNAL_ERROR').do] },
            { if: 'in L2', to: 'done', do: EMULATION_FAILED },
            { to: '#vcpu.userspace', do: [...EMULATION_FAILED, ...toUser('INTERNAL_ERROR').do] },
          ],
          'rsm_load_state_64(): CR0/CR3/CR4/EFER/segments from SMRAM; em_rsm on failure',
        ),
        done,
      },
      onDone: 'requests',
    },
  },
};

export const vcpuMachine = vcpuSetup.createMachine({
  id: 'vcpu',
  initial: 'absent',
  on: { irq: { actions: 'raise IRQ' } },
  context: ({ input }: { input: VcpuInput }): VcpuContext => initialVcpuContext(input),
  states: {
    absent: blocked('no vCPU fd yet', {
      ioctl: [
        { guard: 'ioctl fails', actions: 'return ioctl error' },
        { target: 'userspace', actions: ['apply ioctl', 'return ioctl'] },
      ],
    }),
    userspace: blocked('the thread is in the VMM, between ioctls', {
      ioctl: [
        { guard: 'ioctl fails', actions: 'return ioctl error' },
        { guard: g('ioctl is', { name: 'KVM_RUN' }), target: 'run' },
        { actions: ['apply ioctl', 'return ioctl'] },
      ],
    }),
    run,
    dead: blocked('the thread oopsed inside KVM_RUN'),
  },
});

export type VcpuMachine = typeof vcpuMachine;

