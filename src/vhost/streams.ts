/**
 * Stream connections between a host socket and a guest socket, with the credit flow control of
 * docs/model.md §5.5 in both directions (net/vmw_vsock/virtio_transport_common.c).
 *
 * Each direction is a `StreamCredit` (src/vhost/credit.ts) holding the sender's counters (tx_cnt
 * and what it last heard of the receiver: peer_buf_alloc, peer_fwd_cnt) and the receiver's
 * (rx_cnt, fwd_cnt, buf_alloc, last_fwd_cnt). Every packet a side sends carries its own buf_alloc
 * and fwd_cnt (virtio_transport_inc_tx_pkt, which also sets last_fwd_cnt); the other side learns
 * them when the packet arrives (virtio_transport_update_credit). A sender puts at most its credit
 * on the wire and keeps the rest of the write until credit comes back (the socket waits in
 * vsock_connectible_sendmsg); the applications read what arrives at once, and a receiver whose
 * advertised free space drops under 64 KiB sends CREDIT_UPDATE.
 *
 * A stream begins with the opener's REQUEST. The opener is a program in connect(): it sends no data
 * until the peer's RESPONSE makes the socket TCP_ESTABLISHED (vsock_connect waits for it;
 * vsock_connectible_sendmsg is -ENOTCONN before; virtio_transport_recv_connecting, in
 * net/vmw_vsock/virtio_transport_common.c), and it knows no peer buffer before a peer header arrives
 * (peer_buf_alloc starts at 0: credit.ts newCredit). What its program writes meanwhile waits in the
 * socket and goes out when the RESPONSE comes. An RST instead ends the stream: the connect fails with
 * ECONNRESET (recv_connecting: sk_err = ECONNRESET, TCP_CLOSE), and the writes that waited never go
 * on the wire — they are entered in the packet ledger as dropped `connection-reset` (`StreamEnd`).
 */
import { advertise, credit, newCredit, read, receive, send, DEFAULT_BUF_ALLOC, type StreamCredit } from './credit.js';
import { guestSend, guestSendAll, hostSend, hostSendAll, MAX_PKT_BUF_SIZE, neverSent, streamKey, type DataPath, type Packet } from './datapath.js';

export { streamKey };
import type { VsockDevice } from './device.js';
import { VMADDR_CID_HOST } from './device.js';

export interface Stream {
  /** "guestPort>hostPort". */
  readonly key: string;
  readonly guestPort: number;
  readonly hostPort: number;
  /** Host → guest: the host sends, the guest receives. */
  readonly h2g: StreamCredit;
  /** Guest → host. */
  readonly g2h: StreamCredit;
  /** Bytes of host writes waiting in the host socket (for the RESPONSE, or for credit), in order. */
  readonly backlog: readonly number[];
  /** The end that sent the REQUEST (the one in connect()). */
  readonly opener: End;
  /** The opener has had the RESPONSE (TCP_ESTABLISHED): until then it sends no data. */
  readonly established: boolean;
  /** Guest writes (traffic lines) waiting in the guest socket, for the RESPONSE or behind earlier ones waiting for credit. */
  readonly guestBacklog: readonly { len: number; count: number }[];
}

export type End = 'host' | 'guest';

/**
 * A stream ended by an RST from the peer: which socket got it, the error its program sees, and how
 * many packets its writes would have made that never went on the wire (dropped `connection-reset`).
 */
export interface StreamEnd {
  key: string;
  /** The end that received the RST. */
  side: End;
  /** connect() fails with ECONNRESET (virtio_transport_recv_connecting); on an established socket the RST
   *  closes it (virtio_transport_do_close: peer_shutdown = SHUTDOWN_MASK) and a send is -EPIPE. */
  errno: 'ECONNRESET' | 'EPIPE';
  /** The RST answered the REQUEST: the connection was never established. */
  connecting: boolean;
  unsent: number;
}

/**
 * A new connection on the port pair, opened by `opener`'s REQUEST: fresh counters both ways, no peer
 * buffer known on either side yet (one left from an earlier connection is replaced).
 */
export function openStream(
  streams: readonly Stream[],
  guestPort: number,
  hostPort: number,
  guestBufAlloc = DEFAULT_BUF_ALLOC,
  hostBufAlloc = DEFAULT_BUF_ALLOC,
  opener: End = 'host',
): Stream[] {
  const key = streamKey(guestPort, hostPort);
  const s: Stream = { key, guestPort, hostPort, h2g: newCredit(guestBufAlloc), g2h: newCredit(hostBufAlloc), backlog: [], opener, established: false, guestBacklog: [] };
  return [...streams.filter((x) => x.key !== key), s];
}

