/**
 * A KVM vCPU (docs/model.md §4): the vCPU fd, the thread that issues KVM_RUN on it, and the guest it
 * runs (L1, an L2 nested inside it, and SMM emulated in L1's context).
 *
 * `absent` until KVM_CREATE_VCPU; `userspace` between ioctls; `run` is KVM_RUN in the kernel, one
 * program point per state of kvm_arch_vcpu_ioctl_run → vcpu_run → vcpu_enter_guest, and `guest`
 * executes one guest instruction per step. The scheduler steps the thread with `sched.vcpu`; the
 * states where the thread waits (no fd, back in userspace, guest spinning, dead) are tagged
 * 'blocked' and do not accept it. What each step does is a rule of src/kvm/.
 */
import { and, not, setup } from 'xstate';
import { chartDsl, type ActionRef, type StateConfig, type Transition, type TypesOf } from './physical-cpu/dsl.js';
import type { VcpuContext, VcpuInput } from './../src/kvm/types.js';
import type { VcpuEvent, VcpuWorld } from './vcpu/types.js';
import { vcpuGuards } from './vcpu/guards.js';
import { makeVcpuActions } from './vcpu/actions.js';
import { initialVcpuContext } from '../src/kvm/ioctl.js';
import type { KvmExitName } from '../src/kvm/uapi.js';
import type { NestedExitReason } from '../src/kvm/nested.js';

export type { GuestProgram, GuestInsn, VcpuInput, VcpuContext, HostInsn, HostInsnResult } from '../src/kvm/types.js';
export type { VcpuEvent, VcpuPort, VcpuWorld } from './vcpu/types.js';

function noWorld(): VcpuWorld {
  throw new Error('the vCPU machine needs a world: provide vcpuImplementations(() => world)');
}

const vcpuSetup = setup({
  types: { context: {} as VcpuContext, events: {} as VcpuEvent, input: {} as VcpuInput },
  guards: vcpuGuards,
  actions: makeVcpuActions(noWorld),
});

export type VcpuTypes = TypesOf<typeof vcpuSetup>;
type VcpuState = StateConfig<VcpuTypes>;
type VcpuAction = ActionRef<VcpuTypes>;
/** A transition out of KVM_RUN whose actions other transitions extend. */
type Exit = { target: string; actions: VcpuAction[] };

const STEP = 'sched.vcpu';
const { guard: g, action: a } = chartDsl<VcpuTypes, 'vcpu'>(() => STEP);
const toUser = (reason: KvmExitName): Exit => ({
  target: '#vcpu.userspace',
  actions: [a('exit to userspace', { reason }), 'return from KVM_RUN'],
});
const nestedExit = (reason: NestedExitReason): VcpuAction[] => [
  a('WARN if nested_run_pending', { reason }),
  a('trace nested vmexit', { reason }),
  a('nested VM exit', { reason }),
];
const CANCEL_ENTRY: Transition<VcpuTypes> = { target: 'requests', actions: ['raise IRQ', a('trace', { what: 'entry cancelled: KVM_REQ_EVENT' })] };
const oops = (bug: 'mmu' | 'spurious'): Exit => ({ target: '#vcpu.dead', actions: [a('oops', { bug }), 'thread dies'] });

