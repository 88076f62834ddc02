/** Context, events, input and world of the vhost-vsock actor (the contract the simulator codes against). */
import type { Caller, IoctlArg, VsockDevice, VsockHost } from '../../src/vhost/device.js';
import type { DataPath, OpName } from '../../src/vhost/datapath.js';
import type { GuestConfig, GuestDriver } from '../../src/vhost/guest-driver.js';
import type { VhostIoctlName } from '../../src/vhost/ioctl.js';
import type { Stream, StreamEnd } from '../../src/vhost/streams.js';
import type { VhostKernel } from '../../src/vhost/kernel.js';

/** What the instances share: the host's view of every instance, this one included. */
export interface VsockWorld {
  host(): VsockHost;
}

/** A call's return as the actor records it: numbers only, so a context is plain JSON. */
export type RecordedReturn = { ok: true; value?: number } | { ok: false; errno: number };

export interface IoctlRecord {
  names: VhostIoctlName[];
  number: number;
  arg: IoctlArg;
  caller: string;
  ret: RecordedReturn;
}

export interface VsockContext {
  id: number;
  /** The VM whose VMM opened it (-1 outside a run). */
  vm: number;
  device: VsockDevice;
  dp: DataPath;
  driver: GuestDriver;
  guest: GuestConfig;
  calls: IoctlRecord[];
  /** The kernel era's vhost switches (src/vhost/kernel.ts); mainline unless the input names one. */
  kernel: VhostKernel;
  /** After close: the device as the release's flush saw it (backends still set before a58da53ffd70 for a non-owner). */
  atFlush?: VsockDevice;
  /** Stream connections with their credit in both directions and the host's unsent writes. */
  streams: Stream[];
  /** Every stream an RST ended, in order: the socket that got it, its error, the packets it never sent. */
  streamEnds: StreamEnd[];
  /** Sockets ("host:key" / "guest:key") whose connection the peer reset: they refuse writes until a new REQUEST on those ports. */
  resetSockets: string[];
  /** The guest socket's receive buffer (SO_VM_SOCKETS_BUFFER_SIZE), advertised as buf_alloc. */
  guestBufAlloc: number;
  /** Per queue: a call arrived while the VMM had the queue's notifier masked (delivered when unmasked). */
  maskedPending: boolean[];
}

export interface HostSend {
  type: 'host.send';
  srcPort: number;
  dstPort: number;
  op: OpName;
  len: number;
  count: number;
}

export type VsockEvent =
  | { type: 'ioctl'; caller: Caller; request: number | VhostIoctlName; arg: IoctlArg }
  /** `caller`: the task dropping the last reference; omitted = the owner, null = a task in do_exit() (mm NULL). */
  | { type: 'close'; caller?: Caller | null }
  | { type: 'work' }
  | HostSend
  | { type: 'guest.ready' }
  | { type: 'guest.send' }
  | { type: 'guest.irq' }
  | { type: 'guest.reset' }
  /** The VMM's masked notifier for `queue` was signalled (or, with `clear`, its pending call delivered on unmask). */
  | { type: 'masked.call'; queue: number; clear?: boolean };

export interface VsockInput {
  /** The instance's index among the host's instances (its place in `host().devices`). */
  id: number;
  vm?: number;
  kernel?: VhostKernel;
  guest?: Partial<GuestConfig>;
  /** Host ports with a listening socket. */
  listen?: readonly number[];
  /** Bytes of one guest RX buffer (header included). */
  rxBufSize?: number;
  guestBufAlloc?: number;
  /** The virtio queue size the guest's rings have (QEMU's queue size; 0: unbounded). */
  ringSize?: number;
}