/** The connection ended (an RST either way): its counters and the host's unsent writes go. */
export function closeStream(streams: readonly Stream[], key: string): Stream[] {
  return streams.filter((s) => s.key !== key);
}

/** May `end` put data of `s` on the wire: not while it is the opener and has had no RESPONSE. */
export function maySend(s: Stream, end: End): boolean {
  return s.opener !== end || s.established;
}

/** Packets the writes still waiting in `s`'s sockets would have made (host writes go in pieces of at most 64 KiB). */
export function unsentPackets(s: Stream): number {
  const host = s.backlog.reduce((n, b) => n + Math.max(1, Math.ceil(b / MAX_PKT_BUF_SIZE)), 0);
  return host + s.guestBacklog.reduce((n, l) => n + l.count, 0);
}

const replace = (streams: readonly Stream[], s: Stream): Stream[] => streams.map((x) => (x.key === s.key ? s : x));

/** What a sender puts in its header: its receive buffer and what its application consumed; sending it is advertising it. */
function stampHost(s: Stream): { s: Stream; hdr: { bufAlloc: number; fwdCnt: number } } {
  return { s: { ...s, g2h: advertise(s.g2h) }, hdr: { bufAlloc: s.g2h.bufAlloc, fwdCnt: s.g2h.fwdCnt } };
}
function stampGuest(s: Stream): { s: Stream; hdr: { bufAlloc: number; fwdCnt: number } } {
  return { s: { ...s, h2g: advertise(s.h2g) }, hdr: { bufAlloc: s.h2g.bufAlloc, fwdCnt: s.h2g.fwdCnt } };
}

/**
 * `advertise` of credit.ts models an instant exchange; here the receiver's side of it is what
 * happens when it sends (last_fwd_cnt), and the sender's side waits for the packet: keep only the
 * receiver's part until then.
 */
function keepSenderView(before: StreamCredit, after: StreamCredit): StreamCredit {
  return { ...after, peerBufAlloc: before.peerBufAlloc, peerFwdCnt: before.peerFwdCnt };
}

/** The host sends what its credit allows of its pending writes on `s`, each piece one RW packet. */
export function flushHost(dp0: DataPath, device: VsockDevice, streams0: readonly Stream[], key: string): { dp: DataPath; streams: Stream[] } {
  let s = streams0.find((x) => x.key === key);
  if (!s || s.backlog.length === 0 || !maySend(s, 'host')) return { dp: dp0, streams: [...streams0] };
  const backlog = s.backlog;
  let h2g = s.h2g;
  let next = 0; // index of the next pending write
  let rest = backlog[0] as number; // what is left of it
  const pieces: { dstCid: number; srcPort: number; dstPort: number; op: 'RW'; len: number; bufAlloc: number; fwdCnt: number }[] = [];
  while (next < backlog.length) {
    const piece = Math.min(credit(h2g), rest, MAX_PKT_BUF_SIZE);
    if (piece === 0 && rest > 0) break;
    h2g = send(h2g, piece).c;
    // Every packet carries the host's receive side (and sending it is advertising it).
    pieces.push({ dstCid: device.guestCid, srcPort: s.hostPort, dstPort: s.guestPort, op: 'RW', len: piece, bufAlloc: s.g2h.bufAlloc, fwdCnt: s.g2h.fwdCnt });
    rest -= piece;
    if (rest === 0) {
      next += 1;
      rest = backlog[next] ?? 0;
    }
  }
  if (pieces.length === 0) return { dp: dp0, streams: [...streams0] };
  const g2h = keepSenderView(s.g2h, advertise(s.g2h));
  const left = next < backlog.length ? [rest, ...backlog.slice(next + 1)] : [];
  s = { ...s, h2g, g2h, backlog: left };
  return { dp: hostSendAll(dp0, device, pieces), streams: replace(streams0, s) };
}

/** A host socket writes `count` × `len` bytes on the stream: queued, then sent as credit allows. */
export function hostWrite(dp: DataPath, device: VsockDevice, streams: readonly Stream[], key: string, len: number, count: number): { dp: DataPath; streams: Stream[] } {
  const s = streams.find((x) => x.key === key);
  if (!s) return { dp, streams: [...streams] };
  const queued = replace(streams, { ...s, backlog: [...s.backlog, ...Array.from({ length: count }, () => len)] });
  return flushHost(dp, device, queued, key);
}

