/**
 * The vocabulary of the viewer's trace model (trace-model.ts): the record kinds and their codes, the guest-side
 * actors, the values the model answers with (marks, violations, deliveries, a CPU's configuration), and the small
 * helpers the page shares with it. Pure TypeScript (no DOM, no Node).
 */
import type { TraceKind, TraceRecord } from '../trace/records.js';
import type { ChartModel, ChartNode } from './chart-model.js';

/**
 * Every record kind of the trace, each with its code (an index into RECORD_KINDS). Typed over the
 * union, so a kind added to src/trace/records.ts does not compile until it is given a code here.
 */
const KIND_CODES: { readonly [K in TraceKind]: number } = {
  header: 0,
  choice: 1,
  step: 2,
  send: 3,
  deliver: 4,
  timer: 5,
  mem: 6,
  insn: 7,
  fault: 8,
  console: 9,
  kernel: 10,
  script: 11,
  reset: 12,
  kexec: 13,
  final: 14,
  end: 15,
  gstep: 16,
  ioctl: 17,
  warning: 18,
  kvm: 19,
  vfinal: 20,
  vsock: 21,
  vsfinal: 22,
  noreturn: 23,
};
export type RecordKind = TraceKind;
export const RECORD_KINDS: readonly RecordKind[] = (Object.keys(KIND_CODES) as RecordKind[]).sort((a, b) => KIND_CODES[a] - KIND_CODES[b]);
export const KIND_CODE = new Map<string, number>(RECORD_KINDS.map((k, i) => [k, i]));
export const kindCode = (k: RecordKind): number => KIND_CODE.get(k) as number;

/** Record kinds that are rows of the message sequence chart. */
export const MSC_KINDS = new Set<RecordKind>(['send', 'deliver', 'fault', 'console', 'kernel', 'script', 'reset', 'kexec', 'timer']);
/** Where play and step stop by default: everything a CPU does or says, not memory or choices. */
export const DEFAULT_STOPS: readonly RecordKind[] = ['step', 'send', 'deliver', 'timer', 'fault', 'console', 'kernel', 'script', 'reset', 'kexec', 'end', 'gstep', 'ioctl', 'vsock', 'kvm', 'warning'];

/** What the page says of a trace whose records do not name every leaf they move (version 1). */
export const NO_LEAVES =
  'a version 1 trace: its records name only the state on top, so no states are shown (`shootdown run --replay FILE --trace NEW` writes it again as version 2)';

/** The guest-side actors a `gstep` names. */
export type GuestActor = Extract<TraceRecord, { t: 'gstep' }>['actor'];
export const GUEST_ACTORS: readonly GuestActor[] = ['vcpu', 'vmm', 'vsock'];
/** The actor kind (src/viz/actor-kinds.ts) whose chart each guest-side actor steps through. */
export const GUEST_CHART_KIND: { readonly [A in GuestActor]: string } = { vcpu: 'vcpu', vmm: 'vmm', vsock: 'vhost-vsock' };
/** The guest charts a model reads gsteps with; an actor whose chart is missing is not followed. */
export type GuestCharts = { readonly [A in GuestActor]?: ChartModel };

/** One guest-side actor instance: `vsock0` is vhost-vsock device 0. */
export interface GuestId {
  actor: GuestActor;
  index: number;
  key: string;
  label: string;
}

export function guestId(actor: GuestActor, index: number): GuestId {
  const name = actor === 'vcpu' ? 'vCPU' : actor === 'vmm' ? 'VMM' : 'vsock';
  return { actor, index, key: `${actor}${index}`, label: `${name} ${index}` };
}

/** `vsock0` → the actor it names, or null. */
export function parseGuestKey(key: string): GuestId | null {
  const m = /^(vcpu|vmm|vsock)(\d+)$/.exec(key);
  return m ? guestId(m[1] as GuestActor, Number(m[2])) : null;
}

/** The leaf a chart starts in (following each compound state's initial child). */
export function initialLeaf(chart: ChartModel, from = 0): number {
  let n = chart.nodes[from] as ChartNode;
  while (n.initial.length > 0) n = chart.nodes[n.initial[0] as number] as ChartNode;
  return n.index;
}

/** A guest-side actor at one record. */
export interface GuestAt {
  /** The active leaf of its chart. */
  leaf: number;
  /** Record index of its last change (0: still at the chart's initial state). */
  since: number;
}

export type MarkKind = 'fault' | 'bug' | 'warn' | 'console' | 'script' | 'kernel' | 'reset' | 'kexec' | 'violation' | 'noreturn';

export interface Mark {
  at: number;
  kind: MarkKind;
  cpu: number;
  text: string;
  /** A point of no return: the property every continuation from here violates. */
  property?: string;
}

export interface Violation {
  property: string;
  message: string;
  /** The record at which the property's observer reported it (liveness ones: the end). */
  at?: number;
}

export interface Delivery {
  msg: number;
  /** Record index of the send (-1 when the trace has none). */
  sendAt: number;
  from: number | 'platform';
  at: number;
  cpu: number;
  mode: string;
  vector: number | null;
  status: 'delivered' | 'pending' | 'latched' | 'dropped' | 'in flight';
  reason: string | null;
}

export interface Header {
  scenario: string;
  seed: number;
  cpus: number;
  vendor: string;
  preset: string;
  switches: string[];
}

/** The configuration of one CPU at one record. */
export interface CpuAt {
  /** Active leaf node per slot (slot 0 is the top level: `os` itself or a leaf outside it); -1: not active. */
  leaves: number[];
  /** The slot of the context on top (the one executing), or 0 outside `os`. */
  onTop: number;
  /** Record index of the last change of this CPU. */
  since: number;
}

/** First index whose value is greater than `x`. */
export function upperBound(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] as number) <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The arrow colour class of a message: its delivery mode, with fixed IPIs as `ipi`. */
export function messageClass(mode: string): string {
  return mode === 'fixed' ? 'ipi' : mode === 'nmi' || mode === 'init' || mode === 'sipi' || mode === 'smi' ? mode : 'other';
}

/** Virtual time as the CLI prints it: seconds with nanoseconds. */
export function formatNs(ns: number): string {
  const s = Math.floor(ns / 1e9);
  return `${s}.${String(ns % 1e9).padStart(9, '0')}`;
}

