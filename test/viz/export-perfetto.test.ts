/**
 * `export-trace --format perfetto`: Chrome trace-event JSON checked against the format's rules
 * (trace-event-format.ts), and against the runs it comes from: a track per CPU and vCPU, the
 * contexts as nested slices, faults / WARN / BUG / console lines as instants, and a flow arrow from
 * each send to where it landed — the shootdown NMI of T5 ends inside CPU1's `nmi` slice.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { traceToPerfetto, perfettoJson, HOST_PID, VCPU_PID, PLATFORM_TID, cpuTid, vcpuTid, type PerfettoTrace, type TraceEvent } from '../../src/viz/export-perfetto.js';
import { traceModel } from '../../src/viz/trace-model.js';
import { messageLabel } from '../../src/hw/vectors.js';
import type { TraceRecord } from '../../src/trace/records.js';
import { withKernel } from '../../src/cli/scenario-args.js';
import { memoryIo } from '../cli/memory-io.js';
import { checkTraceEvents } from './trace-event-format.js';
import { builtin, chart, traceText } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-perfetto-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function exportOf(text: string): PerfettoTrace {
  const m = traceModel(chart, text);
  if ('error' in m) throw new Error(m.error);
  return JSON.parse(perfettoJson(traceToPerfetto(m))) as PerfettoTrace;
}

const records = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l) as TraceRecord);

/** The slices open on a track at the moment of event `at` (file order), outermost first. */
function openAt(events: TraceEvent[], at: number): string[] {
  const e = events[at] as TraceEvent;
  const stack: string[] = [];
  for (const x of events.slice(0, at)) {
    if (x.pid !== e.pid || x.tid !== e.tid) continue;
    if (x.ph === 'B') stack.push(x.name ?? '');
    if (x.ph === 'E') stack.pop();
  }
  return stack;
}

const threadName = (t: PerfettoTrace, pid: number, tid: number) => t.traceEvents.find((e) => e.ph === 'M' && e.name === 'thread_name' && e.pid === pid && e.tid === tid)?.args?.name;

describe('the trace-event checker can fail', () => {
  const ok = (events: object[]) => checkTraceEvents({ traceEvents: [{ ph: 'M', name: 'process_name', pid: 1, tid: 0, args: { name: 'p' } }, { ph: 'M', name: 'thread_name', pid: 1, tid: 1, args: { name: 't' } }, ...events] }).errors;
  it.each([
    ['an unknown phase', [{ ph: 'Q', pid: 1, tid: 1, ts: 0 }], /unknown ph/],
    ['E without B', [{ ph: 'E', pid: 1, tid: 1, ts: 0 }], /nothing open/],
    ['crossed B/E', [{ ph: 'B', name: 'a', pid: 1, tid: 1, ts: 0 }, { ph: 'B', name: 'b', pid: 1, tid: 1, ts: 1 }, { ph: 'E', name: 'a', pid: 1, tid: 1, ts: 2 }, { ph: 'E', name: 'b', pid: 1, tid: 1, ts: 2 }], /closes/],
    ['a slice left open', [{ ph: 'B', name: 'a', pid: 1, tid: 1, ts: 0 }], /left open/],
    ['time going back on a track', [{ ph: 'i', s: 't', name: 'a', pid: 1, tid: 1, ts: 5 }, { ph: 'i', s: 't', name: 'b', pid: 1, tid: 1, ts: 4 }], /goes back/],
    ['a flow with no end', [{ ph: 'B', name: 'a', pid: 1, tid: 1, ts: 0 }, { ph: 's', id: 1, cat: 'c', name: 'n', pid: 1, tid: 1, ts: 0 }, { ph: 'E', pid: 1, tid: 1, ts: 1 }], /no f/],
    ['a flow end outside a slice', [{ ph: 'B', name: 'a', pid: 1, tid: 1, ts: 0 }, { ph: 's', id: 1, cat: 'c', name: 'n', pid: 1, tid: 1, ts: 0 }, { ph: 'E', pid: 1, tid: 1, ts: 1 }, { ph: 'f', bp: 'e', id: 1, cat: 'c', name: 'n', pid: 1, tid: 1, ts: 2 }], /outside any slice/],
    ['a track without a thread name', [{ ph: 'i', s: 't', name: 'a', pid: 1, tid: 2, ts: 0 }], /no thread_name/],
    ['a fractional pid', [{ ph: 'i', s: 't', name: 'a', pid: 1.5, tid: 1, ts: 0 }], /integers/],
  ])('rejects %s', (_name, events, message) => {
    expect(ok(events).join('\n')).toMatch(message);
  });
  it('accepts a well-formed one', () => {
    expect(ok([{ ph: 'B', name: 'a', pid: 1, tid: 1, ts: 0 }, { ph: 's', id: 1, cat: 'c', name: 'n', pid: 1, tid: 1, ts: 0 }, { ph: 'f', bp: 'e', id: 1, cat: 'c', name: 'n', pid: 1, tid: 1, ts: 0.5 }, { ph: 'E', pid: 1, tid: 1, ts: 1 }])).toEqual([]);
  });
});

