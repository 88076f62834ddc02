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
 *
 * The same thread drives the VM's vhost-vsock device (QEMU runs device callbacks under the big lock
 * in whichever thread triggers them): a script may name vhost ioctls, and with a QEMU-managed
 * device the device model starts vhost when the guest writes DRIVER_OK (an MMIO exit from the vsock
 * status register) and, when a triple fault ends KVM_RUN with KVM_EXIT_SHUTDOWN and the VM resets
 * instead of exiting, stops vhost, resets the vCPU and runs it again (docs/model.md §5.6). Those calls
 * go in a queue that is issued before the script goes on.
 */
import { assign, setup } from 'xstate';
import { chartDsl, type TypesOf } from './physical-cpu/dsl.js';
import type { KvmExitName, KvmIoctlArg, KvmIoctlName } from '../src/kvm/uapi.js';
import type { IoctlArg } from '../src/vhost/device.js';
import type { VhostIoctlName } from '../src/vhost/ioctl.js';
import { start as vhostStart, stop as vhostStop } from '../src/vhost/qemu.js';
import { L1_BASE } from '../src/kvm/types.js';

/** A KVM ioctl on the vCPU fd, a vhost ioctl on the vhost-vsock fd, or close() of that fd. */
export type VmmCallName = KvmIoctlName | VhostIoctlName | 'close';

/** What a call returned: 0 or a value, or an errno (by name) with -errno as the value. */
export type VmmReturn = { ok: true; value: number } | { ok: false; errno: string; value: number };

export interface VmmCall {
  ioctl: VmmCallName;
  arg: KvmIoctlArg | IoctlArg;
  /** A vhost call made by another process (its mm) instead of the VMM. */
  mm?: string;
  /** KVM_SET_REGS of a system reset: the guest's memory and devices go back to power-on too. */
  reset?: boolean;
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
  /** KVM_EXIT_SHUTDOWN: 'exit' ends that KVM_RUN call (QEMU -no-reboot); 'reset' resets the VM and runs on. */
  onShutdown?: 'exit' | 'reset';
  /** The VM's vhost-vsock device is QEMU's to start and stop (ring size of its queues); null: none or scripted. */
  vsock?: { queueSize: number } | null;
  /** The RIP a VM reset gives the guest (the start of L1's code unless the scenario says otherwise). */
  resetRip?: number;
}

export interface VmmContext extends VmmInput {
  /** Index of the script call being made or next to make (when the queue is empty). */
  next: number;
  /** Calls the device model or a reset put before the script's next one. */
  queue: VmmCall[];
  last: { name: VmmCallName; ret: VmmReturn; exit: KvmExitName | null; device: string | null } | null;
  /** Exits the device model completed (MMIO/IO) in the current KVM_RUN call. */
  completed: number;
  /** QEMU's vhost_dev.started. */
  vhostStarted: boolean;
  /** System resets done after a guest triple fault. */
  resets: number;
}

export type VmmEvent =
  | { type: 'sched.vmm' }
  | { type: 'ioctl.return'; name: VmmCallName; ret: VmmReturn; exit: KvmExitName | null; device?: string | null }
  | { type: 'thread.died' };

/**
 * What a VMM thread's step asks of the world outside its actor, as a value: enter the kernel with a
 * call on one of its fds (`vcpu`: the thread's vCPU); the return comes back as `ioctl.return`.
 */
export type VmmEffect = { kind: 'ioctl'; vcpu: number; call: VmmCall };

/** The port of the VMM thread chart: its one way out, effects as values in the step's outbox. */
export interface VmmPort {
  out(effect: VmmEffect): void;
}

export interface VmmWorld {
  io: VmmPort;
}

type Args = { context: VmmContext; event: VmmEvent };

function upd(fn: (args: Args) => Partial<VmmContext>) {
  return assign<VmmContext, VmmEvent, undefined, VmmEvent, never>(fn);
}

const STEP = 'sched.vmm';
const CONTINUE_EXITS: readonly (KvmExitName | null)[] = ['MMIO', 'IO'];

function current(context: VmmContext): VmmCall | undefined {
  return context.queue[0] ?? context.calls[context.next];
}

const asCalls = (calls: { ioctl: string; arg: unknown }[]): VmmCall[] => calls as VmmCall[];

