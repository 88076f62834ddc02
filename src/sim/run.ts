/** Run a scenario to its end and derive the outcome; what the CLI, the tests and the bench share. */
import type { Scenario } from '../scenarios/types.js';
import type { TraceRecord } from '../trace/records.js';
import { OutcomeCollector, type Outcome } from './outcome.js';
import { Simulation, type SimulationOptions } from './simulation.js';

export interface RunResult {
  outcome: Outcome;
  /** Every record, when `keepTrace` was asked for. */
  trace: TraceRecord[];
}

export function runScenario(
  scenario: Scenario,
  options: SimulationOptions & { keepTrace?: boolean; onRecord?: (r: TraceRecord) => void },
): RunResult {
  const sim = new Simulation(scenario, options);
  const collector = new OutcomeCollector();
  const trace: TraceRecord[] = [];
  sim.trace$.subscribe((r) => {
    collector.observe(r);
    if (options.keepTrace) trace.push(r);
    options.onRecord?.(r);
  });
  sim.header();
  sim.run();
  sim.stop();
  return { outcome: collector.outcome(), trace };
}
