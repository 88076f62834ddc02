/**
 * The vhost-vsock device as an actor (docs/model.md §5): one actor per open() of /dev/vhost-vsock,
 * driven by the VMM's ioctls, with its virtqueues, its host sockets and the guest driver at the
 * other end of the rings. The states ARE the lifecycle of docs/model.md §5.4 (what reads the
 * lifecycle — outcome.vsock, the trace, the viewer — reads it from the active state); what each
 * ioctl does and returns is `src/vhost/device.ts`, which follows the kernel check by check. Each call
 * is applied once, by the transition it takes out of the state the device is in: an edge of §5.4 when
 * a pure rule (`started`, `configured`, the owner bound) holds on the device the call leaves, else
 * the state's last transition, which stays (errors, reads, configuration that completes nothing).
 *
 * The packet path (`src/vhost/datapath.ts`) runs on the same context: `work` is one work item of
 * the vhost worker (the TX kick handler, else the send work), accepted only while one is queued;
 * `host.send` is a host socket's send (vhost_transport_send_pkt); the `guest.*` events are the
 * guest's driver (src/vhost/guest-driver.ts): its probe, a send on TX, the RX interrupt, a reset.
 *
 * Instances share the host's CID hash, as kernel memory is shared between the CPU actors: the
 * world's `host()` gives every instance's device, so an instance's context holds only its own state
 * and a run's capture of the actors is its whole state.
 *
 * Every call is recorded with its name(s), number, argument and return value or errno, in order.
 */
import { assign, setup } from 'xstate';
import { chartDsl, type StateConfig, type Transition, type TypesOf } from './physical-cpu/dsl.js';
import {
  close,
  configured,
  ioctl,
  newDevice,
  started,
  type IoctlResult,
  type Lifecycle,
  type VsockDevice,
} from '../src/vhost/device.js';
import { doSendPkt, handleTxKick, hostSendAll, MAX_PKT_BUF_SIZE, neverSent, newDataPath, release } from '../src/vhost/datapath.js';
import { driverReady, driverReset, NEW_DRIVER, receive, sendNext, skipNext, type TrafficSpec } from '../src/vhost/guest-driver.js';
import { VHOST_IOCTLS } from '../src/vhost/ioctl.js';
import {
  closeStream,
  guestCredit,
  guestGone,
  guestHeader,
  guestHolds,
  guestSent,
  guestTakes,
  holdGuest,
  hostHeader,
  hostTakes,
  hostWrite,
  openStream,
  refundGuest,
  streamKey,
} from '../src/vhost/streams.js';
import { Ends, stampResponses } from '../src/vhost/stream-ends.js';
import { DEFAULT_BUF_ALLOC } from '../src/vhost/credit.js';
import { MAINLINE_VHOST, type VhostKernel } from '../src/vhost/kernel.js';
import type { VsockWorld, RecordedReturn, IoctlRecord, VsockContext, HostSend, VsockEvent, VsockInput } from './vhost-vsock/types.js';

export type { VsockWorld, RecordedReturn, IoctlRecord, VsockContext, HostSend, VsockEvent, VsockInput };

const DESCRIPTIONS: Record<Lifecycle, string> = {
  OPEN_UNOWNED: 'a new instance',
  OWNED: 'VHOST_SET_OWNER binds the VMM',
  CONFIGURED: 'memory table, rings and kicks set: start would succeed',
  RUNNING: 'SET_RUNNING 1: both backends set',
  STOPPED: 'SET_RUNNING 0 (or a failed start): both backends NULL',
  RELEASED: 'close(): unhash, stop, flush, purge',
};

function recorded(ret: { ok: true; value?: number | bigint } | { ok: false; errno: number }): RecordedReturn {
  if (!ret.ok) return ret;
  return ret.value === undefined ? { ok: true } : { ok: true, value: Number(ret.value) };
}

type Args = { context: VsockContext; event: VsockEvent };

function upd(fn: (args: Args) => Partial<VsockContext>) {
  return assign<VsockContext, VsockEvent, undefined, VsockEvent, never>(fn);
}

