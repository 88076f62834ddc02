/**
 * What is pending, as part of the machine state: the agenda's items (CPU steps, deliveries of
 * in-flight messages, timers, scripted actions, guest-thread steps) as they enter a state's
 * identity — times relative to now, a delivery by its message's content — described once.
 */
import type { DeliveryMode, MessageSource } from '../hw/apic.js';
import type { Message } from '../bus/messages.js';
import { bool, cpuId, int, members, nullable, notA, string, vcpuIndex, type Codec } from './codec.js';
import { ignored, replacedWhole, struct, tagged, type TaggedCodec } from './struct.js';
import { mix } from './hash.js';

/** Who sent a message: a CPU, or the platform (a reset delivered as INIT). */
function sender(): Codec<number | 'platform'> {
  return {
    kind: 'sender',
    check: (v, path, env) => (v === 'platform' || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < env.cpus) ? null : notA(path, "a CPU number or 'platform'", v)),
    role: 'cpu-id',
    rename: (v, r) => (v === 'platform' ? v : r.cpu(v)),
    text: (v) => String(v),
    hash: (h, v) => mix(h, v === 'platform' ? -2 : v),
    copy: (v) => v,
    sample: () => 'platform',
    others: (v) => [v === 'platform' ? 0 : 'platform'],
  };
}

export const MESSAGE = struct<Message>('Message', {
  id: ignored('numbered in the order of sending: another path numbers the same message differently', int()),
  from: sender(),
  mode: members<DeliveryMode>({ fixed: true, nmi: true, init: true, sipi: true, smi: true }),
  vector: nullable(int()),
  dest: ignored(
    'how the sender addressed it: read only when it is sent (the targets); each delivery item names its target CPU',
    { kind: 'dest', text: (v) => JSON.stringify(v), hash: (h) => h, copy: (v) => structuredClone(v), sample: () => ({ kind: 'all' }), others: () => [] },
  ),
  source: members<MessageSource>({ kernel: true, watchdog: true, platform: true, script: true }),
  sentAt: ignored('the time it was sent: for the trace only; a delivery is due by its own item', int()),
});

/** A pending item as it enters the state (see the module comment). */
export type PendingItem =
  | { kind: 'step'; cpu: number }
  | { kind: 'deliver'; cpu: number; msg: Message | null }
  | { kind: 'timer'; cpu: number; name: string; rel: number; dur: number; ord: number; held: boolean }
  | { kind: 'script'; index: number; rel: number }
  | { kind: 'vcpu'; cpu: number }
  | { kind: 'vmm'; cpu: number }
  | { kind: 'vhost'; cpu: number };

export const PENDING: TaggedCodec<PendingItem> = tagged<PendingItem>({
  step: struct('step', { cpu: cpuId() }),
  // A delivery whose message is gone from the bus cannot happen: keyed as such (null).
  // A message is never changed once sent: its hash is remembered per object.
  deliver: struct('deliver', { cpu: cpuId(), msg: nullable(replacedWhole(MESSAGE)) }),
  timer: struct('timer', {
    cpu: cpuId(),
    name: string(),
    /** Due in this many ns from now. */
    rel: int(),
    /** Its duration (due time less arming time) and place among the timers due and armed with it (agenda.ts). */
    dur: int(),
    ord: int(),
    /** Held back behind a timer due and armed with it (ordered deadlines, agenda.ts). */
    held: bool(),
  }),
  script: struct('script', {
    index: int(),
    /** Due in this many ns from now (exploration: the steps due first happen early, agenda.ts). */
    rel: int(),
  }),
  // A guest thread or vhost worker: `cpu` is the vCPU's (or the vsock device's) index.
  vcpu: struct('vcpu', { cpu: vcpuIndex() }),
  vmm: struct('vmm', { cpu: vcpuIndex() }),
  vhost: struct('vhost', { cpu: int() }),
});

const PENDING_SEED = 0x70656e;

/** A pending item's hash (the state hash sums them: the pending items are a multiset). */
export function pendingHash(item: PendingItem): number {
  return PENDING.hash(PENDING_SEED, item);
}
