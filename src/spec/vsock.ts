/**
 * vhost-vsock properties of a run (docs/model.md §5.7), checked from the trace:
 *
 * - `vsock-no-packet-without-backend`: the worker takes no packet from a queue while that queue's
 *   backend is NULL. The backend is re-derived from the ioctls the trace shows — a successful
 *   SET_RUNNING 1 sets it, SET_RUNNING 0 and close() clear it, a start that fails with −EFAULT
 *   clears it (all or nothing, docs/model.md §5.3), any other failure leaves it — never from the device's state.
 * - `vsock-replies-throttle-tx`: TX is never processed while queued_replies ≥ TX.num: the handler
 *   must stop first (checked on each packet the worker took, with the counts it saw).
 * - `vsock-packets-balance`: at the end, every packet is delivered, queued or dropped with a reason:
 *   sent = delivered + queued + dropped.
 * - `vsock-credit-never-negative` (below): the stream credit of every connection, both ways.
 */
import type { TraceRecord } from '../trace/records.js';
import type { Applicability, Observer, Violation } from './observer.js';

/** Every vsock property watches the records of a vhost-vsock device: without one there are none. */
const needsVsockDevice: Applicability = (s) => (s.vsock.length === 0 ? 'the scenario has no vhost-vsock device (a VM with "vsock")' : null);

const RUNNING = new Set(['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING']);

export class VsockNoPacketWithoutBackend implements Observer {
  static readonly inapplicable = needsVsockDevice;
  readonly property = 'vsock-no-packet-without-backend';
  readonly reads = ['ioctl', 'vsock'] as const;
  private backend = new Map<number, boolean>();
  /** The argument of the SET_RUNNING call in flight, per device. */
  private arg = new Map<number, unknown>();
  private found: Violation[] = [];

