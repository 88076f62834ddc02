/**
 * The vhost-vsock ioctl numbers, computed from the `_IOC` encoding of `include/uapi/asm-generic/ioctl.h`
 * the way the uapi header `include/uapi/linux/vhost.h` spells them (docs/model.md §5.2), and the errno
 * values of x86-64 Linux. The numbers are derived, not typed in, so a wrong size or direction in
 * the table below shows up as a different number in the test against the table of docs/model.md §5.2.
 */

const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;

/** `_IOC(dir, type, nr, size)`: dir in bits 30–31, size in 16–29, type in 8–15, nr in 0–7. */
export function ioc(dir: number, type: number, nr: number, size: number): number {
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

/** The ioctl type byte of vhost, `VHOST_VIRTIO`. */
export const VHOST_VIRTIO = 0xaf;

export type VhostIoctlName =
  | 'VHOST_GET_FEATURES'
  | 'VHOST_SET_FEATURES'
  | 'VHOST_SET_OWNER'
  | 'VHOST_RESET_OWNER'
  | 'VHOST_SET_MEM_TABLE'
  | 'VHOST_SET_LOG_BASE'
  | 'VHOST_SET_LOG_FD'
  | 'VHOST_SET_VRING_ENDIAN'
  | 'VHOST_GET_VRING_ENDIAN'
  | 'VHOST_SET_VRING_BUSYLOOP_TIMEOUT'
  | 'VHOST_GET_VRING_BUSYLOOP_TIMEOUT'
  | 'VHOST_SET_VRING_NUM'
  | 'VHOST_SET_VRING_ADDR'
  | 'VHOST_SET_VRING_BASE'
  | 'VHOST_GET_VRING_BASE'
  | 'VHOST_SET_VRING_KICK'
  | 'VHOST_SET_VRING_CALL'
  | 'VHOST_SET_VRING_ERR'
  | 'VHOST_SET_BACKEND_FEATURES'
  | 'VHOST_GET_BACKEND_FEATURES'
  | 'VHOST_VSOCK_SET_GUEST_CID'
  | 'VHOST_VSOCK_SET_RUNNING'
  | 'VHOST_SET_RUNNING';

/** Sizes of the argument structs on x86-64. */
const U64 = 8;
const INT = 4;
const VRING_STATE = 8; // struct vhost_vring_state { unsigned int index, num; }
const VRING_FILE = 8; // struct vhost_vring_file { unsigned int index; int fd; }
const VRING_ADDR = 40; // struct vhost_vring_addr: index, flags, then four u64
const MEMORY = 8; // struct vhost_memory header: u32 nregions, u32 padding

const RW = IOC_READ | IOC_WRITE;

/** Each name with the `_IO*` macro its header line uses. */
export const VHOST_IOCTLS: Readonly<Record<VhostIoctlName, number>> = {
  VHOST_GET_FEATURES: ioc(IOC_READ, VHOST_VIRTIO, 0x00, U64),
  VHOST_SET_FEATURES: ioc(IOC_WRITE, VHOST_VIRTIO, 0x00, U64),
  VHOST_SET_OWNER: ioc(IOC_NONE, VHOST_VIRTIO, 0x01, 0),
  VHOST_RESET_OWNER: ioc(IOC_NONE, VHOST_VIRTIO, 0x02, 0),
  VHOST_SET_MEM_TABLE: ioc(IOC_WRITE, VHOST_VIRTIO, 0x03, MEMORY),
  VHOST_SET_LOG_BASE: ioc(IOC_WRITE, VHOST_VIRTIO, 0x04, U64),
  VHOST_SET_LOG_FD: ioc(IOC_WRITE, VHOST_VIRTIO, 0x07, INT),
  VHOST_SET_VRING_NUM: ioc(IOC_WRITE, VHOST_VIRTIO, 0x10, VRING_STATE),
  VHOST_SET_VRING_ENDIAN: ioc(IOC_WRITE, VHOST_VIRTIO, 0x13, VRING_STATE),
  // The header declares the GET with _IOW too.
  VHOST_GET_VRING_ENDIAN: ioc(IOC_WRITE, VHOST_VIRTIO, 0x14, VRING_STATE),
  VHOST_SET_VRING_ADDR: ioc(IOC_WRITE, VHOST_VIRTIO, 0x11, VRING_ADDR),
  VHOST_SET_VRING_BASE: ioc(IOC_WRITE, VHOST_VIRTIO, 0x12, VRING_STATE),
  VHOST_GET_VRING_BASE: ioc(RW, VHOST_VIRTIO, 0x12, VRING_STATE),
  VHOST_SET_VRING_KICK: ioc(IOC_WRITE, VHOST_VIRTIO, 0x20, VRING_FILE),
  VHOST_SET_VRING_CALL: ioc(IOC_WRITE, VHOST_VIRTIO, 0x21, VRING_FILE),
  VHOST_SET_VRING_ERR: ioc(IOC_WRITE, VHOST_VIRTIO, 0x22, VRING_FILE),
  VHOST_SET_VRING_BUSYLOOP_TIMEOUT: ioc(IOC_WRITE, VHOST_VIRTIO, 0x23, VRING_STATE),
  VHOST_GET_VRING_BUSYLOOP_TIMEOUT: ioc(IOC_WRITE, VHOST_VIRTIO, 0x24, VRING_STATE),
  VHOST_SET_BACKEND_FEATURES: ioc(IOC_WRITE, VHOST_VIRTIO, 0x25, U64),
  VHOST_GET_BACKEND_FEATURES: ioc(IOC_READ, VHOST_VIRTIO, 0x26, U64),
  VHOST_VSOCK_SET_GUEST_CID: ioc(IOC_WRITE, VHOST_VIRTIO, 0x60, U64),
  VHOST_VSOCK_SET_RUNNING: ioc(IOC_WRITE, VHOST_VIRTIO, 0x61, INT),
  // The 2020 proposal "vhost: convert VHOST_VSOCK_SET_RUNNING to a generic ioctl": the same number.
  VHOST_SET_RUNNING: ioc(IOC_WRITE, VHOST_VIRTIO, 0x61, INT),
};

/** The names a number goes by; 0x4004AF61 has two. Unknown numbers give an empty list. */
export function ioctlNames(request: number): VhostIoctlName[] {
  return (Object.keys(VHOST_IOCTLS) as VhostIoctlName[]).filter((name) => VHOST_IOCTLS[name] === request);
}

export function isVhostIoctlName(name: string): name is VhostIoctlName {
  return Object.prototype.hasOwnProperty.call(VHOST_IOCTLS, name);
}

/** x86-64 errno values (include/uapi/asm-generic/errno-base.h, errno.h). */
export const ERRNO = {
  EPERM: 1,
  E2BIG: 7,
  EBADF: 9,
  ENOMEM: 12,
  EFAULT: 14,
  EBUSY: 16,
  EINVAL: 22,
  ENOTTY: 25,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ENOBUFS: 105,
  ENODEV: 19,
} as const;

export type ErrnoName = keyof typeof ERRNO;

export function errnoName(errno: number): ErrnoName | undefined {
  return (Object.keys(ERRNO) as ErrnoName[]).find((name) => ERRNO[name] === errno);
}

/** Feature bits (include/uapi/linux/virtio_config.h, virtio_ring.h, vhost.h, virtio_vsock.h). */
export const FEATURE_BIT = {
  VIRTIO_VSOCK_F_SEQPACKET: 1,
  VIRTIO_F_NOTIFY_ON_EMPTY: 24,
  VHOST_F_LOG_ALL: 26,
  VIRTIO_F_ANY_LAYOUT: 27,
  VIRTIO_RING_F_INDIRECT_DESC: 28,
  VIRTIO_RING_F_EVENT_IDX: 29,
  VIRTIO_F_VERSION_1: 32,
  VIRTIO_F_ACCESS_PLATFORM: 33,
} as const;

const bit = (n: number): bigint => 1n << BigInt(n);

/** `VHOST_FEATURES` of drivers/vhost/vhost.h. */
export const VHOST_FEATURES =
  bit(FEATURE_BIT.VIRTIO_F_NOTIFY_ON_EMPTY) |
  bit(FEATURE_BIT.VIRTIO_RING_F_INDIRECT_DESC) |
  bit(FEATURE_BIT.VIRTIO_RING_F_EVENT_IDX) |
  bit(FEATURE_BIT.VHOST_F_LOG_ALL) |
  bit(FEATURE_BIT.VIRTIO_F_ANY_LAYOUT) |
  bit(FEATURE_BIT.VIRTIO_F_VERSION_1);

/** `VHOST_VSOCK_FEATURES` of drivers/vhost/vsock.c in mainline (ACCESS_PLATFORM from v5.11, SEQPACKET from v5.14). */
export const VHOST_VSOCK_FEATURES =
  VHOST_FEATURES | bit(FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM) | bit(FEATURE_BIT.VIRTIO_VSOCK_F_SEQPACKET);

/** `VHOST_VSOCK_FEATURES` of a kernel era: v5.10 has `VHOST_FEATURES` alone. */
export function vsockFeatures(kernel: { accessPlatform: boolean; seqpacket: boolean }): bigint {
  return (
    VHOST_FEATURES |
    (kernel.accessPlatform ? bit(FEATURE_BIT.VIRTIO_F_ACCESS_PLATFORM) : 0n) |
    (kernel.seqpacket ? bit(FEATURE_BIT.VIRTIO_VSOCK_F_SEQPACKET) : 0n)
  );
}

/** `VHOST_VSOCK_BACKEND_FEATURES`: `1 << VHOST_BACKEND_F_IOTLB_MSG_V2` (bit 1). */
export const VHOST_VSOCK_BACKEND_FEATURES = bit(1);

export function hasFeature(features: bigint, bitNumber: number): boolean {
  return (features & bit(bitNumber)) !== 0n;
}
