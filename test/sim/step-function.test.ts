/**
 * `step(state, choice) → { state, records }` (src/sim/step.ts): the machine as a value between steps.
 * Stepping a run's choices through values that went through JSON writes what one Simulation taking
 * them writes, record for record; a step leaves the value it was given as it was; a choice out of range is refused.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { runScenario } from '../../src/sim/run.js';
import { Simulation } from '../../src/sim/simulation.js';
import { start, step, type MachineValue } from '../../src/sim/step.js';
import { formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Scenario } from '../../src/scenarios/types.js';

function builtin(id: string): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  return r.scenario;
}

/** The value as another process would get it. */
const viaJson = (s: MachineValue): MachineValue => JSON.parse(JSON.stringify(s)) as MachineValue;

describe('step(state, choice) as a function of a value', () => {
  it.each([
    ['T1', 'untimed'],
    ['T7-kvm', 'untimed'],
    ['T-vsock-restart', 'untimed'],
    ['T1', 'timed'],
    ['T-vsock-restart', 'timed'],
  ] as const)("%s (%s): stepped through JSON values, the same picks write what one Simulation stepping them writes", (id, mode) => {
    const scenario = builtin(id);
    // The reference: one Simulation taking the picks a seeded run took (timed, its latency draws
    // come from the chooser kept in the state).
    const whole = runScenario(scenario, { seed: 3, mode, keepTrace: true }).trace;
    const runPicks = whole.flatMap((r) => (r.t === 'choice' && r.kind === 'next' ? [r.pick] : []));
    const sim = new Simulation(scenario, { seed: 3, mode });
    const reference: TraceRecord[] = [];
    const sub = sim.trace$.subscribe((r) => reference.push(r));
    sim.header();
    const taken: number[] = [];
    for (let n = sim.poll(); n > 0; ) {
      const pick = n > 1 ? Math.min(runPicks.shift() ?? 0, n - 1) : 0;
      taken.push(pick);
      n = sim.step(pick).choices;
    }
    sub.unsubscribe();
    if (mode === 'untimed') expect(reference.map(formatRecord).join('\n')).toBe(whole.map(formatRecord).join('\n'));

    const first = start(scenario, { seed: 3, mode });
    const stepped: TraceRecord[] = [...first.records];
    let state = viaJson(first.state);
    let steps = 0;
    while (state.choices > 0) {
      const next = step(state, taken[steps] as number);
      stepped.push(...next.records);
      state = viaJson(next.state);
      steps += 1;
    }
    expect(steps).toBe(taken.length);
    expect(steps).toBeGreaterThan(5);
    expect(stepped.map(formatRecord).join('\n')).toBe(reference.map(formatRecord).join('\n'));
    expect(stepped.at(-1)?.t).toBe('end');
  });

  it('leaves the state it was given unchanged: the same step twice gives the same result', () => {
    let state = start(builtin('T6'), { seed: 1, mode: 'untimed' }).state;
    for (let i = 0; i < 12 && state.choices > 0; i++) {
      const before = JSON.stringify(state);
      const a = step(state, state.choices - 1);
      expect(JSON.stringify(state)).toBe(before);
      const b = step(state, state.choices - 1);
      expect(JSON.stringify(b)).toBe(JSON.stringify(a));
      state = a.state;
    }
  });

  it('refuses a choice the state does not have, and a step after the end', () => {
    const { state } = start(builtin('T1'), { seed: 1, mode: 'untimed' });
    expect(() => step(state, state.choices)).toThrow(`choice ${state.choices} is not one of the state's ${state.choices}`);
    expect(() => step(state, -1)).toThrow(RangeError);
    expect(() => step(state, 0.5)).toThrow(RangeError);
    expect(() => step({ ...state, choices: 0 }, 0)).toThrow('the run is over');
  });
});