/** Runs that show each kind of event: BUG (T8 without its fix, T5 on v5.10), WARN (T9 on v6.2), guests in L2. */
const t8Bug = traceText(withKernel(builtin('T8'), undefined, [], ['tdp-level-at-vcpu-create']));
const t5Bug = traceText(withKernel(builtin('T5'), 'v5.10', [], []));
const t9Warn = traceText(withKernel(builtin('T9'), 'v6.2', [], []));
const RUNS: [string, string][] = [
  ['T1', traceText(builtin('T1'))],
  ['T5', traceText(builtin('T5'))],
  ['T5 on v5.10 (VMCLEAR #UD is a BUG)', t5Bug],
  ['T6', traceText(builtin('T6'))],
  ['T8 without tdp-level-at-vcpu-create (BUG in kvm_mmu_load)', t8Bug],
  ['T9 on v6.2 (WARN in nested_vmx_vmexit)', t9Warn],
  ['T-L2', traceText(builtin('T-L2'))],
  ['T14', traceText(builtin('T14'))],
];

describe.each(RUNS)('perfetto export of %s', (_id, text) => {
  const trace = exportOf(text);
  const ev = trace.traceEvents;
  const recs = records(text);
  const header = recs[0] as Extract<TraceRecord, { t: 'header' }>;

  it('follows the trace-event format', () => {
    const report = checkTraceEvents(trace);
    expect(report.errors).toEqual([]);
    expect(report.phases.B).toBeGreaterThan(0);
  });

  it('has a named track per CPU and per vCPU of the run', () => {
    for (let cpu = 0; cpu < header.cpus; cpu++) expect(threadName(trace, HOST_PID, cpuTid(cpu))).toBe(`CPU ${cpu}`);
    const vcpus = new Set(recs.flatMap((r) => (r.t === 'gstep' && r.actor === 'vcpu' ? [r.vcpu] : [])));
    for (const v of vcpus) expect(threadName(trace, VCPU_PID, vcpuTid(v))).toBe(`vCPU ${v}`);
  });

  it('one flow per delivery that has a send, from the sender to the target, at their times', () => {
    const sends = new Map(recs.flatMap((r) => (r.t === 'send' ? [[r.msg, r] as const] : [])));
    const delivered = recs.flatMap((r) => (r.t === 'deliver' && sends.has(r.msg) ? [r] : []));
    const ends = ev.filter((e) => e.ph === 'f');
    expect(ends.length).toBe(delivered.length);
    for (const d of delivered) {
      const s = sends.get(d.msg) as Extract<TraceRecord, { t: 'send' }>;
      const name = `${messageLabel(s.mode, s.vector)} (msg ${d.msg})`;
      const f = ends.find((e) => e.tid === cpuTid(d.cpu) && e.name === name && e.ts === d.ns / 1000);
      expect(f, `${name} → CPU${d.cpu}`).toBeDefined();
      const start = ev.find((e) => e.ph === 's' && e.id === f?.id);
      expect(start?.ts).toBe(s.ns / 1000);
      expect(start?.tid).toBe(s.from === 'platform' ? PLATFORM_TID : cpuTid(s.from));
    }
  });

  it('an instant for every fault, console line and WARN, on its CPU, at its time', () => {
    for (const r of recs) {
      if (r.t !== 'fault' && r.t !== 'console' && r.t !== 'warning') continue;
      const text = r.t === 'fault' ? `${r.insn} ${r.fault}` : r.t === 'console' ? r.text.trim().slice(0, 100) : `WARN at ${r.where}`;
      const hit = ev.find((e) => e.ph === 'i' && e.tid === cpuTid(r.cpu) && e.pid === HOST_PID && e.ts === r.ns / 1000 && (e.name ?? '').includes(text));
      expect(hit, JSON.stringify(r)).toBeDefined();
    }
  });
});

