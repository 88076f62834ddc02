/**
 * shootdown as a library: run a scenario, explore its interleavings, list the built-in scenarios and
 * the kernel variants — so a test suite can pin a race down as a regression test:
 *
 *   import { explore } from 'shootdown';
 *   expect(explore('R2', { kernel: 'v5.10', properties: ['no-kernel-bug'] }).violations).not.toEqual([]);
 *
 * A scenario is a built-in's id or name (`'T5'`, `'R2'`, `'nmi-between-vmxoff-and-cr4-clear'`) or a
 * scenario value in the scenario file format; both go through the validator the CLI uses, and bad
 * input throws a `ScenarioInputError` whose message names the problem and where.
 */
import { BUILTIN_SCENARIOS, RACE_SCENARIOS, findBuiltin } from './scenarios/builtin.js';
import type { Scenario } from './scenarios/types.js';
import { formatError, validateScenario } from './scenarios/validate.js';
import { validationContext } from './sim/catalog.js';
import { runScenario } from './sim/run.js';
import { MachineValueError, start as startValue, step, type MachineValue as StepValue } from './sim/step.js';
import type { Outcome } from './sim/outcome.js';
import { formatRecord, type TraceRecord } from './trace/records.js';
import { DEFAULT_EXPLORE, explore as exploreScenario, type Strategy } from './explore/explorer.js';
import { confirm } from './explore/counterexample.js';
import { DEFAULT_PRESET, PRESETS, SWITCHES } from './kernel/variants.js';
import { ScenarioInputError, checkKernelChoice, checkStepBudget, checkedOptions, shownValue } from './library-options.js';
// Explored states each hold a copy of every CPU: exploration is for small machines (the CLI's bound).
import { MAX_EXPLORE_CPUS } from './cli/explore-limits.js';
import { PROPERTY_NAMES } from './spec/index.js';
import type { Violation } from './spec/index.js';

export type { Outcome, TraceRecord, Violation, Scenario, Strategy };
export { PROPERTY_NAMES, ScenarioInputError };
/**
 * A machine between two steps, as a JSON value: what `startMachine` and `stepMachine` give and take.
 * `source` is what the machine was started from (the scenario as given and the kernel choice);
 * `scenario` is what the validator made of it, and `stepMachine` checks that it still is.
 */
export type MachineValue = StepValue & { readonly source: MachineSource };

/** What startMachine made a machine's scenario from. */
export interface MachineSource {
  /** A built-in's id, or a scenario value in the scenario file format. */
  readonly scenario: ScenarioInput;
  readonly kernel: KernelChoice;
}

export interface Stepped {
  state: MachineValue;
  /** The records the step wrote, in order (the run's last step includes its final records). */
  records: TraceRecord[];
}

/** A built-in's id or name, or a scenario value in the scenario file format. */
export type ScenarioInput = string | Record<string, unknown>;

/** Which kernel to simulate: a preset (default: the scenario's own, `mainline` unless it says) and switches on top. */
export interface KernelChoice {
  kernel?: string;
  /** Switches turned on (`shootdown kernels` lists them). */
  fix?: readonly string[];
  /** Switches turned off. */
  noFix?: readonly string[];
}

export interface RunOptions extends KernelChoice {
  /** The seed of the scheduler's choices (default 1, as the CLI). */
  seed?: number;
  /** Stop after this many steps (default: the scenario's budget). */
  maxSteps?: number;
}

export interface RunResult {
  /** The validated scenario that ran, kernel choice applied. */
  scenario: Scenario;
  /** What `shootdown run --json` prints: each CPU's end state, faults, console, shootdowns, violations… */
  outcome: Outcome;
  /** Every record of the run, as `shootdown run --trace` writes them. */
  trace: TraceRecord[];
  /** The properties the run broke (the same as `outcome.violations`). */
  violations: Violation[];
  /** The trace as JSON lines: write it to a file and `shootdown view` or `shootdown run --replay` it. */
  traceText(): string;
}

