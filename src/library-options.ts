/**
 * The library's options, checked in one place: each function's options are a table from name to
 * check, so that a value of another type than the declarations give (a caller in plain JavaScript
 * can pass anything) and a name the function does not take are refused with a ScenarioInputError
 * naming the option — never read as truthy, iterated character by character or ignored. The bounds
 * are the CLI's: a seed as `--seed` takes (MAX_SEED), explore's counts as its flags take them
 * (src/cli/explore-limits.ts: a PCT depth of 1e12 drew that many change points per run).
 */
import { MAX_SEED } from './scenarios/limits.js';
import { PRESETS, findPreset, isSwitchName } from './kernel/variants.js';
import { PROPERTY_NAMES } from './spec/index.js';
import { closest } from './cli/suggest.js';
import { range } from './cli/explore-limits.js';
import { INTEGER_OPTIONS, mostExactSteps } from './scenarios/validate.js';
import type { Scenario } from './scenarios/types.js';

/** Bad input to the library: an unknown scenario, kernel or switch, an invalid scenario value, a bad option. */
export class ScenarioInputError extends Error {
  override name = 'ScenarioInputError';
}

/** A value in an error message: its JSON, cut short. */
export function shownValue(v: unknown): string {
  let text: string;
  try {
    text = v === undefined ? 'undefined' : typeof v === 'bigint' ? `${v}n` : (JSON.stringify(v) ?? String(v));
  } catch {
    text = Object.prototype.toString.call(v); // a cycle
  }
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

type Check = (name: string, v: unknown) => void;

const fail = (name: string, expected: string, v: unknown): never => {
  throw new ScenarioInputError(`${name}: expected ${expected}, got ${shownValue(v)}`);
};

const wholeNumber =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (name, v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(name, `an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}`, v);
  };

const flag: Check = (name, v) => {
  if (typeof v !== 'boolean') fail(name, 'true or false', v);
};

const oneOf =
  (...values: string[]): Check =>
  (name, v) => {
    if (typeof v !== 'string' || !values.includes(v)) fail(name, values.map((x, i) => `${i === 0 ? '' : i === values.length - 1 ? ' or ' : ', '}'${x}'`).join(''), v);
  };

const preset: Check = (name, v) => {
  if (typeof v !== 'string') fail(name, 'a preset name', v);
  if (!findPreset(v as string)) throw new ScenarioInputError(`${name}: unknown preset '${v as string}' (known: ${PRESETS.map((p) => p.name).join(', ')})`);
};

/** A list of names, each checked by `known` (unknown: the message for it). */
const nameList =
  (what: string, unknown: (n: string) => string | null): Check =>
  (name, v) => {
    if (!Array.isArray(v)) fail(name, `a list of ${what} names`, v);
    (v as unknown[]).forEach((n, i) => {
      if (typeof n !== 'string') fail(`${name}[${i}]`, `a ${what} name`, n);
      const problem = unknown(n as string);
      if (problem !== null) throw new ScenarioInputError(problem);
    });
  };

const switches = nameList('kernel switch', (n) => (isSwitchName(n) ? null : `unknown kernel switch '${n}' (see kernels.switches)`));
const properties = nameList('property', (n) =>
  (PROPERTY_NAMES as readonly string[]).includes(n) ? null : `unknown property '${n}' (known: ${PROPERTY_NAMES.join(', ')})`,
);

const KERNEL_CHOICE: Record<string, Check> = { kernel: preset, fix: switches, noFix: switches };
const RUN: Record<string, Check> = { ...KERNEL_CHOICE, seed: wholeNumber(0, MAX_SEED), maxSteps: wholeNumber(...INTEGER_OPTIONS.maxSteps) };

/** Each function's options, by name. */
export const OPTION_CHECKS = {
  run: RUN,
  startMachine: { ...RUN, mode: oneOf('timed', 'untimed') },
  explore: {
    ...KERNEL_CHOICE,
    strategy: oneOf('exhaustive', 'random', 'pct'),
    properties,
    maxStates: wholeNumber(...range('max-states')),
    maxDepth: wholeNumber(...range('max-depth')),
    seed: wholeNumber(0, MAX_SEED),
    runs: wholeNumber(...range('runs')),
    pctDepth: wholeNumber(...range('pct-depth')),
    reduction: flag,
    allViolations: flag,
  },
} as const satisfies Record<string, Record<string, Check>>;

/**
 * The options argument of `fn`, checked: absent, or an object (as the types say; `null` is refused,
 * not read) whose every own key is an option of `fn` and whose every value is undefined (an option
 * not given) or of the option's type. fix and noFix must not name the same switch.
 */
export function checkedOptions<T extends object>(fn: keyof typeof OPTION_CHECKS, options: T | undefined): T {
  if (options === undefined) return {} as T;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new ScenarioInputError(`options: expected an object, got ${shownValue(options)}`);
  const checks: Record<string, Check> = OPTION_CHECKS[fn];
  for (const key of Object.keys(options)) {
    const check = checks[key];
    if (check === undefined) {
      const near = closest(key, Object.keys(checks));
      throw new ScenarioInputError(`options.${key}: not an option of ${fn} (${near !== null ? `did you mean '${near}'?` : `its options: ${Object.keys(checks).join(', ')}`})`);
    }
    const v = (options as Record<string, unknown>)[key];
    if (v !== undefined) check(key, v);
  }
  checkFixOverlap(options);
  return options;
}

/** A kernel choice as stepMachine finds it in a value's `source` (its other keys are the scenario's own business). */
export function checkKernelChoice(kernel: Record<string, unknown>): void {
  for (const [key, check] of Object.entries(KERNEL_CHOICE)) if (kernel[key] !== undefined) check(key, kernel[key]);
  checkFixOverlap(kernel);
}

function checkFixOverlap(o: { fix?: unknown; noFix?: unknown }): void {
  const fix = (o.fix ?? []) as readonly string[];
  const noFix = (o.noFix ?? []) as readonly string[];
  for (const n of fix) if (noFix.includes(n)) throw new ScenarioInputError(`fix and noFix both name '${n}'`);
}

/**
 * A step budget given apart from the scenario (the `maxSteps` option) holds to the bound the
 * validator puts on the file's options.maxSteps: its steps must keep the run's clock exact.
 */
export function checkStepBudget(maxSteps: number | undefined, scenario: Scenario): void {
  if (maxSteps === undefined) return;
  const { steps, perStep } = mostExactSteps(scenario);
  if (maxSteps > steps) {
    throw new ScenarioInputError(
      `maxSteps: ${maxSteps} steps of up to ${perStep} ns each could take the run's clock past ${Number.MAX_SAFE_INTEGER} ns (2^53−1): at most ${steps} for ${scenario.id}`,
    );
  }
}
