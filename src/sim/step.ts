/**
 * A step as a function: `step(state, choice) → { state, records }`, where the state is a plain value
 * (JSON: the scenario, the run options and the simulation's save) and nothing outside it changes.
 *
 * Thin by design: it restores a Simulation from a copy of the saved state, takes the choice and saves
 * it again (simulation.ts keeps the machine in mutable actors; this is not an immutable rewrite of
 * it). It costs a restore and a save per step, so runs and exploration keep using Simulation itself;
 * this is the entry point for a caller that wants the machine as a value between steps (a what-if
 * branch kept as data, a step-by-step driver in another process).
 */
import type { Scenario } from '../scenarios/types.js';
import type { TraceRecord } from '../trace/records.js';
import { Simulation, type SchedulingMode, type SimulationState } from './simulation.js';

/** What a stepped run keeps fixed: the seed of its latency choices, timed or untimed, its step budget. */
export interface StepOptions {
  seed: number;
  mode?: SchedulingMode;
  maxSteps?: number;
}

/** The machine between two steps, as a value. */
export interface MachineValue {
  readonly scenario: Scenario;
  readonly options: StepOptions;
  readonly saved: SimulationState;
  /** How many choices the next step has (0: the run is over). */
  readonly choices: number;
}

export interface Stepped {
  state: MachineValue;
  /** The records the step wrote, in order (the run's last step includes its final records). */
  records: TraceRecord[];
}

function simulationOptions(o: StepOptions) {
  return { seed: o.seed, ...(o.mode ? { mode: o.mode } : {}), ...(o.maxSteps !== undefined ? { maxSteps: o.maxSteps } : {}) };
}

/** The machine at the start of a run, and the records written so far (the header). */
export function start(scenario: Scenario, options: StepOptions): Stepped {
  const sim = new Simulation(scenario, simulationOptions(options));
  const records: TraceRecord[] = [];
  const sub = sim.trace$.subscribe((r) => records.push(r));
  try {
    sim.header();
    const choices = sim.poll();
    return { state: { scenario, options: { ...options }, saved: sim.save(), choices }, records };
  } finally {
    sub.unsubscribe();
  }
}

/** Take choice `choice` (0 ≤ choice < state.choices) of the machine `state`; `state` itself is left as it was. */
export function step(state: MachineValue, choice: number): Stepped {
  if (state.choices === 0) throw new RangeError('step: the run is over (the state has no choices)');
  if (!Number.isInteger(choice) || choice < 0 || choice >= state.choices) {
    throw new RangeError(`step: choice ${String(choice)} is not one of the state's ${state.choices} (0–${state.choices - 1})`);
  }
  // The restored actors take the saved contexts as they are: restore from a copy, so the value stays.
  const sim = new Simulation(state.scenario, simulationOptions(state.options), structuredClone(state.saved));
  const n = sim.poll();
  if (n !== state.choices) throw new Error(`internal error: the restored state has ${n} choices, the value says ${state.choices}`);
  const { records, choices } = sim.step(choice);
  return { state: { scenario: state.scenario, options: state.options, saved: sim.save(), choices }, records };
}
