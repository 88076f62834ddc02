/**
 * The lifecycle of docs/model.md §5.4 read off a device's fields: the oracle the tests hold the
 * vhost-vsock chart's states to (the simulator reads the lifecycle from the chart, never from here).
 */
import { configured, started, type Lifecycle, type VsockDevice } from '../../src/vhost/device.js';

export function lifecycle(device: VsockDevice): Lifecycle {
  if (device.released) return 'RELEASED';
  if (started(device)) return 'RUNNING';
  if (device.everRan) return 'STOPPED';
  if (device.owner === null) return 'OPEN_UNOWNED';
  return configured(device) ? 'CONFIGURED' : 'OWNED';
}
