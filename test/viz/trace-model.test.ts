/**
 * Lit states from the trace alone: T5 (R2 case ii) has CPU1 stalled between VMXOFF and the clearing
 * of CR4.VMXE when CPU2's shootdown NMI lands; at that record CPU1's task region must still be at
 * clearVmxe and its NMI region at dispatch, CPU2 waiting for acknowledgements. T14 (a guest reboot
 * with vsock traffic): the vCPU, VMM and vhost-vsock actors rebuilt from their gstep records.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { asVersion1, formatRecord, type TraceKind, type TraceRecord } from '../../src/trace/records.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
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

  it('a scripted action names the leaf it moved: the state is there at the script record', () => {
    const script = lineOf(t5, (r) => r.t === 'script' && r.action === 'emergency-restart');
    expect(JSON.parse(t5.lines[script] as string)).toMatchObject({ to: 'os.task.emergencyRestart.kmsgDump', leaves: ['os.task.emergencyRestart.kmsgDump'] });
    expect(t5.activePaths(1, script)[0]).toBe('os.task.emergencyRestart.kmsgDump');
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

  it("the vCPU's state at every record is the leaf the last record naming it gave: a gstep's `to`, or `guestLeaves`", () => {
    let last = 'absent';
    let changes = 0;
    let named = 0;
    trace.forEach((r, i) => {
      let now = last;
      if (r.t === 'gstep' && r.actor === 'vcpu' && r.vcpu === 0) now = r.to;
      const moved = 'guestLeaves' in r ? r.guestLeaves?.vcpu0 : undefined;
      if (moved !== undefined) {
        now = moved;
        named += 1;
      }
      changes += now !== last ? 1 : 0;
      last = now;
      expect(m.guestPath('vcpu0', i)).toBe(last);
    });
    expect(changes).toBeGreaterThan(10);
    // KVM_RUN entered on the VMM's ioctl, host exits: changes no gstep of the vCPU names.
    expect(named).toBeGreaterThan(0);
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

  it('leaves and guestLeaves of the wrong shape (a file fed to the page unchecked) are skipped, not thrown on', () => {
    const b = new TraceModelBuilder(chart, guestCharts());
    expect(b.addLine(header)).toBeNull();
    for (const leaves of [{ a: 1 }, 'os.nmi.dispatch', [7, null, 'os.nmi.dispatch'], null]) {
      expect(b.addLine(JSON.stringify({ t: 'step', ns: 0, cpu: 0, ctx: 'task', from: 'os.task.idle', to: 7, leaves }))).toBeNull();
    }
    for (const guestLeaves of [['vcpu0'], 'run', { vcpu0: 5, vmm0: 'returned' }, null]) {
      expect(b.addLine(JSON.stringify({ t: 'kvm', ns: 0, vcpu: 0, cpu: 0, what: 'x', data: {}, guestLeaves }))).toBeNull();
    }
    const m = b.finish();
    expect(m.activePaths(0, m.count - 1)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.dispatch', 'os.smm.idle']);
    expect(m.guestPath('vmm0', m.count - 1)).toBe('returned');
  });

  it('guestLeaves naming states no chart has open no lanes (a crafted trace cannot make a million of them)', () => {
    const b = new TraceModelBuilder(chart, guestCharts());
    expect(b.addLine(header)).toBeNull();
    const moved: Record<string, string> = {};
    for (let i = 0; i < 64; i++) moved[`vcpu${1000 + i}`] = 'no.such.state';
    for (let k = 0; k < 10; k++) expect(b.addLine(JSON.stringify({ t: 'ioctl', ns: 0, cpu: 0, guestLeaves: moved }))).toBeNull();
    expect(b.finish().guests).toEqual([]);
  });

  it('a line longer than the limit is refused before it is parsed', () => {
    const b = new TraceModelBuilder(chart);
    expect(b.addLine(header)).toBeNull();
    expect(b.addLine(JSON.stringify({ t: 'console', ns: 0, cpu: 0, text: 'x'.repeat(MAX_TRACE_LINE) }))).toBe(`line 2 is longer than ${MAX_TRACE_LINE} characters`);
  });
});

/** Each record's state paths, checked against the model built from the records' leaves alone. */
function consistent(m: TraceModel): { checked: number } {
  let checked = 0;
  const regionOf = (path: string) => (path.startsWith('os.') ? (path.split('.')[1] as string) : 'top');
  for (let i = 1; i < m.count; i++) {
    const r = m.record(i);
    if (r.t === 'step') {
      expect(m.activePaths(r.cpu, i - 1), `line ${i + 1}: ${r.from} before the step`).toContain(r.from);
      checked += 1;
    }
    if (r.t === 'step' || r.t === 'deliver' || r.t === 'timer' || (r.t === 'script' && r.to !== undefined)) {
      const to = r.to as string;
      expect(m.activePaths(r.cpu, i), `line ${i + 1}: ${to} after it`).toContain(to);
      const top = m.cpuAt(r.cpu, i).onTop;
      expect(top === 0 ? 'top' : m.slotNames[top], `line ${i + 1}: the context on top`).toBe(regionOf(to));
      checked += 1;
    }
    if (r.t === 'final') {
      expect(m.activePaths(r.cpu, i), `line ${i + 1}: final state of CPU ${r.cpu}`).toContain(r.state);
      checked += 1;
    }
    if (r.t === 'gstep' && m.guestChart(r.actor)) {
      expect(m.guestPath(`${r.actor}${r.vcpu}`, i - 1), `line ${i + 1}: ${r.actor} ${r.vcpu} before its step`).toBe(r.from);
      checked += 1;
    }
    if (r.t === 'vfinal') {
      expect(m.guestPath(`vcpu${r.vcpu}`, i), `line ${i + 1}: final state of vCPU ${r.vcpu}`).toBe(r.state);
      expect(m.guestPath(`vmm${r.vcpu}`, i), `line ${i + 1}: final state of VMM ${r.vcpu}`).toBe(r.vmm);
      checked += 2;
    }
  }
  return { checked };
}

