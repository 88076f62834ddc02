import { describe, expect, it } from 'vitest';
import { newDataPath, type Packet } from '../../src/vhost/datapath.js';
import { newDevice } from '../../src/vhost/device.js';
import { closeStream, guestCredit, guestSent, guestTakes, hostTakes, hostWrite, openStream, streamKey } from '../../src/vhost/streams.js';

const device = { ...newDevice(0), guestCid: 3 };
const KEY = streamKey(6000, 7000);

describe('stream credit between a host and a guest socket (docs/model.md §5.5)', () => {
  it('a host write waits for the window; the guest read answers CREDIT_UPDATE; its arrival lets the rest out', () => {
    let streams = openStream([], 6000, 7000, 2048);
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
    let streams = openStream([], 6000, 7000, 1500);
    let dp = newDataPath();
    ({ dp, streams } = hostWrite(dp, device, streams, KEY, 1000, 2));
    expect(dp.sendQueue.map((p) => p.len)).toEqual([1000, 500]);
    expect(streams[0]?.backlog).toEqual([500]);
    const rst: Packet = { id: 99, srcCid: 3, dstCid: 2, srcPort: 6000, dstPort: 7000, op: 'RST', len: 0, reply: false };
    ({ streams } = hostTakes(dp, device, streams, rst));
    expect(streams).toEqual([]);
  });

  it('the guest sends only within the credit the host advertised', () => {
    let streams = openStream([], 6000, 7000, 262144, 4096);
    expect(guestCredit(streams, KEY)).toBe(4096);
    streams = guestSent(streams, KEY, 4000);
    expect(guestCredit(streams, KEY)).toBe(96);
    expect(guestCredit(streams, streamKey(1, 2))).toBeNull();
  });

  it('a new connection on the same ports starts from fresh counters; closing one forgets it', () => {
    let streams = openStream([], 6000, 7000, 262144, 4096);
    streams = guestSent(streams, KEY, 4000);
    streams = openStream(streams, 6000, 7000, 262144, 4096);
    expect(streams).toHaveLength(1);
    expect(guestCredit(streams, KEY)).toBe(4096);
    expect(closeStream(streams, KEY)).toEqual([]);
  });
});