const run: VcpuState = {
  description: 'KVM_RUN: kvm_arch_vcpu_ioctl_run → vcpu_run → vcpu_enter_guest',
  initial: 'load',
  // A VMX/SVM instruction that faulted while kvm_rebooting was clear: kvm_spurious_fault() BUGs.
  always: { guard: 'host insn faulted without kvm_rebooting', ...oops('spurious') },
  states: {
    load: { description: 'vcpu_load(): VMPTRLD of the current VMCS (Intel)', on: { [STEP]: { target: 'preRun', actions: 'vcpu_load' } } },
    preRun: {
      description: 'kvm_x86_vcpu_pre_run()',
      on: {
        [STEP]: [
          { guard: 'triple fault before nested run', ...toUser('SHUTDOWN') },
          { target: 'completeIo' },
        ],
      },
    },
    completeIo: {
      description: 'arch.complete_userspace_io(): finish the MMIO/PIO instruction in the register cache',
      on: { [STEP]: { target: 'requests', actions: 'complete_userspace_io' } },
    },
    requests: {
      description: 'vcpu_enter_guest(): kvm_request_pending() — KVM_REQ_TRIPLE_FAULT, KVM_REQ_SMI',
      on: {
        [STEP]: [
          // ≤5.11: the request always means KVM_EXIT_SHUTDOWN, in L2 too.
          { guard: and(['triple fault requested', not('nested triple_fault op')]), ...toUser('SHUTDOWN') },
          // ≥5.12: nested_ops->triple_fault first; then `goto out` with r = 1: vcpu_run loops.
          {
            guard: and(['triple fault requested', 'in L2', 'triple fault reflected to L1']),
            target: 'requests',
            actions: nestedExit('TRIPLE_FAULT'),
          },
          { guard: 'triple fault requested', ...toUser('SHUTDOWN') },
          { guard: 'SMI requested', target: 'nestedEvents', actions: 'process_smi' },
          { target: 'nestedEvents' },
        ],
      },
    },
    nestedEvents: {
      description: 'inject_pending_event(): kvm_check_nested_events() in guest mode',
      on: {
        [STEP]: [
          // vmx/svm check_events: -EBUSY while nested_run_pending; the event waits for an immediate exit.
          { guard: and(['IRQ for L1 intercept', 'nested_run_pending']), target: 'mmu', actions: 'request immediate exit' },
          { guard: 'IRQ for L1 intercept', target: 'inject', actions: nestedExit('EXTERNAL_INTERRUPT') },
          { target: 'inject' },
        ],
      },
    },
    inject: {
      description: 'inject_pending_event(): SMI, then IRQ',
      on: {
        [STEP]: [
          // *_smi_allowed(): -EBUSY while nested_run_pending ("we need a nested vmexit to enter SMM").
          { guard: and(['SMI deliverable', 'nested_run_pending']), target: 'mmu', actions: 'request immediate exit' },
          { guard: 'SMI deliverable', target: 'enterSmm', actions: 'enter_smm: save state' },
          { guard: 'IRQ injectable', target: 'mmu', actions: ['trace IRQ injection', 'inject IRQ', 'open IRQ window'] },
          { target: 'mmu' },
        ],
      },
    },
    enterSmm: {
      description: 'enter_smm(): vendor enter_smm (from L2: synthetic nested VM exit), then SMM in L1 context',
      initial: 'vendor',
      states: {
        vendor: {
          on: {
            [STEP]: [
              // vendor enter_smm performs the synthetic exit itself; WARN and trace read the state before it.
              { guard: 'in L2', target: 'smm', actions: [...nestedExit('SMM').slice(0, 2), 'vendor enter_smm'] },
              { target: 'smm', actions: 'vendor enter_smm' },
            ],
          },
        },
        smm: { on: { [STEP]: { target: 'done', actions: ['enter SMM', a('trace', { what: 'kvm_enter_smm' })] } } },
        done: { type: 'final' },
      },
      onDone: 'mmu',
    },
    mmu: {
      description: 'kvm_mmu_reload(): kvm_mmu_load() when the root is invalid',
      on: {
        // Past inject_pending_event: kvm_set_irq's KVM_REQ_EVENT is seen by kvm_vcpu_exit_request()
        // after vcpu->mode = IN_GUEST_MODE: the entry is cancelled (cancel_injection) and
        // vcpu_enter_guest runs again from its requests, where the interrupt is injected.
        irq: CANCEL_ENTRY,
        [STEP]: [
          { guard: 'MMU root loaded', target: 'enter' },
          { guard: 'tdp_level is 0', ...oops('mmu') },
          { target: 'enter', actions: 'kvm_mmu_load' },
        ],
      },
    },
    enter: {
      description: 'vmx_vcpu_run / svm_vcpu_run: VMLAUNCH, VMRESUME or VMRUN',
      on: { [STEP]: { target: 'entered', actions: 'VM entry' }, irq: CANCEL_ENTRY },
    },
    entered: {
      always: [
        { guard: 'host insn faulted without kvm_rebooting', ...oops('spurious') },
        // A fault with kvm_rebooting set is treated as VM-Fail; VM-Fail is KVM_EXIT_FAIL_ENTRY.
        { guard: 'VM entry failed', ...toUser('FAIL_ENTRY') },
        // req_immediate_exit: the VMX preemption timer at 0 (SVM: a self-IPI) exits right after the entry.
        { guard: 'immediate exit requested', target: 'hostExit', actions: ['VM entry succeeded', a('trace', { what: 'kvm_entry' }), 'immediate VM exit'] },
        { target: 'guest', actions: ['VM entry succeeded', a('trace', { what: 'kvm_entry' })] },
      ],
    },
    guest: {
      description: 'guest mode: one guest instruction per step',
      on: {
        [STEP]: [
          { guard: g('guest insn is', { op: 'spin' }), target: 'spinning' },
          { guard: g('guest insn is', { op: 'vsock-send' }), target: 'guest', actions: ['notify vsock', 'execute guest insn'] },
          { guard: 'guest insn exits', target: 'exit', actions: ['vmexit', 'record guest exit', a('trace', { what: 'kvm_exit' })] },
          { target: 'guest', actions: 'execute guest insn' },
        ],
        'host.exit': { target: 'hostExit', actions: 'record host exit' },
      },
    },
    spinning: {
      tags: ['blocked'],
      description: 'the guest runs without exiting until the host interrupts the CPU',
      on: { 'host.exit': { target: 'hostExit', actions: 'record host exit' } },
    },
    hostExit: {
      description: 'handle_exception_nmi / handle_external_interrupt: the host handler already ran',
      on: { [STEP]: { target: 'requests', actions: ['handle host exit', a('trace', { what: 'kvm_exit' })] } },
    },
    exit: {
      description: 'the exit handler for the guest instruction',
      on: {
        [STEP]: [
          { guard: g('exit is', { op: 'mmio' }), actions: ['emulate', a('trace', { what: 'emulate' }), ...toUser('MMIO').actions], target: '#vcpu.userspace' },
          { guard: g('exit is', { op: 'io' }), actions: ['emulate', ...toUser('IO').actions], target: '#vcpu.userspace' },
          // DRIVER_OK to the vsock device's status register: the VMM starts vhost (docs/model.md §5.6 step 2).
          {
            guard: g('exit is', { op: 'vsock-ready' }),
            actions: ['vsock driver ready', a('exit to userspace', { reason: 'MMIO', device: 'vsock' }), 'return from KVM_RUN'],
            target: '#vcpu.userspace',
          },
          { guard: g('exit is', { op: 'hlt' }), ...toUser('HLT') },
          // A triple fault in L2: nVMX always reflects it; nSVM if vmcb12 intercepts SHUTDOWN.
          {
            guard: and([g('exit is', { op: 'triple-fault' }), 'in L2', 'triple fault reflected to L1']),
            target: 'requests',
            actions: nestedExit('TRIPLE_FAULT'),
          },
          { guard: g('exit is', { op: 'triple-fault' }), ...toUser('SHUTDOWN') },
          { guard: 'nested entry allowed', target: 'requests', actions: ['nested VM entry', a('trace', { what: 'kvm_nested_vmenter' })] },
          { guard: and([g('exit is', { op: 'rsm' }), 'in SMM']), target: 'rsm' },
          // em_rsm outside SMM, or a VMX/SVM instruction KVM refuses: #UD into the guest.
          { target: 'requests', actions: ['inject #UD', a('trace', { what: 'kvm_inj_exception' })] },
        ],
      },
    },
    rsm: {
      description: 'em_rsm → emulator_leave_smm',
      initial: 'leave',
      states: {
        leave: { on: { [STEP]: { target: 'load', actions: ['leave SMM', a('trace', { what: 'kvm_leave_smm' })] } } },
        load: {
          description: 'rsm_load_state_64(): CR0/CR3/CR4/EFER/segments from SMRAM',
          on: {
            [STEP]: [
              { guard: 'SMRAM state loads', target: 'done', actions: 'rsm_load_state' },
              { guard: 'RSM failure leaves nested', target: 'done', actions: ['kvm_leave_nested', 'emulator triple fault'] },
              { target: 'done', actions: 'emulator triple fault' },
            ],
          },
        },
        done: { type: 'final' },
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
    absent: {
      tags: ['blocked'],
      description: 'no vCPU fd yet',
      on: {
        ioctl: [
          { guard: 'ioctl fails', actions: 'return ioctl error' },
          { target: 'userspace', actions: ['apply ioctl', 'return ioctl'] },
        ],
      },
    },
    userspace: {
      tags: ['blocked'],
      description: 'the thread is in the VMM, between ioctls',
      on: {
        ioctl: [
          { guard: 'ioctl fails', actions: 'return ioctl error' },
          { guard: g('ioctl is', { name: 'KVM_RUN' }), target: 'run' },
          { actions: ['apply ioctl', 'return ioctl'] },
        ],
      },
    },
    run,
    dead: { tags: ['blocked'], description: 'the thread oopsed inside KVM_RUN' },
  },
});


export type VcpuMachine = typeof vcpuMachine;

/** The guard and action implementations bound to one world (the simulator's memory and port). */
export function vcpuImplementations(world: () => VcpuWorld) {
  return { guards: vcpuGuards, actions: makeVcpuActions(world) };
}