describe('every state is looked up in the records: each record names the leaves it moved', () => {
  for (const id of ['T5', 'T7', 'T-L2', 'T14', 'T-vsock-restart', 'T9']) {
    it(`${id}: each step starts where the records left its region, each \`to\` and final state is active`, () => {
      const m = model(traceText(builtin(id)), guestCharts());
      expect(m.hasLeaves).toBe(true);
      expect(m.unknownPaths).toEqual([]);
      expect(consistent(m).checked).toBeGreaterThan(50);
    });
  }

  it("a VMM thread dying with its vCPU (BUG in KVM_RUN) is named on the vCPU's step", () => {
    const raw = { ...(findBuiltin('T8')?.raw as Record<string, unknown>), kernel: { preset: 'mainline', noFix: ['tdp-level-at-vcpu-create'] } };
    const m = model(traceText(scenarioFrom(raw)), guestCharts());
    const death = lineOf(m, (r) => r.t === 'gstep' && r.to === 'dead');
    expect(JSON.parse(m.lines[death] as string)).toMatchObject({ actor: 'vcpu', guestLeaves: { vmm0: 'dead' } });
    expect(m.guestPath('vmm0', death - 1)).not.toBe('dead');
    expect(m.guestPath('vmm0', death)).toBe('dead');
    consistent(m);
  });
});

