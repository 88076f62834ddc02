/**
 * The vhost-vsock device's control path as pure functions: `open`, `ioctl` and `close` on the
 * device file, each returning the new device and host state and the value the system call gives
 * the VMM (0, a value, or −errno). It follows `vhost_vsock_dev_ioctl` (drivers/vhost/vsock.c) and
 * the generic `vhost_dev_ioctl` / `vhost_vring_ioctl` (drivers/vhost/vhost.c) check by check, in
 * their order (docs/model.md §5.2–§5.4). A call that fails leaves the device exactly as it was, with
 * one exception the kernel makes too: a failed start clears the backend of every queue (docs/model.md §5.3,
 * all or nothing), so a repeated start that fails stops a running device.
 *
 * Memory: the ring checks of the ioctls are `access_ok` range checks (below TASK_SIZE_MAX), as in
 * the kernel; only `vhost_vq_init_access`, at start, touches the used ring, and it faults unless
 * that ring is memory the VMM has mapped — modelled as lying inside one memory-table region's
 * user range, which is where QEMU puts the rings.
 *
 * Read from the source (docs/model.md §5.2): VHOST_RESET_OWNER is not handled by vsock,
 * so after the owner check it reaches `vhost_vring_ioctl`, which reads a vring index through the
 * argument pointer: with QEMU's NULL argument that read faults (−EFAULT); with a readable argument
 * the switch falls to −ENOIOCTLCMD, which the VFS turns into −ENOTTY.
 *
 * Kernel eras (src/vhost/kernel.ts): `ioctl` and `close` take a `VhostKernel` last, mainline by
 * default. Before `vsock-backend-features` the BACKEND_FEATURES ioctls take that same default path:
 * `vhost_vring_ioctl` reads the first u32 of the u64 argument as the vring index, so
 * IOTLB_MSG_V2 (2) gives −ENOBUFS and 0 or 1 −ENOTTY (read from the source).
 *
 * The device's values and a new instance are in device-state.ts, the memory checks in ring-access.ts; both are
 * re-exported here.
 */
import {
  ERRNO,
  FEATURE_BIT,
  hasFeature,
  ioctlNames,
  VHOST_VSOCK_BACKEND_FEATURES,
  VHOST_IOCTLS,
  vsockFeatures,
  type VhostIoctlName,
} from './ioctl.js';
import { MAINLINE_VHOST, type VhostKernel } from './kernel.js';
import {
  BAD_POINTER,
  NVQS,
  U32_MAX,
  VhostInputError,
  VMADDR_CID_HOST,
  type BadPointer,
  type Caller,
  type IoctlArg,
  type IoctlResult,
  type IoctlReturn,
  type Virtqueue,
  type VsockDevice,
  type VsockHost,
  newDevice,
  started,
} from './device-state.js';
import { initAccessOk, memoryAccessOk, ringsAccessOk, TASK_SIZE_MAX, vqAccessOk } from './ring-access.js';

export * from './device-state.js';
export { TASK_SIZE_MAX } from './ring-access.js';

/** open("/dev/vhost-vsock"): a new instance, unowned, CID 0 (not hashed). */
export function open(host: VsockHost): { host: VsockHost; device: VsockDevice } {
  const device = newDevice(host.devices.length);
  return { host: { ...host, devices: [...host.devices, device] }, device };
}

/**
 * The owner has given every queue its kick eventfd and rings that `vhost_vq_access_ok` and
 * `vhost_vq_init_access` accept over its memory table: the CONFIGURED of docs/model.md §5.4.
 * (The lifecycle itself is the vhost-vsock chart's state: machines/vhost-vsock.machine.ts.)
 */
export function configured(device: VsockDevice): boolean {
  return device.vqs.every((vq) => vq.kickFd !== null && vqAccessOk(device, vq) && initAccessOk(device, vq));
}

