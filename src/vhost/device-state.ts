/**
 * The vhost-vsock device model's state (device.ts): the device file's instance and its virtqueues, the host
 * state instances share, the caller, the ioctl arguments and returns, the constants they use, and a new
 * instance and host as `open` and the module make them.
 */
import type { VhostIoctlName } from './ioctl.js';

/** `VMADDR_CID_HOST`. */
export const VMADDR_CID_HOST = 2;
export const U32_MAX = 0xffff_ffff;
/** The `max_mem_regions` module parameter's default. */
export const DEFAULT_MAX_MEM_REGIONS = 64;
export const VSOCK_VQ_RX = 0;
export const VSOCK_VQ_TX = 1;
export const NVQS = 2;

export interface MemRegion {
  guestPhysAddr: number;
  memorySize: number;
  userspaceAddr: number;
}

export interface VringAddr {
  index: number;
  flags: number;
  descUserAddr: number;
  availUserAddr: number;
  usedUserAddr: number;
  logGuestAddr: number;
}

export interface Virtqueue {
  readonly index: number;
  /** Ring size; the kernel's default before SET_VRING_NUM is 1. */
  readonly num: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
  readonly log: boolean;
  readonly lastAvailIdx: number;
  readonly kickFd: number | null;
  readonly callFd: number | null;
  readonly errFd: number | null;
  /** `private_data`: non-NULL ⇔ the queue runs. */
  readonly backend: boolean;
  /** The acked feature mask; stored as a number (every defined bit is below 53, so it is exact and JSON-safe). */
  readonly ackedFeatures: number;
  readonly busyloopTimeout: number;
}

export interface VsockDevice {
  /** Which open() made it; the host's index of instances. */
  readonly id: number;
  /** The owner's `mm` (the VMM process), null before VHOST_SET_OWNER. */
  readonly owner: string | null;
  /** `dev->umem`: the memory table, null before VHOST_SET_MEM_TABLE. */
  readonly memTable: readonly MemRegion[] | null;
  readonly iotlb: boolean;
  readonly logBase: number;
  readonly logFd: number | null;
  readonly backendFeatures: number;
  readonly seqpacketAllow: boolean;
  readonly guestCid: number;
  readonly vqs: readonly [Virtqueue, Virtqueue];
  /**
   * Set once SET_RUNNING 1 succeeded. No rule reads it (the lifecycle, STOPPED or CONFIGURED, is the
   * chart's state); after close it still tells a device that ran from one that never did.
   */
  readonly everRan: boolean;
  readonly released: boolean;
}

/** What the host shares between instances: the CID hash, and CIDs the nested guest→host transport uses. */
export interface VsockHost {
  readonly devices: readonly VsockDevice[];
  /** `vsock_find_cid`: CIDs of this host's own (guest→host) transport, when the host is itself a guest. */
  readonly localCids: readonly number[];
  readonly maxMemRegions: number;
}

/** The process making the call. */
export interface Caller {
  mm: string;
  /** Open eventfds of the process; other open files are in `files`. */
  eventfds?: readonly number[];
  files?: readonly number[];
}

/** An argument pointer the kernel cannot read or write (copy_from_user / copy_to_user fails). */
export const BAD_POINTER = Symbol('bad user pointer');
export type BadPointer = typeof BAD_POINTER;

export type IoctlArg =
  | undefined
  | BadPointer
  | number
  | bigint
  | { index: number; num: number }
  | { index: number; fd: number }
  | VringAddr
  /**
   * `struct vhost_memory`: `nregions` is the header's count (default: the regions given), `regions`
   * what the caller's buffer holds after the header. A count over max_mem_regions is refused from the
   * header alone, so such a table need not spell its regions out.
   */
  | { padding?: number; nregions?: number; regions: readonly MemRegion[] };

export type IoctlReturn = { ok: true; value?: number | bigint } | { ok: false; errno: number };

export interface IoctlResult {
  host: VsockHost;
  device: VsockDevice;
  /** The system call's return: 0 (or the value copied out), or the negative errno. */
  ret: IoctlReturn;
  /** The names the request number goes by. */
  names: VhostIoctlName[];
  /**
   * A successful start ends by queueing the send work, so packets queued before the start go out
   * ("vhost/vsock: kick send_pkt worker once device is started", 2020, in stable kernels).
   */
  queueSendWork: boolean;
}

export type Lifecycle = 'OPEN_UNOWNED' | 'OWNED' | 'CONFIGURED' | 'RUNNING' | 'STOPPED' | 'RELEASED';

export class VhostInputError extends Error {
  override name = 'VhostInputError';
}

export function newHost(opts: { localCids?: readonly number[]; maxMemRegions?: number } = {}): VsockHost {
  return { devices: [], localCids: opts.localCids ?? [], maxMemRegions: opts.maxMemRegions ?? DEFAULT_MAX_MEM_REGIONS };
}

function newVq(index: number): Virtqueue {
  return {
    index,
    num: 1,
    desc: 0,
    avail: 0,
    used: 0,
    log: false,
    lastAvailIdx: 0,
    kickFd: null,
    callFd: null,
    errFd: null,
    backend: false,
    ackedFeatures: 0,
    busyloopTimeout: 0,
  };
}

/** The instance `open` makes, with the host's index `id`. */
export function newDevice(id: number): VsockDevice {
  return {
    id,
    owner: null,
    memTable: null,
    iotlb: false,
    logBase: 0,
    logFd: null,
    backendFeatures: 0,
    seqpacketAllow: false,
    guestCid: 0,
    vqs: [newVq(VSOCK_VQ_RX), newVq(VSOCK_VQ_TX)],
    everRan: false,
    released: false,
  };
}

/**
 * Both queues have a backend: the last VHOST_VSOCK_SET_RUNNING 1 succeeded and nothing stopped the
 * device since (vhost_vsock_start sets RX then TX, all or nothing; vhost_vsock_stop clears both).
 */
export function started(device: VsockDevice): boolean {
  return device.vqs.every((vq) => vq.backend);
}
