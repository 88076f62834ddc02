/**
 * How a shootdown's wait ended when its initiator took an INIT meanwhile and the machine did not
 * restart (an INIT-only reset that a CPU with GIF=0 holds off: the run hangs). The initiator sits in
 * wait-for-SIPI: its wait ended there, by the INIT — not 'still-waiting'. Untimed: the mode explore's
 * counterexamples replay in, where both CPUs' waits end at the same instant.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { formatOutcome } from '../../src/cli/format.js';
import type { TraceRecord } from '../../src/trace/records.js';

// CPU 2 holds NMIs and INIT (GIF=0); CPU 1's kdump and CPU 0's emergency restart shoot down from NMI
// context; CPU 0's restart is an INIT-only reset.
const raw = {
  name: 'kexec-init',
  machine: { cpus: 3, vendor: 'amd' },
  initial: { all: { svme: true }, cpus: { '2': { gif: false, if: false } } },
  options: { kdump: true, kdumpBringsUpAps: false, reset: { method: 'acpi', initOnly: true } },
  script: [
    { cpu: 1, do: 'panic', context: 'nmi', at: 10 },
    { cpu: 0, do: 'emergency-restart', context: 'nmi', at: 10 },
  ],
};

describe('a shootdown whose initiator took an INIT that restarted nothing', () => {
  it("ends 'init', after as long as it waited until the INIT", () => {
    const v = validateScenario(raw, 'kexec-init', validationContext);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    let cases = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const records: TraceRecord[] = [];
      const { outcome } = runScenario(v.scenario, { seed, mode: 'untimed', onRecord: (r) => records.push(r) });
      for (const s of outcome.shootdowns) {
        expect(s.endedBy, `seed ${seed}`).not.toBe('still-waiting');
        if (s.endedBy !== 'init') continue;
        cases += 1;
        // The initiator took an INIT after its shootdown went out, and the run hung with it waiting for a SIPI.
        const sent = records.find((r) => r.t === 'kernel' && r.what === 'shootdown-sent' && r.cpu === s.initiator) as Extract<TraceRecord, { t: 'kernel' }>;
        const init = records.find((r) => r.t === 'deliver' && r.mode === 'init' && r.cpu === s.initiator && r.status === 'delivered') as Extract<TraceRecord, { t: 'deliver' }>;
        expect(init.ns).toBeGreaterThanOrEqual(sent.ns);
        expect(s.waitedMs).toBe((init.ns - sent.ns) / 1e6);
        expect(outcome.end).toBe('hang');
        expect(outcome.cpus[s.initiator]?.state).toBe('waitForSipi');
        expect(formatOutcome(outcome)).toContain(`NMI shootdown by CPU${s.initiator}: wait ended by an INIT (the CPU waits for a SIPI)`);
      }
    }
    expect(cases).toBeGreaterThan(0);
  });
});