export interface ExploreOptions extends KernelChoice {
  /** 'exhaustive' (default) visits every interleaving; 'random' and 'pct' sample `runs` of them. */
  strategy?: Strategy;
  /** Properties to check (default: all of PROPERTY_NAMES). */
  properties?: readonly string[];
  maxStates?: number;
  maxDepth?: number;
  seed?: number;
  runs?: number;
  pctDepth?: number;
  /** Sleep-set reduction (default on). */
  reduction?: boolean;
  /**
   * By default the search stops at each property's first violation (breadth-first: the shortest) and
   * ends once every property checked has one; true goes on to the end and reports every kind.
   */
  allViolations?: boolean;
}

/** A violation found by exploration, replayed: the shortest run found that breaks the property. */
export interface FoundViolation {
  property: string;
  message: string;
  /** Scheduler decisions in the run. */
  length: number;
  /** The run as trace lines: `shootdown run --replay FILE` reproduces it, `shootdown view FILE` shows it. */
  trace: string[];
}

export interface Exploration {
  /** Every interleaving was visited (exhaustive, within maxStates and maxDepth). */
  complete: boolean;
  /** What ended the search before the end of the space, if anything: bounds, a violation of every property, sampling. */
  stoppedBy: string[];
  statesVisited: number;
  transitions: number;
  maxDepth: number;
  elapsedMs: number;
  violations: FoundViolation[];
}


function scenarioOf(input: ScenarioInput, kernel: KernelChoice): Scenario {
  let raw: unknown;
  let id: string;
  if (typeof input === 'string') {
    const b = findBuiltin(input);
    if (!b) throw new ScenarioInputError(`unknown built-in scenario '${input}' (known: ${scenarios.map((s) => s.id).join(', ')})`);
    raw = b.raw;
    id = b.id;
  } else if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    raw = input;
    id = typeof input.name === 'string' ? input.name : 'scenario';
  } else {
    throw new ScenarioInputError('a scenario is a built-in id or name, or a scenario object');
  }
  const r = validateScenario(raw, id, validationContext);
  if (!r.ok) {
    const more = r.errors.length > 1 ? ` (and ${r.errors.length - 1} more)` : '';
    throw new ScenarioInputError(`${r.errors[0] ? formatError(id, r.errors[0]) : `${id}: invalid`}${more}`);
  }
  const { kernel: preset, fix = [], noFix = [] } = kernel;
  const s = r.scenario;
  return {
    ...s,
    kernel: {
      preset: preset ?? s.kernel.preset,
      fix: [...s.kernel.fix.filter((n) => !noFix.includes(n)), ...fix],
      noFix: [...s.kernel.noFix.filter((n) => !fix.includes(n)), ...noFix],
    },
  };
}

/** One run of a scenario, as `shootdown run` does it. */
export function run(input: ScenarioInput, given?: RunOptions): RunResult {
  const options = checkedOptions('run', given);
  const scenario = scenarioOf(input, options);
  checkStepBudget(options.maxSteps, scenario);
  const { outcome, trace } = runScenario(scenario, {
    seed: options.seed ?? 1,
    keepTrace: true,
    ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}),
  });
  return { scenario, outcome, trace, violations: outcome.violations, traceText: () => trace.map(formatRecord).join('\n') + '\n' };
}

/**
 * A run's machine as a value (JSON) at its start, for `stepMachine(state, choice) → { state, records }`:
 * one step as a function of the state and the choice (untimed by default, as exploration: every
 * choice is a step, a delivery, a timer or a scripted action).
 */
export function startMachine(input: ScenarioInput, given?: RunOptions & { mode?: 'timed' | 'untimed' }): Stepped {
  const options = checkedOptions('startMachine', given);
  const scenario = scenarioOf(input, options);
  checkStepBudget(options.maxSteps, scenario);
  // The source as JSON (a copy: the caller's object may change after), kept with the machine.
  const kernel: KernelChoice = options;
  const source: MachineSource = {
    scenario: typeof input === 'string' ? input : (JSON.parse(JSON.stringify(input)) as ScenarioInput),
    kernel: { ...(kernel.kernel !== undefined ? { kernel: kernel.kernel } : {}), fix: [...(kernel.fix ?? [])], noFix: [...(kernel.noFix ?? [])] },
  };
  remember(source, scenario);
  const first = startValue(scenario, { seed: options.seed ?? 1, mode: options.mode ?? 'untimed', ...(options.maxSteps !== undefined ? { maxSteps: options.maxSteps } : {}) });
  return { state: { ...first.state, source }, records: first.records };
}

