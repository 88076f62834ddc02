import { it, expect } from 'vitest';
import { validateScenario } from '../../src/scenarios/validate.js';
import { Simulation } from '../../src/sim/simulation.js';
import { PRESETS, SWITCH_NAMES } from '../../src/kernel/variants.js';
import type { TraceRecord } from '../../src/trace/records.js';

it('smoke', () => {
  const ctx = { presets: PRESETS.map((p) => p.name), switches: [...SWITCH_NAMES], isKnownState: () => true };
  const r = validateScenario({ name: 'x', machine: { cpus: 4 }, initial: { all: { vmx: 'root', loadedVmcs: 1 } },
    options: { kdump: true }, script: [{ cpu: 0, do: 'panic', at: 0 }] }, 'x', ctx);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const sim = new Simulation(r.scenario, { seed: 1 });
  const recs: TraceRecord[] = [];
  sim.trace$.subscribe((x) => recs.push(x));
  sim.header();
  sim.run();
  for (const x of recs) if (x.t !== 'choice') console.log(JSON.stringify(x));
  expect(sim.end).toBe('kexec');
});
