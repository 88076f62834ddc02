import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ioctl, newHost, open, type Caller, type VsockDevice, type VsockHost } from '../../src/vhost/device.js';
import {
  balance,
  doSendPkt,
  fates,
  guestPostRx,
  guestReclaimTx,
  guestSend,
  guestSendAll,
  handleTxKick,
  hostSend,
  newDataPath,
  release,
  type DataPath,
} from '../../src/vhost/datapath.js';
import { vsockDataPathViolations } from '../../src/spec/vsock-datapath.js';
import { vsockOutcome } from '../../src/vhost/outcome.js';
import { lifecycle } from './lifecycle-oracle.js';
import { driverReset, NEW_DRIVER } from '../../src/vhost/guest-driver.js';
import type { VhostIoctlName } from '../../src/vhost/ioctl.js';

const QEMU: Caller = { mm: 'qemu', eventfds: [10, 11] };
const RAM = { guestPhysAddr: 0, memorySize: 0x100000, userspaceAddr: 0x7f00_0000_0000 };
const GUEST = 3;

/** A device with CID 3 configured by QEMU's order, rings of `num`, running or not. */
function device(num = 128, run = true): {
  host: VsockHost;
  dev: () => VsockDevice;
  call: (n: VhostIoctlName, a: never) => void;
  tx: (dp: DataPath) => DataPath;
  send: (dp: DataPath) => DataPath;
} {
  let host = open(newHost()).host;
  const call = (name: VhostIoctlName, arg: unknown) => {
    const r = ioctl(host, 0, QEMU, name, arg as never);
    if (!r.ret.ok) throw new Error(`${name} failed: ${r.ret.errno}`);
    host = r.host;
  };
  call('VHOST_SET_OWNER', undefined);
  call('VHOST_VSOCK_SET_GUEST_CID', BigInt(GUEST));
  call('VHOST_SET_MEM_TABLE', { regions: [RAM] });
  for (const index of [0, 1]) {
    const base = RAM.userspaceAddr + index * 0x20000;
    call('VHOST_SET_VRING_NUM', { index, num });
    call('VHOST_SET_VRING_ADDR', { index, flags: 0, descUserAddr: base, availUserAddr: base + 0x8000, usedUserAddr: base + 0x10000, logGuestAddr: 0 });
    call('VHOST_SET_VRING_KICK', { index, fd: 10 + index });
  }
  if (run) call('VHOST_VSOCK_SET_RUNNING', 1);
  return {
    get host() {
      return host;
    },
    dev: () => host.devices[0] as VsockDevice,
    call: call as never,
    // One worker run; the device it returns (last_avail_idx advanced) replaces the host's.
    tx: (dp: DataPath) => keep(handleTxKick(dp, host.devices[0] as VsockDevice)),
    send: (dp: DataPath) => keep(doSendPkt(dp, host.devices[0] as VsockDevice)),
  };
  function keep(r: { dp: DataPath; device: VsockDevice }): DataPath {
    host = { ...host, devices: [r.device] };
    return r.dp;
  }
}

const fromGuest = (op: 'REQUEST' | 'RW' | 'RST', dstPort = 1234, len = 0, srcPort = 5000) => ({
  srcCid: GUEST,
  dstCid: 2,
  srcPort,
  dstPort,
  op,
  len,
});
const toGuest = (len: number) => ({ dstCid: GUEST, srcPort: 1234, dstPort: 5000, op: 'RW' as const, len });

function clean(dp: DataPath) {
  expect(vsockDataPathViolations(dp)).toEqual([]);
}

