/**
 * The guest side of the machine state (src/sim/guests.ts), described once: each vCPU, VMM thread
 * and vhost-vsock device as its chart's program point (active state paths) and its context.
 * Nested values with no further description here are keyed whole by their JSON text (`json`).
 */
import type { VcpuContext } from '../kvm/types.js';
import type { VmmContext } from '../../machines/vmm.machine.js';
import type { VsockContext } from '../../machines/vhost-vsock.machine.js';
import type { DataPath } from '../vhost/datapath.js';
import type { VsockDevice } from '../vhost/device-state.js';
import { array, bool, int, json, members, notA, nullable, string, type Codec } from './codec.js';
import { NVQS } from '../vhost/device-state.js';
import { constant, ignored, struct, type StructCodec } from './struct.js';

const input = (what: string) => constant<never>(`the ${what} of the scenario's input: never assigned by the chart`);
const ripRepeats = () => nullable(struct<{ rip: number; repeats: number }>('rip repeats', { rip: int(), repeats: int() }));

export const VCPU_CONTEXT = struct<VcpuContext>('VcpuContext', {
  id: input('vCPU index'),
  vm: input('VM'),
  vcpuId: input('vCPU id'),
  pcpu: input('physical CPU it is pinned to'),
  vendor: input('vendor'),
  features: input('kernel variant'),
  program: input('guest program'),
  vmcs: input('VMCS/VMCB addresses'),
  created: bool(),
  maxphyaddr: int(),
  tdpLevel: int(),
  ranOnce: bool(),
  mmuLoaded: bool(),
  efer: int(),
  requests: struct<VcpuContext['requests']>('requests', { tripleFault: bool(), smi: bool() }),
  smiPending: bool(),
  pendingIrq: nullable(int()),
  moreIrqs: array(int()),
  injected: array(struct<VcpuContext['injected'][number]>('injected', { vector: int(), into: members({ l1: true, l2: true }) })),
  guestMode: members({ l1: true, l2: true }),
  inSmm: bool(),
  nestedRunPending: bool(),
  nestedVmxon: bool(),
  smm: struct<VcpuContext['smm']>('smm', { guestMode: bool(), vmxon: bool() }),
  smram: json(),
  rip: int(),
  vmcbRip: int(),
  l1Rip: int(),
  vmcs12Rip: int(),
  launched: struct<VcpuContext['launched']>('launched', { l1: bool(), l2: bool() }),
  lastNestedExit: nullable(string()),
  completion: nullable(members({ mmio: true, io: true })),
  mmioDevice: nullable(members({ vsock: true })),
  guestExit: json(),
  immediateExit: bool(),
  guestStuck: bool(),
  udPending: bool(),
  rsmTripleFault: bool(),
  host: json(),
  warned: array(string()),
  exitReason: nullable(string()) as Codec<VcpuContext['exitReason']>,
  thread: members({ alive: true, dead: true }),
  emulation: ripRepeats(),
  livelock: ripRepeats(),
});

/**
 * What the VMM thread's last call returned (keyed whole by its JSON text): KVM_CREATE_VCPU's value is
 * the file descriptor of the thread's own vCPU (role 'vcpu-fd', renamed with the vCPU by symmetry).
 */
function lastCall(): Codec<VmmContext['last']> {
  return {
    ...json<VmmContext['last']>(),
    role: 'vcpu-fd',
    rename: (v, r) => {
      if (v === null || v.name !== 'KVM_CREATE_VCPU' || !v.ret.ok || !r.vcpuFd) return v;
      const fd = r.vcpuFd(v.ret.value);
      return fd === v.ret.value ? v : { ...v, ret: { ...v.ret, value: fd } };
    },
  };
}

export const VMM_CONTEXT = struct<VmmContext>('VmmContext', {
  id: input('vCPU index'),
  vm: input('VM'),
  pcpu: input('physical CPU it is pinned to'),
  calls: input('script of calls'),
  onShutdown: input('KVM_EXIT_SHUTDOWN policy'),
  vsock: input('vhost-vsock queue size'),
  resetRip: input('reset RIP'),
  next: int(),
  queue: json(),
  last: lastCall(),
  completed: int(),
  vhostStarted: bool(),
  resets: int(),
});

const HISTORY = 'history of what happened (the trace has it too): no decision reads it';

/**
 * A list keyed element by element by each one's JSON text: a work run appends to a packet list or
 * replaces one queue, and each element object keeps its hash while it lives (json()), so an actor
 * that moved is not stringified whole again.
 */
const jsonList = <T>() => array(json<T>()) as unknown as Codec<readonly T[]>;

