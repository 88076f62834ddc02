import { describe, expect, it } from 'vitest';
import { close, ioctl, newHost, open, type Caller, type IoctlArg, type VsockHost } from '../../src/vhost/device.js';
import { balance, guestSend, handleTxKick, hostSend, newDataPath, release } from '../../src/vhost/datapath.js';
import { ERRNO, FEATURE_BIT, VHOST_FEATURES, VHOST_VSOCK_FEATURES, type VhostIoctlName } from '../../src/vhost/ioctl.js';
import { MAINLINE_VHOST, vhostKernel, type VhostKernel } from '../../src/vhost/kernel.js';
import { findPreset, resolveFeatures } from '../../src/kernel/variants.js';

const QEMU: Caller = { mm: 'qemu', eventfds: [10, 11] };
const OTHER: Caller = { mm: 'other' };
const RAM = { guestPhysAddr: 0, memorySize: 0x100000, userspaceAddr: 0x7f00_0000_0000 };
const GUEST = 3;
const SEQPACKET = 1n << BigInt(FEATURE_BIT.VIRTIO_VSOCK_F_SEQPACKET);
const ACCESS_PLATFORM = 1n << BigInt(FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM);
const ok = { ok: true };
const err = (name: keyof typeof ERRNO) => ({ ok: false, errno: ERRNO[name] });
const without = (k: keyof VhostKernel): VhostKernel => ({ ...MAINLINE_VHOST, [k]: false });

function session(kernel: VhostKernel, run = false) {
  let host: VsockHost = open(newHost()).host;
  const call = (name: VhostIoctlName, arg: IoctlArg, caller: Caller = QEMU) => {
    const r = ioctl(host, 0, caller, name, arg, kernel);
    host = r.host;
    return r.ret;
  };
  if (run) {
    call('VHOST_SET_OWNER', undefined);
    call('VHOST_VSOCK_SET_GUEST_CID', BigInt(GUEST));
    call('VHOST_SET_MEM_TABLE', { regions: [RAM] });
    for (const index of [0, 1]) {
      const base = RAM.userspaceAddr + index * 0x20000;
      call('VHOST_SET_VRING_NUM', { index, num: 128 });
      call('VHOST_SET_VRING_ADDR', { index, flags: 0, descUserAddr: base, availUserAddr: base + 0x8000, usedUserAddr: base + 0x10000, logGuestAddr: 0 });
      call('VHOST_SET_VRING_KICK', { index, fd: 10 + index });
    }
    expect(call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok);
  }
  return { call, host: () => host, dev: () => host.devices[0]! };
}

describe('presets: vhost-vsock switches by release', () => {
  it('v5.10 has none; v5.11 has the IOTLB commit; v6.2, v6.6 and mainline have all five', () => {
    const names = ['vhost-access-platform', 'vsock-backend-features', 'vsock-seqpacket', 'vsock-tx-used-len-zero', 'vsock-release-no-owner-check'];
    const has = (p: string) => names.filter((n) => findPreset(p)!.switches.includes(n as never));
    expect(has('v5.10')).toEqual([]);
    expect(has('v5.11')).toEqual(['vhost-access-platform', 'vsock-backend-features']);
    for (const p of ['v6.2', 'v6.6', 'mainline']) expect(has(p)).toEqual(names);
    expect(vhostKernel(resolveFeatures('mainline', [], []))).toEqual(MAINLINE_VHOST);
    expect(vhostKernel(resolveFeatures('v5.10', [], []))).toEqual({
      accessPlatform: false,
      backendFeatures: false,
      seqpacket: false,
      txUsedLenZero: false,
      releaseNoOwnerCheck: false,
    });
  });
});

describe('vsock-seqpacket (ced7b713711f, v5.14)', () => {
  it('without it GET_FEATURES lacks bit 1 and SET_FEATURES with it is -EOPNOTSUPP', () => {
    const s = session(without('seqpacket'));
    expect(s.call('VHOST_GET_FEATURES', undefined)).toEqual({ ok: true, value: VHOST_VSOCK_FEATURES & ~SEQPACKET });
    expect(s.call('VHOST_SET_FEATURES', SEQPACKET)).toEqual(err('EOPNOTSUPP'));
    expect(s.dev().seqpacketAllow).toBe(false);
  });
  it('with it the bit is offered and sets seqpacket_allow', () => {
    const s = session(MAINLINE_VHOST);
    expect(s.call('VHOST_GET_FEATURES', undefined)).toEqual({ ok: true, value: VHOST_VSOCK_FEATURES });
    expect(s.call('VHOST_SET_FEATURES', SEQPACKET)).toEqual(ok);
    expect(s.dev().seqpacketAllow).toBe(true);
  });
});