describe('a stream of records: the model lights what they name and nothing else', () => {
  const header = JSON.stringify({ t: 'header', v: 2, scenario: 'hand', seed: 1, mode: 'timed', options: { kdump: false, panicTimeout: 0, initOnlyReset: false }, cpus: 1, vendor: 'intel', preset: 'mainline', switches: [] });
  const lines = [
    header,
    // An IPI: the IRQ context on top.
    { t: 'deliver', ns: 1, msg: 1, cpu: 0, mode: 'fixed', vector: 0xf8, status: 'delivered', to: 'os.irq.dispatch', leaves: ['os.irq.dispatch'] },
    // IRET: the task is on top again and the IRQ region back at idle, named by the record.
    { t: 'step', ns: 2, cpu: 0, ctx: 'irq', from: 'os.irq.iret', to: 'os.task.idle', leaves: ['os.irq.idle'] },
    // A record that names a region other than the one on top moves that region only.
    { t: 'timer', ns: 3, cpu: 0, name: 'nmi:x', to: 'os.task.idle', leaves: ['os.nmi.dispatch'] },
    // A step without leaves moves nothing, whatever its `to` says.
    { t: 'step', ns: 4, cpu: 0, ctx: 'task', from: 'os.task.idle', to: 'os.task.panic.irqOff' },
    // A leaf outside os replaces every region; coming back names all four.
    { t: 'deliver', ns: 5, msg: 2, cpu: 0, mode: 'init', status: 'delivered', to: 'waitForSipi', leaves: ['waitForSipi'] },
    { t: 'deliver', ns: 6, msg: 3, cpu: 0, mode: 'sipi', status: 'delivered', to: 'os.task.idle', leaves: ['os.task.idle', 'os.irq.idle', 'os.nmi.idle', 'os.smm.idle'] },
  ].map((r) => (typeof r === 'string' ? r : JSON.stringify(r)));
  const m = model(lines.join('\n') + '\n');

  it('follows the leaves record by record', () => {
    expect(m.unknownPaths).toEqual([]);
    expect(m.activePaths(0, 0)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.idle', 'os.smm.idle']);
    expect(m.activePaths(0, 1)).toEqual(['os.task.idle', 'os.irq.dispatch', 'os.nmi.idle', 'os.smm.idle']);
    expect(m.slotNames[m.cpuAt(0, 1).onTop]).toBe('irq');
    expect(m.activePaths(0, 2)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.idle', 'os.smm.idle']);
    expect(m.slotNames[m.cpuAt(0, 2).onTop]).toBe('task');
    expect(m.activePaths(0, 3)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.dispatch', 'os.smm.idle']);
    expect(m.slotNames[m.cpuAt(0, 3).onTop]).toBe('task');
    expect(m.activePaths(0, 4)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.dispatch', 'os.smm.idle']);
    expect(m.activePaths(0, 5)).toEqual(['waitForSipi']);
    expect(m.cpuAt(0, 5).onTop).toBe(0);
    expect(m.activePaths(0, 6)).toEqual(['os.task.idle', 'os.irq.idle', 'os.nmi.idle', 'os.smm.idle']);
    expect(m.changedAt(0, 3)).toBe(true);
  });

  it('the same records in a version 1 trace: no states at all, and the model says so', () => {
    const v1 = model([header.replace('"v":2', '"v":1'), ...lines.slice(1)].join('\n') + '\n');
    expect(v1.hasLeaves).toBe(false);
    for (let i = 0; i < v1.count; i++) expect(v1.activePaths(0, i)).toEqual([]);
  });
});

describe('a version 1 trace (records without leaves)', () => {
  /** A trace as version 1 wrote it: the leaves stripped, the header's version 1. */
  const v1Text = (text: string) => text.trimEnd().split('\n').map((l) => formatRecord(asVersion1(JSON.parse(l) as TraceRecord))).join('\n') + '\n';

  it('has no CPU or guest states, rather than states guessed from the leaf on top', () => {
    const m = model(v1Text(traceText(builtin('T14'))), guestCharts());
    expect(m.hasLeaves).toBe(false);
    expect(m.guests.length).toBeGreaterThan(0);
    for (let i = 0; i < m.count; i += 11) {
      for (let cpu = 0; cpu < m.cpuCount; cpu++) expect(m.activePaths(cpu, i)).toEqual([]);
      for (const g of m.guests) expect(m.guestAt(g.key, i)).toBeNull();
    }
  });
});