export interface CloseResult {
  host: VsockHost;
  /** The freed instance (vhost_dev_cleanup reset every queue: no backend). */
  device: VsockDevice;
  /**
   * The device as `vhost_vsock_flush` sees it, right after the release's stop: both backends
   * NULL, except before `vsock-release-no-owner-check` when the releasing task is not the owner —
   * then the queues still run and the flushed work processes the rings (see `release` in datapath).
   */
  atFlush: VsockDevice;
  /** What the release's `vhost_vsock_stop` returned (the caller ignores it): 0 or −EPERM. */
  stopRet: IoctlReturn;
}

/**
 * close(fd), the last reference (vhost_vsock_dev_release): unhash, stop, flush, purge, free.
 * `caller` is the task that drops the last reference: omitted means the owner; `null` is a task
 * in do_exit() after exit_mm() (current->mm NULL), which never passes the owner check.
 */
export function close(
  host: VsockHost,
  device: VsockDevice,
  opts: { caller?: Caller | null; kernel?: VhostKernel } = {},
): CloseResult {
  const current = find(host, device.id);
  if (current.released) throw new VhostInputError(`vhost-vsock instance ${device.id} is already closed`);
  const kernel = opts.kernel ?? MAINLINE_VHOST;
  const mm = opts.caller === undefined ? current.owner : opts.caller === null ? null : opts.caller.mm;
  // Before a58da53ffd70 the release called vhost_vsock_stop(), whose owner check failed for any
  // task but the owner: −EPERM, ignored, and the backends stayed set through the flush.
  // vhost_dev_check_owner: `dev->mm == current->mm ? 0 : -EPERM`.
  const stopFailed = !kernel.releaseNoOwnerCheck && current.owner !== mm;
  const atFlush: VsockDevice = stopFailed ? current : stop(current);
  const closed: VsockDevice = { ...stop(current), released: true };
  return { host: replace(host, closed), device: closed, atFlush, stopRet: stopFailed ? fail(ERRNO.EPERM) : OK };
}

function find(host: VsockHost, id: number): VsockDevice {
  const device = host.devices[id];
  if (device === undefined) throw new VhostInputError(`no vhost-vsock instance ${id} was opened`);
  return device;
}

function replace(host: VsockHost, device: VsockDevice): VsockHost {
  const devices = host.devices.slice();
  devices[device.id] = device;
  return { ...host, devices };
}

function withVq(device: VsockDevice, vq: Virtqueue): VsockDevice {
  const vqs: [Virtqueue, Virtqueue] = [device.vqs[0], device.vqs[1]];
  vqs[vq.index] = vq;
  return { ...device, vqs };
}

const fail = (errno: number): IoctlReturn => ({ ok: false, errno });
const OK: IoctlReturn = { ok: true };

function isObject(arg: IoctlArg): arg is Exclude<IoctlArg, undefined | BadPointer | number | bigint> {
  return typeof arg === 'object' && arg !== null;
}

/**
 * One ioctl on the device file. `request` is the number; a name is resolved through the uapi
 * table. Throws `VhostInputError` only for calls no process could make (an instance that was never
 * opened); every call a process can make gets the kernel's answer.
 */