describe('guest → host (handle_tx_kick)', () => {
  it('a REQUEST to a listening port reaches the host and is answered with a RESPONSE reply', () => {
    const d = device();
    let dp = newDataPath({ listening: [1234] });
    dp = guestSend(dp, fromGuest('REQUEST')).dp;
    dp = d.tx(dp);
    expect(dp.toHost.map((p) => p.op)).toEqual(['REQUEST']);
    expect(dp.sendQueue.map((p) => [p.op, p.reply])).toEqual([['RESPONSE', true]]);
    expect(dp.queuedReplies).toBe(1);
    expect(dp.calls).toEqual([0, 1]);
    dp = d.send(guestPostRx(dp, 1));
    expect(dp.toGuest.map((p) => p.op)).toEqual(['RESPONSE']);
    expect(dp.queuedReplies).toBe(0);
    clean(dp);
  });

  it('a packet for a port that does not listen is answered with RST; an RST is never answered', () => {
    const d = device();
    let dp = newDataPath();
    dp = guestSend(dp, fromGuest('RW', 9999, 10)).dp;
    dp = guestSend(dp, fromGuest('RST', 9999)).dp;
    dp = d.tx(dp);
    expect(dp.sendQueue.map((p) => p.op)).toEqual(['RST']);
    clean(dp);
  });

  it('data for a listener without a connection is reset; data on a connection is taken without an answer', () => {
    const d = device();
    let dp = newDataPath({ listening: [1234] });
    dp = guestSend(dp, fromGuest('RW', 1234, 10, 6000)).dp;
    dp = guestSend(dp, fromGuest('REQUEST', 1234, 0, 6001)).dp;
    dp = guestSend(dp, fromGuest('RW', 1234, 10, 6001)).dp;
    dp = d.tx(dp);
    expect(dp.sendQueue.map((p) => [p.op, p.dstPort])).toEqual([
      ['RST', 6000],
      ['RESPONSE', 6001],
    ]);
    expect(dp.connections).toEqual(['6001>1234']);
  });

  it('a faulted packet signals the error eventfd, is not marked used and triggers no call', () => {
    const d = device();
    let dp = newDataPath();
    dp = guestSend(dp, fromGuest('RW', 1234, 64 * 1024 + 1)).dp;
    dp = d.tx(dp);
    expect(dp.errors).toEqual([0, 1]);
    expect(dp.calls).toEqual([0, 0]);
    expect(d.dev().vqs[1].lastAvailIdx).toBe(1); // the descriptor was taken all the same
  });

  it('an RX buffer shorter than the header drops the packet and stops; a dropped reply keeps its count', () => {
    const d = device();
    let dp = newDataPath({ rxBufSize: 16 });
    dp = guestSend(dp, fromGuest('REQUEST', 9999)).dp;
    dp = d.send(guestPostRx(d.tx(dp), 2));
    expect(balance(dp).dropped).toEqual([{ reason: 'rx-buffer-too-small', count: 1 }]);
    expect(dp.queuedReplies).toBe(1);
    expect(dp.errors).toEqual([1, 0]);
    expect(() => newDataPath({ rxBufSize: 0 })).toThrow(/rxBufSize: expected a positive integer/);
  });

  it('misaddressed packets and packets over 64 KiB are dropped with their reason', () => {
    const d = device();
    let dp = newDataPath({ listening: [1234] });
    dp = guestSend(dp, { ...fromGuest('RW'), srcCid: 4 }).dp;
    dp = guestSend(dp, { ...fromGuest('RW'), dstCid: 7 }).dp;
    dp = guestSend(dp, fromGuest('RW', 1234, 64 * 1024 + 1)).dp;
    dp = d.tx(dp);
    expect(balance(dp).dropped).toEqual([
      { reason: 'misaddressed', count: 2 },
      { reason: 'faulted', count: 1 },
    ]);
    clean(dp);
  });

  it('stops at the weight of 256 packets and queues itself again', () => {
    const d = device();
    let dp = newDataPath({ listening: [1234] });
    dp = guestSend(dp, fromGuest('REQUEST')).dp; // connect first: data on a connection is not answered
    for (let i = 0; i < 299; i++) dp = guestSend(dp, fromGuest('RW', 1234, 1)).dp;
    dp = d.tx(dp);
    expect(dp.toHost).toHaveLength(256);
    expect(dp.txWork).toBe(true);
    dp = d.tx(dp);
    expect(dp.toHost).toHaveLength(300);
    expect(dp.sendQueue.map((p) => p.op)).toEqual(['RESPONSE']);
    expect(dp.txWork).toBe(false);
  });

  it('throttles when queued_replies reaches TX.num and resumes when a reply is sent', () => {
    const d = device(4);
    let dp = newDataPath();
    for (let i = 0; i < 10; i++) dp = guestSend(dp, fromGuest('REQUEST', 9999)).dp; // each answered by RST
    dp = d.tx(dp);
    expect(dp.toHost).toHaveLength(4);
    expect(dp.queuedReplies).toBe(4);
    expect(dp.txThrottled).toBe(true);
    expect(dp.txWork).toBe(false); // notifications stay off: a kick would not come
    dp = d.send(guestPostRx(dp, 1));
    expect(dp.queuedReplies).toBe(3);
    expect(dp.txThrottled).toBe(false);
    expect(dp.txWork).toBe(true); // restart_tx: the TX poll is queued
    dp = d.tx(dp);
    expect(dp.toHost).toHaveLength(5);
    clean(dp);
  });
});

