/**
 * What the viewer plays: a trace read into indexes that answer "what was every CPU's configuration
 * at record i" and "which messages cross the screen here" in O(log n), so a 100,000-step trace
 * scrubs without re-reading it. Pure TypeScript (no DOM, no Node): the page bundles it and the
 * tests run it in Node.
 *
 * A CPU's configuration is looked up in the records, never inferred. The chart's parallel state `os`
 * has one region per execution context; from trace version 2 on, each step, deliver, timer and
 * (done) script record names in `leaves` every leaf it made active — each takes the place of its
 * region's leaf, and a leaf outside `os` (wait-for-SIPI, the crash kernel) the place of them all —
 * and in `to` the leaf of the context on top after it. Every CPU starts in the chart's initial
 * configuration, with the task context on top.
 *
 * A guest-side actor (a vCPU, its VMM thread, a vhost-vsock device) has a chart with no parallel
 * state: its one leaf starts at the chart's initial state; each `gstep` names the leaf after it, and
 * `guestLeaves` on a record the leaves of the vCPUs and VMM threads it moved otherwise.
 *
 * A version 1 trace names only the leaf on top: its model has no states (`hasLeaves` false), and
 * the page says so rather than guess.
 */
import { messageLabel, VECTOR_NAMES } from '../hw/vectors.js';
import type { TraceKind, TraceRecord } from '../trace/records.js';
import type { ChartModel, ChartNode } from './chart-model.js';
import { describeRecord, messageName } from '../trace/describe-record.js';

export { describeRecord, messageName };
import { MAX_CPUS, MAX_TRACE_IN_FLIGHT, MAX_TRACE_LINE } from '../scenarios/limits.js';

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
const KIND_CODE = new Map<string, number>(RECORD_KINDS.map((k, i) => [k, i]));
export const kindCode = (k: RecordKind): number => KIND_CODE.get(k) as number;

/** Record kinds that are rows of the message sequence chart. */
const MSC_KINDS = new Set<RecordKind>(['send', 'deliver', 'fault', 'console', 'kernel', 'script', 'reset', 'kexec', 'timer']);
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

/** One region (or the top level) of a CPU, as a list of (record index, chart node) changes; -1: not active. */
class SlotHistory {
  at: number[] = [];
  node: number[] = [];

  set(at: number, node: number): void {
    const n = this.at.length;
    if (n > 0 && this.node[n - 1] === node) return;
    if (n > 0 && (this.at[n - 1] as number) >= at) {
      // Several changes at one record: the last one stands.
      this.at.length = this.node.length = n - 1;
      if (n > 1 && this.node[n - 2] === node) return;
    }
    this.at.push(at);
    this.node.push(node);
  }

  last(): number {
    return this.node.length ? (this.node[this.node.length - 1] as number) : -1;
  }

  /** Index of the last change at or before record `i`, or -1. */
  find(i: number): number {
    let lo = 0;
    let hi = this.at.length - 1;
    let ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.at[mid] as number) <= i) {
        ans = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return ans;
  }
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

/** Parses and indexes a trace record by record, so a page can feed it in slices between frames. */
export class TraceModelBuilder {
  readonly lines: string[] = [];
  private kinds: number[] = [];
  private nsList: number[] = [];
  private cpuList: number[] = [];
  private header: Header | null = null;
  private slots: SlotHistory[][] = [];
  private tops: SlotHistory[] = [];
  /** Whether the records name every leaf they move (trace version 2 on). */
  private hasLeaves = true;
  private messages = new Map<number, { at: number; from: number | 'platform'; mode: string; vector: number | null; targets: number; delivered: number }>();
  private deliveries: Delivery[] = [];
  private marks: Mark[] = [];
  private unknownPaths = new Set<string>();
  private readonly pathToNode: Map<string, number>;
  /** For each chart node, its slot (1.. for regions of the parallel state, 0 for the top level). */
  private readonly slotOfNode: Int32Array;
  readonly slotNames: string[] = ['top'];
  private readonly slotInitial: number[] = [];
  private readonly parallelNode: number;
  private endAt = -1;
  private stepCount = 0;
  private readonly guests = new Map<string, { id: GuestId; history: SlotHistory }>();
  private readonly guestPathToNode = new Map<GuestActor, Map<string, number>>();

