/**
 * Reads a trace into the viewer's model (trace-model.ts), record by record: the page feeds a builder in slices
 * between frames, Node and the tests read a whole text with traceModel(). Every size is checked before anything
 * is allocated for it. Pure TypeScript (no DOM, no Node).
 */
import type { TraceRecord } from '../trace/records.js';
import type { ChartModel, ChartNode } from './chart-model.js';
import { describeRecord } from '../trace/describe-record.js';
import { MAX_CPUS, MAX_TRACE_IN_FLIGHT, MAX_TRACE_LINE } from '../scenarios/limits.js';
import { SlotHistory } from './slot-history.js';
import { TraceModel } from './trace-index.js';
import {
  GUEST_ACTORS,
  GUEST_CHART_KIND,
  KIND_CODE,
  guestId,
  initialLeaf,
  parseGuestKey,
  type Delivery,
  type GuestActor,
  type GuestCharts,
  type GuestId,
  type Header,
  type Mark,
  type Violation,
} from './trace-vocabulary.js';

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
      // A lane only for a state its chart has: a made-up name opens none.
      const n = this.guestNode(id.actor, path);
      if (n < 0) continue;
      this.guest(id.actor, id.index)?.set(at, n);
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

