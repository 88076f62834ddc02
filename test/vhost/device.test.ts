import { describe, expect, it } from 'vitest';
import {
  BAD_POINTER,
  TASK_SIZE_MAX,
  close,
  ioctl,
  newHost,
  open,
  type Caller,
  type IoctlArg,
  type IoctlReturn,
  type VsockDevice,
  type VsockHost,
} from '../../src/vhost/device.js';
import { lifecycle } from './lifecycle-oracle.js';
import {
  ERRNO,
  FEATURE_BIT,
  ioctlNames,
  VHOST_IOCTLS,
  VHOST_VSOCK_FEATURES,
  type VhostIoctlName,
} from '../../src/vhost/ioctl.js';

const QEMU: Caller = { mm: 'qemu', eventfds: [10, 11, 12, 13], files: [3] };
const OTHER: Caller = { mm: 'intruder', eventfds: [10] };
const RAM = { guestPhysAddr: 0, memorySize: 0x100000, userspaceAddr: 0x7f00_0000_0000 };
const ring = (base: number) => ({
  flags: 0,
  descUserAddr: RAM.userspaceAddr + base,
  availUserAddr: RAM.userspaceAddr + base + 0x1000,
  usedUserAddr: RAM.userspaceAddr + base + 0x2000,
  logGuestAddr: 0,
});

/** A host, the device id, and a helper that applies one call and keeps the new host. */
function session(host: VsockHost = newHost()) {
  const opened = open(host);
  let h = opened.host;
  const id = opened.device.id;
  return {
    id,
    get host() {
      return h;
    },
    get device(): VsockDevice {
      const d = h.devices[id];
      if (d === undefined) throw new Error('lost the device');
      return d;
    },
    call(name: VhostIoctlName | number, arg: IoctlArg, caller: Caller = QEMU): IoctlReturn {
      const r = ioctl(h, id, caller, name, arg);
      h = r.host;
      return r.ret;
    },
    close() {
      h = close(h, this.device).host;
    },
    setHost(next: VsockHost) {
      h = next;
    },
  };
}

const ok = { ok: true };
const err = (name: keyof typeof ERRNO) => ({ ok: false, errno: ERRNO[name] });

/** QEMU's vhost_dev_start order (docs/model.md §5.6 step 2) up to, not including, SET_RUNNING 1. */
function configure(s: ReturnType<typeof session>, lastAvail: readonly [number, number] = [0, 0]) {
  expect(s.call('VHOST_SET_FEATURES', VHOST_VSOCK_FEATURES & ~(1n << BigInt(FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM)))).toEqual(ok);
  expect(s.call('VHOST_SET_MEM_TABLE', { regions: [RAM] })).toEqual(ok);
  for (const index of [0, 1]) {
    expect(s.call('VHOST_SET_VRING_NUM', { index, num: 128 })).toEqual(ok);
    expect(s.call('VHOST_SET_VRING_BASE', { index, num: lastAvail[index] ?? 0 })).toEqual(ok);
    expect(s.call('VHOST_SET_VRING_ADDR', { index, ...ring(index * 0x10000) })).toEqual(ok);
    expect(s.call('VHOST_SET_VRING_KICK', { index, fd: 10 + index })).toEqual(ok);
    expect(s.call('VHOST_SET_VRING_CALL', { index, fd: 12 + index })).toEqual(ok);
  }
}

function owned() {
  const s = session();
  expect(s.call('VHOST_SET_OWNER', undefined)).toEqual(ok);
  return s;
}

function running() {
  const s = owned();
  configure(s);
  expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok);
  expect(lifecycle(s.device)).toBe('RUNNING');
  return s;
}

