/**
 * The guest's end of vhost-vsock, reduced to what reaches the device: the virtio-vsock driver
 * (net/vmw_vsock/virtio_transport.c) filling RX buffers and sending on TX, and the guest's vsock
 * transport answering what arrives (virtio_transport_recv_pkt, net/vmw_vsock/virtio_transport_common.c).
 *
 * - `driverReady`: the new driver's probe before DRIVER_OK: it forgets every connection of the
 *   previous boot, fills the RX ring (virtio_vsock_rx_fill) and kicks it.
 * - `sendNext`: the next entry of the guest's traffic, put in the TX ring and kicked. A REQUEST
 *   opens a connection on the guest side.
 * - `receive`: the interrupt (virtio_vsock_tx_done reclaims the used TX descriptors and sends what
 *   waited for one; virtio_vsock_rx_done → rx work): each packet the device put in the
 *   RX ring since the last interrupt is handed to the transport, which answers a packet for a
 *   connection it does not know with RST (virtio_transport_reset_no_sock) unless it is an RST itself,
 *   and a REQUEST to a listening port with RESPONSE; then the ring is refilled and kicked.
 *
 * Not modelled: the guest's credit accounting, its event queue, SEQPACKET message boundaries.
 */
import { guestPostRx, guestReclaimTx, guestSend, guestSendAll, streamKey, type DataPath, type OpName } from './datapath.js';
import { VMADDR_CID_HOST } from './device.js';

/** One line of a guest's or host's traffic: `count` packets alike. */
export interface TrafficSpec {
  op: OpName;
  srcPort: number;
  dstPort: number;
  len: number;
  count: number;
}

export interface GuestDriver {
  /** The driver has probed (DRIVER_OK written) since the last reset. */
  readonly ready: boolean;
  /** Connections the guest transport holds, as "guestPort>hostPort". */
  readonly connections: readonly string[];
  /** Packets of `dp.toGuest` the guest has taken from its RX ring. */
  readonly consumed: number;
  /** The next entry of the guest's traffic to send. */
  readonly nextSend: number;
  /** RST answers the guest transport sent for packets it had no socket for. */
  readonly resets: number;
}

export interface GuestConfig {
  /** The guest's CID as QEMU's config space gives it (guest-cid=): what the driver stamps as src_cid. */
  readonly cid: number;
  /** RX buffers the driver keeps posted (its ring size in QEMU's default is 128; the model keeps fewer). */
  readonly rxBuffers: number;
  /** Ports a guest socket listens on. */
  readonly listen: readonly number[];
  readonly traffic: readonly TrafficSpec[];
}

export const NEW_DRIVER: GuestDriver = { ready: false, connections: [], consumed: 0, nextSend: 0, resets: 0 };

/**
 * The guest was reset: the driver and its sockets are gone, with its RX buffers and whatever it had
 * put in the TX ring and the worker had not taken yet (the new driver's rings start at index 0).
 */
export function driverReset(dp: DataPath, g: GuestDriver): { dp: DataPath; g: GuestDriver } {
  const lost = [...dp.txRing, ...dp.guestQueue].map((p) => ({ id: p.id, reason: 'guest-reset' as const }));
  return {
    dp: { ...dp, rxBuffers: 0, txRing: [], guestQueue: [], txUnreclaimed: 0, txLeaked: 0, rxLeaked: 0, txWork: false, dropped: [...dp.dropped, ...lost] },
    g: { ...NEW_DRIVER, consumed: dp.toGuest.length, nextSend: g.nextSend, resets: g.resets },
  };
}

/** Probe of a new driver: no connections, the RX ring filled and kicked. */
export function driverReady(dp: DataPath, g: GuestDriver, cfg: GuestConfig): { dp: DataPath; g: GuestDriver } {
  const filled = guestPostRx({ ...dp, rxBuffers: 0 }, cfg.rxBuffers);
  return { dp: filled, g: { ...g, ready: true, connections: [], consumed: dp.toGuest.length } };
}

/**
 * The guest sends its next traffic entry on TX (and kicks); nothing when it has none left or no
 * driver. `hdr`: the stream header (buf_alloc, fwd_cnt) when the line belongs to a stream.
 */
export function sendNext(
  dp0: DataPath,
  g: GuestDriver,
  cfg: GuestConfig,
  hdr?: { bufAlloc: number; fwdCnt: number },
): { dp: DataPath; g: GuestDriver; sent: number } {
  const spec = cfg.traffic[g.nextSend];
  if (!g.ready || spec === undefined) return { dp: dp0, g, sent: 0 };
  const one = { srcCid: cfg.cid, dstCid: VMADDR_CID_HOST, srcPort: spec.srcPort, dstPort: spec.dstPort, op: spec.op, len: spec.len, ...(hdr ?? {}) };
  const dp = guestSendAll(dp0, Array.from({ length: spec.count }, () => one));
  const key = streamKey(spec.srcPort, spec.dstPort);
  const connections = spec.op === 'REQUEST' && !g.connections.includes(key) ? [...g.connections, key] : g.connections;
  return { dp, g: { ...g, nextSend: g.nextSend + 1, connections }, sent: spec.count };
}

/**
 * The guest's program issued its next traffic line but nothing goes on TX now: its socket holds the
 * write until the connection is established, or the write failed on a reset socket.
 */
export function skipNext(g: GuestDriver, cfg: GuestConfig): GuestDriver {
  return g.ready && cfg.traffic[g.nextSend] !== undefined ? { ...g, nextSend: g.nextSend + 1 } : g;
}

/**
 * The RX interrupt: the transport takes what arrived, answers, and the driver refills the ring.
 * `header(key)`: what the guest socket of a connection stamps (buf_alloc, fwd_cnt) — the RESPONSE of a
 * listener carries it (virtio_transport_send_response → virtio_transport_inc_tx_pkt).
 */
export function receive(
  dp0: DataPath,
  g0: GuestDriver,
  cfg: GuestConfig,
  header: (key: string) => { bufAlloc: number; fwdCnt: number } | undefined = () => undefined,
): { dp: DataPath; g: GuestDriver } {
  if (!g0.ready) return { dp: dp0, g: g0 };
  // virtio_vsock_tx_done: the used TX descriptors are reclaimed and the driver's queue moves in.
  let dp = guestReclaimTx(dp0);
  let g = g0;
  const arrived = dp.toGuest.slice(g.consumed);
  for (const p of arrived) {
    const key = streamKey(p.dstPort, p.srcPort);
    const known = g.connections.includes(key);
    if (p.op === 'RST') {
      if (known) g = { ...g, connections: g.connections.filter((c) => c !== key) };
      continue;
    }
    if (known) continue;
    const answer = p.op === 'REQUEST' && cfg.listen.includes(p.dstPort) ? ('RESPONSE' as const) : ('RST' as const);
    const hdr = answer === 'RESPONSE' ? header(key) : undefined;
    dp = guestSend(dp, { srcCid: cfg.cid, dstCid: p.srcCid, srcPort: p.dstPort, dstPort: p.srcPort, op: answer, len: 0, ...(hdr ?? {}) }).dp;
    g = answer === 'RESPONSE' ? { ...g, connections: [...g.connections, key] } : { ...g, resets: g.resets + 1 };
  }
  g = { ...g, consumed: dp.toGuest.length };
  // virtio_vsock_rx_fill tops the ring up and kicks it: handle_rx_kick runs the send work.
  const refill = Math.max(0, cfg.rxBuffers - dp.rxBuffers);
  dp = refill > 0 || dp.sendQueue.length > 0 ? guestPostRx(dp, refill) : dp;
  return { dp, g };
}