/**
 * The guest socket of `s` holds a write: its connect() has not returned, or earlier writes still wait
 * (the data stays in order). It goes out with `flushGuest`.
 */
export function guestHolds(s: Stream): boolean {
  return !maySend(s, 'guest') || s.guestBacklog.length > 0;
}

/** A guest write of `count` × `len` bytes waits in its socket. */
export function holdGuest(streams: readonly Stream[], key: string, len: number, count: number): Stream[] {
  const s = streams.find((x) => x.key === key);
  if (!s) return [...streams];
  return replace(streams, { ...s, guestBacklog: [...s.guestBacklog, { len, count }] });
}

/**
 * The guest sends the writes its socket held, in order, each when all of it fits the credit (the
 * rule of a guest write, see the machine's 'guest send'); a packet over 64 KiB takes no credit (the
 * worker drops it as faulted).
 */
export function flushGuest(dp0: DataPath, streams0: readonly Stream[], key: string, guestCid: number): { dp: DataPath; streams: Stream[] } {
  let s = streams0.find((x) => x.key === key);
  if (!s || s.guestBacklog.length === 0 || !maySend(s, 'guest')) return { dp: dp0, streams: [...streams0] };
  let dp = dp0;
  let streams = [...streams0];
  let left = s.guestBacklog;
  while (left.length > 0) {
    const line = left[0] as { len: number; count: number };
    const bytes = line.len <= MAX_PKT_BUF_SIZE ? line.len * line.count : 0;
    if (credit(s.g2h) < bytes) break;
    const hdr = { bufAlloc: s.h2g.bufAlloc, fwdCnt: s.h2g.fwdCnt };
    const one = { srcCid: guestCid, dstCid: VMADDR_CID_HOST, srcPort: s.guestPort, dstPort: s.hostPort, op: 'RW' as const, len: line.len, ...hdr };
    dp = guestSendAll(dp, Array.from({ length: line.count }, () => one));
    left = left.slice(1);
    streams = replace(streams, { ...s, guestBacklog: left });
    streams = guestSent(streams, key, bytes);
    s = streams.find((x) => x.key === key) as Stream;
  }
  return { dp, streams };
}

/** The guest's credit on `key`, or null when there is no stream (the write is not stream data). */
export function guestCredit(streams: readonly Stream[], key: string): number | null {
  const s = streams.find((x) => x.key === key);
  return s ? credit(s.g2h) : null;
}

/** The guest sent `bytes` on the stream: its tx_cnt grows, its header advertised its receive side. */
export function guestSent(streams: readonly Stream[], key: string, bytes: number): Stream[] {
  const s = streams.find((x) => x.key === key);
  if (!s) return [...streams];
  const stamped = stampGuest(s);
  return replace(streams, { ...s, h2g: keepSenderView(s.h2g, stamped.s.h2g), g2h: send(s.g2h, bytes).c });
}

/** Guest stream data that never left the guest (its reset threw it away): the credit it took is back. */
export function refundGuest(streams: readonly Stream[], key: string, bytes: number): Stream[] {
  const s = streams.find((x) => x.key === key);
  if (!s) return [...streams];
  return replace(streams, { ...s, g2h: { ...s.g2h, txCnt: Math.max(s.g2h.peerFwdCnt, s.g2h.txCnt - bytes) } });
}

/** What the guest's header says on `key`: its receive buffer and what its application consumed. */
export function guestHeader(streams: readonly Stream[], key: string): { bufAlloc: number; fwdCnt: number } | undefined {
  const s = streams.find((x) => x.key === key);
  return s ? { bufAlloc: s.h2g.bufAlloc, fwdCnt: s.h2g.fwdCnt } : undefined;
}

/** What the host's header says on `key`. */
export function hostHeader(streams: readonly Stream[], key: string): { bufAlloc: number; fwdCnt: number } | undefined {
  const s = streams.find((x) => x.key === key);
  return s ? { bufAlloc: s.g2h.bufAlloc, fwdCnt: s.g2h.fwdCnt } : undefined;
}

/** The two ends of a stream: which direction each one receives on, and how it sends. */
const ENDS = {
  guest: { inbound: 'h2g', outbound: 'g2h', key: (p: Packet) => streamKey(p.dstPort, p.srcPort) },
  host: { inbound: 'g2h', outbound: 'h2g', key: (p: Packet) => streamKey(p.srcPort, p.dstPort) },
} as const;

