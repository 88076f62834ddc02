/**
 * The indexed trace (trace-model.ts): what every CPU and guest-side actor was in after record i, which message
 * arrows cross a window of records, and where play and step stop — each in O(log n) over what
 * trace-builder.ts read. Pure TypeScript (no DOM, no Node).
 */
import type { TraceRecord } from '../trace/records.js';
import type { ChartModel, ChartNode } from './chart-model.js';
import type { SlotHistory } from './slot-history.js';
import {
  DEFAULT_STOPS,
  KIND_CODE,
  MSC_KINDS,
  RECORD_KINDS,
  parseGuestKey,
  upperBound,
  type CpuAt,
  type Delivery,
  type GuestActor,
  type GuestAt,
  type GuestCharts,
  type GuestId,
  type Header,
  type Mark,
  type RecordKind,
  type Violation,
} from './trace-vocabulary.js';

/** What a builder hands the model. */
export interface TraceModelParts {
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
