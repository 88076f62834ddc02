/**
 * A physical INIT that reaches a CPU while a vCPU runs its SVM guest there (docs/model.md §3.3 item 7).
 * KVM's init_vmcb() (arch/x86/kvm/svm/svm.c, v5.10 to mainline) sets INTERCEPT_INTR, _NMI and _SMI but
 * never INTERCEPT_INIT, and VMRUN set GIF=1: the CPU takes the INIT in guest mode, an INIT reset that
 * leaves guest mode (EFER=0). No #VMEXIT, so the vCPU thread never gets back from the guest: KVM_RUN
 * never returns, no kvm_exit or host_exit is traced for it.
 *
 * The path: an emergency restart whose reset reaches the CPUs as INIT (`reset.initOnly`) on a kernel
 * whose emergency restart leaves SVM alone — before `emergency-disables-svm` (v5.10, v5.11; v6.2
 * with the switch off) it sends no shootdown NMI on AMD, so the guests still run when the INIT comes.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { TraceRecord } from '../../src/trace/records.js';

function restartWithGuests(cpus: number, preset: string, noFix: string[]): Scenario {
  const vcpus = Array.from({ length: cpus - 1 }, (_, i) => ({ cpu: i + 1, guest: { l1: ['nop', 'spin'] } }));
  const raw = {
    name: 'svm-init-in-guest',
    machine: { cpus, vendor: 'amd' },
    options: { reset: { method: 'acpi', initOnly: true } },
    vms: [{ vcpus }],
    script: [{ cpu: 0, do: 'emergency-restart', at: 20_000 }],
  };
  const v = validateScenario(raw, raw.name, validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return { ...v.scenario, kernel: { preset, fix: [], noFix } };
}

describe('INIT while a vCPU runs its SVM guest: taken by the CPU, not intercepted', () => {
  for (const [preset, noFix] of [['v5.10', []], ['v5.11', []], ['v6.2', ['emergency-disables-svm']]] as const) {
    for (const cpus of [2, 3]) {
      it(`${preset}${noFix.length > 0 ? ` without ${noFix.join(', ')}` : ''}, ${cpus} CPUs: an INIT reset in guest mode, the vCPU thread never returns`, () => {
        for (const seed of [1, 2, 3]) {
          const { outcome, trace } = runScenario(restartWithGuests(cpus, preset, [...noFix]), { seed, keepTrace: true });
          const reset = trace.findIndex((r) => r.t === 'reset');
          expect(reset).toBeGreaterThan(0);
          // The guests still ran when the reset came: no shootdown NMI reached them.
          expect(trace.slice(0, reset).some((r) => r.t === 'kvm' && (r.what === 'host_exit' || r.what === 'kvm_exit'))).toBe(false);
          for (let cpu = 1; cpu < cpus; cpu++) {
            const inits = trace.filter((r): r is Extract<TraceRecord, { t: 'deliver' }> => r.t === 'deliver' && r.mode === 'init' && r.cpu === cpu);
            expect(inits.map((r) => [r.status, r.to])).toEqual([['delivered', 'waitForSipi']]);
            expect(outcome.cpus[cpu]).toMatchObject({ state: 'waitForSipi', svme: false, gif: true });
          }
          // Nothing left guest mode for the host: no exit of any kind after the reset, and KVM_RUN never returned.
          expect(trace.slice(reset).some((r) => r.t === 'kvm')).toBe(false);
          expect(trace.some((r) => r.t === 'ioctl' && r.name === 'KVM_RUN' && r.phase !== 'call')).toBe(false);
          for (const v of outcome.vcpus) expect(v).toMatchObject({ state: 'run.spinning', thread: 'alive', exitReason: null });
          expect(outcome.end).toBe('reset');
          expect(outcome.violations).toEqual([]);
        }
      });
    }
  }
});