  constructor(
    readonly chart: ChartModel,
    readonly guestCharts: GuestCharts = {},
  ) {
    this.pathToNode = new Map(chart.nodes.map((n) => [n.path, n.index]));
    for (const actor of GUEST_ACTORS) {
      const g = guestCharts[actor];
      if (g) this.guestPathToNode.set(actor, new Map(g.nodes.map((n) => [n.path, n.index])));
    }
    this.slotOfNode = new Int32Array(chart.nodes.length);
    // The chart's first parallel state (the physical CPU's `os`) defines the slots: one per region.
    this.parallelNode = chart.nodes.find((n) => n.type === 'parallel')?.index ?? -1;
    this.slotInitial.push(this.parallelNode >= 0 ? this.parallelNode : initialLeaf(chart));
    if (this.parallelNode >= 0) {
      for (const region of (chart.nodes[this.parallelNode] as ChartNode).children) {
        const slot = this.slotNames.length;
        this.slotNames.push((chart.nodes[region] as ChartNode).key);
        this.slotInitial.push(initialLeaf(chart, region));
        const mark = (i: number): void => {
          this.slotOfNode[i] = slot;
          for (const c of (chart.nodes[i] as ChartNode).children) mark(c);
        };
        mark(region);
      }
    }
  }

  /**
   * Adds one JSON line; returns an error for a line that is not a trace record, or whose sizes (line
   * length, CPU numbers, targets of a message) are out of bounds: checked before anything is
   * allocated for them, so a two-line file naming CPU 30,000,000 is an error, not 30 M histories.
   */
  addLine(line: string): string | null {
    const where = `line ${this.lines.length + 1}`;
    if (line.length > MAX_TRACE_LINE) return `${where} is longer than ${MAX_TRACE_LINE} characters`;
    let r: TraceRecord;
    try {
      r = JSON.parse(line) as TraceRecord;
    } catch {
      return `${where} is not JSON`;
    }
    if (typeof r !== 'object' || r === null || typeof (r as { t?: unknown }).t !== 'string') return `${where} is not a trace record`;
    const bad = this.outOfBounds(r);
    if (bad !== null) return `${where}: ${bad}`;
    this.lines.push(line);
    this.add(r);
    return null;
  }

  /** Deliveries sent and not yet made, over all messages (what `finish` draws as in flight). */
  private undelivered = 0;