/** What the kernel does with the call the event makes (a pure rule of src/vhost/device.ts). */
function callOn(world: () => VsockWorld, context: VsockContext, event: Extract<VsockEvent, { type: 'ioctl' }>): IoctlResult {
  return ioctl(world().host(), context.id, event.caller, event.request, event.arg, context.kernel);
}

export function vsockImplementations(world: () => VsockWorld) {
  /** The device as the event's call leaves it (the device itself for any other event). */
  const after = ({ context, event }: Args): VsockDevice => (event.type === 'ioctl' ? callOn(world, context, event).device : context.device);
  return {
    guards: {
      /** VHOST_SET_OWNER bound the calling process. */
      'call binds the owner': (args: Args) => after(args).owner !== null,
      /** The call leaves both queues with a backend: a start that succeeded (or nothing stopped it). */
      'call leaves the device started': (args: Args) => started(after(args)),
      'call leaves the device stopped': (args: Args) => !started(after(args)),
      /** The call leaves every ring accessible and kicked (memory table, rings, kicks). */
      'call completes the setup': (args: Args) => configured(after(args)),
      'call undoes the setup': (args: Args) => !configured(after(args)),
      'work queued': ({ context }: Args) => context.dp.txWork || context.dp.sendWork,
    },
    actions: {
      'apply ioctl': upd(({ context, event }: Args) => {
        if (event.type !== 'ioctl') return {};
        const r = callOn(world, context, event);
        const number = typeof event.request === 'number' ? event.request : VHOST_IOCTLS[event.request];
        const record: IoctlRecord = { names: r.names, number, arg: event.arg, caller: event.caller.mm, ret: recorded(r.ret) };
        // A successful start queues the send work ("kick send_pkt worker once device is started").
        const dp = r.queueSendWork ? { ...context.dp, sendWork: true } : context.dp;
        return { device: r.device, dp, calls: [...context.calls, record] };
      }),
      release: upd(({ context, event }: Args) => {
        const caller = event.type === 'close' ? event.caller : undefined;
        const r = close(world().host(), context.device, { caller, kernel: context.kernel });
        return { device: r.device, atFlush: r.atFlush, dp: release(context.dp, r.atFlush, context.kernel) };
      }),
      /** One work item of the vhost worker: the TX kick handler if queued, else the send work. */
      'run work': upd(({ context }: Args) => {
        if (!context.dp.txWork) {
          const r = doSendPkt(context.dp, context.device);
          return { dp: r.dp, device: r.device };
        }
        const before = context.dp.toHost.length;
        const first = context.dp.nextId;
        const r = handleTxKick(context.dp, context.device, context.kernel);
        // The host transport takes each guest packet: credit learnt, data read, RST ends the stream.
        let dp = stampResponses(r.dp, first, context.streams);
        let streams = context.streams;
        const ends = new Ends(context);
        for (const p of r.dp.toHost.slice(before)) ({ dp, streams } = ends.note(hostTakes(dp, r.device, streams, p)));
        return { dp, device: r.device, streams, ...ends.fields };
      }),
      'host send': upd(({ context, event }: Args) => {
        if (event.type !== 'host.send') return {};
        const key = streamKey(event.dstPort, event.srcPort);
        let dp = context.dp;
        let streams = context.streams;
        const ends = new Ends(context);
        // The host socket that sends a REQUEST is connecting: the guest's RESPONSE is for it.
        if (event.op === 'REQUEST') {
          if (!dp.connections.includes(key)) dp = { ...dp, connections: [...dp.connections, key] };
          streams = openStream(streams, event.dstPort, event.srcPort, context.guestBufAlloc, DEFAULT_BUF_ALLOC, 'host');
          ends.open('host', key);
        }
        if (event.op === 'RW' && streams.some((s) => s.key === key)) {
          // Stream data: on the wire once connected and as the guest's credit allows, the rest waits in the socket.
          ({ dp, streams } = hostWrite(dp, context.device, streams, key, event.len, event.count));
        } else if (event.op === 'RW' && ends.refuses('host', key)) {
          // The peer reset this socket's connection: send() fails, nothing goes on the wire.
          dp = neverSent(dp, event.count * Math.max(1, Math.ceil(event.len / MAX_PKT_BUF_SIZE)), 'not-connected');
        } else {
          const hdr = hostHeader(streams, key) ?? {};
          const one = { dstCid: context.device.guestCid, srcPort: event.srcPort, dstPort: event.dstPort, op: event.op, len: event.len, ...hdr };
          dp = hostSendAll(dp, context.device, Array.from({ length: event.count }, () => one));
        }
        // A host RST ends the connection on the host side.
        if (event.op === 'RST') {
          dp = { ...dp, connections: dp.connections.filter((c) => c !== key) };
          streams = closeStream(streams, key);
        }
        return { dp, streams, ...ends.fields };
      }),
      'guest ready': upd(({ context }: Args) => {
        const r = driverReady(context.dp, context.driver, context.guest);
        return { dp: r.dp, driver: r.g };
      }),
      'guest send': upd(({ context }: Args) => {
        const spec = context.guest.traffic[context.driver.nextSend];
        if (!spec || !context.driver.ready) return {};
        const key = streamKey(spec.srcPort, spec.dstPort);
        let streams = context.streams;
        const ends = new Ends(context);
        if (spec.op === 'RW') {
          const s = streams.find((x) => x.key === key);
          // The program is in connect() (or earlier writes wait): the write waits in the socket.
          if (s && guestHolds(s)) return { streams: holdGuest(streams, key, spec.len, spec.count), driver: skipNext(context.driver, context.guest) };
          // The peer reset this socket's connection: send() fails, nothing goes on the wire.
          if (!s && ends.refuses('guest', key)) return { dp: neverSent(context.dp, spec.count, 'not-connected'), driver: skipNext(context.driver, context.guest) };
          // The guest socket waits for credit: the line goes out when all of it fits.
          const room = guestCredit(streams, key);
          if (room !== null && room < spec.len * spec.count) return {};
        }
        if (spec.op === 'REQUEST') {
          streams = openStream(streams, spec.srcPort, spec.dstPort, context.guestBufAlloc, DEFAULT_BUF_ALLOC, 'guest');
          ends.open('guest', key);
        }
        const r = sendNext(context.dp, context.driver, context.guest, guestHeader(streams, key));
        // A packet over 64 KiB is dropped as faulted by the worker: it never counted against credit.
        if (spec.op === 'RW' && spec.len <= MAX_PKT_BUF_SIZE) streams = guestSent(streams, key, spec.len * spec.count);
        if (spec.op === 'RST') streams = closeStream(streams, key);
        return { dp: r.dp, driver: r.g, streams, ...ends.fields };
      }),
      'guest takes RX interrupt': upd(({ context }: Args) => {
        const arrived = context.dp.toGuest.slice(context.driver.consumed);
        const r = receive(context.dp, context.driver, context.guest, (k) => guestHeader(context.streams, k));
        let dp = r.dp;
        let streams = context.streams;
        const ends = new Ends(context);
        // Packets of connections the guest knew or opened in this batch go to its sockets (credit,
        // the RESPONSE that completes its connect, reads, CREDIT_UPDATE; an RST ends the stream).
        const known = new Set([...context.driver.connections, ...r.g.connections]);
        for (const p of arrived) {
          if (r.g.ready && known.has(streamKey(p.dstPort, p.srcPort))) ({ dp, streams } = ends.note(guestTakes(dp, context.device, streams, p, context.guest.cid)));
        }
        return { dp, driver: r.g, streams, ...ends.fields };
      }),
      'guest reset': upd(({ context }: Args) => {
        // Stream data the reset threw away never reached the host: its credit is the sender's again.
        let streams = context.streams;
        for (const p of [...context.dp.txRing, ...context.dp.guestQueue]) {
          if (p.op === 'RW' && p.len <= MAX_PKT_BUF_SIZE) streams = refundGuest(streams, streamKey(p.srcPort, p.dstPort), p.len);
        }
        const r = driverReset(context.dp, context.driver);
        // Its sockets are gone: writes they held never go out, and their errors with them.
        const gone = guestGone(r.dp, streams);
        return { dp: gone.dp, driver: r.g, streams: gone.streams, resetSockets: context.resetSockets.filter((n) => !n.startsWith('guest:')) };
      }),
      /** A call signalled on a masked notifier: QEMU keeps it pending (guest_notifier_pending). */
      'note masked call': upd(({ context, event }: Args) => {
        if (event.type !== 'masked.call') return {};
        const maskedPending = context.maskedPending.slice();
        maskedPending[event.queue] = !event.clear;
        return { maskedPending };
      }),
    },
  };
}

