/**
 * Lit states from the trace alone: T5 (R2 case ii) has CPU1 stalled between VMXOFF and the clearing
 * of CR4.VMXE when CPU2's shootdown NMI lands; at that record CPU1's task region must still be at
 * clearVmxe and its NMI region at dispatch, CPU2 waiting for acknowledgements. T14 (a guest reboot
 * with vsock traffic): the vCPU, VMM and vhost-vsock actors rebuilt from their gstep records.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord, type TraceKind } from '../../src/trace/records.js';
import { guestCharts } from '../../src/viz/site.js';
import { RECORD_KINDS, TraceModelBuilder, traceModel, type GuestCharts, type TraceModel } from '../../src/viz/trace-model.js';
import { MAX_TRACE_LINE } from '../../src/scenarios/limits.js';
import { builtin, chart, scenarioFrom, traceText } from './helpers.js';

function model(text: string, guests: GuestCharts = {}): TraceModel {
  const m = traceModel(chart, text, [], guests);
  if ('error' in m) throw new Error(m.error);
  return m;
}

const t5 = model(traceText(builtin('T5')));
const lineOf = (m: TraceModel, test: (r: Record<string, unknown>) => boolean) => m.lines.findIndex((l) => test(JSON.parse(l) as Record<string, unknown>));

describe('T5: the NMI lands between VMXOFF and the clearing of CR4.VMXE', () => {
  const nmiAt = lineOf(t5, (r) => r.t === 'deliver' && r.cpu === 1 && r.mode === 'nmi');

  it('every state path of the trace is in the chart', () => {
    expect(t5.unknownPaths).toEqual([]);
  });

  it('just before the delivery, CPU1 is at clearVmxe in task context (VMXOFF done) and its NMI region idle', () => {
    expect(t5.activePaths(1, nmiAt - 1)).toEqual(['os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe', 'os.irq.idle', 'os.nmi.idle', 'os.smm.idle']);
    expect(t5.cpuAt(1, nmiAt - 1).onTop).toBe(t5.slotNames.indexOf('task'));
  });

  it('at the delivery, the NMI region is on top at dispatch and the task region still at clearVmxe', () => {
    expect(t5.activePaths(1, nmiAt)).toEqual(['os.task.emergencyRestart.selfVirt.cbVmxoff.clearVmxe', 'os.irq.idle', 'os.nmi.dispatch', 'os.smm.idle']);
    expect(t5.cpuAt(1, nmiAt).onTop).toBe(t5.slotNames.indexOf('nmi'));
    expect(t5.activePaths(2, nmiAt)).toContain('os.task.kdump.shoot.waitAcks');
  });

  it('the arrow of that delivery starts at CPU2\'s send', () => {
    const [d] = t5.deliveriesAt(nmiAt);
    expect(d).toMatchObject({ msg: 1, from: 2, cpu: 1, mode: 'nmi', status: 'delivered' });
    expect(JSON.parse(t5.lines[d?.sendAt ?? -1] ?? '{}')).toMatchObject({ t: 'send', msg: 1, from: 2 });
    expect(t5.deliveriesBetween(d?.sendAt ?? 0, d?.sendAt ?? 0).map((x) => x.cpu).sort()).toEqual([0, 1, 3]);
  });

  it('a scripted action has no `to`: its state is dated back to the script record, marked inferred', () => {
    const script = lineOf(t5, (r) => r.t === 'script' && r.action === 'emergency-restart');
    const at = t5.cpuAt(1, script);
    expect(t5.activePaths(1, script)[0]).toBe('os.task.emergencyRestart.kmsgDump');
    expect(at.inferred[t5.slotNames.indexOf('task')]).toBe(true);
    expect(t5.activePaths(1, script - 1)[0]).toBe('os.task.idle');
  });

  it('INIT takes the CPU out of the kernel: only wait-for-SIPI is active', () => {
    const init = lineOf(t5, (r) => r.t === 'deliver' && r.cpu === 1 && r.mode === 'init');
    expect(t5.activePaths(1, init)).toEqual(['waitForSipi']);
    expect(t5.cpuAt(1, init).onTop).toBe(0);
  });

  it('stops: step forward and back land on records that are not memory writes or choices', () => {
    const next = t5.nextStop(nmiAt, 1);
    expect(next).toBeGreaterThan(nmiAt);
    expect(['mem', 'insn', 'choice']).not.toContain(t5.kind(next));
    expect(t5.nextStop(next, -1)).toBe(nmiAt);
    expect(t5.nextStop(t5.count - 1, 1)).toBe(t5.count - 1);
  });
});

describe('context stack', () => {
  it('after RSM (or IRET) the region is back at idle and the interrupted context is on top again', () => {
    // An SMI on CPU0 while its task runs: the SMM region is pushed, runs the firmware and RSM.
    const m = model(traceText(scenarioFrom({ name: 'smi-then-rsm', machine: { cpus: 2 }, script: [{ cpu: 0, do: 'smi', at: 0 }] })));
    expect(m.unknownPaths).toEqual([]);
    let found = 0;
    for (let i = 0; i < m.count; i++) {
      const r = JSON.parse(m.lines[i] as string) as { t: string; cpu: number; from: string; to: string };
      if (r.t === 'deliver' && r.to.startsWith('os.smm.')) expect(m.slotNames[m.cpuAt(r.cpu, i).onTop]).toBe('smm');
      if (r.t !== 'step' || !r.from.startsWith('os.smm.') || r.to.startsWith('os.smm.')) continue;
      found += 1;
      expect(m.activePaths(r.cpu, i)).toContain('os.smm.idle');
      expect(m.activePaths(r.cpu, i)).toContain(r.to);
      expect(m.slotNames[m.cpuAt(r.cpu, i).onTop]).toBe(r.to.split('.')[1]);
      expect(m.cpuAt(r.cpu, i).inferred[m.slotNames.indexOf('smm')]).toBe(true);
    }
    expect(found).toBe(1);
  });

  it('a line that is not JSON is an error naming the line', () => {
    expect(traceModel(chart, '{"t":"header"}\nnot json\n')).toEqual({ error: 'line 2 is not JSON' });
  });
});

describe('record kinds', () => {
  // Typed over the union: a kind added to src/trace/records.ts fails to compile here until listed.
  const EVERY_KIND: { [K in TraceKind]: true } = {
    header: true,
    choice: true,
    step: true,
    send: true,
    deliver: true,
    timer: true,
    mem: true,
    insn: true,
    fault: true,
    console: true,
    kernel: true,
    script: true,
    reset: true,
    kexec: true,
    final: true,
    end: true,
    gstep: true,
    ioctl: true,
    warning: true,
    kvm: true,
    vfinal: true,
    vsock: true,
    vsfinal: true,
    noreturn: true,
  };

  it('every TraceRecord kind has its own code in RECORD_KINDS', () => {
    expect([...RECORD_KINDS].sort()).toEqual(Object.keys(EVERY_KIND).sort());
    expect(new Set(RECORD_KINDS).size).toBe(RECORD_KINDS.length);
  });
});

describe('T14 (guest reboot with vsock traffic both ways): guest-side actors from the gstep records', () => {
  const loaded = loadBuiltin('T14');
  if (!loaded?.ok) throw new Error('no built-in T14');
  const trace = runScenario(loaded.scenario, { seed: 1, keepTrace: true }).trace;
  const m = model(trace.map(formatRecord).join('\n') + '\n', guestCharts());
  /** The first SET_RUNNING call on vsock device 0 with `arg`, and its return. */
  const setRunning = (arg: number): { call: number; ret: number } => {
    const call = trace.findIndex((r) => r.t === 'ioctl' && r.dev === 0 && r.phase === 'call' && r.name.endsWith('SET_RUNNING') && r.arg === arg);
    const ret = trace.findIndex((r, i) => i > call && r.t === 'ioctl' && r.dev === 0 && r.phase === 'return' && r.name.endsWith('SET_RUNNING'));
    return { call, ret };
  };

  it('every record keeps its kind (vsock and vsfinal included) and every guest path is in its chart', () => {
    expect(trace.some((r) => r.t === 'vsock')).toBe(true);
    expect(trace.some((r) => r.t === 'vsfinal')).toBe(true);
    trace.forEach((r, i) => expect(m.kind(i)).toBe(r.t));
    expect(m.unknownPaths).toEqual([]);
  });

  it('lists the vCPU, its VMM thread and the vsock device', () => {
    expect(m.guests.map((g) => [g.key, g.label])).toEqual([
      ['vcpu0', 'vCPU 0'],
      ['vmm0', 'VMM 0'],
      ['vsock0', 'vsock 0'],
    ]);
  });

  it('each actor starts at its chart\'s initial state', () => {
    expect(m.guestPath('vcpu0', 0)).toBe('absent');
    expect(m.guestPath('vmm0', 0)).toBe('next');
    expect(m.guestPath('vsock0', 0)).toBe('open.unowned');
  });

  it('the vsock device is at open.running after the first SET_RUNNING 1 and at open.stopped after SET_RUNNING 0', () => {
    const on = setRunning(1);
    const off = setRunning(0);
    expect(on.call).toBeGreaterThan(0);
    expect(off.call).toBeGreaterThan(on.ret);
    expect(trace[on.ret]).toMatchObject({ state: 'open.running' });
    expect(m.guestPath('vsock0', on.call)).toBe('open.configured');
    expect(m.guestPath('vsock0', on.ret)).toBe('open.running');
    expect(m.guestPath('vsock0', off.call)).toBe('open.running');
    expect(m.guestPath('vsock0', off.ret)).toBe('open.stopped');
    expect(m.guestPath('vsock0', m.count - 1)).toBe('open.running');
  });

  it("the vCPU's state at every record is the `to` of its last gstep before it", () => {
    let last = 'absent';
    let changes = 0;
    trace.forEach((r, i) => {
      if (r.t === 'gstep' && r.actor === 'vcpu' && r.vcpu === 0) {
        changes += r.to !== last ? 1 : 0;
        last = r.to;
      }
      expect(m.guestPath('vcpu0', i)).toBe(last);
    });
    expect(changes).toBeGreaterThan(10);
  });

  it('the physical CPUs read the same with and without the guest charts', () => {
    const plain = model(trace.map(formatRecord).join('\n') + '\n');
    expect(plain.guests).toEqual([]);
    for (let i = 0; i < m.count; i += 7) for (let cpu = 0; cpu < m.cpuCount; cpu++) expect(m.activePaths(cpu, i)).toEqual(plain.activePaths(cpu, i));
  });
});

