/** Run a scenario to its end and derive the outcome; what the CLI, the tests and the bench share. */
import type { Scenario } from '../scenarios/types.js';
import type { TraceRecord } from '../trace/records.js';
import { OutcomeCollector, type Outcome } from './outcome.js';
import { Simulation, type SimulationOptions, type UnfiredTrigger } from './simulation.js';

export interface RunResult {
  outcome: Outcome;
  /** Every record, when `keepTrace` was asked for. */
  trace: TraceRecord[];
  /** Script steps whose `when` trigger never fired. */
  unfired: UnfiredTrigger[];
}

export type RunOptions = SimulationOptions & { keepTrace?: boolean; onRecord?: (r: TraceRecord) => void };

function started(scenario: Scenario, options: RunOptions): { sim: Simulation; result: () => RunResult } {
  const sim = new Simulation(scenario, options);
  const collector = new OutcomeCollector();
  const trace: TraceRecord[] = [];
  sim.trace$.subscribe((r) => {
    collector.observe(r);
    if (options.keepTrace) trace.push(r);
    options.onRecord?.(r);
  });
  sim.header();
  return {
    sim,
    result: () => {
      sim.stop();
      return { outcome: collector.outcome(), trace, unfired: sim.unfiredTriggers() };
    },
  };
}

export function runScenario(scenario: Scenario, options: RunOptions): RunResult {
  const { sim, result } = started(scenario, options);
  sim.run();
  return result();
}

/**
 * The same run, `slice` steps at a time with a turn of the event loop between slices, so that a
 * signal handler (SIGINT, SIGTERM) or a server can run while a long run goes on. `pause`, asked
 * every few steps, holds the run while its promise is pending: while stdout's reader catches up, so
 * that a run writing faster than a pipe is read keeps a few steps' output in memory, not the whole.
 * A promise that rejects stops the run with its error (a caller's bound on what the run writes).
 */
export async function runScenarioInSlices(scenario: Scenario, options: RunOptions, slice = 4096, pause?: () => Promise<void> | null): Promise<RunResult> {
  const { sim, result } = started(scenario, options);
  // One step of a large machine can write a line for each CPU (a broadcast's deliveries).
  const between = pause ? Math.min(slice, PAUSE_EVERY) : slice;
  let ran = 0;
  try {
    while (sim.run(between) === null) {
      ran += between;
      const wait = pause?.() ?? null;
      if (wait !== null) await wait;
      else if (ran < slice) continue;
      await new Promise<void>((resolve) => setImmediate(resolve));
      ran = 0;
    }
  } catch (e) {
    // Stopped by `pause` (or a failure): the run's subscribers are let go of as at its end.
    sim.stop();
    throw e;
  }
  return result();
}

/** Steps between two looks at `pause` of runScenarioInSlices. */
const PAUSE_EVERY = 16;
