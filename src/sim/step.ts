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
import { MAX_SEED } from '../scenarios/limits.js';
import { hash53 } from '../state/hash.js';
import { checkSave } from './save-check.js';
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

/** A machine value that is not one (its message names the part): what a bad `step` input throws. */
export class MachineValueError extends Error {
  override name = 'MachineValueError';
}

const wholeNumber = (x: unknown, min: number): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= min;

/** The parts of a machine value that are read before the simulation is built, checked one by one. */
function checkValue(state: unknown): asserts state is MachineValue {
  const bad = (what: string): never => {
    throw new MachineValueError(`step: ${what}`);
  };
  if (typeof state !== 'object' || state === null) return bad(`the state is ${state === null ? 'null' : typeof state}, not a machine value (start makes one)`);
  const v = state as Record<string, unknown>;
  if (typeof v.scenario !== 'object' || v.scenario === null) bad('state.scenario is missing');
  const o = v.options as Record<string, unknown> | null | undefined;
  if (typeof o !== 'object' || o === null) return bad('state.options is missing');
  if (!wholeNumber(o.seed, 0) || (o.seed as number) > MAX_SEED) bad(`state.options.seed: expected a whole number from 0 to ${MAX_SEED}, got ${JSON.stringify(o.seed)}`);
  if (o.mode !== undefined && o.mode !== 'timed' && o.mode !== 'untimed') bad(`state.options.mode: expected 'timed' or 'untimed', got ${JSON.stringify(o.mode)}`);
  if (o.maxSteps !== undefined && !wholeNumber(o.maxSteps, 1)) bad(`state.options.maxSteps: expected a whole number ≥ 1, got ${JSON.stringify(o.maxSteps)}`);
  if (!wholeNumber(v.choices, 0)) bad(`state.choices: expected a whole number ≥ 0, got ${JSON.stringify(v.choices)}`);
  const saved = v.saved as Record<string, unknown> | null | undefined;
  if (typeof saved !== 'object' || saved === null) return bad("state.saved is missing (the simulation's save)");
  if (saved.version !== 1) bad(`state.saved.version: expected 1, got ${JSON.stringify(saved.version)}`);
  if (saved.engine !== 'compiled' && saved.engine !== 'actors') bad(`state.saved.engine: expected 'compiled' or 'actors', got ${JSON.stringify(saved.engine)}`);
  const cpus = (v.scenario as { machine?: { cpus?: unknown } }).machine?.cpus;
  if (!Array.isArray(saved.cpus) || saved.cpus.length !== cpus) {
    bad(`state.saved.cpus: the scenario has ${JSON.stringify(cpus)} CPUs, the save ${Array.isArray(saved.cpus) ? saved.cpus.length : 'none'}`);
  }
  // Every part in the shape its codec describes, before the restore reads it (a part the restore took
  // as it was, `memory: {}`, would fail only steps later, deep in a rule).
  const scenario = v.scenario as Scenario;
  const env = { cpus: scenario.machine.cpus, vcpus: Array.isArray(scenario.vcpus) ? scenario.vcpus.length : 0 };
  const shape = checkSave(saved, 'state.saved', referenceSave(scenario, o.mode === 'timed' ? 'timed' : 'untimed'), env);
  if (shape !== null) bad(shape);
}

/** The start of a run of each scenario stepped lately (by a hash of its JSON): what a save's constants must be. */
const references = new Map<number, SimulationState>();
const REFERENCES_KEPT = 16;

function referenceSave(scenario: Scenario, mode: SchedulingMode): SimulationState {
  const key = hash53(`${mode}\u0000${JSON.stringify(scenario)}`);
  let ref = references.get(key);
  if (ref === undefined) {
    try {
      ref = new Simulation(scenario, { seed: 1, mode }).save();
    } catch (e) {
      throw new MachineValueError(`step: state.scenario does not make a machine (${(e as Error).message})`);
    }
    references.set(key, ref);
    if (references.size > REFERENCES_KEPT) references.delete(references.keys().next().value as number);
  }
  return ref;
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

/**
 * Take choice `choice` (0 ≤ choice < state.choices) of the machine `state`; `state` itself is left as
 * it was. A value that is not a machine's (a part missing or of the wrong kind, a save that does not
 * fit its scenario, a choice count its state does not have) throws a MachineValueError naming it.
 */
export function step(state: MachineValue, choice: number): Stepped {
  checkValue(state);
  if (state.choices === 0) throw new RangeError('step: the run is over (the state has no choices)');
  if (!Number.isInteger(choice) || choice < 0 || choice >= state.choices) {
    throw new RangeError(`step: choice ${String(choice)} is not one of the state's ${state.choices} (0–${state.choices - 1})`);
  }
  // The restored actors take the saved contexts as they are: restore from a copy, so the value stays.
  let sim: Simulation;
  let n: number;
  const savedText = JSON.stringify(state.saved);
  try {
    sim = new Simulation(state.scenario, simulationOptions(state.options), structuredClone(state.saved));
    // A restore takes what it knows and builds the rest fresh: a save of another scenario (other CPUs,
    // guests left out or added) would go on as another machine. Restored, a machine saves as it was.
    if (JSON.stringify(sim.save()) !== savedText) throw new MachineValueError('it restores as another state');
    n = sim.poll();
  } catch (e) {
    throw new MachineValueError(`step: state.saved does not fit state.scenario (${(e as Error).message})`);
  }
  if (n !== state.choices) throw new MachineValueError(`step: state.choices is ${state.choices}, but its state has ${n} choices`);
  let taken: { records: TraceRecord[]; choices: number };
  let next: SimulationState;
  try {
    taken = sim.step(choice);
    next = sim.save();
  } catch (e) {
    // The value passed the checks above but fails as it runs: a part no check sees into (a chart node,
    // a packet list of the device) does not make sense. (A value start or step made that failed would
    // be the simulator's fault, which the same error reports, the failure as its cause: a step cannot
    // tell the two apart without keeping every value it made.)
    const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new MachineValueError(`step: the state does not make sense as a machine: stepping it failed (${what}): was it changed since it was made?`, { cause: e });
  }
  return { state: { scenario: state.scenario, options: state.options, saved: next, choices: taken.choices }, records: taken.records };
}
