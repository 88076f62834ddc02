/**
 * What QEMU's vhost-vsock device (hw/virtio/vhost-vsock.c, hw/virtio/vhost.c, ≈5.0; docs/model.md §5.6)
 * asks of the kernel, as ioctl sequences a VMM thread issues:
 * - realize, once: vhost_dev_init (SET_OWNER, GET_FEATURES, a masked call notifier per queue),
 *   then SET_GUEST_CID;
 * - start, when the guest driver writes DRIVER_OK: the guest notifiers are bound first
 *   (set_guest_notifiers(true): with the MSI-X vectors the driver unmasked at probe, each queue's
 *   call is pointed at its irqfd, SET_VRING_CALL), then SET_FEATURES, SET_MEM_TABLE, per queue NUM,
 *   BASE, ADDR, KICK, then SET_RUNNING 1, then the queues are unmasked again (SET_VRING_CALL to the
 *   same guest notifier);
 * - stop, on a device reset (the guest rebooted): SET_RUNNING 0 first, then GET_VRING_BASE per
 *   queue (vhost_virtqueue_stop saves the ring position), then the guest notifiers are unbound (the
 *   calls go back to the masked notifiers).
 *
 * The guest's memory is one region; the rings sit in it. The eventfds are numbered by role so the
 * trace shows which notifier a call names.
 */
import type { Caller, IoctlArg, MemRegion, VringAddr } from './device.js';
import { FEATURE_BIT } from './ioctl.js';

/** One call of a sequence: an ioctl name (or close) and its argument. */
export interface VhostCall {
  ioctl: string;
  arg: IoctlArg;
}

/** The VM's RAM as QEMU maps it: guest-physical 0, 1 GiB, at a user address of the VMM. */
export function guestRam(vm: number): MemRegion {
  return { guestPhysAddr: 0, memorySize: 0x4000_0000, userspaceAddr: 0x7f00_0000_0000 + vm * 0x1_0000_0000 };
}

/** Where the driver put queue `index`'s rings (inside the RAM). */
export function ringAddr(vm: number, index: number): VringAddr {
  const base = guestRam(vm).userspaceAddr + 0x10_0000 + index * 0x1_0000;
  return { index, flags: 0, descUserAddr: base, availUserAddr: base + 0x8000, usedUserAddr: base + 0xc000, logGuestAddr: 0 };
}

/** The eventfds of QEMU's notifiers: kick (host notifier), masked call, guest notifier (irqfd). */
export const EVENTFD = { kick: (i: number) => 20 + i, masked: (i: number) => 30 + i, guest: (i: number) => 40 + i } as const;

/** The VMM process of VM `vm` (its mm) with its eventfds open. */
export function vmmCaller(vm: number, mm?: string): Caller {
  return {
    mm: mm ?? `qemu-vm${vm}`,
    eventfds: [0, 1].flatMap((i) => [EVENTFD.kick(i), EVENTFD.masked(i), EVENTFD.guest(i)]),
    files: [3],
  };
}

/** The features QEMU acks for a guest driver: VERSION_1 (the driver's only must-have). */
export const ACKED_FEATURES = 2 ** FEATURE_BIT.VIRTIO_F_VERSION_1;

export function realize(cid: number): VhostCall[] {
  return [
    { ioctl: 'VHOST_SET_OWNER', arg: undefined },
    { ioctl: 'VHOST_GET_FEATURES', arg: undefined },
    ...callTo(EVENTFD.masked),
    { ioctl: 'VHOST_VSOCK_SET_GUEST_CID', arg: cid },
  ];
}

const callTo = (fd: (i: number) => number): VhostCall[] => [0, 1].map((index) => ({ ioctl: 'VHOST_SET_VRING_CALL', arg: { index, fd: fd(index) } }));

export function start(vm: number, queueSize: number): VhostCall[] {
  return [
    ...callTo(EVENTFD.guest),
    { ioctl: 'VHOST_SET_FEATURES', arg: ACKED_FEATURES },
    { ioctl: 'VHOST_SET_MEM_TABLE', arg: { regions: [guestRam(vm)] } },
    ...[0, 1].flatMap((index): VhostCall[] => [
      { ioctl: 'VHOST_SET_VRING_NUM', arg: { index, num: queueSize } },
      // After a reset the new driver's rings start at 0 (virtio_reset cleared last_avail_idx).
      { ioctl: 'VHOST_SET_VRING_BASE', arg: { index, num: 0 } },
      { ioctl: 'VHOST_SET_VRING_ADDR', arg: ringAddr(vm, index) },
      { ioctl: 'VHOST_SET_VRING_KICK', arg: { index, fd: EVENTFD.kick(index) } },
    ]),
    { ioctl: 'VHOST_VSOCK_SET_RUNNING', arg: 1 },
    ...callTo(EVENTFD.guest),
  ];
}

export function stop(): VhostCall[] {
  return [
    { ioctl: 'VHOST_VSOCK_SET_RUNNING', arg: 0 },
    { ioctl: 'VHOST_GET_VRING_BASE', arg: { index: 0, num: 0 } },
    { ioctl: 'VHOST_GET_VRING_BASE', arg: { index: 1, num: 0 } },
    ...callTo(EVENTFD.masked),
  ];
}
