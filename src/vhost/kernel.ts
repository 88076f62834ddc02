/**
 * The kernel switches of docs/model.md §0.2 that change vhost-vsock, as the small options object the
 * device and packet-path functions read. Every function takes it last and defaults to
 * `MAINLINE_VHOST` (all of them on), so callers that name no kernel get today's behaviour.
 *
 * Verified in the upstream patches (drivers/vhost/vsock.c):
 * - `vhost-access-platform`, `vsock-backend-features`: e13a6915a03f "vhost/vsock: add IOTLB API
 *   support" adds `VIRTIO_F_ACCESS_PLATFORM` to VHOST_VSOCK_FEATURES (before: `= VHOST_FEATURES`),
 *   `VHOST_VSOCK_BACKEND_FEATURES` and the GET/SET_BACKEND_FEATURES cases of the ioctl switch.
 * - `vsock-seqpacket`: ced7b713711f "vhost/vsock: support SEQPACKET for transport".
 * - `vsock-tx-used-len-zero`: 49d8c5ffad07 replaces `vhost_add_used(vq, head, len)` (len =
 *   pkt->len + sizeof(pkt->hdr)) by `vhost_add_used(vq, head, 0)`.
 * - `vsock-release-no-owner-check`: a58da53ffd70; before it, release called `vhost_vsock_stop(vsock)`,
 *   which began with `vhost_dev_check_owner` and returned −EPERM, ignored by the caller.
 */
import type { KernelFeatures } from '../kernel/variants.js';

export interface VhostKernel {
  readonly accessPlatform: boolean;
  readonly backendFeatures: boolean;
  readonly seqpacket: boolean;
  readonly txUsedLenZero: boolean;
  readonly releaseNoOwnerCheck: boolean;
}

export const MAINLINE_VHOST: VhostKernel = {
  accessPlatform: true,
  backendFeatures: true,
  seqpacket: true,
  txUsedLenZero: true,
  releaseNoOwnerCheck: true,
};

/** The vhost-vsock view of a resolved switch set. */
export function vhostKernel(features: KernelFeatures): VhostKernel {
  return {
    accessPlatform: features['vhost-access-platform'],
    backendFeatures: features['vsock-backend-features'],
    seqpacket: features['vsock-seqpacket'],
    txUsedLenZero: features['vsock-tx-used-len-zero'],
    releaseNoOwnerCheck: features['vsock-release-no-owner-check'],
  };
}
