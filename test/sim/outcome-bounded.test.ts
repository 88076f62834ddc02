/**
 * The outcome's per-record lists (ioctls, events, console, faults, warnings) hold at most
 * MAX_OUTCOME_ENTRIES entries each, whatever the run's length: a guest that loops on port I/O makes
 * a KVM_RUN and its kvm events every few steps, and with `options.maxSteps` up to 10^8 the lists grew
 * with the steps until the heap ran out (found by fuzzing: 160 MB per million steps). What is past
 * the bound is counted in `omitted`, which is there only when something was left out.
 */
import { describe, expect, it } from 'vitest';
import { OutcomeCollector } from '../../src/sim/outcome.js';
import { MAX_OUTCOME_ENTRIES } from '../../src/scenarios/limits.js';
import type { TraceRecord } from '../../src/trace/records.js';
import { formatOutcome } from '../../src/cli/format.js';

function feed(c: OutcomeCollector, n: number, make: (i: number) => TraceRecord[]): void {
  for (let i = 0; i < n; i++) for (const r of make(i)) c.observe(r);
}

const ioctl = (i: number): TraceRecord[] => [
  { t: 'ioctl', phase: 'call', ns: i, cpu: 1, vcpu: 0, name: 'KVM_RUN', number: 0xae80 } as TraceRecord,
  { t: 'ioctl', phase: 'return', ns: i, cpu: 1, vcpu: 0, name: 'KVM_RUN', number: 0xae80, ret: 0 } as TraceRecord,
];
const kvm = (i: number): TraceRecord => ({ t: 'kvm', ns: i, cpu: 1, vcpu: 0, what: 'kvm_exit', data: {} });
const consoleLine = (i: number): TraceRecord => ({ t: 'console', ns: i, cpu: 0, text: `line ${i}` });
const fault = (i: number): TraceRecord => ({ t: 'fault', ns: i, cpu: 0, insn: 'VMXOFF', fault: '#UD', context: 'nmi', handling: 'fixup' });
const warning = (i: number): TraceRecord => ({ t: 'warning', ns: i, cpu: 0, vcpu: null, where: 'x.c', message: `w ${i}` });

describe('the outcome of a long run stays bounded', () => {
  it('keeps the first MAX_OUTCOME_ENTRIES of each list and counts the rest', () => {
    const c = new OutcomeCollector();
    const extra = 7;
    feed(c, MAX_OUTCOME_ENTRIES + extra, (i) => [...ioctl(i), kvm(i), consoleLine(i), fault(i), warning(i)]);
    const o = c.outcome();
    expect(o.ioctls).toHaveLength(MAX_OUTCOME_ENTRIES);
    // Each line is one console record and one event only for a splat; kvm records are events.
    expect(o.events).toHaveLength(MAX_OUTCOME_ENTRIES);
    expect(o.console).toHaveLength(MAX_OUTCOME_ENTRIES);
    expect(o.faults).toHaveLength(MAX_OUTCOME_ENTRIES);
    expect(o.warnings).toHaveLength(MAX_OUTCOME_ENTRIES);
    expect(o.omitted).toEqual({ ioctls: extra, events: extra, console: extra, faults: extra, warnings: extra });
    // The kept entries are the first ones, and a kept call still gets its return.
    expect(o.ioctls[0]?.timeNs).toBe(0);
    expect(o.ioctls[MAX_OUTCOME_ENTRIES - 1]?.ret).toBe(0);
    expect(o.console[MAX_OUTCOME_ENTRIES - 1]?.text).toBe(`line ${MAX_OUTCOME_ENTRIES - 1}`);
    // The text summary says so.
    expect(formatOutcome(o)).toMatch(/outcome lists cut at 65,536 entries \(the first kept\): 7 ioctls, 7 events, 7 console, 7 faults, 7 warnings left out/);
  });

  it('has no `omitted` when nothing was left out', () => {
    const c = new OutcomeCollector();
    feed(c, 10, (i) => [...ioctl(i), kvm(i)]);
    const o = c.outcome();
    expect(o.ioctls).toHaveLength(10);
    expect(o.omitted).toBeUndefined();
    expect('omitted' in o).toBe(false);
    expect(formatOutcome(o)).not.toMatch(/outcome lists cut/);
  });
});