  /** What is wrong with a record's sizes, or null. */
  private outOfBounds(r: TraceRecord): string | null {
    const cpus = this.header?.cpus ?? MAX_CPUS;
    if (r.t === 'header') {
      const n: unknown = r.cpus;
      // A header without a CPU count is read as before (CPUs are then bounded by the limit alone).
      return n === undefined || (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_CPUS) ? null : `'cpus' must be an integer from 1 to ${MAX_CPUS}`;
    }
    if ('cpu' in r) {
      const c: unknown = r.cpu;
      if (typeof c !== 'number' || !Number.isInteger(c) || c < -1 || c >= cpus) return `'cpu' must be an integer from 0 to ${cpus - 1}`;
    }
    if (r.t === 'send') {
      const n: unknown = r.targets;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > cpus) return `'targets' must be an integer from 0 to ${cpus}`;
      if (this.undelivered + n > MAX_TRACE_IN_FLIGHT) return `more than ${MAX_TRACE_IN_FLIGHT} deliveries in flight at once`;
      this.undelivered += n;
    }
    if (r.t === 'deliver' && this.messages.has(r.msg) && this.undelivered > 0) this.undelivered -= 1;
    return null;
  }

  private node(path: string): number {
    const n = this.pathToNode.get(path);
    if (n === undefined) {
      this.unknownPaths.add(path);
      return -1;
    }
    return n;
  }

  /** A guest actor's history, begun at its chart's initial state the first time a record names it. */
  private guest(actor: GuestActor, index: number): SlotHistory | null {
    const chart = this.guestCharts[actor];
    if (!chart) return null;
    const id = guestId(actor, index);
    let g = this.guests.get(id.key);
    if (!g) {
      const history = new SlotHistory();
      if (this.hasLeaves) history.set(0, initialLeaf(chart));
      g = { id, history };
      this.guests.set(id.key, g);
    }
    return g.history;
  }

  private guestNode(actor: GuestActor, path: string): number {
    const n = this.guestPathToNode.get(actor)?.get(path);
    if (n === undefined) {
      this.unknownPaths.add(`${GUEST_CHART_KIND[actor]}: ${path}`);
      return -1;
    }
    return n;
  }

  private ensureCpu(cpu: number): void {
    while (this.slots.length <= cpu) {
      const slots = this.slotInitial.map((initial) => {
        const h = new SlotHistory();
        if (this.hasLeaves) h.set(0, initial);
        return h;
      });
      const top = new SlotHistory();
      if (this.hasLeaves) top.set(0, this.slotInitial.length > 1 ? 1 : 0);
      this.slots.push(slots);
      this.tops.push(top);
    }
  }

  /** A record's `leaves`: each leaf takes the place of its region's (a leaf outside `os`, of them all). */
  private enter(cpu: number, leaves: readonly string[] | undefined, at: number): void {
    const slots = this.slots[cpu] as SlotHistory[];
    // The CLI checks a trace before serving it (check-record.ts); a file fed to the page directly may not be.
    if (!Array.isArray(leaves)) return;
    for (const path of leaves) {
      if (typeof path !== 'string') continue;
      const n = this.node(path);
      if (n < 0) continue;
      const slot = this.slotOfNode[n] as number;
      if (slot === 0) {
        (slots[0] as SlotHistory).set(at, n);
        for (let s = 1; s < slots.length; s++) (slots[s] as SlotHistory).set(at, -1);
        continue;
      }
      // A leaf of a region: `os`, its ancestor, is active with it.
      if ((slots[0] as SlotHistory).last() !== this.parallelNode) (slots[0] as SlotHistory).set(at, this.parallelNode);
      (slots[slot] as SlotHistory).set(at, n);
    }
  }

  /** A record's `to`: the leaf of the context on top after it, so its region is the one on top. */
  private onTop(cpu: number, to: string | undefined, at: number): void {
    const n = typeof to === 'string' ? this.node(to) : -1;
    if (n >= 0) (this.tops[cpu] as SlotHistory).set(at, this.slotOfNode[n] as number);
  }

  /** A CPU's record: what it names, when the trace names leaves at all. */
  private cpuRecord(cpu: number, to: string | undefined, leaves: readonly string[] | undefined, at: number): void {
    this.ensureCpu(cpu);
    if (!this.hasLeaves) return;
    this.enter(cpu, leaves, at);
    this.onTop(cpu, to, at);
  }

  /** A record's `guestLeaves`: the vCPUs and VMM threads it moved, each to its leaf. */
  private guestLeaves(moved: Record<string, string> | undefined, at: number): void {
    if (typeof moved !== 'object' || moved === null || !this.hasLeaves) return;
    for (const [key, path] of Object.entries(moved)) {
      const id = parseGuestKey(key);
      if (!id || typeof path !== 'string') continue;
      const h = this.guest(id.actor, id.index);
      const n = this.guestNode(id.actor, path);
      if (h && n >= 0) h.set(at, n);
    }
  }

  add(r: TraceRecord): void {
    const at = this.kinds.length;
    this.kinds.push(KIND_CODE.get(r.t) ?? 0);
    this.nsList.push('ns' in r && typeof r.ns === 'number' ? r.ns : at > 0 ? (this.nsList[at - 1] as number) : 0);
    this.cpuList.push('cpu' in r && typeof r.cpu === 'number' ? r.cpu : -1);
    switch (r.t) {
      case 'header':
        this.header = { scenario: r.scenario, seed: r.seed, cpus: r.cpus, vendor: r.vendor, preset: r.preset, switches: r.switches };
        this.hasLeaves = !(typeof r.v === 'number' && r.v < 2);
        this.ensureCpu(r.cpus - 1);
        return;
      case 'step': {
        this.stepCount += 1;
        this.node(r.from);
        this.cpuRecord(r.cpu, r.to, r.leaves, at);
        return;
      }
      case 'deliver': {
        this.cpuRecord(r.cpu, r.to, r.leaves, at);
        const m = this.messages.get(r.msg);
        if (m) m.delivered += 1;
        this.deliveries.push({
          msg: r.msg,
          sendAt: m?.at ?? -1,
          from: m?.from ?? 'platform',
          at,
          cpu: r.cpu,
          mode: r.mode,
          vector: m?.vector ?? null,
          status: r.status,
          reason: r.reason ?? null,
        });
        return;
      }
      case 'timer':
        this.cpuRecord(r.cpu, r.to, r.leaves, at);
        return;
      case 'send':
        this.messages.set(r.msg, { at, from: r.from, mode: r.mode, vector: r.vector, targets: r.targets, delivered: 0 });
        return;
      case 'script':
        this.cpuRecord(r.cpu, r.to, r.leaves, at);
        this.marks.push({ at, kind: 'script', cpu: r.cpu, text: `script: ${r.action}${r.status === 'ignored' ? ` (ignored: ${r.reason ?? ''})` : ''}` });
        return;
      case 'fault':
        this.marks.push({ at, kind: r.handling === 'eaten' ? 'fault' : 'bug', cpu: r.cpu, text: `${r.insn} ${r.fault} in ${r.context} context: ${r.handling}` });
        return;
      case 'console':
        this.marks.push({ at, kind: /\b(WARN|BUG|Oops|panic)\b/i.test(r.text) ? 'warn' : 'console', cpu: r.cpu, text: r.text });
        return;
      case 'kernel':
        this.marks.push({ at, kind: 'kernel', cpu: r.cpu, text: r.what });
        return;
      case 'reset':
        this.marks.push({ at, kind: 'reset', cpu: r.cpu, text: `platform reset via ${r.method}` });
        return;
      case 'kexec':
        this.marks.push({ at, kind: 'kexec', cpu: r.cpu, text: 'machine_kexec(): jump to the crash kernel' });
        return;
      case 'ioctl':
        this.guestLeaves(r.guestLeaves, at);
        this.marks.push({ at, kind: 'kernel', cpu: r.cpu, text: describeRecord(r) });
        return;
      case 'kvm':
        this.guestLeaves(r.guestLeaves, at);
        return;
      case 'warning':
        this.marks.push({ at, kind: 'warn', cpu: r.cpu, text: `WARN at ${r.where}` });
        return;
      case 'vsock':
        this.guestLeaves(r.guestLeaves, at);
        // Where packets are lost or held back: drops (with the reason) and TX throttling.
        if (r.what === 'drop' || r.what === 'tx-throttled') this.marks.push({ at, kind: 'fault', cpu: r.cpu, text: describeRecord(r) });
        return;
      case 'final':
        this.ensureCpu(r.cpu);
        this.node(r.state);
        return;
      case 'end':
        this.endAt = at;
        return;
      case 'noreturn':
        // Where explore found the counterexample's violation sealed: a mark of its own, at this record.
        this.marks.push({ at, kind: 'noreturn', cpu: -1, text: describeRecord(r), property: r.property });
        return;
      case 'gstep': {
        const h = this.guest(r.actor, r.vcpu);
        if (!h) return;
        this.guestNode(r.actor, r.from);
        const to = this.guestNode(r.actor, r.to);
        if (to >= 0 && this.hasLeaves) h.set(at, to);
        this.guestLeaves(r.guestLeaves, at);
        return;
      }
      default:
        return;
    }
  }

  finish(violations: Violation[] = []): TraceModel {
    const count = this.kinds.length;
    const deliveries = [...this.deliveries];
    for (const [msg, m] of this.messages) {
      // Messages still in flight when the run ended: drawn from the sender, going nowhere yet.
      if (m.delivered < m.targets) {
        for (let k = m.delivered; k < m.targets; k++) {
          deliveries.push({ msg, sendAt: m.at, from: m.from, at: -1, cpu: -1, mode: m.mode, vector: m.vector, status: 'in flight', reason: null });
        }
      }
    }
    const end = this.endAt >= 0 ? this.endAt : count - 1;
    const marks = [...this.marks, ...violations.map((v) => ({ at: v.at !== undefined && v.at >= 0 && v.at < count ? v.at : end, kind: 'violation' as const, cpu: -1, text: `${v.property}: ${v.message}` }))];
    return new TraceModel({
      chart: this.chart,
      header: this.header ?? { scenario: '?', seed: 0, cpus: this.slots.length, vendor: '?', preset: '?', switches: [] },
      lines: this.lines,
      kinds: Uint8Array.from(this.kinds),
      ns: Float64Array.from(this.nsList),
      cpus: Int32Array.from(this.cpuList),
      slots: this.slots,
      tops: this.tops,
      slotNames: this.slotNames,
      slotInitial: this.slotInitial,
      deliveries,
      marks: marks.sort((a, b) => a.at - b.at),
      violations,
      unknownPaths: [...this.unknownPaths],
      steps: this.stepCount,
      guestCharts: this.guestCharts,
      hasLeaves: this.hasLeaves,
      guests: [...this.guests.values()].sort((a, b) => GUEST_ACTORS.indexOf(a.id.actor) - GUEST_ACTORS.indexOf(b.id.actor) || a.id.index - b.id.index),
    });
  }
}

