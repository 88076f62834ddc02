/**
 * A trace as Chrome trace-event JSON (the "JSON Object Format" of the Trace Event Format document),
 * which ui.perfetto.dev and chrome://tracing open:
 * - process 1 "host": a track (thread) per physical CPU, with nested slices for what it executes:
 *   the context stack inside `os` (task, irq, nmi, smm, each with the handler below it) or the
 *   state outside it (waitForSipi, crashKernel.sendInit, …); a track "platform" for what the
 *   platform sends;
 * - process 2 "KVM vCPUs": a track per vCPU: its thread's state (userspace, run, dead) and, while
 *   the guest executes, a slice `guest L1` / `guest L2` / `guest L1 SMM`;
 * - instant events for faults, BUGs, WARNs, console lines, scripted actions and kernel events;
 * - a flow arrow per delivery of an IPI, NMI, INIT or SIPI from its send to where it landed.
 *
 * Timestamps are the trace's virtual time: `ts` is in microseconds, so a nanosecond is 0.001.
 */
import type { TraceRecord } from '../trace/records.js';
import { messageLabel } from '../hw/vectors.js';
import type { ChartNode } from './chart-model.js';
import type { TraceModel } from './trace-model.js';

export type TraceEventPhase = 'B' | 'E' | 'i' | 's' | 'f' | 'M';

export interface TraceEvent {
  ph: TraceEventPhase;
  name?: string;
  cat?: string;
  pid: number;
  tid: number;
  ts?: number;
  s?: 'g' | 'p' | 't';
  id?: number;
  bp?: 'e';
  args?: Record<string, unknown>;
}

export interface PerfettoTrace {
  traceEvents: TraceEvent[];
  displayTimeUnit: 'ns';
  otherData: Record<string, string | number>;
}

export const HOST_PID = 1;
export const VCPU_PID = 2;
/** Thread ids: CPU n is tid n + 1 (tid 0 reads as "no thread" in some viewers); the platform is tid 0x10000 + 1. */
export const cpuTid = (cpu: number): number => cpu + 1;
export const vcpuTid = (vcpu: number): number => vcpu + 1;
export const PLATFORM_TID = 0x10001;

/** CPU and vCPU numbers a trace may use (the simulator's own bounds are far below). */
const MAX_CPUS = 1 << 16;
const MAX_VCPUS = 1 << 16;
/** Text shown as an event name: one line, at most this long. */
const MAX_NAME = 200;
const oneLine = (text: string): string => {
  const t = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return t.length > MAX_NAME ? `${t.slice(0, MAX_NAME - 1)}…` : t;
};

/** One track's open slices, closed and opened so that B/E always nest and `ts` never goes back. */
class Track {
  private open: { key: string; name: string; args?: Record<string, unknown> }[] = [];
  private last = 0;

  constructor(
    private readonly out: TraceEvent[],
    readonly pid: number,
    readonly tid: number,
    /** The category of its slices. */
    private readonly cat: string,
  ) {}

  at(ts: number): number {
    this.last = Math.max(this.last, ts);
    return this.last;
  }

  /** Makes the open slices `want` (outermost first): ends what differs, begins the rest. */
  become(want: readonly { key: string; name: string; args?: Record<string, unknown> }[], ts: number): void {
    const cat = this.cat;
    let same = 0;
    while (same < this.open.length && same < want.length && this.open[same]?.key === want[same]?.key) same += 1;
    if (same === this.open.length && same === want.length) return;
    const t = this.at(ts);
    while (this.open.length > same) {
      // The end names its slice as the begin did, args included: viewers that pair B/E by name and
      // args (speedscope) then close the right one; Perfetto merges E's args into B's, the same ones.
      const top = this.open.pop() as { name: string; args?: Record<string, unknown> };
      this.out.push({ ph: 'E', name: top.name, cat, pid: this.pid, tid: this.tid, ts: t, ...(top.args ? { args: top.args } : {}) });
    }
    for (const w of want.slice(same)) {
      this.open.push({ key: w.key, name: w.name, ...(w.args ? { args: w.args } : {}) });
      this.out.push({ ph: 'B', name: w.name, cat, pid: this.pid, tid: this.tid, ts: t, ...(w.args ? { args: w.args } : {}) });
    }
  }

  instant(name: string, cat: string, ts: number, args?: Record<string, unknown>): void {
    this.out.push({ ph: 'i', s: 't', name: oneLine(name), cat, pid: this.pid, tid: this.tid, ts: this.at(ts), ...(args ? { args } : {}) });
  }