function noWorld(): VsockWorld {
  throw new Error('the vhost-vsock machine needs a world: provide vsockImplementations(() => world)');
}

const vsockSetup = setup({
  types: { context: {} as VsockContext, events: {} as VsockEvent, input: {} as VsockInput },
  ...vsockImplementations(noWorld),
});

export type VsockTypes = TypesOf<typeof vsockSetup>;
type VsockGuardName = VsockTypes['guard']['type'];
type OpenLifecycle = Exclude<Lifecycle, 'RELEASED'>;

/** The state of `open` that is each lifecycle of docs/model.md §5.4 (RELEASED is `released`). */
const STATE_OF: Record<OpenLifecycle, string> = {
  OPEN_UNOWNED: 'unowned',
  OWNED: 'owned',
  CONFIGURED: 'configured',
  RUNNING: 'running',
  STOPPED: 'stopped',
};

const STATE_DESCRIPTIONS: Record<OpenLifecycle, string> = {
  OPEN_UNOWNED: 'open(): no owner, CID 0',
  OWNED: 'owner bound; rings not usable yet',
  CONFIGURED: 'every ring accessible and kicked',
  RUNNING: 'both backends set: the worker processes kicks and the send queue',
  STOPPED: 'backends NULL; packets stay queued; NUM/BASE legal again',
};