describe('ioctl numbers (docs/model.md §5.2)', () => {
  const table: [VhostIoctlName, number][] = [
    ['VHOST_GET_FEATURES', 0x8008af00],
    ['VHOST_SET_FEATURES', 0x4008af00],
    ['VHOST_SET_OWNER', 0x0000af01],
    ['VHOST_RESET_OWNER', 0x0000af02],
    ['VHOST_SET_MEM_TABLE', 0x4008af03],
    ['VHOST_SET_VRING_NUM', 0x4008af10],
    ['VHOST_SET_VRING_ADDR', 0x4028af11],
    ['VHOST_SET_VRING_BASE', 0x4008af12],
    ['VHOST_GET_VRING_BASE', 0xc008af12],
    ['VHOST_SET_VRING_KICK', 0x4008af20],
    ['VHOST_SET_VRING_CALL', 0x4008af21],
    ['VHOST_SET_VRING_ERR', 0x4008af22],
    ['VHOST_SET_BACKEND_FEATURES', 0x4008af25],
    ['VHOST_GET_BACKEND_FEATURES', 0x8008af26],
    ['VHOST_VSOCK_SET_GUEST_CID', 0x4008af60],
    ['VHOST_VSOCK_SET_RUNNING', 0x4004af61],
    ['VHOST_SET_RUNNING', 0x4004af61],
    // Not in the table of docs/model.md §5.2; from include/uapi/linux/vhost.h (the two GETs are declared _IOW there).
    ['VHOST_SET_LOG_BASE', 0x4008af04],
    ['VHOST_SET_LOG_FD', 0x4004af07],
    ['VHOST_SET_VRING_ENDIAN', 0x4008af13],
    ['VHOST_GET_VRING_ENDIAN', 0x4008af14],
    ['VHOST_SET_VRING_BUSYLOOP_TIMEOUT', 0x4008af23],
    ['VHOST_GET_VRING_BUSYLOOP_TIMEOUT', 0x4008af24],
  ];
  it.each(table)('%s = %i', (name, value) => {
    expect(VHOST_IOCTLS[name]).toBe(value);
  });
  it('0x4004AF61 goes by both names', () => {
    expect(ioctlNames(0x4004af61)).toEqual(['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING']);
  });
});

describe('catalogue rows T11–T13, T15 (docs/model.md §6)', () => {
  it('T11: SET_RUNNING 1 right after open is -EPERM and changes nothing', () => {
    for (const name of ['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING'] as const) {
      const s = session();
      const before = s.device;
      expect(s.call(name, 1)).toEqual(err('EPERM'));
      expect(s.device).toEqual(before);
      expect(lifecycle(s.device)).toBe('OPEN_UNOWNED');
    }
  });

  it('T12: owner without a memory table: SET_RUNNING 1 is -EFAULT and both backends stay NULL', () => {
    for (const name of ['VHOST_VSOCK_SET_RUNNING', 'VHOST_SET_RUNNING'] as const) {
      const s = owned();
      const before = s.device;
      expect(s.call(name, 1)).toEqual(err('EFAULT'));
      expect(s.device.vqs.map((vq) => vq.backend)).toEqual([false, false]);
      expect(s.device).toEqual(before);
      expect(lifecycle(s.device)).toBe('OWNED');
    }
  });

  it('T13: SET_VRING_NUM (and BASE) while running is -EBUSY; after SET_RUNNING 0 it succeeds', () => {
    const s = running();
    const before = s.device;
    expect(s.call('VHOST_SET_VRING_NUM', { index: 0, num: 256 })).toEqual(err('EBUSY'));
    expect(s.call('VHOST_SET_VRING_BASE', { index: 1, num: 5 })).toEqual(err('EBUSY'));
    expect(s.device).toEqual(before);
    expect(s.call('VHOST_SET_RUNNING', 0)).toEqual(ok);
    expect(lifecycle(s.device)).toBe('STOPPED');
    expect(s.call('VHOST_SET_VRING_NUM', { index: 0, num: 256 })).toEqual(ok);
    expect(s.device.vqs[0].num).toBe(256);
  });

  it('T15: a CID taken by another instance is -EADDRINUSE; reserved CIDs are -EINVAL', () => {
    const a = session();
    expect(a.call('VHOST_VSOCK_SET_GUEST_CID', 3n)).toEqual(ok);
    const b = session(a.host);
    expect(b.call('VHOST_VSOCK_SET_GUEST_CID', 3n)).toEqual(err('EADDRINUSE'));
    expect(b.device.guestCid).toBe(0);
    for (const cid of [0n, 1n, 2n, 0xffff_ffffn, 0x1_0000_0000n]) {
      expect(b.call('VHOST_VSOCK_SET_GUEST_CID', cid)).toEqual(err('EINVAL'));
    }
    // The same instance may set its own CID again; a closed instance frees its CID.
    a.setHost(b.host);
    expect(a.call('VHOST_VSOCK_SET_GUEST_CID', 3n)).toEqual(ok);
    a.close();
    b.setHost(a.host);
    expect(b.call('VHOST_VSOCK_SET_GUEST_CID', 3n)).toEqual(ok);
  });

  it('T15 nested: a CID the host itself uses as a guest is -EADDRINUSE', () => {
    const s = session(newHost({ localCids: [7] }));
    expect(s.call('VHOST_VSOCK_SET_GUEST_CID', 7n)).toEqual(err('EADDRINUSE'));
  });
});

