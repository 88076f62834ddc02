/**
 * `Simulation.step(pick)`: one step as a function of the choice, whose result holds the records it
 * wrote (the effects its chart actions put in their outbox, applied after the step). Taking the
 * choices a whole run took, one step at a time, writes that run's trace record for record.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { Simulation } from '../../src/sim/simulation.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Scenario } from '../../src/scenarios/types.js';

function builtin(id: string): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  return r.scenario;
}

describe('Simulation.step(pick) returns the records of the step', () => {
  // Untimed, the seeded chooser is asked only for the next step (no latency draws), so the picks
  // the run wrote down are all a stepwise run needs to take the same path.
  it.each(['T1', 'T6', 'T7-kvm', 'T-vsock-restart'])('%s: stepping with the run\'s picks writes the run\'s trace', (id) => {
    const scenario = builtin(id);
    const whole = runScenario(scenario, { seed: 3, mode: 'untimed', keepTrace: true }).trace;
    const picks = whole.flatMap((r) => (r.t === 'choice' && r.kind === 'next' ? [r.pick] : []));

    const sim = new Simulation(scenario, { seed: 3, mode: 'untimed' });
    const stepped: TraceRecord[] = [];
    const header = sim.trace$.subscribe((r) => stepped.push(r));
    sim.header();
    header.unsubscribe();
    let n = sim.poll();
    let steps = 0;
    while (n > 0) {
      const pick = n > 1 ? (picks.shift() as number) : 0;
      const { records, choices } = sim.step(pick);
      expect(records.length).toBeGreaterThan(0);
      stepped.push(...records);
      n = choices;
      steps += 1;
    }
    expect(steps).toBeGreaterThan(5);
    expect(picks).toEqual([]);
    expect(stepped.map(formatRecord).join('\n')).toBe(whole.map(formatRecord).join('\n'));
    expect(stepped.at(-1)?.t).toBe('end');
  });
});