/** Sources validated lately, by their JSON: the JSON of the scenario each makes (a step checks its value's against it). */
const validated = new Map<string, string>();
const VALIDATED_KEPT = 64;

function remember(source: MachineSource, scenario: Scenario): string {
  const made = JSON.stringify(scenario);
  validated.set(JSON.stringify(source), made);
  if (validated.size > VALIDATED_KEPT) validated.delete(validated.keys().next().value as string);
  return made;
}

/**
 * The scenario part of a machine value, checked: `source` is validated again (once per source: the
 * JSON of what it makes is remembered) and `scenario` must be exactly what it makes. A scenario edited
 * in the value (a CPU number, an action, the vendor) is refused naming the first part that differs.
 */
function checkScenarioPart(state: unknown): void {
  if (typeof state !== 'object' || state === null) return; // step names it
  const v = state as Record<string, unknown>;
  if (typeof v.scenario !== 'object' || v.scenario === null) throw new ScenarioInputError('stepMachine: state.scenario is missing');
  const source = v.source as Record<string, unknown> | null | undefined;
  if (typeof source !== 'object' || source === null) throw new ScenarioInputError('stepMachine: state.source is missing (what startMachine made the scenario from)');
  const key = JSON.stringify(source);
  let made = validated.get(key);
  if (made === undefined) {
    const kernel = source.kernel;
    if (typeof kernel !== 'object' || kernel === null || Array.isArray(kernel)) throw new ScenarioInputError(`stepMachine: state.source.kernel: expected an object, got ${shownValue(kernel)}`);
    try {
      // (run, startMachine and explore check their kernel choice with their other options.)
      checkKernelChoice(kernel as Record<string, unknown>);
      made = remember(source as unknown as MachineSource, scenarioOf(source.scenario as ScenarioInput, kernel as KernelChoice));
    } catch (e) {
      if (e instanceof ScenarioInputError) throw new ScenarioInputError(`stepMachine: state.source: ${e.message}`);
      throw e;
    }
  }
  if (JSON.stringify(v.scenario) === made) return;
  const where = firstDifference(v.scenario, JSON.parse(made) as unknown, 'state.scenario');
  throw new ScenarioInputError(`stepMachine: ${where} (state.scenario is what the validator made of state.source: start a new machine for another scenario)`);
}

/** Where `given` first differs from `expected`, and how. */
function firstDifference(given: unknown, expected: unknown, path: string): string {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null;
  if (Array.isArray(expected)) {
    if (!Array.isArray(given)) return `${path}: ${shownValue(given)}, where state.source makes a list`;
    for (let i = 0; i < Math.min(given.length, expected.length); i++) {
      if (JSON.stringify(given[i]) !== JSON.stringify(expected[i])) return firstDifference(given[i], expected[i], `${path}[${i}]`);
    }
    return `${path}: ${given.length} entries, where state.source makes ${expected.length}`;
  }
  if (isObj(expected) && isObj(given) && !Array.isArray(given)) {
    for (const k of Object.keys(given)) if (!(k in expected)) return `${path}.${k}: not a part of the scenario state.source makes`;
    for (const k of Object.keys(expected)) {
      if (!(k in given)) return `${path}.${k}: missing (state.source makes ${shownValue(expected[k])})`;
      if (JSON.stringify(given[k]) !== JSON.stringify(expected[k])) return firstDifference(given[k], expected[k], `${path}.${k}`);
    }
    return `${path}: its keys are in another order than those state.source makes`;
  }
  return `${path}: ${shownValue(given)}, where state.source makes ${shownValue(expected)}`;
}