interface TraceModelParts {
  chart: ChartModel;
  header: Header;
  lines: string[];
  kinds: Uint8Array;
  ns: Float64Array;
  cpus: Int32Array;
  slots: SlotHistory[][];
  tops: SlotHistory[];
  slotNames: string[];
  slotInitial: number[];
  deliveries: Delivery[];
  marks: Mark[];
  violations: Violation[];
  unknownPaths: string[];
  steps: number;
  guestCharts: GuestCharts;
  hasLeaves: boolean;
  guests: { id: GuestId; history: SlotHistory }[];
}

export class TraceModel {
  readonly chart: ChartModel;
  readonly header: Header;
  readonly lines: string[];
  readonly kinds: Uint8Array;
  readonly ns: Float64Array;
  readonly cpuOf: Int32Array;
  readonly slotNames: string[];
  private readonly slotInitial: number[];
  readonly deliveries: Delivery[];
  readonly marks: Mark[];
  readonly violations: Violation[];
  /** State paths in the trace that the chart does not have (a trace from another model version). */
  readonly unknownPaths: string[];
  readonly steps: number;
  /**
   * Whether the trace names every leaf its records move (version 2 on). A version 1 trace does not:
   * its model has no active states at all (cpuAt's leaves are -1, guestAt is null).
   */
  readonly hasLeaves: boolean;
  /** Record indices that are rows of the message sequence chart. */
  readonly mscRows: Int32Array;
  /** Deliveries sorted by their first row (send or delivery), for range queries. */
  private readonly spans: { lo: number; hi: number; d: Delivery }[];
  private readonly spanMaxHi: Int32Array;
  private readonly slots: SlotHistory[][];
  private readonly tops: SlotHistory[];
  private readonly stopCache = new Map<string, Int32Array>();
  private readonly deliveriesByAt = new Map<number, Delivery[]>();
  /** The guest-side actors of the trace whose charts the model was given: vCPUs, VMMs, then devices. */
  readonly guests: readonly GuestId[];
  readonly guestCharts: GuestCharts;
  private readonly guestHistory: Map<string, SlotHistory>;