describe('the state machine of docs/model.md §5.4', () => {
  it('walks OPEN_UNOWNED → OWNED → CONFIGURED → RUNNING ⇄ STOPPED → RELEASED', () => {
    const s = session();
    expect(lifecycle(s.device)).toBe('OPEN_UNOWNED');
    expect(s.call('VHOST_SET_OWNER', undefined)).toEqual(ok);
    expect(lifecycle(s.device)).toBe('OWNED');
    configure(s);
    expect(lifecycle(s.device)).toBe('CONFIGURED');
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok);
    expect(lifecycle(s.device)).toBe('RUNNING');
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok); // a repeated start is a no-op success
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 0)).toEqual(ok);
    expect(lifecycle(s.device)).toBe('STOPPED');
    expect(s.call('VHOST_SET_RUNNING', 1)).toEqual(ok);
    expect(lifecycle(s.device)).toBe('RUNNING');
    s.close();
    expect(lifecycle(s.device)).toBe('RELEASED');
    expect(s.device.vqs.map((vq) => vq.backend)).toEqual([false, false]);
    expect(s.call('VHOST_GET_FEATURES', undefined)).toEqual(err('EBADF'));
  });

  it('GET/SET_FEATURES and SET_GUEST_CID need no owner', () => {
    const s = session();
    expect(s.call('VHOST_GET_FEATURES', undefined, OTHER)).toEqual({ ok: true, value: VHOST_VSOCK_FEATURES });
    expect(s.call('VHOST_SET_FEATURES', 1n << BigInt(FEATURE_BIT.VIRTIO_F_VERSION_1), OTHER)).toEqual(ok);
    expect(s.call('VHOST_VSOCK_SET_GUEST_CID', 42n, OTHER)).toEqual(ok);
  });

  const ownerOnly: [VhostIoctlName, IoctlArg][] = [
    ['VHOST_SET_MEM_TABLE', { regions: [RAM] }],
    ['VHOST_SET_VRING_NUM', { index: 0, num: 128 }],
    ['VHOST_SET_VRING_ADDR', { index: 0, ...ring(0) }],
    ['VHOST_SET_VRING_BASE', { index: 0, num: 0 }],
    ['VHOST_GET_VRING_BASE', { index: 0, num: 0 }],
    ['VHOST_SET_VRING_KICK', { index: 0, fd: 10 }],
    ['VHOST_SET_VRING_CALL', { index: 0, fd: 10 }],
    ['VHOST_SET_VRING_ERR', { index: 0, fd: 10 }],
    ['VHOST_VSOCK_SET_RUNNING', 1],
    ['VHOST_VSOCK_SET_RUNNING', 0],
    ['VHOST_SET_RUNNING', 0],
  ];
  it.each(ownerOnly)('%s before SET_OWNER is -EPERM and changes nothing', (name, arg) => {
    const s = session();
    const before = s.device;
    expect(s.call(name, arg)).toEqual(err('EPERM'));
    expect(s.device).toEqual(before);
  });
  it.each(ownerOnly)('%s from a process that is not the owner is -EPERM and changes nothing', (name, arg) => {
    const s = running();
    const before = s.device;
    expect(s.call(name, arg, OTHER)).toEqual(err('EPERM'));
    expect(s.device).toEqual(before);
  });

  it('a second SET_OWNER is -EBUSY, from the owner or anyone else', () => {
    const s = owned();
    const before = s.device;
    expect(s.call('VHOST_SET_OWNER', undefined)).toEqual(err('EBUSY'));
    expect(s.call('VHOST_SET_OWNER', undefined, OTHER)).toEqual(err('EBUSY'));
    expect(s.device).toEqual(before);
  });
});

