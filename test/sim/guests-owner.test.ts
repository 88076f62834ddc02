/**
 * Many vCPUs pinned to one CPU: finding which of them holds the CPU (is inside KVM_RUN) is an index
 * lookup, so a step costs work proportional to the vCPUs there, not to their square. Counted by the
 * lookups of vCPU chart states a run makes, not by time.
 */
import { describe, expect, it } from 'vitest';
import { validationContext } from '../../src/sim/catalog.js';
import { Simulation } from '../../src/sim/simulation.js';
import { validateScenario } from '../../src/scenarios/validate.js';

/** `n` vCPUs on CPU 1, each running L1 code that exits to its VMM on port I/O and goes round again. */
function crowded(n: number, maxSteps: number) {
  const vcpus = Array.from({ length: n }, () => ({ cpu: 1, guest: { l1: ['io', { jmp: 0 }] } }));
  const v = validateScenario({ name: 'crowded', machine: { cpus: 2 }, options: { maxSteps }, vms: [{ vcpus }] }, 'crowded', validationContext);
  if (!v.ok) throw new Error(JSON.stringify(v.errors));
  return v.scenario;
}

/** State lookups of the vCPU charts per scheduler step, over a run of `steps` steps. */
function lookupsPerStep(n: number, steps: number): number {
  const sim = new Simulation(crowded(n, steps), { seed: 1 });
  const vcpus = (sim as unknown as { guests: { vcpus: { leaf(i: number): string } } }).guests.vcpus;
  const leaf = vcpus.leaf.bind(vcpus);
  let lookups = 0;
  vcpus.leaf = (i: number) => {
    lookups += 1;
    return leaf(i);
  };
  sim.run();
  expect(sim.steps).toBe(steps);
  return lookups / steps;
}

describe('the vCPU that holds a CPU is found without scanning the vCPUs pinned there', () => {
  it('lookups per step grow linearly with the vCPUs on the CPU', () => {
    const small = lookupsPerStep(50, 400);
    const large = lookupsPerStep(200, 400);
    // Linear: 4× the vCPUs, at most about 4× the lookups (a scan per vCPU made it 16×).
    expect(large).toBeLessThanOrEqual(5 * small);
    expect(large).toBeLessThanOrEqual(10 * 200);
  });
});