  constructor(p: TraceModelParts) {
    this.guests = p.guests.map((g) => g.id);
    this.guestCharts = p.guestCharts;
    this.guestHistory = new Map(p.guests.map((g) => [g.id.key, g.history]));
    this.chart = p.chart;
    this.header = p.header;
    this.lines = p.lines;
    this.kinds = p.kinds;
    this.ns = p.ns;
    this.cpuOf = p.cpus;
    this.slots = p.slots;
    this.tops = p.tops;
    this.slotNames = p.slotNames;
    this.slotInitial = p.slotInitial;
    this.deliveries = p.deliveries;
    this.marks = p.marks;
    this.violations = p.violations;
    this.unknownPaths = p.unknownPaths;
    this.steps = p.steps;
    this.hasLeaves = p.hasLeaves;
    const rows: number[] = [];
    for (let i = 0; i < this.kinds.length; i++) if (MSC_KINDS.has(RECORD_KINDS[this.kinds[i] as number] as RecordKind)) rows.push(i);
    this.mscRows = Int32Array.from(rows);
    for (const d of this.deliveries) {
      if (d.at < 0) continue;
      const list = this.deliveriesByAt.get(d.at) ?? [];
      list.push(d);
      this.deliveriesByAt.set(d.at, list);
    }
    const last = this.kinds.length - 1;
    this.spans = this.deliveries
      .map((d) => ({ lo: d.sendAt >= 0 ? d.sendAt : d.at, hi: d.at >= 0 ? d.at : last, d }))
      .sort((a, b) => a.lo - b.lo);
    // Running maximum of `hi`, so a window query can stop scanning left early.
    this.spanMaxHi = new Int32Array(this.spans.length);
    let max = -1;
    this.spans.forEach((s, k) => {
      max = Math.max(max, s.hi);
      this.spanMaxHi[k] = max;
    });
  }