  observe(r: TraceRecord): void {
    if (r.t === 'ioctl' && r.dev !== undefined) {
      const named = RUNNING.has(r.name) || (r.names ?? []).some((n) => RUNNING.has(n));
      if (r.phase === 'call') {
        if (named) this.arg.set(r.dev, r.arg);
        return;
      }
      if (r.name === 'close' && r.errno === undefined) this.backend.set(r.dev, false);
      if (!named) return;
      // An argument the kernel could not read (copy_from_user failed: −EFAULT) changes nothing.
      const arg = this.arg.get(r.dev);
      if (typeof arg !== 'number') return;
      const start = arg !== 0;
      if (r.errno === undefined) this.backend.set(r.dev, start);
      else if (start && r.errno === 'EFAULT') this.backend.set(r.dev, false);
      return;
    }
    if (r.t === 'vsock' && r.what === 'packet' && this.backend.get(r.dev) !== true) {
      const queue = r.data.queue === 0 ? 'RX' : 'TX';
      this.found.push({
        property: this.property,
        message: `vsock ${r.dev}: packet ${String(r.data.id)} was processed on the ${queue} queue at ${r.ns} ns while its backend was NULL`,
      });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /**
   * The backend each device has, as re-derived from the ioctls, and the SET_RUNNING argument in
   * flight: whether a later packet is a violation. Violations found are reported. And, once a
   * device has shown, the path's clock: the message names a packet's time, which the machine
   * state does not hold (it keeps times relative to now).
   */
  remembers(now: number): string {
    if (this.backend.size === 0 && this.arg.size === 0) return '';
    const entries = (m: Map<number, unknown>) =>
      [...m]
        .sort((a, b) => a[0] - b[0])
        .map(([dev, v]) => `${dev}=${JSON.stringify(v) ?? 'undefined'}`)
        .join(',');
    return `${entries(this.backend)}|${entries(this.arg)}|${now}`;
  }

  clone(): VsockNoPacketWithoutBackend {
    const c = new VsockNoPacketWithoutBackend();
    c.backend = new Map(this.backend);
    c.arg = new Map(this.arg);
    c.found = [...this.found];
    return c;
  }
}

export class VsockRepliesThrottleTx implements Observer {
  static readonly inapplicable = needsVsockDevice;
  readonly property = 'vsock-replies-throttle-tx';
  readonly reads = ['vsock'] as const;
  private found: Violation[] = [];

  observe(r: TraceRecord): void {
    if (r.t !== 'vsock' || r.what !== 'packet' || r.data.queue !== 1) return;
    const replies = Number(r.data.queuedReplies);
    const num = Number(r.data.txNum);
    if (replies >= num) {
      this.found.push({
        property: this.property,
        message: `vsock ${r.dev}: TX packet ${String(r.data.id)} was processed with queued_replies ${replies} ≥ TX.num ${num}`,
      });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /** Nothing: each packet is judged by the counts its own record carries. */
  remembers(): string {
    return '';
  }

  clone(): VsockRepliesThrottleTx {
    const c = new VsockRepliesThrottleTx();
    c.found = [...this.found];
    return c;
  }
}

export class VsockPacketsBalance implements Observer {
  static readonly inapplicable = needsVsockDevice;
  readonly property = 'vsock-packets-balance';
  readonly reads = ['vsfinal'] as const;
  private found: Violation[] = [];

  observe(r: TraceRecord): void {
    if (r.t !== 'vsfinal') return;
    const p = r.packets;
    const dropped = p.dropped.reduce((n, d) => n + d.count, 0);
    if (p.sent !== p.delivered + p.queued + dropped) {
      this.found.push({
        property: this.property,
        message: `vsock ${r.dev}: sent ${p.sent} ≠ delivered ${p.delivered} + queued ${p.queued} + dropped ${dropped}`,
      });
    }
    if (r.queuedReplies < 0) this.found.push({ property: this.property, message: `vsock ${r.dev}: queued_replies is ${r.queuedReplies}` });
    // By identity: every packet id 1..sent in exactly one fate, the counts those of the lists.
    const f = r.fates;
    const ids = [...f.delivered, ...f.queued, ...f.dropped.map((d) => d.id)];
    const seen = new Set<number>();
    for (const id of ids) {
      if (seen.has(id)) this.found.push({ property: this.property, message: `vsock ${r.dev}: packet ${id} has two fates` });
      seen.add(id);
    }
    for (let id = 1; id <= p.sent; id++) if (!seen.has(id)) this.found.push({ property: this.property, message: `vsock ${r.dev}: packet ${id} has no fate` });
    if (f.delivered.length !== p.delivered || f.queued.length !== p.queued || f.dropped.length !== dropped) {
      this.found.push({ property: this.property, message: `vsock ${r.dev}: the counts do not match the packets listed in each fate` });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /** Nothing: the balance is judged from the `vsfinal` record alone. */
  remembers(): string {
    return '';
  }

  clone(): VsockPacketsBalance {
    const c = new VsockPacketsBalance();
    c.found = [...this.found];
    return c;
  }
}

/**
 * `vsock-credit-never-negative`: on every stream, in each direction, the sender never has more
 * bytes in flight than the receiver last advertised (tx_cnt − peer_fwd_cnt ≤ peer_buf_alloc), and
 * the receiver never holds more than its buffer (rx_cnt − fwd_cnt ≤ buf_alloc).
 */
export class VsockCreditNeverNegative implements Observer {
  static readonly inapplicable = needsVsockDevice;
  readonly property = 'vsock-credit-never-negative';
  readonly reads = ['vsock'] as const;
  private found: Violation[] = [];

  observe(r: TraceRecord): void {
    if (r.t !== 'vsock' || r.what !== 'credit') return;
    for (const dir of ['h2g', 'g2h'] as const) {
      const c = r.data[dir] as { txCnt: number; peerBufAlloc: number; peerFwdCnt: number; rxCnt: number; fwdCnt: number; bufAlloc: number } | undefined;
      if (!c) continue;
      const inFlight = c.txCnt - c.peerFwdCnt;
      const name = `vsock ${r.dev} stream ${String(r.data.key)} ${dir === 'h2g' ? 'host→guest' : 'guest→host'}`;
      if (inFlight > c.peerBufAlloc) this.found.push({ property: this.property, message: `${name}: ${inFlight} bytes in flight > advertised buf_alloc ${c.peerBufAlloc}` });
      if (c.rxCnt - c.fwdCnt > c.bufAlloc) this.found.push({ property: this.property, message: `${name}: receiver holds ${c.rxCnt - c.fwdCnt} bytes > buf_alloc ${c.bufAlloc}` });
    }
  }

  violations(): Violation[] {
    return this.found;
  }

  /** Nothing: each credit record carries all the counts it is judged by. */
  remembers(): string {
    return '';
  }

  clone(): VsockCreditNeverNegative {
    const c = new VsockCreditNeverNegative();
    c.found = [...this.found];
    return c;
  }
}
