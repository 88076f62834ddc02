/**
 * crash_nmi_callback() ends with `halt(); for (;;) cpu_relax();` (arch/x86/kernel/reboot.c, every
 * modelled era: v5.10 to mainline; the 2024 smp_ops.stop_this_cpu hook before it is NULL on bare
 * metal): one HLT, then a spin. A CPU woken from that HLT (an SMI whose RSM returns after the HLT, as
 * the model's SMM entry does) spins with NMIs still blocked and never halts again. stop_this_cpu()
 * is `for (;;) native_halt();`: woken, it halts again. docs/model.md §1.4 step 6, §1.5.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { TraceRecord } from '../../src/trace/records.js';

type Vendor = 'intel' | 'amd';

function run(raw: Record<string, unknown>, preset: string, seed: number) {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return runScenario({ ...v.scenario, kernel: { preset, fix: [], noFix: [] } }, { seed, keepTrace: true });
}

/** The SMI's RSM on `cpu`, and the HLTs it executed after it. */
function afterRsm(trace: TraceRecord[], cpu: number) {
  const rsm = trace.findIndex((r) => r.t === 'insn' && r.cpu === cpu && r.insn === 'RSM');
  const hlts = trace.slice(rsm + 1).filter((r) => r.t === 'insn' && r.cpu === cpu && r.insn === 'HLT');
  return { rsm, hlts };
}

const smis = (cpus: number, at: number) => Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, do: 'smi', at }));

describe('a CPU woken from the HLT in crash_nmi_callback() spins; one woken in stop_this_cpu() halts again', () => {
  for (const preset of ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline']) {
    for (const vendor of ['intel', 'amd'] as Vendor[]) {
      for (const cpus of [2, 3]) {
        it(`${preset}, ${vendor}, ${cpus} CPUs: kdump shootdown, then an SMI to each responder`, () => {
          for (const seed of [1, 2]) {
            const raw = {
              name: 'crash-nmi-smi',
              machine: { cpus, vendor },
              options: { kdump: true, kdumpBringsUpAps: false },
              script: [{ cpu: 0, do: 'panic', at: 10_000 }, ...smis(cpus, 200_000)],
            };
            const { outcome, trace } = run(raw, preset, seed);
            for (let cpu = 1; cpu < cpus; cpu++) {
              const { rsm, hlts } = afterRsm(trace, cpu);
              // It had halted in the handler before the SMI came.
              expect(trace.slice(0, rsm).some((r) => r.t === 'insn' && r.cpu === cpu && r.insn === 'HLT')).toBe(true);
              expect(rsm).toBeGreaterThan(0);
              expect(hlts).toEqual([]);
              const c = outcome.cpus[cpu];
              expect(c?.state).toMatch(/^os\.nmi\.(crash|emergency)Handler\.spinning$/);
              expect(c).toMatchObject({ activity: 'running', nmiBlocked: true });
            }
          }
        });
      }
    }
  }

  for (const preset of ['v5.10', 'mainline']) {
    it(`${preset}: panic without kdump stops the others with REBOOT_VECTOR; woken by an SMI, stop_this_cpu() halts again`, () => {
      const raw = {
        name: 'stop-smi',
        machine: { cpus: 3, vendor: 'intel' },
        options: { kdump: false, panicTimeout: 0 },
        script: [{ cpu: 0, do: 'panic', at: 10_000 }, ...smis(3, 200_000)],
      };
      const { outcome, trace } = run(raw, preset, 1);
      for (const cpu of [1, 2]) {
        const { rsm, hlts } = afterRsm(trace, cpu);
        expect(rsm).toBeGreaterThan(0);
        expect(hlts.length).toBe(1);
        expect(outcome.cpus[cpu]).toMatchObject({ state: 'os.irq.rebootVector.stop.halted', activity: 'hlt' });
      }
    });
  }
});
