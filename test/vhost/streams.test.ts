import { describe, expect, it } from 'vitest';
import { balance, newDataPath, type DataPath, type Packet } from '../../src/vhost/datapath.js';
import { newDevice } from '../../src/vhost/device.js';
import {
  closeStream,
  guestCredit,
  guestGone,
  guestHolds,
  guestSent,
  guestTakes,
  holdGuest,
  hostTakes,
  hostWrite,
  openStream,
  streamKey,
  type Stream,
} from '../../src/vhost/streams.js';
import { packetsBalance } from '../../src/spec/vsock-datapath.js';

const device = { ...newDevice(0), guestCid: 3 };
const KEY = streamKey(6000, 7000);

/** A packet of the guest socket 6000 to the host socket 7000 (as the host transport gets it). */
const fromGuest = (op: Packet['op'], hdr: { bufAlloc?: number; fwdCnt?: number } = {}): Packet => ({ id: 90, srcCid: 3, dstCid: 2, srcPort: 6000, dstPort: 7000, op, len: 0, reply: false, ...hdr });
/** A packet of the host socket 7000 to the guest socket 6000. */
const fromHost = (op: Packet['op'], hdr: { bufAlloc?: number; fwdCnt?: number } = {}): Packet => ({ id: 91, srcCid: 2, dstCid: 3, srcPort: 7000, dstPort: 6000, op, len: 0, reply: false, ...hdr });

/** The host connected to the guest socket, whose RESPONSE advertised `guestBuf`. */
function hostConnected(guestBuf: number, hostBuf = 262144): Stream[] {
  const streams = openStream([], 6000, 7000, guestBuf, hostBuf, 'host');
  return hostTakes(newDataPath(), device, streams, fromGuest('RESPONSE', { bufAlloc: guestBuf, fwdCnt: 0 })).streams;
}

/** The guest connected to the host socket, whose RESPONSE advertised `hostBuf`. */
function guestConnected(hostBuf: number): Stream[] {
  const streams = openStream([], 6000, 7000, 262144, hostBuf, 'guest');
  return guestTakes(newDataPath(), device, streams, fromHost('RESPONSE', { bufAlloc: hostBuf, fwdCnt: 0 })).streams;
}

describe('stream credit between a host and a guest socket (docs/model.md §5.5)', () => {
  it('a host write waits for the window; the guest read answers CREDIT_UPDATE; its arrival lets the rest out', () => {
    let streams = hostConnected(2048);
    let dp = newDataPath();
    ({ dp, streams } = hostWrite(dp, device, streams, KEY, 1024, 4));
    // Two packets fit the 2 KiB window; 2 KiB wait in the socket.
    expect(dp.sendQueue.map((p) => [p.op, p.len, p.bufAlloc, p.fwdCnt])).toEqual([
      ['RW', 1024, 262144, 0],
      ['RW', 1024, 262144, 0],
    ]);
    expect(streams[0]?.backlog).toEqual([1024, 1024]);
    // The guest takes both: its free space is under 64 KiB, so each read sends CREDIT_UPDATE with its fwd_cnt.
    for (const p of dp.sendQueue) ({ dp, streams } = guestTakes(dp, device, streams, p));
    const updates = dp.txRing.filter((p) => p.op === 'CREDIT_UPDATE');
    expect(updates.map((p) => p.fwdCnt)).toEqual([1024, 2048]);
    // Until an update arrives, the host's view is stale: nothing more goes out.
    expect(streams[0]?.h2g.peerFwdCnt).toBe(0);
    ({ dp, streams } = hostTakes(dp, device, streams, updates[1] as Packet));
    expect(streams[0]?.backlog).toEqual([]);
    expect(dp.sendQueue.filter((p) => p.op === 'RW')).toHaveLength(4);
  });

  it('a write larger than the credit goes out in part; an RST from the peer ends the stream and its backlog', () => {
    let streams = hostConnected(1500);
    let dp = newDataPath();
    ({ dp, streams } = hostWrite(dp, device, streams, KEY, 1000, 2));
    expect(dp.sendQueue.map((p) => p.len)).toEqual([1000, 500]);
    expect(streams[0]?.backlog).toEqual([500]);
    const rst: Packet = { id: 99, srcCid: 3, dstCid: 2, srcPort: 6000, dstPort: 7000, op: 'RST', len: 0, reply: false };
    const t = hostTakes(dp, device, streams, rst);
    expect(t.streams).toEqual([]);
    // The connection was established: the socket is closed (a send is -EPIPE); the 500 bytes never go out.
    expect(t.ended).toEqual({ key: KEY, side: 'host', errno: 'EPIPE', connecting: false, unsent: 1 });
    expect(balance(t.dp).dropped).toEqual([{ reason: 'connection-reset', count: 1 }]);
  });

  it('the guest sends only within the credit the host advertised', () => {
    let streams = guestConnected(4096);
    expect(guestCredit(streams, KEY)).toBe(4096);
    streams = guestSent(streams, KEY, 4000);
    expect(guestCredit(streams, KEY)).toBe(96);
    expect(guestCredit(streams, streamKey(1, 2))).toBeNull();
  });

  it('a new connection on the same ports starts from fresh counters; closing one forgets it', () => {
    let streams = guestConnected(4096);
    streams = guestSent(streams, KEY, 4000);
    streams = openStream(streams, 6000, 7000, 262144, 4096, 'guest');
    expect(streams).toHaveLength(1);
    // A new connect(): no credit until the host's RESPONSE says how much buffer it has.
    expect(guestCredit(streams, KEY)).toBe(0);
    streams = guestTakes(newDataPath(), device, streams, fromHost('RESPONSE', { bufAlloc: 4096, fwdCnt: 0 })).streams;
    expect(guestCredit(streams, KEY)).toBe(4096);
    expect(closeStream(streams, KEY)).toEqual([]);
  });
});