describe('host → guest (vhost_transport_send_pkt, do_send_pkt)', () => {
  it('a send to a CID no instance has gives no packet (-ENODEV)', () => {
    const d = device();
    expect(hostSend(newDataPath(), d.dev(), { ...toGuest(1), dstCid: 9 }).id).toBeNull();
  });

  it('waits for RX buffers, then splits a large payload over several of them', () => {
    const d = device();
    let dp = hostSend(newDataPath({ rxBufSize: 4096 }), d.dev(), toGuest(10000)).dp;
    dp = d.send(dp);
    expect(dp.sendQueue).toHaveLength(1);
    dp = d.send(guestPostRx(dp, 2));
    expect(dp.toGuest).toHaveLength(0);
    expect(dp.headOffset).toBe(2 * (4096 - 44));
    dp = d.send(guestPostRx(dp, 1));
    expect(dp.toGuest.map((p) => p.len)).toEqual([10000]);
    clean(dp);
  });

  it('T14: packets queued while the device is stopped survive and are delivered after SET_RUNNING 1', () => {
    const d = device(128, false);
    d.call('VHOST_VSOCK_SET_RUNNING', 1 as never);
    d.call('VHOST_VSOCK_SET_RUNNING', 0 as never); // guest reset: QEMU stops the device first
    let dp = guestPostRx(newDataPath(), 8);
    dp = hostSend(dp, d.dev(), toGuest(100)).dp;
    dp = hostSend(dp, d.dev(), toGuest(200)).dp;
    dp = d.send(dp);
    expect(dp.toGuest).toHaveLength(0);
    expect(dp.processed).toHaveLength(0);
    d.call('VHOST_VSOCK_SET_RUNNING', 1 as never);
    dp = d.send(dp);
    expect(dp.toGuest.map((p) => p.len)).toEqual([100, 200]);
    clean(dp);
  });

  it('GET_VRING_BASE after a stop returns how far the worker got in each ring', () => {
    const d = device();
    let dp = guestPostRx(newDataPath({ listening: [1234] }), 8);
    for (let i = 0; i < 3; i++) dp = guestSend(dp, fromGuest('REQUEST', 1234, 0, 5000 + i)).dp;
    dp = d.send(d.tx(dp)); // 3 requests taken from TX, 3 responses into RX buffers
    d.call('VHOST_VSOCK_SET_RUNNING', 0 as never);
    const bases = [0, 1].map((index) => ioctl(d.host, 0, QEMU, 'VHOST_GET_VRING_BASE', { index, num: 0 }).ret);
    expect(bases).toEqual([
      { ok: true, value: 3 },
      { ok: true, value: 3 },
    ]);
  });

  it('close() purges the send queue: the packets are dropped as released', () => {
    const d = device();
    let dp = hostSend(newDataPath(), d.dev(), toGuest(1)).dp;
    dp = release(dp);
    expect(balance(dp)).toEqual({ sent: 1, delivered: 0, queued: 0, dropped: [{ reason: 'released', count: 1 }] });
    clean(dp);
  });
});

describe('random traffic with stops and starts (fast-check)', () => {
  type Op =
    | { k: 'guest'; port: number; op: 'REQUEST' | 'RW' | 'RST'; len: number; bad: boolean }
    | { k: 'host'; len: number }
    | { k: 'rx'; n: number }
    | { k: 'tx-work' }
    | { k: 'send-work' }
    | { k: 'running'; on: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('guest' as const), port: fc.constantFrom(1234, 9999), op: fc.constantFrom('REQUEST' as const, 'RW' as const, 'RST' as const), len: fc.constantFrom(0, 10, 70000), bad: fc.boolean() }),
    fc.record({ k: fc.constant('host' as const), len: fc.integer({ min: 0, max: 9000 }) }),
    fc.record({ k: fc.constant('rx' as const), n: fc.integer({ min: 1, max: 4 }) }),
    fc.constant({ k: 'tx-work' as const }),
    fc.constant({ k: 'send-work' as const }),
    fc.record({ k: fc.constant('running' as const), on: fc.boolean() }),
  );

  it('observers hold and packets balance after every step', () => {
    fc.assert(
      fc.property(fc.constantFrom(2, 4, 128), fc.array(op, { maxLength: 80 }), fc.boolean(), (num, ops, closeAtEnd) => {
        const d = device(num);
        let dp = newDataPath({ listening: [1234], rxBufSize: 4096 });
        for (const o of ops) {
          switch (o.k) {
            case 'guest':
              dp = guestSend(dp, { ...fromGuest(o.op, o.port, o.len), srcCid: o.bad ? 5 : GUEST }).dp;
              break;
            case 'host':
              dp = hostSend(dp, d.dev(), toGuest(o.len)).dp;
              break;
            case 'rx':
              dp = guestPostRx(dp, o.n);
              break;
            case 'tx-work':
              dp = d.tx(dp);
              break;
            case 'send-work':
              dp = d.send(dp);
              break;
            case 'running':
              d.call('VHOST_VSOCK_SET_RUNNING', (o.on ? 1 : 0) as never);
              break;
          }
          expect(vsockDataPathViolations(dp)).toEqual([]);
          expect(dp.queuedReplies).toBeLessThanOrEqual(num);
        }
        if (closeAtEnd) {
          dp = release(dp);
          expect(dp.sendQueue).toHaveLength(0);
          expect(vsockDataPathViolations(dp)).toEqual([]);
        }
      }),
      { numRuns: 300, seed: 5 },
    );
  });
});

