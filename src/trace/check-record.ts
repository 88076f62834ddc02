/**
 * Every record of a trace file checked against the record union of records.ts before anything reads
 * it: a trace is input (edited by hand, cut short, crafted), and the CLI, the exporters, the viewer
 * and the property observers all read its fields as the types say. The rules are one table, one row
 * per record kind; a field a row does not name is let through (it is never read).
 */
import type { TraceRecord } from './records.js';
import { MAX_VCPUS, MAX_VMS } from '../scenarios/limits.js';
import { PROPERTY_NAMES } from '../spec/index.js';
import type { Region } from '../../machines/physical-cpu/types.js';

type Spec =
  | 'nat' // a non-negative safe integer
  | 'cpu' // a CPU number of the traced machine (below header.cpus)
  | 'ns' // virtual time: a non-negative safe integer
  | 'num'
  | 'str'
  | 'bool'
  | 'obj'
  | 'any'
  | 'nat|null'
  | 'num|null'
  | 'str|null'
  | 'cpu|platform'
  | 'str[]'
  | 'obj[]'
  | 'leaves' // a record's `leaves`: paths of a physical CPU's chart, at most one per region
  | 'guestLeaves' // a record's `guestLeaves`: guest actor key → leaf path
  | readonly string[]; // one of these strings

interface Row {
  required: Record<string, Spec>;
  optional?: Record<string, Spec>;
}

/** The APIC delivery modes a message can have (hw/apic.ts). */
const MODES = ['fixed', 'nmi', 'init', 'sipi', 'smi'] as const;

/** The regions of the physical CPU chart's `os`: a `leaves` path is `os.<region>.…` or a top-level leaf. */
const CPU_REGIONS: readonly Region[] = ['task', 'irq', 'nmi', 'smm'];
/** The longest state path a record may name (the chart's longest is under 100 characters). */
const MAX_PATH = 256;
/** The most guest actors one record's `guestLeaves` may name. */
const MAX_GUEST_LEAVES = 64;
const GUEST_KEY = /^(vcpu|vmm|vsock)(0|[1-9]\d{0,5})$/;

const isPath = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_PATH;

/** Why a `leaves` value is not one, or null. */
function leavesProblem(v: unknown): string | null {
  if (!Array.isArray(v) || v.length === 0 || v.length > CPU_REGIONS.length) return `expected a list of 1 to ${CPU_REGIONS.length} state paths`;
  const seen = new Set<string>();
  for (const p of v) {
    if (!isPath(p)) return `expected state paths of at most ${MAX_PATH} characters, got ${shown(p)}`;
    const top = !p.startsWith('os.');
    const region = top ? 'top' : (p.split('.')[1] as string);
    if (!top && !(CPU_REGIONS as readonly string[]).includes(region)) return `${shown(p)} is in no region of os (${CPU_REGIONS.join(', ')})`;
    if (top && v.length > 1) return `${shown(p)} is outside os, where a CPU has one leaf, but the list has ${v.length}`;
    if (seen.has(region)) return `two leaves of region ${region}`;
    seen.add(region);
  }
  return null;
}

/** Why a `guestLeaves` value is not one, or null. */
function guestLeavesProblem(v: unknown): string | null {
  if (!isObject(v)) return 'expected an object of guest actor → state path';
  const keys = Object.keys(v);
  if (keys.length === 0 || keys.length > MAX_GUEST_LEAVES) return `expected 1 to ${MAX_GUEST_LEAVES} guest actors`;
  for (const k of keys) {
    const m = GUEST_KEY.exec(k);
    if (!m) return `${shown(k)} is not a guest actor (vcpu0, vmm0, vsock0, …)`;
    // As many as a scenario can have: a vCPU (and its VMM thread) per vCPU, a vsock device per VM.
    const most = m[1] === 'vsock' ? MAX_VMS : MAX_VCPUS;
    if (Number(m[2]) >= most) return `${k}: a scenario has at most ${most} of them`;
    if (!isPath(v[k])) return `${k}: expected a state path of at most ${MAX_PATH} characters, got ${shown(v[k])}`;
  }
  return null;
}

