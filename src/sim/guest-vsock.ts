/**
 * The vhost-vsock side of the guests (see guests.ts): each VM's vhost-vsock device chart
 * (machines/vhost-vsock.machine.ts) as the VMM thread's vhost ioctls, its vhost worker's work, the
 * guest's driver and host sockets drive it, the packet path's trace, and the interrupts its calls
 * raise in the guest (the irqfd). What it needs of the vCPUs and VMM threads goes through `VsockHost`.
 */
import type { VsockContext, VsockEvent } from '../../machines/vhost-vsock.machine.js';
import type { VmmCall, VmmEvent, VmmReturn } from '../../machines/vmm.machine.js';
import { BAD_POINTER, type IoctlArg } from '../vhost/device.js';
import { errnoName, VHOST_IOCTLS, type VhostIoctlName } from '../vhost/ioctl.js';
import { EVENTFD, vmmCaller } from '../vhost/qemu.js';
import { encodeHeader, headerOf, hex } from '../vhost/header.js';
import type { Packet } from '../vhost/datapath.js';
import type { TrafficSpec } from '../vhost/guest-driver.js';
import type { Stream } from '../vhost/streams.js';
import type { VsockSpec } from '../scenarios/vms.js';
import type { TraceRecord } from '../trace/records.js';
import type { ChartDriver } from './chart-driver.js';

/** Packets of guest writes waiting in guest sockets. */
const guestHeld = (streams: readonly Stream[]) => streams.reduce((n, s) => n + s.guestBacklog.reduce((m, l) => m + l.count, 0), 0);

/** A vhost worker's step: one work item. */
export const WORK: VsockEvent = { type: 'work' };

/** What the vsock side needs of the rest of the guest side (Guests) and the composition root. */
export interface VsockHost {
  readonly lean: boolean;
  now(): number;
  emit(record: TraceRecord): void;
  /** Write `record` as the cause of `effects`, naming the vCPU and VMM leaves they move (Guests.cause). */
  cause(record: TraceRecord, effects: () => void): void;
  /** Run `body` as work of the guest side (GuestHost.queue). */
  queue(body: () => void): void;
  /** Apply what the guest-side work queued so far (GuestHost.drain). */
  drain(): void;
  /** Device `d`'s chart moves (before and after its event): its hash and its worker's runnability are stale. */
  deviceMoved(d: number): void;
  /** kvm_set_irq: interrupt `vector` becomes pending on vCPU `vcpu`, kicked from CPU `from` if it is in guest mode. */
  interrupt(vcpu: number, vector: number, from: number): void;
  /** Hand VMM thread `vcpu` the return of its vhost ioctl. */
  vmmReturn(vcpu: number, event: VmmEvent): void;
}

/** An ioctl argument as the trace shows it (the bad-pointer marker as text). */
function shownArg(arg: unknown): unknown {
  return arg === BAD_POINTER ? 'bad user pointer' : arg;
}

export class GuestVsock {
  constructor(
    private readonly host: VsockHost,
    private readonly devices: ChartDriver<VsockContext, VsockEvent>,
    private readonly vsock: readonly VsockSpec[],
  ) {}

  /** The physical CPU device `d`'s vhost worker runs on. */
  worker(d: number): number {
    return (this.vsock[d] as VsockSpec).worker;
  }

  /** qemu_system_reset of VM `vm`: its device goes back to power-on with the vCPU. */
  reset(vm: number): void {
    const d = this.deviceOfVm(vm);
    if (d >= 0) this.send(d, { type: 'guest.reset' });
  }

