/**
 * The `outcome.vsock` fields of a run's JSON result, built from the device's lifecycle (its actor's
 * chart state), the device and its packet path (the run writes them in each device's `vsfinal`
 * trace record).
 */
import { started, type Lifecycle, type VsockDevice } from './device.js';
import { balance, type Balance, type DataPath } from './datapath.js';

export interface VsockOutcome {
  state: Lifecycle;
  running: boolean;
  guestCid: number;
  queues: { index: number; num: number; lastAvailIdx: number; backend: boolean }[];
  /** Packets waiting in send_pkt_queue (host → guest). */
  sendQueue: number;
  queuedReplies: number;
  packets: Balance;
}

export function vsockOutcome(state: Lifecycle, device: VsockDevice, dp: DataPath): VsockOutcome {
  return {
    state,
    running: started(device),
    guestCid: device.guestCid,
    queues: device.vqs.map((vq) => ({ index: vq.index, num: vq.num, lastAvailIdx: vq.lastAvailIdx, backend: vq.backend })),
    sendQueue: dp.sendQueue.length,
    queuedReplies: dp.queuedReplies,
    packets: balance(dp),
  };
}