export function ioctl(
  host: VsockHost,
  deviceId: number,
  caller: Caller,
  request: number | VhostIoctlName,
  arg: IoctlArg,
  kernel: VhostKernel = MAINLINE_VHOST,
): IoctlResult {
  const device = find(host, deviceId);
  const number = typeof request === 'number' ? request : VHOST_IOCTLS[request];
  const names = ioctlNames(number);
  const done = (ret: IoctlReturn, next: VsockDevice = device, nextHost?: VsockHost): IoctlResult => ({
    host: nextHost ?? (next === device ? host : replace(host, next)),
    device: next,
    ret,
    names,
    queueSendWork: false,
  });
  if (device.released) return done(fail(ERRNO.EBADF));
  const name = names[0];
  const isOwner = device.owner !== null && device.owner === caller.mm;

  switch (name) {
    case 'VHOST_VSOCK_SET_GUEST_CID': {
      if (arg === BAD_POINTER || arg === undefined) return done(fail(ERRNO.EFAULT));
      const cid = typeof arg === 'bigint' ? arg : typeof arg === 'number' ? BigInt(arg) : undefined;
      if (cid === undefined) return done(fail(ERRNO.EFAULT));
      if (cid <= BigInt(VMADDR_CID_HOST) || cid === BigInt(U32_MAX) || cid > BigInt(U32_MAX)) return done(fail(ERRNO.EINVAL));
      const n = Number(cid);
      if (host.localCids.includes(n)) return done(fail(ERRNO.EADDRINUSE));
      const other = host.devices.find((d) => !d.released && d.guestCid === n);
      if (other !== undefined && other.id !== device.id) return done(fail(ERRNO.EADDRINUSE));
      return done(OK, { ...device, guestCid: n });
    }
    case 'VHOST_VSOCK_SET_RUNNING':
    case 'VHOST_SET_RUNNING': {
      if (typeof arg !== 'number') return done(fail(ERRNO.EFAULT));
      if (!isOwner) return done(fail(ERRNO.EPERM));
      if (arg === 0) return done(OK, stop(device));
      const started = done(...start(device));
      return { ...started, queueSendWork: started.ret.ok };
    }
    case 'VHOST_GET_FEATURES':
      if (arg === BAD_POINTER) return done(fail(ERRNO.EFAULT));
      return done({ ok: true, value: vsockFeatures(kernel) });
    case 'VHOST_SET_FEATURES': {
      if (typeof arg !== 'bigint' && typeof arg !== 'number') return done(fail(ERRNO.EFAULT));
      const features = BigInt(arg);
      if ((features & ~vsockFeatures(kernel)) !== 0n) return done(fail(ERRNO.EOPNOTSUPP));
      // LOG_ALL needs vhost_log_access_ok, which only fails for a running queue whose log is not
      // accessible; the modelled log is always accessible.
      const iotlb = hasFeature(features, FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM) || device.iotlb;
      const next: VsockDevice = {
        ...device,
        iotlb,
        seqpacketAllow: hasFeature(features, FEATURE_BIT.VIRTIO_VSOCK_F_SEQPACKET),
        vqs: [
          { ...device.vqs[0], ackedFeatures: Number(features) },
          { ...device.vqs[1], ackedFeatures: Number(features) },
        ],
      };
      return done(OK, next);
    }
    case 'VHOST_GET_BACKEND_FEATURES':
      // Before `vsock-backend-features` the default path below reads the (output) buffer as a
      // vring index; an `undefined` argument is taken as a readable buffer holding 0.
      if (!kernel.backendFeatures) return devIoctl(device, host, caller, isOwner, name, arg ?? 0n, done);
      if (arg === BAD_POINTER) return done(fail(ERRNO.EFAULT));
      return done({ ok: true, value: VHOST_VSOCK_BACKEND_FEATURES });
    case 'VHOST_SET_BACKEND_FEATURES': {
      if (!kernel.backendFeatures) return devIoctl(device, host, caller, isOwner, name, arg, done);
      if (typeof arg !== 'bigint' && typeof arg !== 'number') return done(fail(ERRNO.EFAULT));
      const features = BigInt(arg);
      if ((features & ~VHOST_VSOCK_BACKEND_FEATURES) !== 0n) return done(fail(ERRNO.EOPNOTSUPP));
      return done(OK, { ...device, backendFeatures: Number(features) });
    }
    default:
      return devIoctl(device, host, caller, isOwner, name, arg, done);
  }
}

/** `eventfd_fget` on a caller's fd (−1 unbinds): not open → EBADF, open but not an eventfd → EINVAL. */
function eventfdErrno(caller: Caller, fd: number): number | null {
  if (fd === -1 || (caller.eventfds ?? []).includes(fd)) return null;
  return (caller.files ?? []).includes(fd) ? ERRNO.EINVAL : ERRNO.EBADF;
}

/** The requests `vhost_vring_ioctl` has a case for (the model keeps their argument objects). */
const VRING_CASES: ReadonlySet<VhostIoctlName | undefined> = new Set<VhostIoctlName>([
  'VHOST_SET_VRING_NUM',
  'VHOST_SET_VRING_BASE',
  'VHOST_GET_VRING_BASE',
  'VHOST_SET_VRING_BUSYLOOP_TIMEOUT',
  'VHOST_GET_VRING_BUSYLOOP_TIMEOUT',
  'VHOST_SET_VRING_ENDIAN',
  'VHOST_GET_VRING_ENDIAN',
  'VHOST_SET_VRING_ADDR',
  'VHOST_SET_VRING_KICK',
  'VHOST_SET_VRING_CALL',
  'VHOST_SET_VRING_ERR',
]);

