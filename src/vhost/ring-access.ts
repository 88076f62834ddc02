/**
 * The memory checks of the vhost-vsock ioctls (device.ts): `access_ok` range checks on the rings and the memory
 * table (drivers/vhost/vhost.c `vq_access_ok`, `vq_memory_access_ok`, `vhost_vq_access_ok`), and the one real
 * access, `vhost_vq_init_access` at start, which needs the used ring in memory the VMM has mapped.
 */
import { FEATURE_BIT, hasFeature } from './ioctl.js';
import type { MemRegion, Virtqueue, VsockDevice } from './device-state.js';

/** `TASK_SIZE_MAX` of x86-64 with 4-level paging: `access_ok` accepts user ranges below it. */
export const TASK_SIZE_MAX = 0x7fff_ffff_f000;

const accessOk = (addr: number, size: number): boolean => addr >= 0 && addr + size <= TASK_SIZE_MAX;

/** Whether [addr, addr+size) lies inside one region's user range: memory the VMM has mapped. */
function mapped(memTable: readonly MemRegion[], addr: number, size: number): boolean {
  return memTable.some((r) => addr >= r.userspaceAddr && addr + size <= r.userspaceAddr + r.memorySize);
}

const eventIdxBytes = (vq: Virtqueue): number => (hasFeature(BigInt(vq.ackedFeatures), FEATURE_BIT.VIRTIO_RING_F_EVENT_IDX) ? 2 : 0);
const usedSize = (vq: Virtqueue): number => 4 + 8 * vq.num + eventIdxBytes(vq);

/** `vq_memory_access_ok`: a table exists and every region's user range passes access_ok. */
export function memoryAccessOk(memTable: readonly MemRegion[] | null): boolean {
  return memTable !== null && memTable.every((r) => accessOk(r.userspaceAddr, r.memorySize));
}

/** `vq_access_ok`: the three rings, sized for `num`, pass access_ok (an address-range check only). */
export function ringsAccessOk(vq: Virtqueue): boolean {
  return accessOk(vq.desc, 16 * vq.num) && accessOk(vq.avail, 4 + 2 * vq.num + eventIdxBytes(vq)) && accessOk(vq.used, usedSize(vq));
}

/**
 * `vhost_vq_access_ok`: the log check first (it needs the memory table: `vq_memory_access_ok`
 * starts with `if (!umem) return false`), then, with a device IOTLB, nothing more (validated at
 * prefetch time), else the rings' access_ok.
 */
export function vqAccessOk(device: VsockDevice, vq: Virtqueue): boolean {
  if (!memoryAccessOk(device.memTable)) return false;
  if (device.iotlb) return true;
  return ringsAccessOk(vq);
}

/**
 * `vhost_vq_init_access` writes the used ring's flags and reads its index, so the used ring must
 * be memory the VMM has mapped; the model takes the memory table's user ranges as that memory
 * (with an IOTLB, as its identity mapping).
 */
export function initAccessOk(device: VsockDevice, vq: Virtqueue): boolean {
  return device.memTable !== null && mapped(device.memTable, vq.used, usedSize(vq));
}