  /** The guest's virtio-vsock driver on vCPU `vcpu` (of VM `vm`, on CPU `pcpu`): its probe (`ready`) or a packet sent on TX (`send`). */
  guestDriver(vcpu: number, vm: number, pcpu: number, what: 'ready' | 'send'): void {
    const d = this.deviceOfVm(vm);
    if (d < 0) return;
    const b = this.devices.context(d).dp;
    const ring = b.txRing.length;
    const waiting = b.guestQueue.length;
    const next = b.nextId;
    const dropped = b.dropped.length;
    const held = guestHeld(this.devices.context(d).streams);
    this.send(d, { type: what === 'ready' ? 'guest.ready' : 'guest.send' });
    const a = this.devices.context(d).dp;
    // A write on a socket still in connect() waits in it; one on a socket the peer reset fails.
    const nowHeld = guestHeld(this.devices.context(d).streams) - held;
    const refused = a.dropped.length - dropped;
    const data =
      what === 'ready'
        ? { vcpu }
        : { vcpu, packets: a.nextId - next - refused, ring: a.txRing.length - ring, waiting: a.guestQueue.length - waiting, ...(nowHeld > 0 ? { held: nowHeld } : {}), ...(refused > 0 ? { refused } : {}) };
    this.record(d, what === 'ready' ? 'guest-driver-ready' : 'guest-send', data, pcpu);
  }

  /** Interrupt `vector` was injected into vCPU `vcpu` (of VM `vm`, on CPU `pcpu`): if it is its device's, the guest's driver takes the RX ring. */
  injected(vcpu: number, vm: number, pcpu: number, vector: number): void {
    const d = this.deviceOfVm(vm);
    const spec = this.vsock[d];
    if (!spec || spec.vcpu !== vcpu || spec.vector !== vector) return;
    const before = this.devices.context(d).driver.resets;
    this.send(d, { type: 'guest.irq' });
    const c = this.devices.context(d);
    this.record(d, 'guest-rx', { vcpu, consumed: c.driver.consumed, rst: c.driver.resets - before }, pcpu);
  }

  /** A vhost ioctl (or close) of a VMM thread on its VM's device file; it returns at once. */
  vhostCall(vcpu: number, vm: number, pcpu: number, call: VmmCall): void {
    const d = this.deviceOfVm(vm);
    const name = call.ioctl;
    const number = name === 'close' ? 0 : VHOST_IOCTLS[name as VhostIoctlName];
    const where = { ns: this.host.now(), vcpu, cpu: pcpu, dev: d };
    this.host.emit({ t: 'ioctl', ...where, phase: 'call', name, number, arg: shownArg(call.arg) });
    let ret: VmmReturn;
    let names: string[] = [name];
    /** What a successful call copied out to the caller's buffer. */
    let out: number | undefined;
    if (d < 0) {
      ret = { ok: false, errno: 'EBADF', value: -9 };
    } else if (name === 'close') {
      const released = this.devices.context(d).device.released;
      if (!released) {
        // The release flushes the work; before a58da53ffd70 a non-owner's release still had backends.
        const before = this.pathMark(d);
        this.send(d, { type: 'close', ...(call.mm ? { caller: vmmCaller(vm, call.mm) } : {}) });
        this.recordPath(d, before);
      }
      ret = released ? { ok: false, errno: 'EBADF', value: -9 } : { ok: true, value: 0 };
    } else {
      // After close() the fd is gone: fdget() fails before any vhost code runs.
      const count = this.devices.context(d).device.released ? -1 : this.devices.context(d).calls.length;
      if (count >= 0) this.send(d, { type: 'ioctl', caller: vmmCaller(vm, call.mm), request: name as VhostIoctlName, arg: call.arg as IoctlArg });
      const calls = this.devices.context(d).calls;
      const rec = count >= 0 && calls.length > count ? calls[calls.length - 1] : undefined;
      names = rec?.names ?? names;
      if (rec?.ret.ok && rec.ret.value !== undefined) out = Number(rec.ret.value);
      ret = !rec
        ? { ok: false, errno: 'EBADF', value: -9 }
        : rec.ret.ok
          ? // A vhost ioctl returns 0; what it reads out (VHOST_GET_FEATURES' features, VHOST_GET_VRING_BASE's
            // index) is copied to the caller's buffer (copy_to_user in drivers/vhost/vhost.c and vsock.c).
            { ok: true, value: 0 }
          : { ok: false, errno: errnoName(rec.ret.errno) ?? `E${rec.ret.errno}`, value: -rec.ret.errno };
    }
    // Unmasking a queue whose masked notifier was signalled delivers that call (guest_notifier_pending).
    const a = call.arg as { index?: number; fd?: number } | undefined;
    if (d >= 0 && ret.ok && name === 'VHOST_SET_VRING_CALL' && typeof a?.index === 'number' && a.fd === EVENTFD.guest(a.index)) {
      if (this.devices.context(d).maskedPending[a.index]) {
        this.send(d, { type: 'masked.call', queue: a.index, clear: true });
        this.record(d, 'call', { queue: a.index, irqfd: true, pendingWhileMasked: true }, undefined, () => this.guestInterrupt(d));
      }
    }
    this.host.cause(
      {
        t: 'ioctl',
        ...where,
        phase: 'return',
        name,
        ...(names.length > 1 ? { names } : {}),
        number,
        ret: ret.value,
        ...(out !== undefined ? { out } : {}),
        ...(ret.ok ? {} : { errno: ret.errno }),
        ...(d >= 0 ? { state: this.devices.leaf(d) } : {}),
      },
      () => this.host.vmmReturn(vcpu, { type: 'ioctl.return', name, ret, exit: null }),
    );
  }

