/** Random small machines: the pruning fuzz test and the transition cache's random-machine test (test/explore/cached.test.ts) share them. */
import fc from 'fast-check';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';

const ENTERS = ['emergencyRestart.selfVirt', 'emergencyRestart.selfVirt.*.clearVmxe', 'emergencyRestart.onRestart|emergencyRestart.shoot', 'panic.*', 'stop.*'];

export const machineArb = fc.integer({ min: 1, max: 3 }).chain((cpus) =>
  fc.record({
    name: fc.constant('random'),
    machine: fc.record({ cpus: fc.constant(cpus), vendor: fc.constantFrom('intel', 'amd') }),
    kernel: fc.record({ preset: fc.constantFrom('v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline') }),
    options: fc.record({ kdump: fc.boolean(), panicTimeout: fc.integer({ min: -1, max: 1 }), crashKexecPostNotifiers: fc.boolean(), panicOnOops: fc.boolean() }),
    script: fc.array(
      fc.oneof(
        fc.record({
          cpu: fc.integer({ min: 0, max: cpus - 1 }),
          do: fc.constantFrom('reboot', 'emergency-restart', 'panic', 'nmi-panic', 'irqs-off', 'irqs-on', 'stall', 'smi'),
          at: fc.constantFrom(0, 500, 2000),
        }),
        fc.record({
          cpu: fc.integer({ min: 0, max: cpus - 1 }),
          do: fc.constantFrom('stall', 'panic', 'emergency-restart', 'irqs-off'),
          when: fc.record({ cpu: fc.integer({ min: 0, max: cpus - 1 }), enters: fc.constantFrom(...ENTERS) }),
        }),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  }),
);

export function scenarioOf(raw: { machine: { vendor: string } } & Record<string, unknown>): Scenario {
  const isIntel = raw.machine.vendor === 'intel';
  const full = { ...raw, initial: { all: isIntel ? { vmx: 'root', loadedVmcs: 1 } : { svme: true } } };
  const r = validateScenario(full, 'random', validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}


/**
 * Random machines with interchangeable CPUs (symmetry reduction): 3–4 CPUs alike, the script on CPU 0
 * (and its `when` triggers watching CPU 0), so CPUs 1.. are one group of idle responders.
 */
export const symmetricMachineArb = fc.integer({ min: 3, max: 4 }).chain((cpus) =>
  fc.record({
    name: fc.constant('random'),
    machine: fc.record({ cpus: fc.constant(cpus), vendor: fc.constantFrom('intel', 'amd') }),
    kernel: fc.record({ preset: fc.constantFrom('v5.10', 'v6.2', 'mainline') }),
    options: fc.record({ kdump: fc.boolean(), panicTimeout: fc.integer({ min: -1, max: 1 }), crashKexecPostNotifiers: fc.boolean(), panicOnOops: fc.boolean() }),
    script: fc.array(
      fc.oneof(
        fc.record({ cpu: fc.constant(0), do: fc.constantFrom('reboot', 'emergency-restart', 'panic', 'nmi-panic'), at: fc.constantFrom(0, 500) }),
        fc.record({ cpu: fc.constant(0), do: fc.constantFrom('stall', 'irqs-off'), when: fc.record({ cpu: fc.constant(0), enters: fc.constantFrom(...ENTERS) }) }),
      ),
      { minLength: 1, maxLength: 2 },
    ),
  }),
);