describe('vsock packet losses are marked on the timeline', () => {
  it('a packet dropped by the worker (an RX buffer shorter than the header) is a fault mark with its reason', () => {
    const s = scenarioFrom({
      name: 'drops',
      machine: { cpus: 3 },
      vms: [{ vsock: { cid: 3, worker: 2, rxBufSize: 16, guestListen: [6000] }, vcpus: [{ cpu: 1, guest: { l1: ['vsock-ready', 'spin'] } }] }],
      script: [{ at: 1000, cpu: 0, do: 'vsock-send', send: { cid: 3, op: 'REQUEST', srcPort: 7000, dstPort: 6000 } }],
    });
    const m = model(traceText(s));
    const drops = m.marks.filter((k) => k.kind === 'fault' && k.text.includes('drop'));
    expect(drops.length).toBeGreaterThan(0);
    expect(drops[0]?.text).toContain('rx-buffer-too-small');
  });
});

describe('the builder the viewer page feeds refuses out-of-bounds sizes before allocating for them', () => {
  const header = traceText(builtin('T5')).split('\n')[0] as string;

  it('a CPU number past the header\'s CPUs: an error, and no CPU history made for it', () => {
    const b = new TraceModelBuilder(chart);
    expect(b.addLine(header)).toBeNull();
    expect(b.addLine(JSON.stringify({ t: 'step', ns: 0, cpu: 30_000_000, ctx: 'task', from: 'os.task.idle', to: 'os.task.idle' }))).toBe(
      "line 2: 'cpu' must be an integer from 0 to 3",
    );
    // The four CPUs of the header, not thirty million.
    expect(b.finish().header.cpus).toBe(4);
    expect((b as unknown as { slots: unknown[] }).slots).toHaveLength(4);
  });

  it('a line longer than the limit is refused before it is parsed', () => {
    const b = new TraceModelBuilder(chart);
    expect(b.addLine(header)).toBeNull();
    expect(b.addLine(JSON.stringify({ t: 'console', ns: 0, cpu: 0, text: 'x'.repeat(MAX_TRACE_LINE) }))).toBe(`line 2 is longer than ${MAX_TRACE_LINE} characters`);
  });
});
