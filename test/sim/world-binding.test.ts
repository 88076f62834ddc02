/**
 * Each simulation's CPU charts read and write its own world (kernel memory and port): the chart is
 * compiled once per process, and each simulation binds its guards and actions to its world, with
 * no process-wide "current world". Two runs taking steps in turn write the traces each writes alone.
 */
import { describe, expect, it } from 'vitest';
import { loadBuiltin } from '../../src/sim/catalog.js';
import { Simulation } from '../../src/sim/simulation.js';
import { runScenario } from '../../src/sim/run.js';
import { formatRecord, type TraceRecord } from '../../src/trace/records.js';
import type { Scenario } from '../../src/scenarios/types.js';
import type { EngineName } from '../../src/sim/cpu-drivers.js';

function builtin(id: string, preset: string): Scenario {
  const r = loadBuiltin(id);
  if (!r?.ok) throw new Error(id);
  return { ...r.scenario, kernel: { ...r.scenario.kernel, preset } };
}

const text = (trace: readonly TraceRecord[]): string => trace.map(formatRecord).join('\n');

describe('a simulation binds the CPU chart to its own world', () => {
  it.each<EngineName>(['compiled', 'actors'])('%s: two runs interleaved step by step write the traces they write alone', (engine) => {
    const runs = [
      { scenario: builtin('T14', 'mainline'), seed: 1 },
      { scenario: builtin('T6', 'v5.11'), seed: 2 },
      { scenario: builtin('T1', 'v5.10'), seed: 3 },
    ];
    const alone = runs.map((r) => text(runScenario(r.scenario, { seed: r.seed, engine, keepTrace: true }).trace));
    const sims = runs.map((r) => new Simulation(r.scenario, { seed: r.seed, engine }));
    const traces = sims.map((sim) => {
      const out: TraceRecord[] = [];
      sim.trace$.subscribe((r) => out.push(r));
      sim.header();
      return out;
    });
    let moving = true;
    while (moving) {
      moving = false;
      for (const sim of sims) if (sim.end === null && sim.run(1) === null) moving = true;
    }
    expect(traces.map(text)).toEqual(alone);
    expect(new Set(alone).size).toBe(runs.length);
  });
});
