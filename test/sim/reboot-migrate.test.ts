/**
 * kernel_restart() (kernel/reboot.c) calls migrate_to_reboot_cpu() before syscore_shutdown() and
 * machine_restart(): the reboot task moves to reboot_cpu (CPU 0, or the first CPU online), whose
 * scheduler runs it once its reschedule IPI is taken. A `reboot` on another CPU stops the others
 * and resets the machine from CPU 0; if CPU 0 never schedules it, the reboot never completes.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { symmetryGroups } from '../../src/explore/symmetry.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { RESCHEDULE_VECTOR } from '../../src/hw/apic.js';
import type { TraceRecord } from '../../src/trace/records.js';

function scenario(raw: Record<string, unknown>) {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.scenario;
}

function run(raw: Record<string, unknown>, seed: number) {
  const records: TraceRecord[] = [];
  const { outcome } = runScenario(scenario(raw), { seed, onRecord: (r) => records.push(r) });
  const sends = records.filter((r): r is Extract<TraceRecord, { t: 'send' }> => r.t === 'send');
  const reset = records.find((r): r is Extract<TraceRecord, { t: 'reset' }> => r.t === 'reset');
  return { outcome, records, sends, reset };
}

describe('reboot(2) on a CPU other than 0 moves to CPU 0 (migrate_to_reboot_cpu)', () => {
  it.each([3, 4])('%i CPUs, reboot on the last: CPU 0 stops the others and resets, for any seed', (cpus) => {
    const raw = { name: 'reboot-elsewhere', machine: { cpus }, initial: { all: { vmx: 'root', loadedVmcs: 1 } }, script: [{ cpu: cpus - 1, do: 'reboot', at: 0 }] };
    for (const seed of [1, 2, 3]) {
      const { outcome, records, sends, reset } = run(raw, seed);
      expect(records.some((r) => r.t === 'kernel' && r.cpu === cpus - 1 && r.what === 'reboot-task-migrated')).toBe(true);
      const resched = sends.filter((s) => s.vector === RESCHEDULE_VECTOR);
      expect(resched.map((s) => [s.from, s.dest])).toEqual([[cpus - 1, 'cpu0']]);
      // The stop and the reset are CPU 0's now; the CPU the reboot began on is stopped like the rest.
      expect(sends.filter((s) => s.vector === 0xf8).map((s) => s.from)).toEqual([0]);
      expect(reset?.cpu).toBe(0);
      expect(outcome.end).toBe('reset');
      expect(outcome.violations).toEqual([]);
    }
  });

  it('a reboot on CPU 0 does not migrate', () => {
    const { records, sends } = run({ name: 'reboot-here', machine: { cpus: 3 }, script: [{ cpu: 0, do: 'reboot', at: 0 }] }, 1);
    expect(records.some((r) => r.t === 'kernel' && r.what === 'reboot-task-migrated')).toBe(false);
    expect(sends.some((s) => s.vector === RESCHEDULE_VECTOR)).toBe(false);
  });

  it('CPU 0 with IRQs off holds the reschedule IPI: the reboot waits for it, and runs once IRQs are on again', () => {
    const base = { name: 'reboot-waits', machine: { cpus: 3 }, options: { kvmLoaded: false } };
    const never = run({ ...base, script: [{ cpu: 0, do: 'irqs-off', at: 0 }, { cpu: 2, do: 'reboot', at: 10 }] }, 1);
    expect(never.reset).toBeUndefined();
    expect(never.outcome.violations.map((v) => v.property)).toEqual(['reboot-completes']);
    const later = run({ ...base, script: [{ cpu: 0, do: 'irqs-off', at: 0 }, { cpu: 2, do: 'reboot', at: 10 }, { cpu: 0, do: 'irqs-on', at: 5000 }] }, 1);
    expect(later.reset?.cpu).toBe(0);
    expect(later.reset?.ns).toBeGreaterThan(5000);
    expect(later.outcome.violations).toEqual([]);
  });

  it('symmetry: off when a reboot may migrate (CPU numbers choose where), kept for a reboot on CPU 0 (T7)', () => {
    const elsewhere = scenario({ name: 'r', machine: { cpus: 4 }, script: [{ cpu: 3, do: 'reboot', at: 0 }] });
    expect(symmetryGroups(elsewhere)).toEqual({ groups: [], none: 'a reboot migrates to CPU 0 or the lowest-numbered CPU online (migrate_to_reboot_cpu)' });
    const t7 = scenario((findBuiltin('T7') as { raw: Record<string, unknown> }).raw);
    expect(symmetryGroups(t7).groups).toEqual([[1, 2, 3]]);
  });
});