  flow(ph: 's' | 'f', id: number, name: string, cat: string, ts: number): void {
    this.out.push({ ph, id, name, cat, pid: this.pid, tid: this.tid, ts: this.at(ts), ...(ph === 'f' ? { bp: 'e' as const } : {}) });
  }
}

type Slice = { key: string; name: string; args?: Record<string, unknown> };

const usOf = (ns: number): number => ns / 1000;

/** The trace as trace-event JSON. */
export function traceToPerfetto(model: TraceModel): PerfettoTrace {
  const events: TraceEvent[] = [];
  const meta: TraceEvent[] = [];
  const chart = model.chart;
  const node = (i: number) => chart.nodes[i] as ChartNode;
  const h = model.header;
  // CPU and vCPU numbers come from the trace file: only those of the machine get a track.
  const cpus = Number.isInteger(h.cpus) ? Math.max(0, Math.min(h.cpus, MAX_CPUS)) : 0;
  const isCpu = (cpu: unknown): cpu is number => Number.isInteger(cpu) && (cpu as number) >= 0 && (cpu as number) < cpus;
  const isVcpu = (vcpu: unknown): vcpu is number => Number.isInteger(vcpu) && (vcpu as number) >= 0 && (vcpu as number) < MAX_VCPUS;

  meta.push({ ph: 'M', name: 'process_name', pid: HOST_PID, tid: 0, args: { name: `host: ${h.scenario} (${h.cpus} CPUs, ${h.vendor}, kernel ${h.preset}, seed ${h.seed})` } });
  meta.push({ ph: 'M', name: 'process_sort_index', pid: HOST_PID, tid: 0, args: { sort_index: 1 } });
  const cpuTracks = new Map<number, Track>();
  const cpuTrack = (cpu: number): Track => {
    let t = cpuTracks.get(cpu);
    if (!t) {
      t = new Track(events, HOST_PID, cpuTid(cpu), 'context');
      cpuTracks.set(cpu, t);
      meta.push({ ph: 'M', name: 'thread_name', pid: HOST_PID, tid: cpuTid(cpu), args: { name: `CPU ${cpu}` } });
      meta.push({ ph: 'M', name: 'thread_sort_index', pid: HOST_PID, tid: cpuTid(cpu), args: { sort_index: cpu } });
      // Every CPU starts in its chart's initial configuration (the task context of `os`).
      t.become(cpuSlices(0, cpu) ?? [], 0);
    }
    return t;
  };
  let platform: Track | null = null;
  const platformTrack = (): Track => {
    if (!platform) {
      platform = new Track(events, HOST_PID, PLATFORM_TID, 'context');
      meta.push({ ph: 'M', name: 'thread_name', pid: HOST_PID, tid: PLATFORM_TID, args: { name: 'platform' } });
      meta.push({ ph: 'M', name: 'thread_sort_index', pid: HOST_PID, tid: PLATFORM_TID, args: { sort_index: -1 } });
      // A flow starts inside a slice: the platform is "up" all along.
      platform.become([{ key: 'platform', name: 'platform' }], 0);
    }
    return platform;
  };
  const vcpuTracks = new Map<number, Track>();
  const vcpuTrack = (vcpu: number): Track => {
    let t = vcpuTracks.get(vcpu);
    if (!t) {
      if (vcpuTracks.size === 0) {
        meta.push({ ph: 'M', name: 'process_name', pid: VCPU_PID, tid: 0, args: { name: 'KVM vCPUs' } });
        meta.push({ ph: 'M', name: 'process_sort_index', pid: VCPU_PID, tid: 0, args: { sort_index: 2 } });
      }
      t = new Track(events, VCPU_PID, vcpuTid(vcpu), 'vcpu');
      vcpuTracks.set(vcpu, t);
      meta.push({ ph: 'M', name: 'thread_name', pid: VCPU_PID, tid: vcpuTid(vcpu), args: { name: `vCPU ${vcpu}` } });
      meta.push({ ph: 'M', name: 'thread_sort_index', pid: VCPU_PID, tid: vcpuTid(vcpu), args: { sort_index: vcpu } });
    }
    return t;
  };

  /**
   * What CPU `cpu` executes after record `i`, outermost first: outside `os` its top-level state and
   * the state below it; inside, the task context and every context stacked on it (an interrupted
   * one stays below the one on top), each with the handler state right below the region.
   */
  const lastConfig = new Map<number, string>();
  function cpuSlices(i: number, cpu: number): Slice[] | null {
    const at = model.cpuAt(cpu, i);
    // Most records change nothing the slices show: skip them cheaply.
    const config = `${at.onTop}:${at.leaves.join(',')}`;
    if (lastConfig.get(cpu) === config) return null;
    lastConfig.set(cpu, config);
    const top = at.leaves[0];
    if (top === undefined || top < 0) return [];
    if (node(top).type !== 'parallel') {
      const path = node(top).path.split('.');
      const out: Slice[] = [{ key: `top:${path[0]}`, name: path[0] ?? '', args: { state: node(top).path } }];
      if (path.length > 1) out.push({ key: `top:${path[0]}.${path[1]}`, name: path[1] ?? '' });
      return out;
    }
    const out: Slice[] = [];
    for (let slot = 1; slot < at.leaves.length; slot++) {
      const leaf = at.leaves[slot] ?? -1;
      if (leaf < 0) continue;
      const active = slot === 1 || slot === at.onTop || !model.isInitialLeaf(slot, leaf);
      if (!active) continue;
      const context = model.slotNames[slot] ?? `context ${slot}`;
      const path = node(leaf).path.split('.');
      out.push({ key: `ctx:${context}`, name: context, args: { state: node(leaf).path } });
      // os.<context>.<handler>…: the handler, unless the region rests in its initial state.
      const handler = path[2];
      if (handler !== undefined && !model.isInitialLeaf(slot, leaf)) out.push({ key: `ctx:${context}.${handler}`, name: handler });
    }
    return out;
  }

  // A vCPU: its chart's top-level state, and the guest's mode while it executes.
  const vcpuState = new Map<number, { path: string; mode: string }>();
  const vcpuSlices = (vcpu: number): Slice[] => {
    const s = vcpuState.get(vcpu);
    if (!s || s.path === '' || s.path === 'absent') return [];
    const topKey = s.path.split('.')[0] ?? s.path;
    const out: Slice[] = [{ key: `top:${topKey}`, name: topKey === 'run' ? 'KVM_RUN' : topKey, args: { state: s.path } }];
    if (s.path === 'run.guest' || s.path === 'run.spinning') out.push({ key: `guest:${s.mode}`, name: `guest ${s.mode}` });
    return out;
  };

  // A flow per delivery whose send is in the trace, numbered by its place in the model's list (a
  // trace that delivers one message twice to one CPU gets two flows, never one id twice).
  type Delivery = (typeof model.deliveries)[number];
  const flowId = new Map<Delivery, number>();
  const bySend = new Map<number, Delivery[]>();
  const byRecord = new Map<number, Delivery[]>();
  const push = (map: Map<number, Delivery[]>, at: number, d: Delivery) => {
    const list = map.get(at);
    if (list) list.push(d);
    else map.set(at, [d]);
  };
  model.deliveries.forEach((d, k) => {
    if (d.at >= 0) push(byRecord, d.at, d);
    if (d.sendAt < 0 || d.at < d.sendAt || !isCpu(d.cpu) || !(d.from === 'platform' || isCpu(d.from))) return;
    flowId.set(d, k + 1);
    push(bySend, d.sendAt, d);
  });
  const flowName = (d: Delivery) => `${messageLabel(d.mode, d.vector)} (msg ${d.msg})`;
  const sentAt = new Map<number, number>();
  const marksAt = new Map<number, typeof model.marks>();
  for (const m of model.marks) {
    if (m.kind === 'violation' || m.cpu < 0) continue;
    const list = marksAt.get(m.at);
    if (list) list.push(m);
    else marksAt.set(m.at, [m]);
  }

  for (let cpu = 0; cpu < cpus; cpu++) cpuTrack(cpu);
  let endNs = 0;
  for (let i = 0; i < model.count; i++) {
    const r = model.record(i) as TraceRecord;
    if (!('ns' in r)) continue;
    endNs = Math.max(endNs, r.ns);
    const ts = usOf(r.ns);
    const cpu = model.cpuOf[i] ?? -1;
    if (isCpu(cpu) && r.t !== 'gstep' && r.t !== 'kvm' && r.t !== 'ioctl' && r.t !== 'vsock') {
      const track = cpuTrack(cpu);
      const slices = cpuSlices(i, cpu);
      if (slices) track.become(slices, ts);
    }
    switch (r.t) {
      case 'send': {
        // One flow per target the message reached; the send is where they all start.
        for (const d of bySend.get(i) ?? []) {
          const track = d.from === 'platform' ? platformTrack() : cpuTrack(d.from);
          const id = flowId.get(d) as number;
          track.flow('s', id, flowName(d), d.mode, ts);
          sentAt.set(id, ts);
        }
        break;
      }
      case 'deliver': {
        for (const d of byRecord.get(i) ?? []) {
          if (!isCpu(d.cpu)) continue;
          const id = flowId.get(d);
          // Never before its start, even in a trace whose time goes back.
          if (id !== undefined) cpuTrack(d.cpu).flow('f', id, flowName(d), d.mode, Math.max(ts, sentAt.get(id) ?? ts));
          if (d.status !== 'delivered') cpuTrack(d.cpu).instant(`${flowName(d)} ${d.status}${d.reason ? `: ${d.reason}` : ''}`, 'message', ts);
        }
        break;
      }
      case 'gstep': {
        if (r.actor !== 'vcpu' || !isVcpu(r.vcpu)) break;
        const s = vcpuState.get(r.vcpu) ?? { path: '', mode: 'L1' };
        s.path = r.to;
        vcpuState.set(r.vcpu, s);
        vcpuTrack(r.vcpu).become(vcpuSlices(r.vcpu), ts);
        break;
      }
      case 'kvm': {
        if (!isVcpu(r.vcpu)) break;
        const s = vcpuState.get(r.vcpu) ?? { path: '', mode: 'L1' };
        const mode = r.data.guestMode === 'l2' ? 'L2' : r.data.guestMode === 'l1' ? 'L1' : null;
        if (mode !== null) s.mode = `${mode}${r.data.inSmm === true ? ' SMM' : ''}`;
        vcpuState.set(r.vcpu, s);
        const track = vcpuTrack(r.vcpu);
        track.become(vcpuSlices(r.vcpu), ts);
        if (r.what === 'oops' || r.what === 'kvm_nested_vmexit_inject' || r.what === 'host_exit' || r.what === 'kvm_userspace_exit') {
          const reason = typeof r.data.reason === 'string' ? ` ${r.data.reason}` : '';
          track.instant(`${r.what}${reason}`, 'kvm', ts, { cpu: r.cpu, ...r.data });
        }
        break;
      }
      case 'warning':
        if (isVcpu(r.vcpu)) vcpuTrack(r.vcpu).instant(`WARN at ${r.where}`, 'warn', ts, { message: r.message, cpu: r.cpu });
        break;
      default:
        break;
    }
    // The vCPUs this record moved that no gstep of theirs names (KVM_RUN entered, a host exit, …).
    if ('guestLeaves' in r && r.guestLeaves) {
      for (const [key, path] of Object.entries(r.guestLeaves)) {
        const m = /^vcpu(\d+)$/.exec(key);
        const vcpu = m ? Number(m[1]) : -1;
        if (!isVcpu(vcpu)) continue;
        const s = vcpuState.get(vcpu) ?? { path: '', mode: 'L1' };
        s.path = path;
        vcpuState.set(vcpu, s);
        vcpuTrack(vcpu).become(vcpuSlices(vcpu), ts);
      }
    }
    for (const m of marksAt.get(i) ?? []) {
      if (!isCpu(m.cpu)) continue;
      const prefix = m.kind === 'bug' ? 'BUG: ' : m.kind === 'fault' ? 'fault: ' : '';
      cpuTrack(m.cpu).instant(prefix + m.text, m.kind, ts, { line: i + 1 });
    }
  }
  // Everything still open ends with the run.
  const endTs = usOf(endNs);
  for (const t of [...cpuTracks.values(), ...vcpuTracks.values(), ...(platform ? [platform] : [])]) t.become([], endTs);
  if (model.violations.length > 0) {
    events.push({
      ph: 'i',
      s: 'g',
      name: oneLine(`violated: ${model.violations.map((v) => v.property).join(', ')}`),
      cat: 'violation',
      pid: HOST_PID,
      tid: 0,
      ts: endTs,
      args: Object.fromEntries(model.violations.map((v) => [v.property, v.message])),
    });
  }
  return {
    traceEvents: [...meta, ...events],
    displayTimeUnit: 'ns',
    otherData: { scenario: h.scenario, seed: h.seed, cpus: h.cpus, vendor: h.vendor, kernel: h.preset, steps: model.steps },
  };
}

/** The JSON text: one event per line, so a large trace stays greppable. */
export function perfettoJson(trace: PerfettoTrace): string {
  const lines = trace.traceEvents.map((e) => JSON.stringify(e));
  return `{"displayTimeUnit":"ns","otherData":${JSON.stringify(trace.otherData)},"traceEvents":[\n${lines.join(',\n')}\n]}\n`;
}