type Done = (ret: IoctlReturn, next?: VsockDevice, nextHost?: VsockHost) => IoctlResult;

/** The default branch: `vhost_dev_ioctl` under the device mutex, then `vhost_vring_ioctl`. */
function devIoctl(
  device: VsockDevice,
  host: VsockHost,
  caller: Caller,
  isOwner: boolean,
  name: VhostIoctlName | undefined,
  arg: IoctlArg,
  done: Done,
): IoctlResult {
  if (name === 'VHOST_SET_OWNER') {
    if (device.owner !== null) return done(fail(ERRNO.EBUSY));
    return done(OK, { ...device, owner: caller.mm });
  }
  if (!isOwner) return done(fail(ERRNO.EPERM));
  if (name === 'VHOST_SET_LOG_BASE') {
    // vhost_dev_ioctl: copy the u64, check the log against every running queue's memory, store it.
    if (typeof arg !== 'number' && typeof arg !== 'bigint') return done(fail(ERRNO.EFAULT));
    return done(OK, { ...device, logBase: Number(arg) });
  }
  if (name === 'VHOST_SET_LOG_FD') {
    if (typeof arg !== 'number') return done(fail(ERRNO.EFAULT));
    const errno = eventfdErrno(caller, arg);
    if (errno !== null) return done(fail(errno));
    return done(OK, { ...device, logFd: arg === -1 ? null : arg });
  }
  if (name === 'VHOST_SET_MEM_TABLE') {
    if (!isObject(arg) || !('regions' in arg)) return done(fail(ERRNO.EFAULT));
    if ((arg.padding ?? 0) !== 0) return done(fail(ERRNO.EOPNOTSUPP));
    // vhost_set_memory: the header's count is checked before a region is allocated or copied.
    const nregions = arg.nregions ?? arg.regions.length;
    if (nregions > host.maxMemRegions) return done(fail(ERRNO.E2BIG));
    // The regions after the header are copied whole: a buffer that ends before them faults.
    if (arg.regions.length < nregions) return done(fail(ERRNO.EFAULT));
    for (const r of arg.regions.slice(0, nregions)) {
      // vhost_iotlb_add_range fails on a zero-sized or wrapping range.
      if (r.memorySize <= 0 || r.guestPhysAddr + r.memorySize - 1 > Number.MAX_SAFE_INTEGER) return done(fail(ERRNO.EFAULT));
    }
    const memTable = arg.regions.slice(0, nregions).map((r) => ({ ...r }));
    // memory_access_ok: only checked for running queues, and only the regions' own user ranges.
    if (device.vqs.some((vq) => vq.backend) && !memoryAccessOk(memTable)) return done(fail(ERRNO.EFAULT));
    return done(OK, { ...device, memTable });
  }
  // vhost_dev_ioctl returned -ENOIOCTLCMD: vhost_vring_ioctl reads the index through the argument.
  if ((typeof arg === 'bigint' || typeof arg === 'number') && !VRING_CASES.has(name)) {
    // A scalar argument (a u64 such as BACKEND_FEATURES' before `vsock-backend-features`): its
    // first u32 is the index (little endian); past the index check no case matches: -ENOIOCTLCMD.
    const index = Number(BigInt.asUintN(32, BigInt(arg)));
    return done(fail(index >= NVQS ? ERRNO.ENOBUFS : ERRNO.ENOTTY));
  }
  if (!isObject(arg) || !('index' in arg)) return done(fail(ERRNO.EFAULT));
  if (arg.index >= NVQS || arg.index < 0) return done(fail(ERRNO.ENOBUFS));
  const vq = device.vqs[arg.index as 0 | 1];
  switch (name) {
    case 'VHOST_SET_VRING_NUM': {
      if (vq.backend) return done(fail(ERRNO.EBUSY));
      const num = 'num' in arg ? arg.num : -1;
      if (num <= 0 || num > 0xffff || (num & (num - 1)) !== 0) return done(fail(ERRNO.EINVAL));
      return done(OK, withVq(device, { ...vq, num }));
    }
    case 'VHOST_SET_VRING_BASE': {
      if (vq.backend) return done(fail(ERRNO.EBUSY));
      const num = 'num' in arg ? arg.num : -1;
      if (num < 0 || num > 0xffff) return done(fail(ERRNO.EINVAL));
      return done(OK, withVq(device, { ...vq, lastAvailIdx: num }));
    }
    case 'VHOST_GET_VRING_BASE':
      return done({ ok: true, value: vq.lastAvailIdx });
    case 'VHOST_SET_VRING_BUSYLOOP_TIMEOUT':
      return done(OK, withVq(device, { ...vq, busyloopTimeout: 'num' in arg ? arg.num : 0 }));
    case 'VHOST_GET_VRING_BUSYLOOP_TIMEOUT':
      return done({ ok: true, value: vq.busyloopTimeout });
    case 'VHOST_SET_VRING_ENDIAN':
    case 'VHOST_GET_VRING_ENDIAN':
      // Only with CONFIG_VHOST_CROSS_ENDIAN_LEGACY, which x86 distributions leave off: -ENOIOCTLCMD.
      return done(fail(ERRNO.ENOTTY));
    case 'VHOST_SET_VRING_ADDR': {
      if (!('descUserAddr' in arg)) return done(fail(ERRNO.EFAULT));
      if ((arg.flags & ~1) !== 0) return done(fail(ERRNO.EOPNOTSUPP));
      if (arg.availUserAddr % 2 !== 0 || arg.usedUserAddr % 4 !== 0 || arg.logGuestAddr % 4 !== 0) {
        return done(fail(ERRNO.EINVAL));
      }
      const next: Virtqueue = {
        ...vq,
        desc: arg.descUserAddr,
        avail: arg.availUserAddr,
        used: arg.usedUserAddr,
        log: (arg.flags & 1) !== 0,
      };
      // A running queue's new rings pass vq_access_ok before they are taken.
      if (vq.backend && !ringsAccessOk(next)) return done(fail(ERRNO.EINVAL));
      return done(OK, withVq(device, next));
    }
    case 'VHOST_SET_VRING_KICK':
    case 'VHOST_SET_VRING_CALL':
    case 'VHOST_SET_VRING_ERR': {
      const fd = 'fd' in arg ? arg.fd : undefined;
      if (fd === undefined) return done(fail(ERRNO.EFAULT));
      const errno = eventfdErrno(caller, fd);
      if (errno !== null) return done(fail(errno));
      const value = fd === -1 ? null : fd;
      const field = name === 'VHOST_SET_VRING_KICK' ? 'kickFd' : name === 'VHOST_SET_VRING_CALL' ? 'callFd' : 'errFd';
      return done(OK, withVq(device, { ...vq, [field]: value }));
    }
    default:
      // VHOST_RESET_OWNER and unknown numbers: -ENOIOCTLCMD, which the VFS reports as -ENOTTY.
      return done(fail(ERRNO.ENOTTY));
  }
}

/** `vhost_vsock_start` after the owner check: RX then TX, all or nothing. */
function start(device: VsockDevice): [IoctlReturn, VsockDevice] {
  let next = device;
  for (const vq of device.vqs) {
    if (!vqAccessOk(next, vq)) return [fail(ERRNO.EFAULT), stop(device)];
    if (!vq.backend) {
      if (!initAccessOk(next, vq)) return [fail(ERRNO.EFAULT), stop(device)];
      next = withVq(next, { ...vq, backend: true });
    }
  }
  return [OK, { ...next, everRan: true }];
}

/** `vhost_vsock_stop` after the owner check: every backend NULL; nothing flushed, nothing purged. */
function stop(device: VsockDevice): VsockDevice {
  if (!device.vqs.some((vq) => vq.backend)) return device;
  return { ...device, vqs: [{ ...device.vqs[0], backend: false }, { ...device.vqs[1], backend: false }] };
}