/**
 * One step of a machine value (from startMachine or an earlier step): `{ state, records }`, the value
 * itself left as it was. A value that is not a machine's throws a ScenarioInputError naming the part;
 * a choice out of range or a run that is over, a RangeError.
 */
export function stepMachine(state: MachineValue, choice: number): Stepped {
  try {
    checkScenarioPart(state);
    // The budget in the value keeps the clock exact as startMachine's option had to (step checks its type).
    const options: unknown = typeof state === 'object' && state !== null ? state.options : undefined;
    const maxSteps = typeof options === 'object' && options !== null ? (options as { maxSteps?: unknown }).maxSteps : undefined;
    if (typeof maxSteps === 'number') {
      try {
        checkStepBudget(maxSteps, state.scenario);
      } catch (e) {
        if (e instanceof ScenarioInputError) throw new ScenarioInputError(`stepMachine: state.options.${e.message}`);
        throw e;
      }
    }
    const next = step(state, choice);
    return { state: { ...next.state, source: state.source }, records: next.records };
  } catch (e) {
    if (e instanceof MachineValueError) throw new ScenarioInputError(e.message.replace(/^step:/, 'stepMachine:'), { cause: e.cause ?? e });
    throw e;
  }
}

/** Every interleaving of a scenario (or a sample), checked against the properties, as `shootdown explore` does it. */
export function explore(input: ScenarioInput, given?: ExploreOptions): Exploration {
  const options = checkedOptions('explore', given);
  const properties = options.properties ?? [];
  const strategy = options.strategy ?? 'exhaustive';
  const scenario = scenarioOf(input, options);
  if (scenario.machine.cpus > MAX_EXPLORE_CPUS) throw new ScenarioInputError(`explore handles at most ${MAX_EXPLORE_CPUS} CPUs (${scenario.id} has ${scenario.machine.cpus})`);
  const result = exploreScenario(scenario, {
    ...DEFAULT_EXPLORE,
    strategy,
    properties,
    maxStates: options.maxStates ?? DEFAULT_EXPLORE.maxStates,
    maxDepth: options.maxDepth ?? DEFAULT_EXPLORE.maxDepth,
    seed: options.seed ?? DEFAULT_EXPLORE.seed,
    runs: options.runs ?? DEFAULT_EXPLORE.runs,
    pctDepth: options.pctDepth ?? DEFAULT_EXPLORE.pctDepth,
    reduction: options.reduction ?? DEFAULT_EXPLORE.reduction,
    ...(options.allViolations ? { allViolations: true } : {}),
  });
  return {
    complete: result.complete,
    stoppedBy: [...result.stoppedBy],
    statesVisited: result.statesVisited,
    transitions: result.transitions,
    maxDepth: result.maxDepth,
    elapsedMs: result.elapsedMs,
    violations: result.violations.map((v) => {
      const c = confirm(scenario, v);
      return { property: c.property, message: c.message, length: c.length, trace: c.lines };
    }),
  };
}

/** The built-in scenarios (`shootdown list`): rows T1… of the reproduced cases and the races R1… to explore. */
export const scenarios: readonly { id: string; name: string; summary: string; kind: 'case' | 'race' }[] = [
  ...BUILTIN_SCENARIOS.map((s) => ({ id: s.id, name: s.name, summary: s.summary, kind: 'case' as const })),
  ...RACE_SCENARIOS.map((s) => ({ id: s.id, name: s.name, summary: s.summary, kind: 'race' as const })),
];

/** The kernel variants (`shootdown kernels`): presets, each a set of switches, and every switch with its upstream change. */
export const kernels: {
  readonly default: string;
  readonly presets: readonly { name: string; summary: string; switches: readonly string[] }[];
  readonly switches: readonly { name: string; summary: string; upstream: string; era: string; merged: boolean }[];
} = {
  default: DEFAULT_PRESET,
  presets: PRESETS.map((p) => ({ name: p.name, summary: p.summary, switches: [...p.switches] })),
  switches: SWITCHES.map((s) => ({ name: s.name, summary: s.summary, upstream: s.upstream, era: s.era, merged: s.merged !== false })),
};