/**
 * The device's virtqueues, kept whole as JSON (a work run replaces one), checked field by field when a
 * save is restored: queue i at place i (the device files a queue by its index), the ring size and
 * avail index 16-bit as the kernel keeps them, addresses and fds whole numbers. A save is input: an
 * index of 1e9 would make a sparse array of that length, and its text a string past the heap.
 */
const VQS: Codec<VsockDevice['vqs']> = {
  ...(jsonList() as unknown as Codec<VsockDevice['vqs']>),
  check: (v, path) => {
    if (!Array.isArray(v) || v.length !== NVQS) return notA(path, `a list of ${NVQS} virtqueues`, v);
    for (let i = 0; i < NVQS; i++) {
      const q = v[i] as Record<string, unknown> | null;
      const at = `${path}[${i}]`;
      if (typeof q !== 'object' || q === null || Array.isArray(q)) return notA(at, 'a virtqueue', q);
      if (q.index !== i) return notA(`${at}.index`, String(i), q.index);
      for (const k of ['num', 'lastAvailIdx'] as const) {
        const x = q[k];
        if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffff) return notA(`${at}.${k}`, 'an integer from 0 to 65535', x);
      }
      for (const k of ['desc', 'avail', 'used', 'ackedFeatures', 'busyloopTimeout'] as const) {
        if (typeof q[k] !== 'number' || !Number.isFinite(q[k]) || (q[k] as number) < 0) return notA(`${at}.${k}`, 'a number of at least 0', q[k]);
      }
      for (const k of ['kickFd', 'callFd', 'errFd'] as const) if (q[k] !== null && !Number.isSafeInteger(q[k])) return notA(`${at}.${k}`, 'a file descriptor or null', q[k]);
      for (const k of ['log', 'backend'] as const) if (typeof q[k] !== 'boolean') return notA(`${at}.${k}`, 'true or false', q[k]);
    }
    return null;
  },
};

/** The vhost device (src/vhost/device-state.ts) field by field: a work run replaces one queue and nothing else. */
const VSOCK_DEVICE = struct<VsockDevice>('VsockDevice', {
  id: int(),
  owner: nullable(string()),
  memTable: json(),
  iotlb: bool(),
  logBase: json(),
  logFd: json(),
  backendFeatures: json(),
  seqpacketAllow: bool(),
  guestCid: json(),
  vqs: VQS,
  everRan: bool(),
  released: bool(),
});

export const DATA_PATH = struct<DataPath>('DataPath', {
  nextId: int(),
  txRing: jsonList(),
  rxBuffers: int(),
  rxBufSize: int(),
  sendQueue: jsonList(),
  headOffset: int(),
  queuedReplies: int(),
  txThrottled: bool(),
  listening: json(),
  toGuest: jsonList(),
  toHost: jsonList(),
  dropped: json(),
  txWork: bool(),
  sendWork: bool(),
  calls: ignored('calls signalled per queue, counted: a work item compares them before and after itself only', json()),
  errors: json(),
  connections: json(),
  processed: ignored(`packets taken: ${HISTORY}`, json()),
  throttles: int(),
  txUsed: ignored(`used-ring entries written: ${HISTORY}`, json()),
  txRingSize: int(),
  txUnreclaimed: int(),
  txLeaked: int(),
  guestQueue: json(),
  rxRingSize: int(),
  rxLeaked: int(),
});

export const VSOCK_CONTEXT = struct<VsockContext>('VsockContext', {
  id: input('device index'),
  vm: input('VM'),
  device: VSOCK_DEVICE,
  dp: DATA_PATH,
  driver: json(),
  guest: input('guest configuration'),
  calls: ignored(`the ioctls made: ${HISTORY}`, json()),
  kernel: input('vhost kernel switches'),
  atFlush: json(),
  streams: array(json()),
  streamEnds: ignored(`streams an RST ended: ${HISTORY}`, json()),
  resetSockets: json(),
  guestBufAlloc: int(),
  maskedPending: array(bool()),
});

/** A guest actor's state: its chart's active state paths and its context. */
export interface GuestActorState<C> {
  paths: string[];
  context: C;
}

const actor = <C extends object>(name: string, context: StructCodec<C>) =>
  struct<GuestActorState<C>>(name, { paths: array(string()), context });

export const VCPU_STATE = actor('vCPU', VCPU_CONTEXT);
export const VMM_STATE = actor('VMM thread', VMM_CONTEXT);
export const VSOCK_STATE = actor('vhost-vsock device', VSOCK_CONTEXT);