/**
 * A lifecycle state: an ioctl takes the first edge whose rule holds on the device the call leaves
 * (the call is applied once, by the transition taken); a call that changes no lifecycle stays.
 */
function lifecycleState(of: OpenLifecycle, edges: { if: VsockGuardName; to: OpenLifecycle }[]): StateConfig<VsockTypes> {
  const ioctl: Transition<VsockTypes>[] = [
    ...edges.map((e): Transition<VsockTypes> => ({ guard: e.if, target: STATE_OF[e.to], actions: 'apply ioctl', description: DESCRIPTIONS[e.to] })),
    { actions: 'apply ioctl' },
  ];
  return { description: STATE_DESCRIPTIONS[of], on: { ioctl } };
}

/** The §5.4 lifecycle of a device actor, read from its chart's active leaf (`open.owned`, `released`, …). */
export function lifecycleOfLeaf(leaf: string): Lifecycle {
  if (leaf === 'released') return 'RELEASED';
  const sub = leaf.startsWith('open.') ? leaf.slice('open.'.length) : null;
  const found = (Object.keys(STATE_OF) as OpenLifecycle[]).find((k) => STATE_OF[k] === sub);
  if (found) return found;
  throw new Error(`not a vhost-vsock state: ${leaf}`);
}

export const vhostVsockMachine = vsockSetup.createMachine({
  id: 'vhost-vsock',
  description: 'One open file of /dev/vhost-vsock (drivers/vhost/vsock.c)',
  context: ({ input }: { input: VsockInput }): VsockContext => ({
    id: input.id,
    vm: input.vm ?? -1,
    device: newDevice(input.id),
    dp: newDataPath({
      listening: input.listen ?? [],
      ...(input.rxBufSize !== undefined ? { rxBufSize: input.rxBufSize } : {}),
      ...(input.ringSize !== undefined ? { ringSize: input.ringSize } : {}),
    }),
    driver: NEW_DRIVER,
    guest: { cid: input.guest?.cid ?? 3, rxBuffers: input.guest?.rxBuffers ?? 8, listen: input.guest?.listen ?? [], traffic: input.guest?.traffic ?? [] },
    calls: [],
    kernel: input.kernel ?? MAINLINE_VHOST,
    streams: [],
    streamEnds: [],
    resetSockets: [],
    guestBufAlloc: input.guestBufAlloc ?? DEFAULT_BUF_ALLOC,
    maskedPending: [false, false],
  }),
  initial: 'open',
  states: {
    open: {
      initial: 'unowned',
      // Every call is applied once, by the lifecycle state the device is in: its ioctl transitions
      // are the docs/model.md §5.4 edges a call can take; the last one leaves the state as it is.
      on: {
        close: { target: 'released', actions: 'release' },
        work: { guard: 'work queued', actions: 'run work', description: 'vhost_worker: one queued work item' },
        'host.send': { actions: 'host send', description: 'vhost_transport_send_pkt: queue for the guest, queue the send work' },
        'guest.ready': { actions: 'guest ready', description: 'the guest driver probes: RX ring filled and kicked' },
        'guest.send': { actions: 'guest send', description: 'the guest puts a packet in TX and kicks (ioeventfd)' },
        'guest.irq': { actions: 'guest takes RX interrupt', description: 'the guest takes the call (irqfd): RX consumed, answered, refilled' },
        'guest.reset': { actions: 'guest reset', description: 'the guest was reset: its driver and sockets are gone' },
        'masked.call': { actions: 'note masked call', description: 'a call on a masked notifier is pending in the VMM (or delivered on unmask)' },
      },
      states: {
        unowned: lifecycleState('OPEN_UNOWNED', [{ if: 'call binds the owner', to: 'OWNED' }]),
        owned: lifecycleState('OWNED', [
          { if: 'call leaves the device started', to: 'RUNNING' },
          { if: 'call completes the setup', to: 'CONFIGURED' },
        ]),
        configured: lifecycleState('CONFIGURED', [
          { if: 'call leaves the device started', to: 'RUNNING' },
          { if: 'call undoes the setup', to: 'OWNED' },
        ]),
        running: lifecycleState('RUNNING', [{ if: 'call leaves the device stopped', to: 'STOPPED' }]),
        stopped: lifecycleState('STOPPED', [{ if: 'call leaves the device started', to: 'RUNNING' }]),
      },
    },
    released: { type: 'final', description: DESCRIPTIONS.RELEASED },
  },
});