describe('what the slices say', () => {
  it('T5: the shootdown NMI from CPU2 lands inside CPU1\'s nmi slice, over the task it interrupted; VMCLEAR #UD inside the handler', () => {
    const trace = exportOf(traceText(builtin('T5')));
    const ev = trace.traceEvents;
    const f = ev.findIndex((e) => e.ph === 'f' && e.tid === cpuTid(1) && e.name === 'NMI (msg 1)');
    expect(f).toBeGreaterThan(0);
    const s = ev.find((e) => e.ph === 's' && e.id === ev[f]?.id);
    expect(s?.tid).toBe(cpuTid(2));
    expect(openAt(ev, f).slice(0, 3)).toEqual(['task', 'emergencyRestart', 'nmi']);
    const fault = ev.findIndex((e) => e.ph === 'i' && e.tid === cpuTid(1) && e.name === 'fault: VMCLEAR #UD in nmi context: eaten');
    expect(openAt(ev, fault)).toEqual(['task', 'emergencyRestart', 'nmi', 'emergencyHandler']);
  });

  it('T9: vCPU 0 runs its guest in L2; the WARN of nested_vmx_vmexit is an instant', () => {
    const text = t9Warn;
    const trace = exportOf(text);
    const names = trace.traceEvents.filter((e) => e.ph === 'B' && e.pid === VCPU_PID && e.tid === vcpuTid(0)).map((e) => e.name);
    expect(names).toContain('KVM_RUN');
    expect(names).toContain('guest L2');
    const warnings = records(text).filter((r) => r.t === 'warning');
    expect(warnings.length).toBeGreaterThan(0);
    for (const w of warnings) expect(trace.traceEvents.some((e) => e.ph === 'i' && (e.name ?? '').startsWith(`WARN at ${w.where}`))).toBe(true);
  });

  it("T9: the vCPU's KVM_RUN slice begins at the VMM's KVM_RUN call, the record that names the vCPU's new leaf", () => {
    const recs = records(t9Warn);
    const call = recs.find((r) => r.t === 'ioctl' && r.phase === 'call' && r.name === 'KVM_RUN' && r.guestLeaves?.vcpu0?.startsWith('run.') === true);
    expect(call).toBeDefined();
    const firstRun = exportOf(t9Warn).traceEvents.find((e) => e.ph === 'B' && e.pid === VCPU_PID && e.tid === vcpuTid(0) && e.name === 'KVM_RUN');
    expect(firstRun?.ts).toBe((call as { ns: number }).ns / 1000);
  });

  it('BUGs are instants (kvm_mmu_load in T8, VMCLEAR #UD in T5 on v5.10); T6: REBOOT_VECTOR named the same at both ends', () => {
    const t8 = exportOf(t8Bug).traceEvents;
    const line = records(t8Bug).find((r) => r.t === 'console' && /kernel BUG at/.test(r.text));
    expect(line).toBeDefined();
    expect(t8.some((e) => e.ph === 'i' && e.name === (line as { text: string }).text)).toBe(true);
    expect(t8.some((e) => e.ph === 'i' && e.pid === VCPU_PID && e.name?.startsWith('oops'))).toBe(true);
    const t5 = exportOf(t5Bug).traceEvents;
    expect(t5.some((e) => e.ph === 'i' && e.tid === cpuTid(1) && e.name === 'BUG: VMCLEAR #UD in nmi context: bug')).toBe(true);
    const t6 = exportOf(traceText(builtin('T6'))).traceEvents;
    const reboot = t6.filter((e) => (e.ph === 's' || e.ph === 'f') && e.name?.startsWith('REBOOT_VECTOR (0xf8)'));
    expect(reboot.filter((e) => e.ph === 's').length).toBeGreaterThan(0);
    expect(reboot.filter((e) => e.ph === 'f').length).toBe(reboot.filter((e) => e.ph === 's').length);
  });
});

describe('a trace file edited by hand still gives a well-formed export', () => {
  it('a delivery written twice, time going back; CPU numbers outside the machine are refused by the reader', () => {
    const lines = traceText(builtin('T5')).trim().split('\n');
    const deliver = lines.findIndex((l) => l.includes('"t":"deliver"'));
    const edited = [...lines.slice(0, deliver + 1), lines[deliver] as string, ...lines.slice(deliver + 1)];
    const step = edited.findIndex((l, k) => k > deliver + 2 && l.includes('"t":"step"'));
    edited[step] = (edited[step] as string).replace(/"ns":\d+/, '"ns":1');
    for (const cpu of [999, 1.5]) {
      const far = [...edited];
      far.splice(step + 1, 0, JSON.stringify({ t: 'console', ns: 5, cpu, text: 'far' }));
      expect(traceModel(chart, far.join('\n') + '\n')).toHaveProperty('error');
    }
    // -1 (no CPU) is let through by the model and must not break the export.
    edited.splice(step + 1, 0, JSON.stringify({ t: 'console', ns: 5, cpu: -1, text: 'below' }));
    const trace = exportOf(edited.join('\n') + '\n');
    expect(checkTraceEvents(trace).errors).toEqual([]);
    expect(trace.traceEvents.filter((e) => e.ph === 'f').length).toBe(exportOf(traceText(builtin('T5'))).traceEvents.filter((e) => e.ph === 'f').length + 1);
  });
});

describe('shootdown export-trace --format perfetto', () => {
  it('writes the JSON on stdout, and a bad format names the choices', async () => {
    const file = path.join(dir, 't5.jsonl');
    fs.writeFileSync(file, traceText(builtin('T5')));
    const t = memoryIo();
    expect(await main(['export-trace', file, '--format', 'perfetto'], t.cli)).toBe(0);
    expect(checkTraceEvents(JSON.parse(t.out())).errors).toEqual([]);
    const bad = memoryIo();
    expect(await main(['export-trace', file, '--format', 'chrome'], bad.cli)).toBe(2);
    expect(bad.err()).toContain('perfetto');
    expect(bad.out()).toBe('');
  });
});
