/**
 * The vhost-vsock packet path (docs/model.md §5.5) as pure functions over one device: the guest's TX
 * ring and RX buffers, the host's `send_pkt_queue`, `queued_replies`, and the two work functions of
 * the vhost worker, `vhost_vsock_handle_tx_kick` and `vhost_transport_do_send_pkt`, loop by loop.
 *
 * Every packet gets an id when it is created and one fate in the ledger: delivered (to the guest's
 * RX ring or to the host transport), still queued (in the TX ring or the send queue), or dropped
 * with the kernel's reason. `balance` checks sent = delivered + queued + dropped.
 *
 * The host side of the transport is reduced to what the worker needs: listening ports answer a
 * guest REQUEST with a RESPONSE, anything for a port that does not listen is answered with RST, and
 * both answers are replies (`virtio_vsock_skb_reply`), which count in `queued_replies`.
 *
 * Not modelled here yet: `vhost_transport_cancel_pkt` (a closing socket's queued packets and its
 * TX restart), event-index notification suppression (a kick or call is always
 * delivered), descriptor chains (one descriptor per packet in TX; RX buffers hold `rxBufSize`
 * bytes of header and payload), mergeable fragments' EOM/EOR bits, and the vsock tap device.
 *
 * The packet, the data path's state and its constants are in datapath-state.ts, re-exported here.
 */
import type { Virtqueue, VsockDevice } from './device.js';
import { VMADDR_CID_HOST, VSOCK_VQ_RX, VSOCK_VQ_TX } from './device.js';
import { MAINLINE_VHOST, type VhostKernel } from './kernel.js';
import {
  BYTE_WEIGHT,
  HDR_SIZE,
  MAX_PKT_BUF_SIZE,
  PKT_WEIGHT,
  streamKey,
  type DataPath,
  type DropReason,
  type Packet,
} from './datapath-state.js';

export * from './datapath-state.js';

type NewPacket = Omit<Packet, 'id' | 'reply'>;

/** Free TX descriptors: the ring less what waits in it and what the worker used but the guest has not reclaimed. */
function txFree(dp: DataPath): number {
  return dp.txRingSize === 0 ? Number.POSITIVE_INFINITY : dp.txRingSize - dp.txRing.length - dp.txUnreclaimed - dp.txLeaked;
}

/**
 * The guest driver sends a packet: into a free TX descriptor and kicked, or, with the ring full,
 * into its own queue (virtio_vsock's send_pkt_queue) until descriptors are reclaimed.
 */
export function guestSend(dp: DataPath, p: NewPacket): { dp: DataPath; id: number } {
  const pkt: Packet = { ...p, id: dp.nextId, reply: false };
  if (dp.guestQueue.length > 0 || txFree(dp) <= 0) return { dp: { ...dp, nextId: dp.nextId + 1, guestQueue: [...dp.guestQueue, pkt] }, id: pkt.id };
  return { dp: { ...dp, nextId: dp.nextId + 1, txRing: [...dp.txRing, pkt], txWork: true }, id: pkt.id };
}

/** `guestSend` of several packets in order, appended at once (a burst of one traffic line). */
export function guestSendAll(dp: DataPath, ps: readonly NewPacket[]): DataPath {
  if (ps.length === 0) return dp;
  const free = dp.guestQueue.length > 0 ? 0 : Math.max(0, Math.min(txFree(dp), ps.length));
  let nextId = dp.nextId;
  const made = ps.map((p): Packet => ({ ...p, id: nextId++, reply: false }));
  const intoRing = made.slice(0, free);
  const waiting = made.slice(free);
  return {
    ...dp,
    nextId,
    txRing: intoRing.length ? dp.txRing.concat(intoRing) : dp.txRing,
    guestQueue: waiting.length ? dp.guestQueue.concat(waiting) : dp.guestQueue,
    txWork: dp.txWork || intoRing.length > 0,
  };
}

