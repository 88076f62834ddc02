/**
 * An exception taken inside an NMI handler returns with IRET, and every IRET ends NMI blocking (SDM
 * Vol. 3A "Handling Multiple NMIs"; docs/model.md §3.4). So a fault the kernel's exception table eats
 * in the shootdown NMI handler (a VMCLEAR #UD with kvm_rebooting set, a VMXOFF #UD from v5.11) leaves
 * NMIs unblocked while the handler still runs. A second NMI is then taken at once: the x86-64 NMI entry
 * (arch/x86/entry/entry_64.S, "NMI executing" / repeat_nmi) sees it nested, marks the outer NMI to
 * repeat when it returns — it never does — and IRETs. It runs no handler, is not latched, and wakes a
 * CPU halted in crash_nmi_callback(), which then spins. Without an eaten fault the NMI stays latched.
 *
 * Scenario: row T5 (race R2 case ii) — CPU1 stalls in its own emergency restart between VMXOFF and the
 * CR4.VMXE clear, CPU2 panics with kdump; once CPU1 sits in the handler's HLT, its NMI watchdog fires.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';

type Vendor = 'intel' | 'amd';

function run(raw: Record<string, unknown>, preset: string, seed: number) {
  const v = validateScenario(raw, String(raw.name), validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return runScenario({ ...v.scenario, kernel: { preset, fix: [], noFix: [] } }, { seed, keepTrace: true });
}

/** `watchdogAt`: the state of CPU1 whose entry fires its NMI watchdog. */
function raceR2(cpus: number, vendor: Vendor, loadedVmcs: number, watchdogAt = 'crashHandler.halted|emergencyHandler.halted') {
  const enters = vendor === 'intel' ? 'emergencyRestart.selfVirt.*.clearVmxe' : 'emergencyRestart.selfVirt';
  return {
    name: 'r2-second-nmi',
    machine: { cpus, vendor },
    initial: { all: vendor === 'intel' ? { vmx: 'root', loadedVmcs } : { svme: true } },
    options: { kdump: true, kdumpBringsUpAps: false },
    script: [
      { cpu: 1, do: 'emergency-restart', at: 0 },
      { cpu: 1, do: 'stall', when: { cpu: 1, enters } },
      { cpu: 2, do: 'panic', when: { cpu: 1, enters }, message: 'race R2' },
      { cpu: 1, do: 'nmi-panic', when: { cpu: 1, enters: watchdogAt }, message: 'watchdog' },
    ],
  };
}

const PRESETS = ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'];

describe('an eaten fault in the NMI handler unblocks NMIs: the next NMI is nested, consumed, and wakes the HLT', () => {
  for (const preset of PRESETS) {
    for (const vendor of ['intel', 'amd'] as Vendor[]) {
      for (const cpus of [3, 4]) {
        for (const loadedVmcs of vendor === 'intel' ? [0, 1] : [0]) {
          it(`${preset}, ${vendor}, ${cpus} CPUs, ${loadedVmcs} loaded VMCS`, () => {
            for (const seed of [1, 2]) {
              const { outcome, trace } = run(raceR2(cpus, vendor, loadedVmcs), preset, seed);
              const eaten = trace.some((r) => r.t === 'fault' && r.cpu === 1 && r.context === 'nmi' && r.handling === 'eaten');
              const halted = trace.findIndex((r) => r.t === 'step' && r.cpu === 1 && /Handler\.halted$/.test(r.to));
              const selfNmi = trace.findIndex((r, i) => i > halted && r.t === 'send' && r.from === 1 && r.mode === 'nmi');
              const c = outcome.cpus[1];
              if (halted < 0) {
                // No HLT in the handler: it died first (an unfixed #UD: BUG or oops, then panic in NMI
                // context), or, AMD before v6.2, CPU1's own restart reset the platform first.
                expect(eaten).toBe(false);
                continue;
              }
              expect(selfNmi).toBeGreaterThan(halted);
              const msg = (trace[selfNmi] as { msg: number }).msg;
              const deliver = trace.find((r) => r.t === 'deliver' && r.msg === msg && r.cpu === 1);
              if (eaten) {
                expect(deliver).toMatchObject({ status: 'delivered' });
                expect(c).toMatchObject({ activity: 'running', nmiBlocked: false, context: 'nmi' });
                expect(c?.state).toMatch(/^os\.nmi\.(crash|emergency)Handler\.spinning$/);
                // No handler ran for it: no panic on CPU1.
                expect(trace.some((r) => r.t === 'console' && r.cpu === 1 && r.text.includes('watchdog'))).toBe(false);
              } else {
                expect(deliver).toMatchObject({ status: 'latched' });
                expect(c).toMatchObject({ activity: 'hlt', nmiBlocked: true });
                expect(c?.state).toMatch(/^os\.nmi\.(crash|emergency)Handler\.halted$/);
              }
            }
          });
        }
      }
    }
  }

  for (const preset of ['v6.6', 'mainline']) {
    it(`${preset}: an NMI latched before the eaten fault is taken as a nested NMI at the fault's IRET`, () => {
      const { outcome, trace } = run(raceR2(4, 'intel', 1, 'nmi.dispatch'), preset, 1);
      const send = trace.findIndex((r) => r.t === 'send' && r.from === 1 && r.mode === 'nmi');
      const msg = (trace[send] as { msg: number }).msg;
      expect(trace.find((r) => r.t === 'deliver' && r.msg === msg && r.cpu === 1)).toMatchObject({ status: 'latched' });
      const fault = trace.findIndex((r) => r.t === 'fault' && r.cpu === 1 && r.handling === 'eaten');
      const nested = trace.findIndex((r) => r.t === 'kernel' && r.cpu === 1 && r.what === 'nested-nmi');
      expect(fault).toBeGreaterThan(send);
      expect(nested).toBeGreaterThan(fault);
      // The handler went on after it: acked, halted once, NMIs unblocked.
      expect(outcome.cpus[1]).toMatchObject({ activity: 'hlt', nmiBlocked: false, state: expect.stringMatching(/Handler\.halted$/) as string });
    });
  }

  it('the eaten faults are where docs/model.md §1.9 R2 case (ii) puts them: VMXOFF from v5.11, VMCLEAR from v6.6', () => {
    const eatenIn = (preset: string, loadedVmcs: number) =>
      run(raceR2(4, 'intel', loadedVmcs), preset, 1).trace.some(
        (r) => r.t === 'fault' && r.cpu === 1 && r.context === 'nmi' && r.handling === 'eaten',
      );
    expect(PRESETS.map((p) => [eatenIn(p, 0), eatenIn(p, 1)])).toEqual([
      [false, false],
      [true, false],
      [true, false],
      [true, true],
      [true, true],
    ]);
  });
});