describe('vhost-access-platform (e13a6915a03f, v5.11)', () => {
  it('without it (v5.10) the features are VHOST_FEATURES alone and ACCESS_PLATFORM is -EOPNOTSUPP, no IOTLB', () => {
    const s = session(vhostKernel(resolveFeatures('v5.10', [], [])));
    expect(s.call('VHOST_GET_FEATURES', undefined)).toEqual({ ok: true, value: VHOST_FEATURES });
    expect(s.call('VHOST_SET_FEATURES', ACCESS_PLATFORM)).toEqual(err('EOPNOTSUPP'));
    expect(s.dev().iotlb).toBe(false);
  });
  it('with it ACCESS_PLATFORM is offered and creates the device IOTLB', () => {
    const s = session(without('seqpacket'));
    expect(s.call('VHOST_GET_FEATURES', undefined)).toEqual({ ok: true, value: VHOST_FEATURES | ACCESS_PLATFORM });
    expect(s.call('VHOST_SET_FEATURES', ACCESS_PLATFORM)).toEqual(ok);
    expect(s.dev().iotlb).toBe(true);
  });
});

describe('vsock-backend-features (e13a6915a03f, v5.11)', () => {
  it('without it the ioctls take the default path: -EPERM unowned, then the u64 read as a vring index', () => {
    const s = session(without('backendFeatures'));
    expect(s.call('VHOST_GET_BACKEND_FEATURES', undefined)).toEqual(err('EPERM'));
    expect(s.call('VHOST_SET_OWNER', undefined)).toEqual(ok);
    expect(s.call('VHOST_GET_BACKEND_FEATURES', undefined)).toEqual(err('ENOTTY'));
    expect(s.call('VHOST_SET_BACKEND_FEATURES', 0n)).toEqual(err('ENOTTY'));
    // IOTLB_MSG_V2 = bit 1 = 2: vhost_vring_ioctl's index check fails first.
    expect(s.call('VHOST_SET_BACKEND_FEATURES', 2n)).toEqual(err('ENOBUFS'));
    expect(s.dev().backendFeatures).toBe(0);
  });
  it('with it they need no owner, offer IOTLB_MSG_V2 and refuse other bits', () => {
    const s = session(MAINLINE_VHOST);
    expect(s.call('VHOST_GET_BACKEND_FEATURES', undefined)).toEqual({ ok: true, value: 2n });
    expect(s.call('VHOST_SET_BACKEND_FEATURES', 2n)).toEqual(ok);
    expect(s.call('VHOST_SET_BACKEND_FEATURES', 4n)).toEqual(err('EOPNOTSUPP'));
    expect(s.dev().backendFeatures).toBe(2);
  });
});

describe('vsock-tx-used-len-zero (49d8c5ffad07, v5.16)', () => {
  for (const [kernel, len] of [
    [without('txUsedLenZero'), 44 + 100],
    [MAINLINE_VHOST, 0],
  ] as const) {
    it(`${kernel.txUsedLenZero ? 'with' : 'without'} it a TX packet is marked used with length ${len}`, () => {
      const s = session(kernel, true);
      const sent = guestSend(newDataPath(), { srcCid: GUEST, dstCid: 2, srcPort: 5000, dstPort: 1234, op: 'RW', len: 100 });
      const r = handleTxKick(sent.dp, s.dev(), kernel);
      expect(r.dp.txUsed).toEqual([{ id: sent.id, len }]);
    });
  }
});

describe('vsock-release-no-owner-check (a58da53ffd70, v5.17)', () => {
  function pending(kernel: VhostKernel, caller: Caller | null | undefined) {
    const s = session(kernel, true);
    let dp = hostSend(newDataPath(), s.dev(), { dstCid: GUEST, srcPort: 1234, dstPort: 5000, op: 'RW', len: 10 }).dp;
    dp = { ...dp, rxBuffers: 4 };
    const closed = close(s.host(), s.dev(), { caller, kernel });
    return { closed, dp: release(dp, closed.atFlush, kernel) };
  }
  it('without it a release by a non-owner (or from do_exit, mm NULL) leaves the backends set: the flush delivers the queued packet', () => {
    for (const caller of [OTHER, null]) {
      const { closed, dp } = pending(without('releaseNoOwnerCheck'), caller);
      expect(closed.stopRet).toEqual(err('EPERM'));
      expect(closed.atFlush.vqs.map((vq) => vq.backend)).toEqual([true, true]);
      expect(closed.device.released).toBe(true);
      expect(balance(dp)).toEqual({ sent: 1, delivered: 1, queued: 0, dropped: [] });
    }
  });
  it('without it the owner\'s own close still stops first: the packet is purged', () => {
    const { closed, dp } = pending(without('releaseNoOwnerCheck'), QEMU);
    expect(closed.stopRet).toEqual(ok);
    expect(balance(dp).dropped).toEqual([{ reason: 'released', count: 1 }]);
  });
  it('with it every release stops the queues before the flush: the packet is purged', () => {
    for (const caller of [OTHER, null, undefined]) {
      const { closed, dp } = pending(MAINLINE_VHOST, caller);
      expect(closed.stopRet).toEqual(ok);
      expect(closed.atFlush.vqs.map((vq) => vq.backend)).toEqual([false, false]);
      expect(balance(dp)).toEqual({ sent: 1, delivered: 0, queued: 0, dropped: [{ reason: 'released', count: 1 }] });
    }
  });
});