/** The guest's TX interrupt: used descriptors reclaimed, its queue moved into the freed ones and kicked. */
export function guestReclaimTx(dp: DataPath): DataPath {
  const reclaimed = { ...dp, txUnreclaimed: 0 };
  const room = Math.min(txFree(reclaimed), reclaimed.guestQueue.length);
  if (room <= 0) return reclaimed;
  return {
    ...reclaimed,
    txRing: reclaimed.txRing.concat(reclaimed.guestQueue.slice(0, room)),
    guestQueue: reclaimed.guestQueue.slice(room),
    txWork: true,
  };
}

/** The guest driver posts RX buffers and kicks the RX queue (handle_rx_kick runs the send work). */
export function guestPostRx(dp: DataPath, buffers0: number): DataPath {
  // Never more buffers than the ring has descriptors.
  const buffers = dp.rxRingSize === 0 ? buffers0 : Math.max(0, Math.min(buffers0, dp.rxRingSize - dp.rxBuffers - dp.rxLeaked));
  return { ...dp, rxBuffers: dp.rxBuffers + buffers, sendWork: true };
}

/**
 * `vhost_transport_send_pkt`: a host socket sends to `dstCid`. No instance with that CID →
 * −ENODEV and no packet. Otherwise the packet is queued and the send work queued — whether or
 * not the device runs: a stopped device keeps it queued.
 */
export function hostSend(dp: DataPath, device: VsockDevice, p: Omit<NewPacket, 'srcCid'>, reply = false): { dp: DataPath; id: number | null } {
  if (device.released || device.guestCid === 0 || device.guestCid !== p.dstCid) return { dp, id: null };
  const pkt: Packet = { ...p, srcCid: VMADDR_CID_HOST, id: dp.nextId, reply };
  return {
    dp: {
      ...dp,
      nextId: dp.nextId + 1,
      sendQueue: [...dp.sendQueue, pkt],
      queuedReplies: dp.queuedReplies + (reply ? 1 : 0),
      sendWork: true,
    },
    id: pkt.id,
  };
}

/** `hostSend` of several packets (one write, or a burst of one socket), appended to the queue at once. */
export function hostSendAll(dp: DataPath, device: VsockDevice, ps: readonly Omit<NewPacket, 'srcCid'>[]): DataPath {
  if (ps.length === 0 || device.released || device.guestCid === 0) return dp;
  const queued: Packet[] = [];
  let nextId = dp.nextId;
  for (const p of ps) {
    if (device.guestCid !== p.dstCid) continue;
    queued.push({ ...p, srcCid: VMADDR_CID_HOST, id: nextId++, reply: false });
  }
  if (queued.length === 0) return dp;
  return { ...dp, nextId, sendQueue: dp.sendQueue.concat(queued), sendWork: true };
}

/**
 * The host transport's answer to a guest packet it received (virtio_transport_recv_pkt, reduced):
 * the reply it queues (if any) and the connections after it.
 */
function answerOf(connections: readonly string[], listening: readonly number[], pkt: Packet): { reply: 'RST' | 'RESPONSE' | null; connections: readonly string[] } {
  const key = streamKey(pkt.srcPort, pkt.dstPort);
  if (pkt.op === 'RST') return { reply: null, connections: connections.filter((c) => c !== key) }; // never answered
  if (connections.includes(key)) return { reply: null, connections }; // a connected socket takes it
  if (!listening.includes(pkt.dstPort)) return { reply: 'RST', connections };
  // virtio_transport_recv_listen: anything but a REQUEST to a listener is reset.
  if (pkt.op !== 'REQUEST') return { reply: 'RST', connections };
  return { reply: 'RESPONSE', connections: [...connections, key] };
}

export interface WorkResult {
  dp: DataPath;
  /** The device with the queue's last_avail_idx advanced past the descriptors the run took. */
  device: VsockDevice;
}

