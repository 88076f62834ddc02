/**
 * Fuzz: sound pruning. Exhaustive search merges two paths to one machine state only when their
 * property observers remember the same (Observer.remembers): on random small machines it must find
 * exactly what a reference search finds that merges paths only when the machine, the clock and
 * everything the observers hold are the same (`pruning: 'history'`, direct engine, no sleep sets) —
 * the same verdict, the same violations with the same messages, at the same depths — on both engines,
 * with and without sleep sets. Keyed on the machine state alone (`pruning: 'machine'`), a path's
 * violation can be lost or reported later than its shortest run: the named R2 case below is one.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult } from '../../src/explore/explorer.js';
import { findBuiltin } from '../../src/scenarios/builtin.js';
import { validateScenario } from '../../src/scenarios/validate.js';
import { validationContext } from '../../src/sim/catalog.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { machineArb, scenarioOf } from './pruning-arb.js';
import { fuzzParams, fuzzTimeout } from './fuzz-params.js';

/** A reference search larger than this is skipped (the searches compared must be complete). */
const MAX_STATES = 20_000;

const search = (s: Scenario, o: Partial<ExploreOptions>): ExploreResult =>
  explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, maxStates: MAX_STATES, pruning: 'observers', ...o });

/** What a search found: the verdict, and each violation with its message and depth. */
const found = (r: ExploreResult) => ({
  complete: r.complete,
  violations: r.violations.map((v) => `${v.property}: ${v.message} (${v.picks.length} decisions)`).sort(),
});

describe('fuzz: pruning keyed on the machine and what the observers remember', () => {
  it(
    'finds on random machines what the reference search finds, on both engines, with and without sleep sets',
    () => {
      let compared = 0;
      fc.assert(
        fc.property(machineArb, fc.boolean(), fc.boolean(), (raw, reduction, allViolations) => {
          const s = scenarioOf(raw);
          const reference = search(s, { pruning: 'history', reduction: false, allViolations });
          fc.pre(reference.complete);
          compared += 1;
          const want = found(reference);
          expect(found(search(s, { engine: 'cached', reduction, allViolations })), 'cached engine').toEqual(want);
          expect(found(search(s, { engine: 'direct', reduction, allViolations })), 'direct engine').toEqual(want);
        }),
        fuzzParams(12),
      );
      expect(compared).toBeGreaterThan(0);
    },
    fuzzTimeout(120_000),
  );
});

describe('pruning: two restarts on one CPU', () => {
  // On one CPU, `reboot` and `nmi-panic` are both due at once and both orders reach the same machine
  // state, which then hangs. reboot-completes names every restart that started, in script order, so
  // the two histories give one message and may be one state.
  const raw = {
    name: 'random',
    machine: { cpus: 1, vendor: 'intel' },
    kernel: { preset: 'v5.10' },
    options: { kdump: true, panicTimeout: 0, crashKexecPostNotifiers: false },
    script: [
      { cpu: 0, do: 'nmi-panic', at: 2000 },
      { cpu: 0, do: 'reboot', at: 500 },
      { cpu: 0, do: 'irqs-off', at: 2000 },
    ],
  };
  const s = scenarioOf(raw);
  const reference = found(search(s, { pruning: 'history', reduction: false }));
  const restarts = (f: { violations: string[] }) => f.violations.filter((x) => x.startsWith('reboot-completes'));

  it('the reference search names both restarts, in script order, in one message', () => {
    expect(reference.complete).toBe(true);
    expect(restarts(reference).map((x) => x.replace(/ \(.*/, ''))).toEqual([
      "reboot-completes: 'nmi-panic' on CPU 0 and 'reboot' on CPU 0 never reset the machine: nothing can move any more",
    ]);
  });

  it('so does the search, on both engines, with and without sleep sets', () => {
    for (const engine of ['cached', 'direct'] as const) {
      for (const reduction of [true, false]) expect(found(search(s, { engine, reduction })), `${engine}, reduction ${reduction}`).toEqual(reference);
    }
  });
});

describe('pruning: built-ins with guests (vCPUs, VMMs, vsock devices; direct engine)', () => {
  it.each(['T8', 'T9', 'T10', 'T11', 'T12', 'T13', 'T15'])('%s: what the reference search finds', (id) => {
    const b = findBuiltin(id);
    if (!b) throw new Error(id);
    const r = validateScenario(b.raw, b.id, validationContext);
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const reference = found(search(r.scenario, { pruning: 'history', reduction: false }));
    expect(reference.complete).toBe(true);
    expect(found(search(r.scenario, {}))).toEqual(reference);
  });
});