describe('outcome.vsock', () => {
  it('names the state, the queues and the packet balance in the result format', () => {
    const d = device(4);
    let dp = newDataPath({ listening: [1234] });
    dp = guestSend(dp, fromGuest('REQUEST')).dp;
    dp = guestSend(dp, { ...fromGuest('RW'), srcCid: 9 }).dp;
    dp = d.tx(dp);
    dp = hostSend(dp, d.dev(), toGuest(10)).dp;
    expect(vsockOutcome(lifecycle(d.dev()), d.dev(), dp)).toEqual({
      state: 'RUNNING',
      running: true,
      guestCid: GUEST,
      queues: [
        { index: 0, num: 4, lastAvailIdx: 0, backend: true },
        { index: 1, num: 4, lastAvailIdx: 2, backend: true },
      ],
      sendQueue: 2,
      queuedReplies: 1,
      packets: { sent: 4, delivered: 1, queued: 2, dropped: [{ reason: 'misaddressed', count: 1 }] },
    });
  });
});

describe('the guest rings have the virtio queue size', () => {
  it('a packet that finds no free TX descriptor waits in the driver; used descriptors free up only when reclaimed', () => {
    const d = device();
    let dp = newDataPath({ ringSize: 2, listening: [1234] });
    for (let i = 0; i < 3; i++) dp = guestSend(dp, fromGuest('RW', 1234, 10)).dp;
    expect([dp.txRing.length, dp.guestQueue.length]).toEqual([2, 1]);
    dp = d.tx(dp);
    // Both taken and used, but still the guest's until its TX interrupt: no room for the third.
    expect([dp.txRing.length, dp.txUnreclaimed, dp.guestQueue.length]).toEqual([0, 2, 1]);
    dp = guestSend(dp, fromGuest('RW', 1234, 10)).dp;
    expect(dp.guestQueue.length).toBe(2);
    dp = guestReclaimTx(dp);
    expect([dp.txRing.length, dp.txUnreclaimed, dp.guestQueue.length, dp.txWork]).toEqual([2, 0, 0, true]);
    dp = d.tx(dp);
    // The four reached the host; its transport answers each (no connection on a listener: RST), queued for RX.
    expect(balance(dp)).toMatchObject({ sent: 8, delivered: 4, queued: 4 });
    clean(dp);
  });

  it('the descriptor of a faulted packet is never marked used: the guest does not get it back', () => {
    const d = device();
    let dp = newDataPath({ ringSize: 2 });
    dp = guestSend(dp, fromGuest('RW', 1234, 70_000)).dp;
    dp = d.tx(dp);
    dp = guestReclaimTx(dp);
    expect([dp.txUnreclaimed, dp.txLeaked]).toEqual([0, 1]);
    dp = guestSend(dp, fromGuest('RST')).dp;
    dp = guestSend(dp, fromGuest('RST')).dp;
    expect([dp.txRing.length, dp.guestQueue.length]).toEqual([1, 1]);
  });

  it('a guest reset drops what waited in the TX ring and in the driver, and the counts still balance', () => {
    let dp = newDataPath({ ringSize: 1 });
    for (let i = 0; i < 3; i++) dp = guestSend(dp, fromGuest('RW', 1234, 10)).dp;
    expect([dp.txRing.length, dp.guestQueue.length]).toEqual([1, 2]);
    dp = driverReset(dp, NEW_DRIVER).dp;
    expect([dp.txRing.length, dp.guestQueue.length, dp.txUnreclaimed, dp.txLeaked]).toEqual([0, 0, 0, 0]);
    expect(balance(dp)).toEqual({ sent: 3, delivered: 0, queued: 0, dropped: [{ reason: 'guest-reset', count: 3 }] });
    expect([...fates(dp)].sort()).toEqual([1, 2, 3]);
  });

  it('never more RX buffers than descriptors', () => {
    const dp = guestPostRx(newDataPath({ ringSize: 4 }), 10);
    expect(dp.rxBuffers).toBe(4);
    expect(guestPostRx(dp, 1).rxBuffers).toBe(4);
  });
});

describe('bursts', () => {
  it('guestSendAll is guestSend packet by packet, whatever the ring and the queue hold (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 6 }), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 10 }), (ringSize, before, n) => {
        let dp = newDataPath({ ringSize });
        for (let i = 0; i < before; i++) dp = guestSend(dp, fromGuest('RW', 1234, i)).dp;
        const ps = Array.from({ length: n }, (_, i) => fromGuest('RW', 1234, 100 + i));
        let one = dp;
        for (const p of ps) one = guestSend(one, p).dp;
        expect(guestSendAll(dp, ps)).toEqual(one);
      }),
      { numRuns: 200 },
    );
  });
});