  /** One work item of device `d`'s vhost worker, its trace, and the interrupts its calls raise. */
  work(d: number): void {
    const before = this.pathMark(d);
    this.send(d, WORK);
    this.record(d, 'work', { kind: before.txWork ? 'tx' : 'send', state: this.devices.leaf(d) }, undefined, () => {
      this.recordPath(d, before);
      this.host.drain();
    });
  }

  /** Where the packet path of device `d` stands (the compiled engine updates a context in place: copy what a diff needs). */
  private pathMark(d: number) {
    const b = this.devices.context(d).dp;
    return {
      processed: b.processed.length,
      dropped: b.dropped.length,
      throttles: b.throttles,
      calls: [...b.calls],
      txWork: b.txWork,
      toGuest: b.toGuest.length,
      toHost: b.toHost.length,
    };
  }

  /** Trace what the packet path did since `before`, and raise the interrupts its calls make. */
  private recordPath(d: number, before: ReturnType<GuestVsock['pathMark']>): void {
    const after = this.devices.context(d);
    const spec = this.vsock[d] as VsockSpec;
    // Each packet taken, with its header as it lay in the ring (virtio_vsock_hdr, hex).
    const moved = new Map<number, Packet>();
    if (!this.host.lean) for (const p of [...after.dp.toGuest.slice(before.toGuest), ...after.dp.toHost.slice(before.toHost)]) moved.set(p.id, p);
    for (const p of after.dp.processed.slice(before.processed)) {
      const pkt = moved.get(p.id);
      this.record(d, 'packet', {
        id: p.id,
        queue: p.queue,
        backend: p.backend,
        queuedReplies: p.queuedReplies,
        txNum: p.txNum,
        // The wire form is for readers of the trace; no observer needs it (exploration runs lean).
        ...(pkt ? { op: pkt.op, len: pkt.len, hdr: hex(encodeHeader(headerOf(pkt))) } : {}),
      });
    }
    for (const x of after.dp.dropped.slice(before.dropped)) this.record(d, 'drop', { id: x.id, reason: x.reason });
    if (after.dp.throttles > before.throttles) this.record(d, 'tx-throttled', { queuedReplies: after.dp.queuedReplies, txNum: after.device.vqs[1].num });
    for (const q of [0, 1] as const) {
      if (after.dp.calls[q] === before.calls[q]) continue;
      // vhost_signal → eventfd_signal(call_ctx): an irqfd only when QEMU unmasked the queue.
      const irqfd = after.device.vqs[q].callFd === EVENTFD.guest(q);
      // A masked notifier keeps the call pending in the VMM until the queue is unmasked.
      this.record(d, 'call', { queue: q, irqfd }, undefined, () => {
        if (irqfd) this.guestInterrupt(d);
        else this.send(d, { type: 'masked.call', queue: q });
      });
    }
  }