export type VhostVsockMachine = typeof vhostVsockMachine;

/**
 * Instances outside a run (tests, the viewer): each actor's world is the group's current devices.
 * `add` creates the next instance, as open() does.
 */
export function vsockGroup<A extends { getSnapshot(): { context: VsockContext } }>(
  create: (machine: VhostVsockMachine, input: VsockInput) => A,
  opts: { localCids?: readonly number[]; maxMemRegions?: number; kernel?: VhostKernel } = {},
) {
  const actors: A[] = [];
  const world: VsockWorld = {
    host: () => ({
      devices: actors.map((a) => a.getSnapshot().context.device),
      localCids: opts.localCids ?? [],
      maxMemRegions: opts.maxMemRegions ?? 64,
    }),
  };
  const machine = vhostVsockMachine.provide(vsockImplementations(() => world));
  return {
    actors,
    add(input: Omit<VsockInput, 'id'> = {}): A {
      const actor = create(machine, { ...input, id: actors.length, ...(opts.kernel ? { kernel: opts.kernel } : {}) });
      actors.push(actor);
      return actor;
    },
  };
}

/** The lifecycle of an actor's state value (`{ open: 'owned' }`, `'released'`). */
export function lifecycleOfState(value: unknown): Lifecycle {
  if (value === 'released') return 'RELEASED';
  if (typeof value === 'object' && value !== null && 'open' in value && typeof value.open === 'string') return lifecycleOfLeaf(`open.${value.open}`);
  throw new Error(`not a vhost-vsock state: ${JSON.stringify(value)}`);
}

export type { TrafficSpec };