  get count(): number {
    return this.kinds.length;
  }

  get cpuCount(): number {
    return this.slots.length;
  }

  kind(i: number): RecordKind {
    return RECORD_KINDS[this.kinds[i] as number] as RecordKind;
  }

  record(i: number): TraceRecord {
    return JSON.parse(this.lines[i] as string) as TraceRecord;
  }

  /** Configuration of `cpu` after record `i`. */
  cpuAt(cpu: number, i: number): CpuAt {
    const slots = this.slots[cpu];
    if (!slots) return { leaves: [], onTop: 0, since: 0 };
    const leaves: number[] = [];
    let since = 0;
    for (const h of slots) {
      const k = h.find(i);
      leaves.push(k >= 0 ? (h.node[k] as number) : -1);
      if (k >= 0) since = Math.max(since, h.at[k] as number);
    }
    const top = this.tops[cpu] as SlotHistory;
    const k = top.find(i);
    return { leaves, onTop: k >= 0 ? (top.node[k] as number) : 0, since };
  }

  /** Whether `leaf` is where region `slot` rests (`idle`): nothing running in that context. */
  isInitialLeaf(slot: number, leaf: number): boolean {
    return slot > 0 && this.slotInitial[slot] === leaf;
  }

  /** Every active state of `cpu` after record `i`: the leaves and all their ancestors. */
  activeNodes(cpu: number, i: number): Set<number> {
    const active = new Set<number>();
    for (const leaf of this.cpuAt(cpu, i).leaves) {
      for (let n = leaf; n >= 0; n = (this.chart.nodes[n] as ChartNode).parent) active.add(n);
    }
    return active;
  }

  /** Active leaf paths of `cpu` after record `i`, top-level first. */
  activePaths(cpu: number, i: number): string[] {
    return this.cpuAt(cpu, i)
      .leaves.filter((n) => n >= 0 && (this.chart.nodes[n] as ChartNode).type !== 'parallel')
      .map((n) => (this.chart.nodes[n] as ChartNode).path);
  }

  /** Every node `cpu` was ever in (and their ancestors): what its chart panel opens by default. */
  visited(cpu: number): Set<number> {
    const seen = new Set<number>();
    const slots = this.slots[cpu] ?? [];
    for (const h of slots) {
      for (const leaf of h.node) for (let n = leaf; n >= 0 && !seen.has(n); n = (this.chart.nodes[n] as ChartNode).parent) seen.add(n);
    }
    return seen;
  }

  /** Whether `cpu` acted or changed state at record `i`. */
  changedAt(cpu: number, i: number): boolean {
    if (this.cpuOf[i] === cpu) return true;
    for (const h of this.slots[cpu] ?? []) {
      const k = h.find(i);
      if (k >= 0 && h.at[k] === i) return true;
    }
    return false;
  }

