/**
 * Rule 6 of docs/architecture.md: the compiled chart runner and real XState actors run the same machine definition;
 * for the same scenario and choices they must write the same trace, byte for byte.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { BUILTIN_SCENARIOS, loadBuiltin, validationContext } from '../../src/sim/catalog.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { runScenario } from '../../src/sim/run.js';
import { Simulation } from '../../src/sim/simulation.js';
import { formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Scenario } from '../../src/scenarios/types.js';

const trace = (s: Scenario, seed: number, engine: 'actors' | 'compiled') =>
  runScenario(s, { seed, engine, keepTrace: true }).trace.map(formatRecord);

describe('compiled runner ≡ XState actors', () => {
  const cases = BUILTIN_SCENARIOS.flatMap((b) => ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'].map((p) => [b.id, p] as const));
  it.each(cases)('%s on %s: identical traces for seeds 1 and 2', (id, preset) => {
    const r = loadBuiltin(id);
    if (!r?.ok) throw new Error(id);
    const s = { ...r.scenario, kernel: { ...r.scenario.kernel, preset } };
    for (const seed of [1, 2]) expect(trace(s, seed, 'compiled')).toEqual(trace(s, seed, 'actors'));
  });

  it('random scenarios (fast-check): identical traces', () => {
    const file = fc.integer({ min: 1, max: 5 }).chain((cpus) =>
      fc.record({
        name: fc.constant('random'),
        machine: fc.record({ cpus: fc.constant(cpus), vendor: fc.constantFrom('intel', 'amd') }),
        kernel: fc.record({ preset: fc.constantFrom('v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline') }),
        options: fc.record({ kdump: fc.boolean(), panicTimeout: fc.integer({ min: -1, max: 1 }), crashKexecPostNotifiers: fc.boolean(), panicOnOops: fc.boolean(), maxSteps: fc.constant(5000) }),
        script: fc.array(
          fc.record({
            cpu: fc.integer({ min: 0, max: cpus - 1 }),
            do: fc.constantFrom('reboot', 'emergency-restart', 'panic', 'nmi-panic', 'irqs-off', 'irqs-on', 'stall', 'smi'),
            at: fc.integer({ min: 0, max: 3000 }),
          }),
          { maxLength: 4 },
        ),
      }),
    );
    fc.assert(
      fc.property(file, fc.integer({ min: 0, max: 99 }), (raw, seed) => {
        const isIntel = raw.machine.vendor === 'intel';
        const full = { ...raw, initial: { all: isIntel ? { vmx: 'root', loadedVmcs: 1 } : { svme: true } } };
        const r = validateScenario(full, 'random', validationContext);
        if (!r.ok) throw new Error(JSON.stringify(r.errors));
        expect(trace(r.scenario, seed, 'compiled')).toEqual(trace(r.scenario, seed, 'actors'));
      }),
      { numRuns: 80 },
    );
  });

  it('a snapshot from one engine restores into the same engine mid-run (compiled)', () => {
    const r = loadBuiltin('T5');
    if (!r?.ok) throw new Error('T5');
    const a = new Simulation(r.scenario, { seed: 4, engine: 'compiled' });
    const seen: TraceRecord[] = [];
    a.trace$.subscribe((x) => seen.push(x));
    a.header();
    a.run(30);
    const mark = seen.length;
    const state = JSON.parse(JSON.stringify(a.save())) as ReturnType<Simulation['save']>;
    expect(state.engine).toBe('compiled');
    a.run();
    const b = new Simulation(r.scenario, { seed: 4 }, state);
    const again: TraceRecord[] = [];
    b.trace$.subscribe((x) => again.push(x));
    b.run();
    expect(again.map(formatRecord)).toEqual(seen.slice(mark).map(formatRecord));
  });
});
