/**
 * Trace records are input: every line after the header is checked against its kind before any
 * reader (replay, exporters, viewer, observers) touches it. Real traces of every built-in under every
 * preset pass; a field of the wrong type, a CPU the header does not have, an unknown kind are refused
 * with the line and the field named.
 */
import { describe, expect, it } from 'vitest';
import { BUILTIN_SCENARIOS } from '../../src/scenarios/builtin.js';
import { PRESETS } from '../../src/kernel/variants.js';
import { readTrace } from '../../src/trace/file.js';
import { recordProblem } from '../../src/trace/check-record.js';
import { formatRecord } from '../../src/trace/records.js';
import { runScenario } from '../../src/sim/run.js';
import { withKernel } from '../../src/cli/scenario-args.js';
import { loadBuiltin } from '../../src/sim/catalog.js';

function trace(id: string, preset: string): string[] {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  const lines: string[] = [];
  runScenario(withKernel(r.scenario, preset, [], []), { seed: 1, onRecord: (x) => lines.push(formatRecord(x)) });
  return lines;
}

describe('every record of a real trace fits its kind', () => {
  it.each(BUILTIN_SCENARIOS.map((b) => [b.id]))('%s under every preset', (id) => {
    for (const p of PRESETS) {
      const lines = trace(id, p.name);
      const r = readTrace(lines.join('\n') + '\n');
      expect(r.ok ? 'ok' : r.error, `${id} ${p.name}`).toBe('ok');
    }
  });
});

describe('a record that does not fit is refused, naming the line and the field', () => {
  const lines = trace('T5', 'mainline');
  const at = (kind: string) => lines.findIndex((l) => JSON.parse(l).t === kind);
  it.each([
    ['console', (r: Record<string, unknown>) => (r.text = false), /console\.text: expected a string, got false/],
    ['step', (r: Record<string, unknown>) => (r.cpu = 30_000_000), /step\.cpu: expected a CPU number from 0 to 3 \(the header says 4 CPUs\), got 30000000/],
    ['step', (r: Record<string, unknown>) => (r.ns = -1), /step\.ns: expected a non-negative integer/],
    ['send', (r: Record<string, unknown>) => (r.mode = 'warp'), /send\.mode: expected one of "fixed", "nmi"/],
    ['send', (r: Record<string, unknown>) => delete r.targets, /send\.targets: expected a non-negative integer, got nothing/],
    ['deliver', (r: Record<string, unknown>) => (r.status = 'lost'), /deliver\.status: expected one of/],
    ['end', (r: Record<string, unknown>) => (r.end = 'maybe'), /end\.end: expected one of/],
    ['choice', (r: Record<string, unknown>) => (r.t = 'teleport'), /unknown record kind "teleport"/],
    ['step', (r: Record<string, unknown>) => (r.leaves = 'os.task.idle'), /step\.leaves: expected a list of 1 to 4 state paths/],
    ['step', (r: Record<string, unknown>) => (r.leaves = Array.from({ length: 60_000 }, () => 'os.task.idle')), /step\.leaves: expected a list of 1 to 4 state paths/],
    ['step', (r: Record<string, unknown>) => (r.leaves = ['os.warp.idle']), /step\.leaves: "os\.warp\.idle" is in no region of os \(task, irq, nmi, smm\)/],
    ['step', (r: Record<string, unknown>) => (r.leaves = ['os.task.idle', 'os.task.panic.irqOff']), /step\.leaves: two leaves of region task/],
    ['step', (r: Record<string, unknown>) => (r.leaves = ['waitForSipi', 'os.task.idle']), /step\.leaves: "waitForSipi" is outside os, where a CPU has one leaf/],
    ['deliver', (r: Record<string, unknown>) => (r.leaves = ['x'.repeat(300)]), /deliver\.leaves: expected state paths of at most 256 characters/],
    ['script', (r: Record<string, unknown>) => (r.to = 7), /script\.to: expected a string, got 7/],
    ['script', (r: Record<string, unknown>) => (r.leaves = [null]), /script\.leaves: expected state paths of at most 256 characters, got null/],
  ])('%s', (kind, corrupt, message) => {
    const i = at(kind);
    expect(i).toBeGreaterThan(0);
    const rec = JSON.parse(lines[i] as string) as Record<string, unknown>;
    corrupt(rec);
    const bad = [...lines];
    bad[i] = JSON.stringify(rec);
    const r = readTrace(bad.join('\n') + '\n');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error).toMatch(new RegExp(`^line ${i + 1}: `));
      expect(r.error).toMatch(message);
    }
  });

  it('guestLeaves: known guest actors, state paths, bounded', () => {
    const rec = { t: 'kvm', ns: 0, vcpu: 0, cpu: 0, what: 'host_exit', data: {} };
    expect(recordProblem({ ...rec, guestLeaves: { vcpu0: 'run.hostExit', vmm12: 'returned' } }, 1)).toBeNull();
    expect(recordProblem({ ...rec, guestLeaves: { cpu0: 'idle' } }, 1)).toBe('kvm.guestLeaves: "cpu0" is not a guest actor (vcpu0, vmm0, vsock0, …)');
    expect(recordProblem({ ...rec, guestLeaves: { vcpu0: 3 } }, 1)).toBe('kvm.guestLeaves: vcpu0: expected a state path of at most 256 characters, got 3');
    expect(recordProblem({ ...rec, guestLeaves: ['run'] }, 1)).toBe('kvm.guestLeaves: expected an object of guest actor → state path');
    // No more guests than a scenario can have (a lane each in the viewer).
    expect(recordProblem({ ...rec, guestLeaves: { vcpu16383: 'run' } }, 1)).toBeNull();
    expect(recordProblem({ ...rec, guestLeaves: { vcpu16384: 'run' } }, 1)).toBe('kvm.guestLeaves: vcpu16384: a scenario has at most 16384 of them');
    expect(recordProblem({ ...rec, guestLeaves: { vsock4096: 'running' } }, 1)).toBe('kvm.guestLeaves: vsock4096: a scenario has at most 4096 of them');
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`vcpu${i}`, 'userspace']));
    expect(recordProblem({ ...rec, guestLeaves: many }, 1)).toBe('kvm.guestLeaves: expected 1 to 64 guest actors');
    expect(recordProblem({ t: 'gstep', ns: 0, actor: 'vmm', vcpu: 0, cpu: 0, from: 'a', to: 'b', guestLeaves: {} }, 1)).toBe('gstep.guestLeaves: expected 1 to 64 guest actors');
  });

  it('a field no row names is let through (never read)', () => {
    expect(recordProblem({ t: 'kexec', ns: 0, cpu: 0, extra: { any: 'thing' } }, 1)).toBeNull();
  });
});