export function vmmImplementations(world: () => VmmWorld) {
  return {
    guards: {
      'call left': ({ context }: Args) => context.queue.length > 0 || context.next < context.calls.length,
      /** vhost_vsock_set_status: DRIVER_OK while vhost is not started → vhost_vsock_start. */
      'vsock DRIVER_OK': ({ context }: Args) =>
        !!context.vsock && !context.vhostStarted && context.last?.exit === 'MMIO' && context.last.device === 'vsock',
      /** kvm_cpu_exec: KVM_EXIT_SHUTDOWN → qemu_system_reset_request (unless the VM exits on reset). */
      'guest reset': ({ context }: Args) =>
        context.onShutdown === 'reset' && context.last?.name === 'KVM_RUN' && context.last.ret.ok && context.last.exit === 'SHUTDOWN',
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
        if (call) world().io.out({ kind: 'ioctl', vcpu: context.id, call });
      },
      'issue KVM_INTERRUPT': ({ context }: Args) =>
        world().io.out({ kind: 'ioctl', vcpu: context.id, call: { ioctl: 'KVM_INTERRUPT', arg: { vector: current(context)?.mmioIrq ?? 0 } } }),
      'issue KVM_RUN again': ({ context }: Args) => world().io.out({ kind: 'ioctl', vcpu: context.id, call: { ioctl: 'KVM_RUN', arg: {} } }),
      'record return': upd(({ event }: Args) =>
        event.type === 'ioctl.return' ? { last: { name: event.name, ret: event.ret, exit: event.exit, device: event.device ?? null } } : {},
      ),
      'count completed exit': upd(({ context }: Args) => ({ completed: context.completed + 1 })),
      'next call': upd(({ context }: Args) =>
        context.queue.length > 0 ? { queue: context.queue.slice(1), completed: 0 } : { next: context.next + 1, completed: 0 },
      ),
      /** vhost_vsock_start before the vCPU runs on (the MMIO write completes on the next KVM_RUN). */
      'queue vhost start': upd(({ context }: Args) => ({
        queue: [...asCalls(vhostStart(context.vm, context.vsock?.queueSize ?? 128)), ...context.queue],
        vhostStarted: true,
      })),
      /**
       * qemu_system_reset: every device resets — vhost_vsock_stop if started — and the vCPU is reset
       * (its registers back to the start of the guest's code); then the loop runs the vCPU again.
       * The KVM_RUN call that returned SHUTDOWN is done ('next call' ran first).
       */
      'queue system reset': upd(({ context }: Args) => {
        const again: VmmCall = { ioctl: 'KVM_RUN', arg: {}, loop: true };
        const stop = context.vsock && context.vhostStarted ? asCalls(vhostStop()) : [];
        return {
          queue: [...stop, { ioctl: 'KVM_SET_REGS', arg: { rip: context.resetRip ?? L1_BASE, reset: true }, reset: true }, again, ...context.queue],
          vhostStarted: false,
          resets: context.resets + 1,
        };
      }),
    },
  };
}

function noWorld(): VmmWorld {
  throw new Error('the VMM thread needs a world: provide vmmImplementations(world)');
}

const vmmSetup = setup({
  types: { context: {} as VmmContext, events: {} as VmmEvent, input: {} as VmmInput },
  ...vmmImplementations(noWorld),
});

export type VmmTypes = TypesOf<typeof vmmSetup>;

const { op, decide, blocked } = chartDsl<VmmTypes, 'vmm'>(() => STEP);

const blockedIn = (description: string, to: string) => blocked(description, { 'ioctl.return': { target: to, actions: 'record return' } });

export const vmmMachine = vmmSetup.createMachine({
  id: 'vmm',
  initial: 'next',
  context: ({ input }: { input: VmmInput }): VmmContext => ({
    onShutdown: 'exit',
    vsock: null,
    ...input,
    next: 0,
    queue: [],
    last: null,
    completed: 0,
    vhostStarted: false,
    resets: 0,
  }),
  on: { 'thread.died': { target: '.dead' } },
  states: {
    next: decide('vmm', [{ if: 'call left', to: 'issue' }, { to: 'done' }], 'the next ioctl of the script'),
    issue: op('vmm', 'inKernel', 'issue ioctl', 'ioctl(vcpu_fd, …)'),
    inKernel: blockedIn('blocked in the ioctl', 'returned'),
    returned: decide(
      'vmm',
      [
        { if: 'exit handled in userspace', to: 'deviceModel', do: 'count completed exit' },
        { if: 'guest reset', to: 'next', do: ['next call', 'queue system reset'] },
        { to: 'next', do: 'next call' },
      ],
      'kvm_cpu_exec(): look at run->exit_reason',
    ),
    deviceModel: decide(
      'vmm',
      [
        { if: 'vsock DRIVER_OK', to: 'next', do: 'queue vhost start' },
        { if: 'device raises an interrupt', to: 'interrupt' },
        { to: 'rerun' },
      ],
      'complete the MMIO / port I/O access in the device model',
    ),
    interrupt: op('vmm', 'inInterrupt', 'issue KVM_INTERRUPT', 'ioctl(KVM_INTERRUPT): the device interrupt for the guest'),
    inInterrupt: blockedIn('blocked in KVM_INTERRUPT', 'rerun'),
    rerun: op('vmm', 'inKernel', 'issue KVM_RUN again', 'ioctl(KVM_RUN) again'),
    done: blocked('no more calls: the thread waits'),
    dead: { type: 'final', description: 'the thread died in the kernel (BUG in an ioctl)' },
  },
});