export interface Taken {
  dp: DataPath;
  streams: Stream[];
  /** The packet was an RST that ended the stream. */
  ended?: StreamEnd;
}

/**
 * One end's transport takes a packet of a connection it knows: it learns the peer's credit from the
 * header (virtio_transport_space_update, on every packet); the RESPONSE to the end's own REQUEST
 * establishes the stream; RW payload is received and read by the application at once; a
 * CREDIT_REQUEST, or free space under the threshold after the read, is answered with CREDIT_UPDATE;
 * an RST ends the stream, and the writes its sockets still held never go out (`StreamEnd`). The end
 * then sends what its writes waited for, as the new credit allows.
 */
function takes(end: End, dp0: DataPath, device: VsockDevice, streams0: readonly Stream[], p: Packet, guestCid: number): Taken {
  const { inbound, outbound, key: keyOf } = ENDS[end];
  const key = keyOf(p);
  let s = streams0.find((x) => x.key === key);
  if (!s) return { dp: dp0, streams: [...streams0] };
  if (p.op === 'RST') {
    const connecting = !maySend(s, end);
    const ended: StreamEnd = { key, side: end, errno: connecting ? 'ECONNRESET' : 'EPIPE', connecting, unsent: unsentPackets(s) };
    return { dp: neverSent(dp0, ended.unsent, 'connection-reset'), streams: closeStream(streams0, key), ended };
  }
  if (p.bufAlloc !== undefined && p.fwdCnt !== undefined) s = { ...s, [outbound]: { ...s[outbound], peerBufAlloc: p.bufAlloc, peerFwdCnt: p.fwdCnt } };
  // virtio_transport_recv_connecting: OP_RESPONSE → TCP_ESTABLISHED, connect() returns.
  if (p.op === 'RESPONSE' && s.opener === end) s = { ...s, established: true };
  let update = p.op === 'CREDIT_REQUEST';
  if (p.op === 'RW') {
    const r = read(receive(s[inbound], p.len), p.len);
    s = { ...s, [inbound]: r.c };
    update ||= r.creditUpdate;
  }
  let dp = dp0;
  if (update) {
    const stamped = end === 'guest' ? stampGuest(s) : stampHost(s);
    s = { ...s, [inbound]: keepSenderView(s[inbound], stamped.s[inbound]) };
    const pkt = { len: 0, op: 'CREDIT_UPDATE' as const, ...stamped.hdr };
    dp =
      end === 'guest'
        ? guestSend(dp, { ...pkt, srcCid: guestCid, dstCid: VMADDR_CID_HOST, srcPort: s.guestPort, dstPort: s.hostPort }).dp
        : hostSend(dp, device, { ...pkt, dstCid: device.guestCid, srcPort: s.hostPort, dstPort: s.guestPort }).dp;
  }
  const streams = replace(streams0, s);
  return end === 'host' ? flushHost(dp, device, streams, key) : flushGuest(dp, streams, key, guestCid);
}

/** The guest's transport takes a host packet of a connection it knows (see `takes`); `guestCid` is the CID the guest stamps. */
export function guestTakes(dp: DataPath, device: VsockDevice, streams: readonly Stream[], p: Packet, guestCid = device.guestCid): Taken {
  return takes('guest', dp, device, streams, p, guestCid);
}

/** The host transport takes a guest packet that handle_tx_kick delivered (see `takes`). */
export function hostTakes(dp: DataPath, device: VsockDevice, streams: readonly Stream[], p: Packet): Taken {
  return takes('host', dp, device, streams, p, device.guestCid);
}

/**
 * The guest was reset: its sockets are gone. Writes they still held never go out (dropped
 * `guest-reset`); a stream the guest was connecting is gone with its socket. The host's end of the
 * other streams stays: the host socket learns of the reset only from the new guest's RST.
 */
export function guestGone(dp0: DataPath, streams0: readonly Stream[]): { dp: DataPath; streams: Stream[] } {
  let dp = dp0;
  const streams: Stream[] = [];
  for (const s of streams0) {
    dp = neverSent(dp, s.guestBacklog.reduce((n, l) => n + l.count, 0), 'guest-reset');
    if (s.opener === 'guest' && !s.established) continue;
    streams.push(s.guestBacklog.length > 0 ? { ...s, guestBacklog: [] } : s);
  }
  return { dp, streams };
}
