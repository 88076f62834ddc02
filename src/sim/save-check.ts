/**
 * The shape of a simulation's save (SimulationState), checked before a save from outside is restored
 * (step.ts: a machine value given back to `step`). Each part by the codec that describes it in
 * src/state (the kernel memory, the flags, each chart's context, a message on the bus), the rest by
 * the codecs below; what a check cannot see (a node number no chart has, a packet id no queue holds)
 * shows when the restored machine runs, and step.ts reports that as a value that does not make sense.
 */
import { MEMORY } from '../state/memory.js';
import { FLAGS } from '../state/flags.js';
import { CPU_CONTEXT } from '../state/cpu.js';
import { VCPU_CONTEXT, VMM_CONTEXT, VSOCK_CONTEXT } from '../state/guests.js';
import { MESSAGE } from '../state/pending.js';
import { array, cpuId, int, json, members, notA, oneOf, string, vcpuIndex, type CheckEnv, type Codec } from '../state/codec.js';
import { struct, tagged } from '../state/struct.js';
import type { ChoiceKind } from '../trace/records.js';
import type { SimulationState } from './state-codec.js';

/** `{ seq, time, start?, ord? }` of every saved agenda item. */
const timing = { seq: int(), time: int(), start: optional(int()), ord: optional(int()) };

/** A field a save may leave out. */
function optional<T>(c: Codec<T>): Codec<T | undefined> {
  return { ...c, check: (v, path, env) => (v === undefined ? null : c.check ? c.check(v, path, env) : null) } as Codec<T | undefined>;
}

const SAVED_ITEM = tagged({
  step: struct('step item', { cpu: cpuId(), ...timing }),
  deliver: struct('delivery item', { msg: int(), cpu: cpuId(), ...timing }),
  timer: struct('timer item', { cpu: cpuId(), name: string(), ...timing }),
  script: struct('script item', { index: int(), ...timing }),
  vcpu: struct('vCPU item', { cpu: vcpuIndex(), ...timing }),
  vmm: struct('VMM item', { cpu: vcpuIndex(), ...timing }),
  vhost: struct('vhost item', { cpu: int(), ...timing }),
});

const AGENDA = struct('agenda', { now: int(), seq: int(), ready: array(SAVED_ITEM), future: array(SAVED_ITEM) });

const BUS = struct('bus', {
  nextId: int(),
  counts: struct('ledger counts', { messages: int(), targets: int(), delivered: int(), pending: int(), latched: int(), dropped: int() }),
  inFlight: array(struct('message in flight', { msg: MESSAGE, remaining: int() })),
  nmis: optional(array(json<[number, string, number]>())),
});

const CHOICE_KINDS: readonly ChoiceKind[] = ['next', 'latency'];
const CHOOSER = tagged({
  seeded: struct('seeded chooser', { seed: int(), state: int() }),
  replay: struct('replay chooser', { picks: array(struct('pick', { kind: oneOf(CHOICE_KINDS), n: int(), pick: int() })), position: int() }),
});

/** One chart's saved state: the compiled runner's `{ active, context, status }` or XState's snapshot. */
const COMPILED_CHART = struct('chart state', { active: array(int()), context: json(), status: members({ active: true, done: true }) });

/** The charts of one kind (CPUs, vCPUs, VMM threads, devices), each against the same chart of `ref`. */
function checkCharts(v: unknown, path: string, context: Codec<unknown>, engine: string, env: CheckEnv, ref: unknown): string | null {
  if (!Array.isArray(v)) return notA(path, 'a list of chart states', v);
  const refs = Array.isArray(ref) ? ref : [];
  if (Array.isArray(ref) && ref.length !== v.length) return `${path}: ${v.length} charts, where the scenario has ${ref.length}`;
  for (let i = 0; i < v.length; i++) {
    const at = `${path}[${i}]`;
    const c = v[i] as unknown;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) return notA(at, 'a chart state', c);
    const s = c as Record<string, unknown>;
    const shape = engine === 'compiled' ? COMPILED_CHART.check?.(c, at, env) ?? null : typeof s.status === 'string' ? null : notA(`${at}.status`, 'a snapshot status', s.status);
    if (shape !== null) return shape;
    const r = refs[i] as { context?: unknown } | undefined;
    const bad = context.check ? context.check(s.context, `${at}.context`, env, r?.context) : null;
    if (bad !== null) return bad;
  }
  return null;
}

const SAVE_KEYS: ReadonlySet<string> = new Set(['version', 'steps', 'choices', 'engine', 'cpus', 'memory', 'agenda', 'bus', 'chooser', 'flags', 'guests']);

/**
 * What is wrong with the shape of `saved` (null: nothing seen), named by its path under `path`.
 * `ref`: a save of the same scenario (its start), whose constants (a CPU's number and kernel
 * options, a VMM thread's script, …: the scenario's, the same in every state) `saved` must have too.
 */
export function checkSave(saved: Record<string, unknown>, path: string, ref: SimulationState, env: CheckEnv): string | null {
  const engine = String(saved.engine);
  const r = ref as unknown as Record<string, unknown>;
  for (const k of Object.keys(saved)) if (!SAVE_KEYS.has(k)) return `${path}.${k}: not a part of a save`;
  const parts: [string, Codec<unknown>][] = [
    ['steps', int()],
    ['choices', int()],
    ['memory', MEMORY as Codec<unknown>],
    ['agenda', AGENDA as Codec<unknown>],
    ['bus', BUS as Codec<unknown>],
    ['chooser', CHOOSER as Codec<unknown>],
    ['flags', FLAGS as Codec<unknown>],
  ];
  for (const [name, codec] of parts) {
    const bad = codec.check?.(saved[name], `${path}.${name}`, env, r[name]) ?? null;
    if (bad !== null) return bad;
  }
  const cpus = checkCharts(saved.cpus, `${path}.cpus`, CPU_CONTEXT as Codec<unknown>, engine, env, ref.cpus);
  if (cpus !== null) return cpus;
  if ((saved.guests === undefined) !== (ref.guests === undefined)) return `${path}.guests: ${saved.guests === undefined ? 'missing: the scenario has guests' : 'the scenario has no guests'}`;
  if (saved.guests === undefined || ref.guests === undefined) return null;
  const guests = saved.guests as Record<string, unknown> | null;
  if (typeof guests !== 'object' || guests === null || Array.isArray(guests)) return notA(`${path}.guests`, 'an object', guests);
  const kinds: [string, Codec<unknown>][] = [
    ['vcpus', VCPU_CONTEXT as Codec<unknown>],
    ['vmms', VMM_CONTEXT as Codec<unknown>],
    ['devices', VSOCK_CONTEXT as Codec<unknown>],
  ];
  const refGuests = ref.guests as unknown as Record<string, unknown>;
  for (const k of Object.keys(guests)) if (!kinds.some(([name]) => name === k)) return `${path}.guests.${k}: not a part of a save`;
  for (const [name, context] of kinds) {
    if (guests[name] === undefined && refGuests[name] === undefined) continue;
    const bad = checkCharts(guests[name], `${path}.guests.${name}`, context, engine, env, refGuests[name]);
    if (bad !== null) return bad;
  }
  return null;
}