  /** A guest-side actor (`vsock0`) after record `i`, or null for one the trace does not have. */
  guestAt(key: string, i: number): GuestAt | null {
    const h = this.guestHistory.get(key);
    if (!h) return null;
    const k = h.find(i);
    return k >= 0 ? { leaf: h.node[k] as number, since: h.at[k] as number } : null;
  }

  /** The chart a guest-side actor steps through. */
  guestChart(actor: GuestActor): ChartModel | undefined {
    return this.guestCharts[actor];
  }

  /** The active leaf path of a guest-side actor after record `i` ('' for one the trace does not have). */
  guestPath(key: string, i: number): string {
    const at = this.guestAt(key, i);
    const id = parseGuestKey(key);
    const chart = id ? this.guestCharts[id.actor] : undefined;
    return at && chart ? (chart.nodes[at.leaf] as ChartNode).path : '';
  }

  /** Every node a guest-side actor was ever in, and their ancestors. */
  guestVisited(key: string): Set<number> {
    const seen = new Set<number>();
    const id = parseGuestKey(key);
    const chart = id ? this.guestCharts[id.actor] : undefined;
    for (const leaf of this.guestHistory.get(key)?.node ?? []) {
      for (let n = leaf; chart && n >= 0 && !seen.has(n); n = (chart.nodes[n] as ChartNode).parent) seen.add(n);
    }
    return seen;
  }

  deliveriesAt(i: number): Delivery[] {
    return this.deliveriesByAt.get(i) ?? [];
  }

  /** Deliveries whose arrow spans any record in [from, to]. */
  deliveriesBetween(from: number, to: number): Delivery[] {
    const out: Delivery[] = [];
    // Spans are sorted by `lo`: find the last one starting at or before `to`, then walk left while
    // some span on the left can still reach `from`.
    let lo = 0;
    let hi = this.spans.length - 1;
    let k = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if ((this.spans[mid] as { lo: number }).lo <= to) {
        k = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (; k >= 0 && (this.spanMaxHi[k] as number) >= from; k--) {
      const s = this.spans[k] as { lo: number; hi: number; d: Delivery };
      if (s.hi >= from) out.push(s.d);
    }
    return out;
  }

  /** Record indices where play and step stop, for a set of record kinds. */
  stops(kinds: readonly RecordKind[] = DEFAULT_STOPS): Int32Array {
    const key = [...kinds].sort().join(',');
    let stops = this.stopCache.get(key);
    if (!stops) {
      const codes = new Set(kinds.map((k) => KIND_CODE.get(k)));
      const list: number[] = [];
      for (let i = 0; i < this.kinds.length; i++) if (codes.has(this.kinds[i])) list.push(i);
      stops = Int32Array.from(list);
      this.stopCache.set(key, stops);
    }
    return stops;
  }

  /** The next stop after `i` (dir 1) or before it (dir -1); `i` itself if there is none. */
  nextStop(i: number, dir: 1 | -1, kinds: readonly RecordKind[] = DEFAULT_STOPS): number {
    const stops = this.stops(kinds);
    const k = upperBound(stops, i);
    if (dir > 0) return k < stops.length ? (stops[k] as number) : i;
    let j = k - 1;
    if (j >= 0 && stops[j] === i) j -= 1;
    return j >= 0 ? (stops[j] as number) : 0;
  }

  /** The MSC row at or before record `i`. */
  rowAt(i: number): number {
    return Math.max(0, upperBound(this.mscRows, i) - 1);
  }
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

/** Builds the model of a whole trace at once (Node, tests); the page feeds a builder in slices. */
export function traceModel(chart: ChartModel, text: string, violations: Violation[] = [], guestCharts: GuestCharts = {}): TraceModel | { error: string } {
  const b = new TraceModelBuilder(chart, guestCharts);
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const err = b.addLine(text.slice(start, end));
      if (err) return { error: err };
    }
    start = end + 1;
  }
  return b.finish(violations);
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

