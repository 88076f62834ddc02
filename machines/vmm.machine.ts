/**
 * A VMM's vCPU thread in userspace (QEMU's kvm_vcpu_thread_fn / kvm_cpu_exec): it issues the
 * scenario's ioctls on its vCPU in order and blocks in each until KVM returns. KVM_RUN returns on an
 * exit to userspace; with `loop` the thread does what QEMU does for an MMIO or port I/O exit —
 * completes the access in its device model (which may raise an interrupt: KVM_INTERRUPT, the
 * userspace irqchip) — and runs the vCPU again. Any other exit, or an error, ends that KVM_RUN
 * call and the thread goes on with its next ioctl. A BUG inside an ioctl kills the thread.
 *
 * The thread and the vCPU it drives share one physical CPU: the scheduler steps this actor only
 * while the thread is in userspace (not blocked in an ioctl) and its CPU runs tasks.
 */
import { assign, setup } from 'xstate';
import type { KvmExitName, KvmIoctlArg, KvmIoctlName, KvmIoctlReturn } from '../src/kvm/uapi.js';

export interface VmmCall {
  ioctl: KvmIoctlName;
  arg: KvmIoctlArg;
  /** KVM_RUN: after an MMIO or port I/O exit, complete it and run again (QEMU's loop). */
  loop?: boolean;
  /** KVM_RUN with `loop`: the device the guest writes raises this interrupt vector after each MMIO write. */
  mmioIrq?: number;
}

export interface VmmInput {
  /** The vCPU this thread drives (its index in the run). */
  id: number;
  vm: number;
  pcpu: number;
  calls: VmmCall[];
}

export interface VmmContext extends VmmInput {
  /** Index of the call being made or next to make. */
  next: number;
  last: { name: KvmIoctlName; ret: KvmIoctlReturn; exit: KvmExitName | null } | null;
  /** Exits the device model completed (MMIO/IO) in the current KVM_RUN call. */
  completed: number;
}

export type VmmEvent =
  | { type: 'sched.vmm' }
  | { type: 'ioctl.return'; name: KvmIoctlName; ret: KvmIoctlReturn; exit: KvmExitName | null }
  | { type: 'thread.died' };

export interface VmmPort {
  /** Enter the kernel with an ioctl on this thread's vCPU fd; the return comes as `ioctl.return`. */
  ioctl(vmm: number, name: KvmIoctlName, arg: KvmIoctlArg): void;
}

export interface VmmWorld {
  io: VmmPort;
}

type Args = { context: VmmContext; event: VmmEvent };

function upd(fn: (args: Args) => Partial<VmmContext>) {
  return assign<VmmContext, VmmEvent, undefined, VmmEvent, never>(fn as never);
}

const STEP = 'sched.vmm';
const CONTINUE_EXITS: readonly (KvmExitName | null)[] = ['MMIO', 'IO'];

function current(context: VmmContext): VmmCall | undefined {
  return context.calls[context.next];
}

export function vmmImplementations(world: () => VmmWorld) {
  return {
    guards: {
      'call left': ({ context }: Args) => context.next < context.calls.length,
      /** kvm_cpu_exec: MMIO and PIO exits are handled in userspace and the loop goes on. */
      'exit handled in userspace': ({ context }: Args) => {
        const call = current(context);
        const last = context.last;
        return !!call && call.loop === true && !!last && last.name === 'KVM_RUN' && last.ret.ok && CONTINUE_EXITS.includes(last.exit);
      },
      'device raises an interrupt': ({ context }: Args) => context.last?.exit === 'MMIO' && current(context)?.mmioIrq !== undefined,
    },
    actions: {
      'issue ioctl': ({ context }: Args) => {
        const call = current(context);
        if (call) world().io.ioctl(context.id, call.ioctl, call.arg);
      },
      'issue KVM_INTERRUPT': ({ context }: Args) => world().io.ioctl(context.id, 'KVM_INTERRUPT', { vector: current(context)?.mmioIrq ?? 0 }),
      'issue KVM_RUN again': ({ context }: Args) => world().io.ioctl(context.id, 'KVM_RUN', {}),
      'record return': upd(({ event }: Args) =>
        event.type === 'ioctl.return' ? { last: { name: event.name, ret: event.ret, exit: event.exit } } : {},
      ),
      'count completed exit': upd(({ context }: Args) => ({ completed: context.completed + 1 })),
      'next call': upd(({ context }: Args) => ({ next: context.next + 1, completed: 0 })),
    },
  };
}

const blockedIn = (description: string, to: string) => ({
  tags: ['blocked'],
  description,
  on: { 'ioctl.return': { target: to, actions: 'record return' } },
});

const chart = {
  id: 'vmm',
  initial: 'next',
  context: ({ input }: { input: VmmInput }): VmmContext => ({ ...input, next: 0, last: null, completed: 0 }),
  on: { 'thread.died': { target: '.dead' } },
  states: {
    next: {
      description: 'the next ioctl of the script',
      on: { [STEP]: [{ guard: 'call left', target: 'issue' }, { target: 'done' }] },
    },
    issue: { description: 'ioctl(vcpu_fd, …)', on: { [STEP]: { target: 'inKernel', actions: 'issue ioctl' } } },
    inKernel: blockedIn('blocked in the ioctl', 'returned'),
    returned: {
      description: 'kvm_cpu_exec(): look at run->exit_reason',
      on: {
        [STEP]: [
          { guard: 'exit handled in userspace', target: 'deviceModel', actions: 'count completed exit' },
          { target: 'next', actions: 'next call' },
        ],
      },
    },
    deviceModel: {
      description: 'complete the MMIO / port I/O access in the device model',
      on: { [STEP]: [{ guard: 'device raises an interrupt', target: 'interrupt' }, { target: 'rerun' }] },
    },
    interrupt: { description: 'ioctl(KVM_INTERRUPT): the device interrupt for the guest', on: { [STEP]: { target: 'inInterrupt', actions: 'issue KVM_INTERRUPT' } } },
    inInterrupt: blockedIn('blocked in KVM_INTERRUPT', 'rerun'),
    rerun: { description: 'ioctl(KVM_RUN) again', on: { [STEP]: { target: 'inKernel', actions: 'issue KVM_RUN again' } } },
    done: { tags: ['blocked'], description: 'no more calls: the thread waits' },
    dead: { type: 'final', description: 'the thread died in the kernel (BUG in an ioctl)' },
  },
};

export const vmmMachine = setup({
  types: { context: {} as VmmContext, events: {} as VmmEvent, input: {} as VmmInput },
  ...vmmImplementations(() => {
    throw new Error('the VMM thread needs a world: provide vmmImplementations(world)');
  }),
  // Loosely typed chart literal, as the physical CPU's: names are checked against setup() in a test.
}).createMachine(chart as never);
