/**
 * apic_send_IPI_allbutself() (arch/x86/kernel/apic/ipi.c, since v5.5) starts with `if (num_online_cpus()
 * < 2) return;`: an NMI shootdown, a REBOOT_VECTOR stop or a call-function IPI to all but self sends
 * nothing once every other CPU is offline — not even to the CPUs parked by smp_send_stop(), which the
 * shorthand reaches while another CPU is still online.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import type { TraceRecord } from '../../src/trace/records.js';

function scenario(raw: Record<string, unknown>) {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.scenario;
}

/** The NMIs each CPU sent to all but itself, and the CPUs online (by set_cpu_offline records) when it did. */
function shootdowns(raw: Record<string, unknown>, seed: number) {
  const records: TraceRecord[] = [];
  const { outcome } = runScenario(scenario(raw), { seed, onRecord: (r) => records.push(r) });
  const cpus = (raw.machine as { cpus: number }).cpus;
  let online = cpus;
  const sent: { from: number; online: number }[] = [];
  const announced: { cpu: number; online: number }[] = [];
  for (const r of records) {
    if (r.t === 'mem' && r.op === 'set_cpu_offline') online -= 1;
    if (r.t === 'send' && r.mode === 'nmi' && r.dest === 'all-but-self') sent.push({ from: r.from as number, online });
    if (r.t === 'kernel' && r.what === 'shootdown-sent') announced.push({ cpu: r.cpu, online });
  }
  return { outcome, sent, announced };
}

describe('all-but-self IPIs with no other CPU online', () => {
  it('one CPU panics with kdump: the shootdown sends no NMI (1 online)', () => {
    const raw = { name: 'one-cpu-panic', machine: { cpus: 1 }, options: { kdump: true }, script: [{ cpu: 0, do: 'panic', at: 0 }] };
    for (const seed of [1, 2, 3]) {
      const { outcome, sent, announced } = shootdowns(raw, seed);
      expect(announced.length).toBeGreaterThan(0);
      expect(sent).toEqual([]);
      // The outcome says no NMI went out, and not that it was refused.
      expect(outcome.shootdowns.map((s) => [s.sent, s.endedBy])).toEqual(announced.map(() => [false, 'acked']));
    }
  });

  it('two panics on 3 CPUs (v6.6): the restart after smp_send_stop() parked both others sends no NMI; with two online it does', () => {
    const raw = {
      name: 'two-panics',
      machine: { cpus: 3 },
      kernel: { preset: 'v6.6' },
      initial: { all: { vmx: 'root', loadedVmcs: 1 } },
      options: { panicTimeout: 3 },
      script: [
        { cpu: 0, do: 'panic', at: 0 },
        { cpu: 1, do: 'panic', at: 0 },
      ],
    };
    let parked = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { outcome, sent, announced } = shootdowns(raw, seed);
      // Every shootdown announced with another CPU online sent its NMI, and none without.
      expect(sent.map((s) => s.from).sort()).toEqual(announced.filter((a) => a.online >= 2).map((a) => a.cpu).sort());
      expect(sent.every((s) => s.online >= 2)).toBe(true);
      expect(outcome.shootdowns.filter((s) => s.endedBy !== 'refused').map((s) => s.sent)).toEqual(announced.map((a) => a.online >= 2));
      parked += announced.filter((a) => a.online < 2).length;
    }
    expect(parked).toBeGreaterThan(0);
  });

  it('untimed (how explore traces replay): a stop NMI sent earlier at the same instant does not pass for the shootdown\'s', () => {
    // CPU 3 has IRQs off, so panic's smp_send_stop() falls back to NMIs; the restart's shootdown then
    // finds every other CPU offline and sends nothing. Untimed, both happen at time 0.
    const raw = {
      name: 'stop-nmi-then-shootdown',
      machine: { cpus: 4 },
      kernel: { preset: 'v6.2' },
      initial: { all: { vmx: 'root', loadedVmcs: 1 }, cpus: { '3': { if: false } } },
      options: { kdump: false, panicTimeout: -1 },
      script: [{ cpu: 0, do: 'panic', at: 0 }],
    };
    for (const seed of [1, 2, 3]) {
      const records: TraceRecord[] = [];
      const { outcome } = runScenario(scenario(raw), { seed, mode: 'untimed', onRecord: (r) => records.push(r) });
      const stopNmis = records.filter((r) => r.t === 'send' && r.mode === 'nmi' && r.dest === 'all-but-self');
      const shootdownNmi = records.some((r, i) => r.t === 'kernel' && r.what === 'shootdown-sent' && records[i - 1]?.t === 'send');
      expect(stopNmis.length).toBeGreaterThan(0);
      expect(shootdownNmi).toBe(false);
      expect(outcome.shootdowns.map((s) => s.sent)).toEqual(outcome.shootdowns.map(() => false));
      expect(outcome.shootdowns.length).toBeGreaterThan(0);
    }
  });
});