describe('argument checks, in the kernel order', () => {
  const rows: [string, VhostIoctlName, IoctlArg, keyof typeof ERRNO][] = [
    ['queue index 2 (EVENT belongs to QEMU)', 'VHOST_SET_VRING_NUM', { index: 2, num: 128 }, 'ENOBUFS'],
    ['ring size 0', 'VHOST_SET_VRING_NUM', { index: 0, num: 0 }, 'EINVAL'],
    ['ring size not a power of two', 'VHOST_SET_VRING_NUM', { index: 0, num: 96 }, 'EINVAL'],
    ['ring size above 0xFFFF', 'VHOST_SET_VRING_NUM', { index: 0, num: 0x10000 }, 'EINVAL'],
    ['split-ring base above 0xFFFF', 'VHOST_SET_VRING_BASE', { index: 0, num: 0x10000 }, 'EINVAL'],
    ['ring flags other than LOG', 'VHOST_SET_VRING_ADDR', { index: 0, ...ring(0), flags: 2 }, 'EOPNOTSUPP'],
    ['avail ring not 2-byte aligned', 'VHOST_SET_VRING_ADDR', { index: 0, ...ring(0), availUserAddr: RAM.userspaceAddr + 1 }, 'EINVAL'],
    ['used ring not 4-byte aligned', 'VHOST_SET_VRING_ADDR', { index: 0, ...ring(0), usedUserAddr: RAM.userspaceAddr + 2 }, 'EINVAL'],
    ['memory table with padding', 'VHOST_SET_MEM_TABLE', { padding: 1, regions: [RAM] }, 'EOPNOTSUPP'],
    ['more than 64 regions', 'VHOST_SET_MEM_TABLE', { regions: Array.from({ length: 65 }, () => RAM) }, 'E2BIG'],
    // vhost_set_memory checks the header's count before it copies a region: none need be there.
    ['a header count over 64, no regions after it', 'VHOST_SET_MEM_TABLE', { nregions: 0xffff_ffff, regions: [] }, 'E2BIG'],
    ['a header count over 64 with padding', 'VHOST_SET_MEM_TABLE', { padding: 1, nregions: 65, regions: [] }, 'EOPNOTSUPP'],
    ['fewer regions after the header than its count', 'VHOST_SET_MEM_TABLE', { nregions: 2, regions: [RAM] }, 'EFAULT'],
    ['log fd -2 (only -1 unbinds)', 'VHOST_SET_LOG_FD', -2, 'EBADF'],
    ['kick fd not open', 'VHOST_SET_VRING_KICK', { index: 0, fd: 99 }, 'EBADF'],
    ['kick fd not an eventfd', 'VHOST_SET_VRING_KICK', { index: 0, fd: 3 }, 'EINVAL'],
    ['unreadable argument', 'VHOST_SET_VRING_NUM', BAD_POINTER, 'EFAULT'],
    ['RESET_OWNER with a NULL argument (not handled by vsock)', 'VHOST_RESET_OWNER', undefined, 'EFAULT'],
    ['RESET_OWNER with a readable argument', 'VHOST_RESET_OWNER', { index: 0, num: 0 }, 'ENOTTY'],
  ];
  it.each(rows)('%s → %s', (_what, name, arg, errno) => {
    const s = owned();
    const before = s.device;
    expect(s.call(name, arg)).toEqual(err(errno));
    expect(s.device).toEqual(before);
  });

  it('features outside VHOST_VSOCK_FEATURES are -EOPNOTSUPP; SEQPACKET sets seqpacket_allow', () => {
    const s = session();
    expect(s.call('VHOST_SET_FEATURES', 1n << 40n)).toEqual(err('EOPNOTSUPP'));
    expect(s.call('VHOST_SET_FEATURES', 1n << BigInt(FEATURE_BIT.VIRTIO_VSOCK_F_SEQPACKET))).toEqual(ok);
    expect(s.device.seqpacketAllow).toBe(true);
    expect(s.device.vqs.map((vq) => vq.ackedFeatures)).toEqual([2, 2]);
  });

  it('an unknown ioctl number is -ENOTTY for the owner and -EPERM for anyone else', () => {
    const s = owned();
    expect(s.call(0x4008af7f, { index: 0, num: 0 })).toEqual(err('ENOTTY'));
    expect(s.call(0x4008af7f, { index: 0, num: 0 }, OTHER)).toEqual(err('EPERM'));
  });
});

describe('the other generic ioctls QEMU may send', () => {
  it('log base and log fd are taken; busy-loop timeout is stored per queue; vring endian is -ENOTTY on x86', () => {
    const s = owned();
    expect(s.call('VHOST_SET_LOG_BASE', 0x1000n)).toEqual(ok);
    expect(s.call('VHOST_SET_LOG_FD', 11)).toEqual(ok);
    expect(s.call('VHOST_SET_LOG_FD', 3)).toEqual(err('EINVAL'));
    expect(s.call('VHOST_SET_VRING_BUSYLOOP_TIMEOUT', { index: 1, num: 50 })).toEqual(ok);
    expect(s.call('VHOST_GET_VRING_BUSYLOOP_TIMEOUT', { index: 1, num: 0 })).toEqual({ ok: true, value: 50 });
    expect(s.call('VHOST_SET_VRING_ENDIAN', { index: 0, num: 1 })).toEqual(err('ENOTTY'));
    expect(s.call('VHOST_SET_LOG_BASE', 0x1000n, OTHER)).toEqual(err('EPERM'));
  });
});