/** `last_avail_idx` is a free-running u16: vhost_get_vq_desc increments it per descriptor taken. */
function advanced(device: VsockDevice, queue: 0 | 1, taken: number): VsockDevice {
  if (taken === 0) return device;
  const vqs: [Virtqueue, Virtqueue] = [device.vqs[0], device.vqs[1]];
  vqs[queue] = { ...vqs[queue], lastAvailIdx: (vqs[queue].lastAvailIdx + taken) & 0xffff };
  return { ...device, vqs };
}

/**
 * The lists a work run appends to, copied once per run and appended in place (a per-packet spread
 * would make a run over n packets cost n² copies); `dp` is rebuilt from them at the end.
 */
function ledger(dp: DataPath) {
  return {
    processed: dp.processed.slice(),
    dropped: dp.dropped.slice(),
    txUsed: dp.txUsed.slice(),
    toGuest: dp.toGuest.slice(),
    toHost: dp.toHost.slice(),
  };
}

/**
 * The ledger's lists, each the original where nothing was appended: an unchanged value keeps its
 * identity (exploration hashes a value once while it lives: json() in src/state/codec.ts).
 */
function settled(l: ReturnType<typeof ledger>, dp: DataPath): Pick<DataPath, keyof ReturnType<typeof ledger>> {
  const same = <T>(copy: T[], original: readonly T[]): readonly T[] => (copy.length === original.length ? original : copy);
  return {
    processed: same(l.processed, dp.processed),
    dropped: same(l.dropped, dp.dropped),
    txUsed: same(l.txUsed, dp.txUsed),
    toGuest: same(l.toGuest, dp.toGuest),
    toHost: same(l.toHost, dp.toHost),
  };
}

/** `vhost_vsock_handle_tx_kick`: one work run over the TX queue. */
export function handleTxKick(dp0: DataPath, device: VsockDevice, kernel: VhostKernel = MAINLINE_VHOST): WorkResult {
  let dp: DataPath = { ...dp0, txWork: false };
  const vq = device.vqs[VSOCK_VQ_TX];
  if (!vq.backend) return { dp, device };
  const l = ledger(dp);
  const ring = dp.txRing;
  // The host transport's replies go to the send queue, counted in queued_replies as they are made.
  const sendQueue = dp.sendQueue.slice();
  let queuedReplies = dp.queuedReplies;
  let nextId = dp.nextId;
  let connections = dp.connections;
  let next = 0; // ring index of the next descriptor
  let pkts = 0;
  let bytes = 0;
  let added = false;
  let errors = 0;
  for (;;) {
    if (queuedReplies >= vq.num) {
      // Stop TX until the replies drain; notifications stay off, so only the restart resumes it.
      dp = { ...dp, txThrottled: true, throttles: dp.throttles + 1 };
      break;
    }
    const pkt = ring[next];
    if (pkt === undefined) break; // head == vq->num: re-enable notification, nothing more
    next += 1;
    l.processed.push({ id: pkt.id, queue: VSOCK_VQ_TX, backend: vq.backend, queuedReplies, txNum: vq.num });
    if (pkt.len > MAX_PKT_BUF_SIZE) {
      // vhost_vsock_alloc_skb failed: vq_err signals the error eventfd and `continue`s to the
      // weight check; the descriptor is never marked used and no bytes are counted.
      l.dropped.push({ id: pkt.id, reason: 'faulted' });
      errors += 1;
      pkts += 1;
      if (pkts >= PKT_WEIGHT || bytes >= BYTE_WEIGHT) {
        dp = { ...dp, txWork: true };
        break;
      }
      continue;
    }
    added = true;
    bytes += HDR_SIZE + pkt.len;
    // vhost_add_used(vq, head, 0), or before 49d8c5ffad07 `len += sizeof(pkt->hdr)` with len = pkt->len.
    l.txUsed.push({ id: pkt.id, len: kernel.txUsedLenZero ? 0 : HDR_SIZE + pkt.len });
    if (pkt.srcCid === device.guestCid && pkt.dstCid === VMADDR_CID_HOST) {
      l.toHost.push(pkt);
      // The host transport's answer may queue a reply (and count it) before the next descriptor;
      // vhost_transport_send_pkt finds no instance for CID 0, so a device without one sends none.
      const a = answerOf(connections, dp.listening, pkt);
      connections = a.connections;
      if (a.reply !== null && device.guestCid !== 0) {
        sendQueue.push({ dstCid: pkt.srcCid, srcPort: pkt.dstPort, dstPort: pkt.srcPort, len: 0, op: a.reply, srcCid: VMADDR_CID_HOST, id: nextId++, reply: true });
        queuedReplies += 1;
      }
    } else {
      l.dropped.push({ id: pkt.id, reason: 'misaddressed' });
    }
    pkts += 1;
    if (pkts >= PKT_WEIGHT || bytes >= BYTE_WEIGHT) {
      dp = { ...dp, txWork: true }; // vhost_exceeds_weight re-queues the work
      break;
    }
  }
  // A used descriptor is the guest's to reclaim on its interrupt; a faulted one was never marked used
  // (vq_err and `continue`): the guest never gets it back.
  const replied = sendQueue.length > dp.sendQueue.length;
  dp = {
    ...dp,
    ...settled(l, dp),
    sendQueue: replied ? sendQueue : dp.sendQueue,
    queuedReplies,
    nextId,
    connections,
    ...(replied ? { sendWork: true } : {}),
    txRing: next === 0 ? ring : ring.slice(next),
    txUnreclaimed: dp.txUnreclaimed + next - errors,
    txLeaked: dp.txLeaked + errors,
    errors: errors === 0 ? dp.errors : [dp.errors[0], dp.errors[1] + errors],
  };
  if (added) dp = { ...dp, calls: [dp.calls[0], dp.calls[1] + 1] };
  return { dp, device: advanced(device, VSOCK_VQ_TX, pkts) };
}

