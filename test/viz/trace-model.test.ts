/**
 * Lit states from the trace alone: T5 (R2 case ii) has CPU1 stalled between VMXOFF and the clearing
 * of CR4.VMXE when CPU2's shootdown NMI lands; at that record CPU1's task region must still be at
 * clearVmxe and its NMI region at dispatch, CPU2 waiting for acknowledgements.
 */
import { describe, expect, it } from 'vitest';
import { traceModel, type TraceModel } from '../../src/viz/trace-model.js';
import { builtin, chart, scenarioFrom, traceText } from './helpers.js';

function model(text: string): TraceModel {
  const m = traceModel(chart, text);
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