describe('start is all or nothing (docs/model.md §5.3)', () => {
  it('a successful start queues the send work; a failed one does not', () => {
    const s = owned();
    const failed = ioctl(s.host, s.id, QEMU, 'VHOST_VSOCK_SET_RUNNING', 1);
    expect(failed.ret).toEqual(err('EFAULT'));
    expect(failed.queueSendWork).toBe(false);
    configure(s);
    const started = ioctl(s.host, s.id, QEMU, 'VHOST_VSOCK_SET_RUNNING', 1);
    expect(started.ret).toEqual(ok);
    expect(started.queueSendWork).toBe(true);
  });

  it('RX starts, TX used ring not mapped: init access faults, -EFAULT, and RX backend is cleared again', () => {
    const s = owned();
    configure(s);
    expect(s.call('VHOST_SET_VRING_ADDR', { index: 1, ...ring(0), usedUserAddr: 0x1000 })).toEqual(ok);
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(err('EFAULT'));
    expect(s.device.vqs.map((vq) => vq.backend)).toEqual([false, false]);
    expect(lifecycle(s.device)).toBe('OWNED');
  });

  it('the ring checks of the ioctls are access_ok range checks: an unmapped ring is accepted until start', () => {
    const s = owned();
    configure(s);
    expect(s.call('VHOST_SET_VRING_ADDR', { index: 0, ...ring(0), descUserAddr: 0x1000 })).toEqual(ok);
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok); // init access touches the used ring only
  });

  it('while running, a memory table or ring above TASK_SIZE is refused; an empty table is taken', () => {
    const s = running();
    const before = s.device;
    expect(s.call('VHOST_SET_MEM_TABLE', { regions: [{ ...RAM, userspaceAddr: TASK_SIZE_MAX }] })).toEqual(err('EFAULT'));
    expect(s.call('VHOST_SET_VRING_ADDR', { index: 0, ...ring(0), usedUserAddr: TASK_SIZE_MAX })).toEqual(err('EINVAL'));
    expect(s.device).toEqual(before);
    expect(s.call('VHOST_SET_MEM_TABLE', { regions: [] })).toEqual(ok);
  });

  it('stopped, a memory table above TASK_SIZE is taken (memory_access_ok looks at running queues only)', () => {
    const s = owned();
    expect(s.call('VHOST_SET_MEM_TABLE', { regions: [{ ...RAM, userspaceAddr: TASK_SIZE_MAX }] })).toEqual(ok);
  });

  it('with ACCESS_PLATFORM the IOTLB skips the ring checks but not the memory table: no table, -EFAULT', () => {
    const s = owned();
    expect(s.call('VHOST_SET_FEATURES', 1n << BigInt(FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM))).toEqual(ok);
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(err('EFAULT'));
  });
});

describe('guest reboot as QEMU drives it (docs/model.md §5.6)', () => {
  it('SET_RUNNING 0, GET_VRING_BASE ×2 save the ring positions; the restart restores them', () => {
    const s = owned();
    configure(s, [17, 40]);
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok);
    // Reset: stop first, then save each queue's position.
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 0)).toEqual(ok);
    const saved = [0, 1].map((index) => s.call('VHOST_GET_VRING_BASE', { index, num: 0 }));
    expect(saved).toEqual([
      { ok: true, value: 17 },
      { ok: true, value: 40 },
    ]);
    // The new driver starts its rings from zero; QEMU writes what the new guest set.
    configure(s);
    expect(s.call('VHOST_VSOCK_SET_RUNNING', 1)).toEqual(ok);
    expect(s.device.vqs.map((vq) => vq.lastAvailIdx)).toEqual([0, 0]);
    expect(lifecycle(s.device)).toBe('RUNNING');
  });
});

describe('input that no process could send', () => {
  it('an instance never opened is a named error, not a crash', () => {
    expect(() => ioctl(newHost(), 3, QEMU, 'VHOST_GET_FEATURES', undefined)).toThrow(/no vhost-vsock instance 3/);
  });
  it('closing twice is a named error', () => {
    const s = session();
    s.close();
    expect(() => s.close()).toThrow(/already closed/);
  });
});