const ROWS: Record<Exclude<TraceRecord['t'], 'header'>, Row> = {
  choice: { required: { i: 'nat', kind: ['next', 'latency'], n: 'nat', pick: 'nat' } },
  step: { required: { ns: 'ns', cpu: 'cpu', ctx: 'str', from: 'str', to: 'str' }, optional: { leaves: 'leaves' } },
  send: { required: { ns: 'ns', msg: 'nat', from: 'cpu|platform', mode: MODES, vector: 'nat|null', dest: 'str', targets: 'nat', source: 'str' } },
  deliver: {
    required: { ns: 'ns', msg: 'nat', cpu: 'cpu', mode: MODES, status: ['delivered', 'pending', 'latched', 'dropped'], to: 'str' },
    optional: { reason: 'str', vector: 'nat|null', leaves: 'leaves' },
  },
  timer: { required: { ns: 'ns', cpu: 'cpu', name: 'str', to: 'str' }, optional: { leaves: 'leaves' } },
  mem: { required: { ns: 'ns', cpu: 'cpu', name: 'str', op: 'str' }, optional: { value: 'any' } },
  insn: { required: { ns: 'ns', cpu: 'cpu', insn: 'str', result: 'str' } },
  fault: { required: { ns: 'ns', cpu: 'cpu', insn: 'str', fault: ['#UD', '#GP'], context: 'str', handling: 'str' } },
  console: { required: { ns: 'ns', cpu: 'cpu', text: 'str' } },
  kernel: { required: { ns: 'ns', cpu: 'cpu', what: 'str', data: 'obj' } },
  script: { required: { ns: 'ns', cpu: 'cpu', action: 'str', index: 'nat', status: ['done', 'ignored'] }, optional: { reason: 'str', to: 'str', leaves: 'leaves' } },
  reset: { required: { ns: 'ns', cpu: 'cpu', method: 'str', initOnly: 'bool' } },
  kexec: { required: { ns: 'ns', cpu: 'cpu' } },
  final: {
    required: {
      cpu: 'cpu', state: 'str', activity: 'str', context: 'str', vmx: 'str', cr4Vmxe: 'bool', svme: 'bool', gif: 'bool',
      nmiBlocked: 'bool', if: 'bool', online: 'bool', initPending: 'bool', loadedVmcs: 'nat', lapicEnabled: 'bool',
    },
  },
  gstep: { required: { ns: 'ns', actor: ['vcpu', 'vmm', 'vsock'], vcpu: 'nat', cpu: 'cpu', from: 'str', to: 'str' }, optional: { guestLeaves: 'guestLeaves' } },
  ioctl: {
    required: { ns: 'ns', vcpu: 'nat', cpu: 'cpu', phase: ['call', 'return'], name: 'str', number: 'nat' },
    optional: { arg: 'any', ret: 'num', out: 'num', errno: 'str', exit: 'str', exitCode: 'num', dev: 'nat', names: 'str[]', state: 'str', guestLeaves: 'guestLeaves' },
  },
  vsock: { required: { ns: 'ns', dev: 'nat', cpu: 'cpu', what: 'str', data: 'obj' }, optional: { guestLeaves: 'guestLeaves' } },
  vsfinal: {
    required: {
      dev: 'nat', vm: 'nat', worker: 'nat', chart: 'str', state: 'str', running: 'bool', guestCid: 'nat', queues: 'obj[]',
      sendQueue: 'nat', queuedReplies: 'nat', packets: 'obj', guestResets: 'nat', fates: 'obj',
    },
  },
  warning: { required: { ns: 'ns', cpu: 'cpu', vcpu: 'nat|null', where: 'str', message: 'str' } },
  kvm: { required: { ns: 'ns', vcpu: 'nat', cpu: 'cpu', what: 'str', data: 'obj' }, optional: { guestLeaves: 'guestLeaves' } },
  vfinal: {
    required: {
      vcpu: 'nat', vm: 'nat', cpu: 'cpu', state: 'str', vmm: 'str', vendor: 'str', guestMode: ['l1', 'l2'], inSmm: 'bool',
      nestedRunPending: 'bool', rip: 'num', exitReason: 'str|null', exitCode: 'num|null', thread: ['alive', 'dead'], vmcs: 'obj[]',
    },
    optional: { livelock: 'any' },
  },
  end: { required: { ns: 'ns', steps: 'nat', end: ['reset', 'kexec', 'hang', 'idle', 'running'] } },
  noreturn: { required: { property: PROPERTY_NAMES, step: 'nat', choice: 'nat|null', complete: 'bool', text: 'str' } },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNat = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function fits(spec: Spec, v: unknown, cpus: number): boolean {
  if (typeof spec !== 'string') return typeof v === 'string' && spec.includes(v);
  switch (spec) {
    case 'nat':
    case 'ns':
      return isNat(v);
    case 'cpu':
      return isNat(v) && (v as number) < cpus;
    case 'num':
      return typeof v === 'number' && Number.isFinite(v);
    case 'str':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'obj':
      return isObject(v);
    case 'any':
      return true;
    case 'nat|null':
      return v === null || isNat(v);
    case 'num|null':
      return v === null || (typeof v === 'number' && Number.isFinite(v));
    case 'str|null':
      return v === null || typeof v === 'string';
    case 'cpu|platform':
      return v === 'platform' || (isNat(v) && (v as number) < cpus);
    case 'str[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'obj[]':
      return Array.isArray(v) && v.every(isObject);
    case 'leaves':
      return leavesProblem(v) === null;
    case 'guestLeaves':
      return guestLeavesProblem(v) === null;
  }
}

function expected(spec: Spec, cpus: number): string {
  if (typeof spec !== 'string') return `one of ${spec.map((s) => JSON.stringify(s)).join(', ')}`;
  const words: Record<string, string> = {
    nat: 'a non-negative integer',
    ns: 'a non-negative integer (virtual nanoseconds)',
    cpu: `a CPU number from 0 to ${cpus - 1} (the header says ${cpus} CPUs)`,
    num: 'a number',
    str: 'a string',
    bool: 'true or false',
    obj: 'an object',
    'nat|null': 'a non-negative integer or null',
    'num|null': 'a number or null',
    'str|null': 'a string or null',
    'cpu|platform': `a CPU number from 0 to ${cpus - 1} or "platform"`,
    'str[]': 'a list of strings',
    'obj[]': 'a list of objects',
  };
  return words[spec as string] ?? String(spec);
}

const shown = (v: unknown): string => {
  const text = v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

/**
 * Why a record (any line after the header) does not fit its kind; null when it does. `cpus` is the
 * header's CPU count: a record naming a CPU the machine does not have is refused here, before any
 * reader sizes a table by it.
 */
export function recordProblem(r: Record<string, unknown>, cpus: number): string | null {
  const t = r.t as string;
  const row = Object.hasOwn(ROWS, t) ? ROWS[t as keyof typeof ROWS] : undefined;
  if (!row) return `unknown record kind ${shown(t)}`;
  for (const [field, spec] of Object.entries(row.required)) {
    if (!fits(spec, r[field], cpus)) return `${t}.${field}: expected ${expected(spec, cpus)}, got ${shown(r[field])}`;
  }
  for (const [field, spec] of Object.entries(row.optional ?? {})) {
    if (r[field] === undefined) continue;
    if (spec === 'leaves' || spec === 'guestLeaves') {
      const problem = spec === 'leaves' ? leavesProblem(r[field]) : guestLeavesProblem(r[field]);
      if (problem !== null) return `${t}.${field}: ${problem}`;
    } else if (!fits(spec, r[field], cpus)) return `${t}.${field}: expected ${expected(spec, cpus)}, got ${shown(r[field])}`;
  }
  return null;
}