/** `vhost_transport_do_send_pkt`: one run of the send work over the RX queue. */
export function doSendPkt(dp0: DataPath, device: VsockDevice): WorkResult {
  let dp: DataPath = { ...dp0, sendWork: false };
  const vq = device.vqs[VSOCK_VQ_RX];
  const txNum = device.vqs[VSOCK_VQ_TX].num;
  if (!vq.backend) return { dp, device }; // packets stay queued
  const l = ledger(dp);
  const queue = dp.sendQueue;
  let next = 0; // index of the head packet in the send queue
  let headOffset = dp.headOffset;
  let rxBuffers = dp.rxBuffers;
  let queuedReplies = dp.queuedReplies;
  let rxErrors = 0;
  let pkts = 0;
  let bytes = 0;
  let added = false;
  let restartTx = false;
  let again = false;
  for (;;) {
    const pkt = queue[next];
    if (pkt === undefined) break;
    if (rxBuffers === 0) break; // no buffer: the packet goes back to the head, notify re-enabled
    if (dp.rxBufSize < HDR_SIZE) {
      // "Buffer len too small": the packet is freed, vq_err, and the loop stops. The descriptor is
      // not returned, and a reply dropped here never gives back its queued_replies count.
      rxBuffers -= 1;
      next += 1;
      headOffset = 0;
      l.dropped.push({ id: pkt.id, reason: 'rx-buffer-too-small' });
      rxErrors += 1;
      pkts += 1;
      break;
    }
    const room = dp.rxBufSize - HDR_SIZE;
    const left = pkt.len - headOffset;
    const chunk = Math.min(left, room);
    rxBuffers -= 1;
    if (headOffset === 0) l.processed.push({ id: pkt.id, queue: VSOCK_VQ_RX, backend: vq.backend, queuedReplies, txNum });
    added = true;
    bytes += chunk; // do_send_pkt counts payload bytes only
    if (chunk < left) {
      headOffset += chunk; // the rest goes into the next buffer
    } else {
      next += 1;
      headOffset = 0;
      l.toGuest.push(pkt);
      if (pkt.reply) {
        queuedReplies -= 1;
        if (queuedReplies + 1 === txNum) restartTx = true; // "Do we have resources to resume tx processing?"
      }
    }
    pkts += 1;
    if (pkts >= PKT_WEIGHT || bytes >= BYTE_WEIGHT) {
      again = true;
      break;
    }
  }
  dp = {
    ...dp,
    ...settled(l, dp),
    sendQueue: next === 0 ? queue : queue.slice(next),
    headOffset,
    rxBuffers,
    queuedReplies,
    errors: rxErrors === 0 ? dp.errors : [dp.errors[0] + rxErrors, dp.errors[1]],
    rxLeaked: dp.rxLeaked + rxErrors,
    sendWork: again,
  };
  if (added) dp = { ...dp, calls: [dp.calls[0] + 1, dp.calls[1]] };
  if (restartTx) dp = { ...dp, txThrottled: false, txWork: true };
  return { dp, device: advanced(device, VSOCK_VQ_RX, pkts) };
}

