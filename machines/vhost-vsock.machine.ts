/**
 * The vhost-vsock device file as an actor (SEMANTICS §5(d)): one actor per open() of
 * /dev/vhost-vsock, driven by the VMM's ioctls. The states are the lifecycle of §5(d); what each
 * ioctl does and returns is `src/vhost/device.ts`, which follows the kernel check by check. Each
 * call is applied once, by the `open` state; eventless edges then move the actor to the lifecycle
 * the device now has, so the chart's edges are exactly the changes a call can make and every other
 * call leaves the state as it is (errors, reads, configuration that does not complete the setup).
 *
 * Instances share the host's CID hash: the actor's input names a registry object that all
 * instances of one host hold, as kernel memory is shared between the CPU actors.
 *
 * Every call is recorded with its name(s), number, argument and return value or errno, in order.
 */
import { assign, setup } from 'xstate';
import {
  close,
  ioctl,
  lifecycle,
  open,
  type Caller,
  type IoctlArg,
  type IoctlReturn,
  type Lifecycle,
  type VsockDevice,
  type VsockHost,
} from '../src/vhost/device.js';
import { VHOST_IOCTLS, type VhostIoctlName } from '../src/vhost/ioctl.js';
import { MAINLINE_VHOST, type VhostKernel } from '../src/vhost/kernel.js';

/** The host-wide state the instances share; the actor replaces `host` on every call it makes. */
export interface VsockRegistry {
  host: VsockHost;
}

export interface IoctlRecord {
  names: VhostIoctlName[];
  number: number;
  arg: IoctlArg;
  caller: string;
  ret: IoctlReturn;
}

export interface VsockContext {
  registry: VsockRegistry;
  id: number;
  device: VsockDevice;
  calls: IoctlRecord[];
  /** The kernel era's vhost switches (src/vhost/kernel.ts); mainline unless the input names one. */
  kernel: VhostKernel;
  /** After close: the device as the release's flush saw it (backends still set before a58da53ffd70 for a non-owner). */
  atFlush?: VsockDevice;
}

export type VsockEvent =
  | { type: 'ioctl'; caller: Caller; request: number | VhostIoctlName; arg: IoctlArg }
  /** `caller`: the task dropping the last reference; omitted = the owner, null = a task in do_exit() (mm NULL). */
  | { type: 'close'; caller?: Caller | null };

export interface VsockInput {
  registry: VsockRegistry;
  kernel?: VhostKernel;
}

const STATE_OF: Record<Exclude<Lifecycle, 'RELEASED'>, string> = {
  OPEN_UNOWNED: 'unowned',
  OWNED: 'owned',
  CONFIGURED: 'configured',
  RUNNING: 'running',
  STOPPED: 'stopped',
};

const lifecycleIs = (state: Lifecycle) => ({ type: 'lifecycle is', params: { state } }) as const;

/** The §5(d) edges leaving a state: taken as soon as the device's lifecycle is their target. */
function edges(targets: Exclude<Lifecycle, 'RELEASED'>[]) {
  return targets.map((to) => ({ guard: lifecycleIs(to), target: STATE_OF[to], description: DESCRIPTIONS[to] }));
}

const DESCRIPTIONS: Record<Lifecycle, string> = {
  OPEN_UNOWNED: 'a new instance',
  OWNED: 'VHOST_SET_OWNER binds the VMM',
  CONFIGURED: 'memory table, rings and kicks set: start would succeed',
  RUNNING: 'SET_RUNNING 1: both backends set',
  STOPPED: 'SET_RUNNING 0 (or a failed start): both backends NULL',
  RELEASED: 'close(): unhash, stop, flush, purge',
};

export const vhostVsockMachine = setup({
  types: {
    context: {} as VsockContext,
    events: {} as VsockEvent,
    input: {} as VsockInput,
  },
  guards: {
    'lifecycle is': ({ context }, params: { state: Lifecycle }) => lifecycle(context.device) === params.state,
  },
  actions: {
    'apply ioctl': assign(({ context, event }) => {
      if (event.type !== 'ioctl') return {};
      const r = ioctl(context.registry.host, context.id, event.caller, event.request, event.arg, context.kernel);
      context.registry.host = r.host;
      const number = typeof event.request === 'number' ? event.request : VHOST_IOCTLS[event.request];
      const record: IoctlRecord = { names: r.names, number, arg: event.arg, caller: event.caller.mm, ret: r.ret };
      return { device: r.device, calls: [...context.calls, record] };
    }),
    release: assign(({ context, event }) => {
      const caller = event.type === 'close' ? event.caller : undefined;
      const r = close(context.registry.host, context.device, { caller, kernel: context.kernel });
      context.registry.host = r.host;
      return { device: r.device, atFlush: r.atFlush };
    }),
  },
}).createMachine({
  id: 'vhost-vsock',
  description: 'One open file of /dev/vhost-vsock (drivers/vhost/vsock.c)',
  context: ({ input }) => {
    const opened = open(input.registry.host);
    input.registry.host = opened.host;
    return { registry: input.registry, id: opened.device.id, device: opened.device, calls: [], kernel: input.kernel ?? MAINLINE_VHOST };
  },
  initial: 'open',
  states: {
    open: {
      initial: 'unowned',
      // Every call is applied here, once; the state then follows the device through the edges below.
      on: { ioctl: { actions: 'apply ioctl' }, close: { target: 'released', actions: 'release' } },
      states: {
        unowned: { description: 'open(): no owner, CID 0', always: edges(['OWNED']) },
        owned: { description: 'owner bound; rings not usable yet', always: edges(['CONFIGURED', 'RUNNING']) },
        configured: { description: 'every ring accessible and kicked', always: edges(['OWNED', 'RUNNING']) },
        running: { description: 'both backends set: the worker processes kicks and the send queue', always: edges(['STOPPED']) },
        stopped: { description: 'backends NULL; packets stay queued; NUM/BASE legal again', always: edges(['RUNNING']) },
      },
    },
    released: { type: 'final', description: DESCRIPTIONS.RELEASED },
  },
});

export type VhostVsockMachine = typeof vhostVsockMachine;

/** The lifecycle name of an actor's state value, for comparing against `lifecycle(device)`. */
export function lifecycleOfState(value: unknown): Lifecycle {
  if (value === 'released') return 'RELEASED';
  if (typeof value === 'object' && value !== null && 'open' in value) {
    const sub = (value as { open: string }).open;
    const found = (Object.keys(STATE_OF) as Exclude<Lifecycle, 'RELEASED'>[]).find((k) => STATE_OF[k] === sub);
    if (found) return found;
  }
  throw new Error(`not a vhost-vsock state: ${JSON.stringify(value)}`);
}