  /** The device's interrupt for its VM's first vCPU (kvm_set_irq), with a kick if that vCPU is in guest mode. */
  private guestInterrupt(d: number): void {
    const spec = this.vsock[d] as VsockSpec;
    this.host.interrupt(spec.vcpu, spec.vector, spec.worker);
  }

  /** A host socket on `cpu` sends to a guest CID (vhost_transport_send_pkt); −ENODEV without such a device. */
  hostSend(cpu: number, send: TrafficSpec & { cid: number }): void {
    this.host.queue(() => this.hostSendNow(cpu, send));
  }

  private hostSendNow(cpu: number, send: TrafficSpec & { cid: number }): void {
    let d = -1;
    for (let i = 0; i < this.devices.size; i++) {
      const dev = this.devices.context(i).device;
      // The CID hash holds each CID once among live instances (SET_GUEST_CID refuses a second).
      if (!dev.released && dev.guestCid === send.cid) {
        d = i;
        break;
      }
    }
    if (d < 0) {
      this.host.emit({ t: 'vsock', ns: this.host.now(), dev: -1, cpu, what: 'host-send', data: { cid: send.cid, errno: 'ENODEV', count: send.count } });
      return;
    }
    const { cid: _cid, ...traffic } = send;
    const dropped = this.devices.context(d).dp.dropped.length;
    this.send(d, { type: 'host.send', ...traffic });
    // A write on a socket whose connection the peer reset fails: its packets never go on the wire.
    const refused = this.devices.context(d).dp.dropped.length - dropped;
    this.host.emit({ t: 'vsock', ns: this.host.now(), dev: d, cpu, what: 'host-send', data: { ...send, ...(refused > 0 ? { refused } : {}) } });
  }

  /** Send device `d` an event: its chart moves (Guests' bookkeeping), with its `gstep` and the credit records it sets off. */
  send(d: number, event: VsockEvent): void {
    this.host.deviceMoved(d);
    // Streams are replaced, never changed in place: a stream object that is not the one before moved.
    const was = new Map(this.devices.context(d).streams.map((s) => [s.key, s]));
    const ended = this.devices.context(d).streamEnds.length;
    const from = this.devices.leaf(d);
    this.devices.send(d, event);
    this.host.deviceMoved(d);
    const to = this.devices.leaf(d);
    if (to !== from) this.host.emit({ t: 'gstep', ns: this.host.now(), actor: 'vsock', vcpu: d, cpu: this.worker(d), from, to });
    // Every stream an RST ended: the socket's error and the writes that never went out.
    for (const e of this.devices.context(d).streamEnds.slice(ended)) this.record(d, 'stream-end', { ...e });
    // Every change of a stream's credit, for the credit observer.
    for (const s of this.devices.context(d).streams) {
      if (was.get(s.key) === s) continue;
      this.record(d, 'credit', {
        key: s.key,
        h2g: { ...s.h2g },
        g2h: { ...s.g2h },
        backlog: s.backlog.reduce((n, b) => n + b, 0),
        ...(s.established ? {} : { connecting: s.opener }),
        ...(s.guestBacklog.length > 0 ? { guestHeld: s.guestBacklog.reduce((n, l) => n + l.count, 0) } : {}),
      });
    }
  }

  /** The vsock device of a VM, or -1. */
  private deviceOfVm(vm: number): number {
    return this.vsock.findIndex((s) => s.vm === vm);
  }

  /**
   * A packet-path record; `cpu`: where it happened (the worker's CPU unless a vCPU's); `effects`: what
   * it sets off (the record names the vCPU and VMM leaves they move).
   */
  private record(d: number, what: string, data: Record<string, unknown>, cpu = this.worker(d), effects?: () => void): void {
    const record: TraceRecord = { t: 'vsock', ns: this.host.now(), dev: d, cpu, what, data };
    if (effects) this.host.cause(record, effects);
    else this.host.emit(record);
  }
}