/**
 * close() of the device file (vhost_vsock_dev_release): stop, flush, purge the send queue.
 * `atFlush` is `close()`'s device as the flush sees it. Normally its backends are NULL and the
 * flushed work does nothing; before `vsock-release-no-owner-check` a release by a task that is not
 * the owner left them set, so the pending TX kick and send work run during the flush — the guest's
 * TX packets reach the host and queued packets go into its RX ring instead of being purged
 * (derived from the pre-fix code; the model runs each pending work once, TX first).
 */
export function release(dp0: DataPath, atFlush?: VsockDevice, kernel: VhostKernel = MAINLINE_VHOST): DataPath {
  let dp = dp0;
  if (atFlush !== undefined) {
    let device = atFlush;
    if (dp.txWork) ({ dp, device } = handleTxKick(dp, device, kernel));
    if (dp.sendWork) ({ dp, device } = doSendPkt(dp, device));
  }
  return {
    ...dp,
    sendQueue: [],
    headOffset: 0,
    queuedReplies: 0,
    dropped: [...dp.dropped, ...dp.sendQueue.map((p) => ({ id: p.id, reason: 'released' as const }))],
    txWork: false,
    sendWork: false,
  };
}

/**
 * `count` packets a socket was to send and never put on the wire (its connection failed or was
 * reset first): they get ids and go straight into the ledger as dropped for `reason`, so the
 * balance counts what the programs asked to send, not only what reached a queue.
 */
export function neverSent(dp: DataPath, count: number, reason: DropReason): DataPath {
  if (count <= 0) return dp;
  const lost = Array.from({ length: count }, (_, i) => ({ id: dp.nextId + i, reason }));
  return { ...dp, nextId: dp.nextId + count, dropped: [...dp.dropped, ...lost] };
}

export interface Balance {
  sent: number;
  delivered: number;
  queued: number;
  dropped: { reason: DropReason; count: number }[];
}

/** Every packet created is delivered, still queued, or dropped for a reason — exactly once. */
export function balance(dp: DataPath): Balance {
  const counts = new Map<DropReason, number>();
  for (const d of dp.dropped) counts.set(d.reason, (counts.get(d.reason) ?? 0) + 1);
  return {
    sent: dp.nextId - 1,
    delivered: dp.toGuest.length + dp.toHost.length,
    queued: dp.txRing.length + dp.sendQueue.length + dp.guestQueue.length,
    dropped: [...counts].map(([reason, count]) => ({ reason, count })),
  };
}

/** The ids in each fate, for checking that no packet has two. */
export function fates(dp: DataPath): number[] {
  return [...dp.toGuest, ...dp.toHost, ...dp.txRing, ...dp.sendQueue, ...dp.guestQueue].map((p) => p.id).concat(dp.dropped.map((d) => d.id));
}