describe('connect before send: data waits for the RESPONSE (af_vsock.c vsock_connect, virtio_transport_recv_connecting)', () => {
  const sent = (dp: DataPath) => [...dp.sendQueue, ...dp.txRing].filter((p) => p.op === 'RW').length;

  it('a host write before the RESPONSE stays in the socket; the RESPONSE establishes the stream, its header gives the credit', () => {
    let streams = openStream([], 6000, 7000, 4096, 262144, 'host');
    let dp = newDataPath();
    ({ dp, streams } = hostWrite(dp, device, streams, KEY, 1024, 3));
    expect(sent(dp)).toBe(0);
    expect(streams[0]).toMatchObject({ established: false, backlog: [1024, 1024, 1024], h2g: { peerBufAlloc: 0 } });
    // Another guest packet (not the RESPONSE) is not the connect's answer: still nothing out.
    ({ dp, streams } = hostTakes(dp, device, streams, fromGuest('CREDIT_UPDATE', { bufAlloc: 4096, fwdCnt: 0 })));
    expect(sent(dp)).toBe(0);
    ({ dp, streams } = hostTakes(dp, device, streams, fromGuest('RESPONSE', { bufAlloc: 2048, fwdCnt: 0 })));
    expect(streams[0]).toMatchObject({ established: true, h2g: { peerBufAlloc: 2048 } });
    expect(dp.sendQueue.map((p) => [p.op, p.len])).toEqual([
      ['RW', 1024],
      ['RW', 1024],
    ]);
    expect(streams[0]?.backlog).toEqual([1024]);
  });

  it('an RST to the host REQUEST fails the connect with ECONNRESET; each write that waited is a packet never sent', () => {
    for (const [len, count, packets] of [
      [1024, 1, 1],
      [1024, 2, 2],
      [100, 5, 5],
      [100 * 1024, 1, 2], // a 100 KiB write would have gone as two packets of at most 64 KiB
    ] as const) {
      let streams = openStream([], 6000, 7000, 262144, 262144, 'host');
      let dp = newDataPath();
      ({ dp, streams } = hostWrite(dp, device, streams, KEY, len, count));
      const t = hostTakes(dp, device, streams, fromGuest('RST'));
      expect(t.streams).toEqual([]);
      expect(t.ended).toEqual({ key: KEY, side: 'host', errno: 'ECONNRESET', connecting: true, unsent: packets });
      expect(sent(t.dp)).toBe(0);
      expect(balance(t.dp)).toEqual({ sent: packets, delivered: 0, queued: 0, dropped: [{ reason: 'connection-reset', count: packets }] });
      expect(packetsBalance(t.dp)).toEqual([]);
    }
  });

  it('the guest: its writes wait while it connects, go out on the RESPONSE, and are never sent after an RST', () => {
    const opened = openStream([], 6000, 7000, 262144, 262144, 'guest');
    expect(guestHolds(opened[0] as Stream)).toBe(true);
    const held = holdGuest(holdGuest(opened, KEY, 100, 3), KEY, 200, 1);
    // RESPONSE: the held writes go on TX in order, with the guest's header, within the host's credit.
    const ok = guestTakes(newDataPath(), device, held, fromHost('RESPONSE', { bufAlloc: 262144, fwdCnt: 0 }));
    expect(ok.dp.txRing.map((p) => [p.op, p.len, p.srcPort, p.dstPort, p.bufAlloc])).toEqual([
      ['RW', 100, 6000, 7000, 262144],
      ['RW', 100, 6000, 7000, 262144],
      ['RW', 100, 6000, 7000, 262144],
      ['RW', 200, 6000, 7000, 262144],
    ]);
    expect(ok.streams[0]).toMatchObject({ established: true, guestBacklog: [], g2h: { txCnt: 500 } });
    expect(guestHolds(ok.streams[0] as Stream)).toBe(false);
    // RST instead: ECONNRESET, 4 packets never sent.
    const rst = guestTakes(newDataPath(), device, held, fromHost('RST'));
    expect(rst.ended).toEqual({ key: KEY, side: 'guest', errno: 'ECONNRESET', connecting: true, unsent: 4 });
    expect(rst.dp.txRing).toEqual([]);
    expect(balance(rst.dp).dropped).toEqual([{ reason: 'connection-reset', count: 4 }]);
  });

  it('a guest reset while it connects: the held writes are lost with the guest, the connecting stream with its socket', () => {
    const guestOpened = holdGuest(openStream([], 6000, 7000, 262144, 262144, 'guest'), KEY, 100, 2);
    const hostOpened = openStream(guestOpened, 6001, 7001, 262144, 262144, 'host');
    const g = guestGone(newDataPath(), hostOpened);
    expect(g.streams.map((s) => s.key)).toEqual([streamKey(6001, 7001)]);
    expect(balance(g.dp).dropped).toEqual([{ reason: 'guest-reset', count: 2 }]);
  });
});
