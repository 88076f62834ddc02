/**
 * What every command that takes a scenario shares: the one-line input error, integer flags,
 * loading a built-in or a file (optionally widened to N CPUs), and the --kernel / --fix / --no-fix
 * flags and applying them.
 */
import * as crypto from 'node:crypto';
import { BUILTIN_SCENARIOS, RACE_SCENARIOS, findBuiltin } from '../scenarios/builtin.js';
import { formatError, validateScenario } from '../scenarios/validate.js';
import type { Scenario } from '../scenarios/types.js';
import { MAX_SEED } from '../scenarios/limits.js';
import { loadScenarioText, validationContext } from '../sim/catalog.js';
import { PRESETS, SWITCH_NAMES, findPreset, isSwitchName } from '../kernel/variants.js';
import { quote } from './terminal.js';
import { didYouMean } from './suggest.js';

/** Bad input: the command prints `shootdown: <message>` and exits 2. */
export class InputError extends Error {}

/** The parseArgs options that pick a kernel, for every command that runs a scenario. */
export const KERNEL_FLAGS = {
  kernel: { type: 'string' },
  fix: { type: 'string', multiple: true },
  'no-fix': { type: 'string', multiple: true },
} as const;

/** A decimal integer flag in [min, max]; `fallback` when the flag is absent. */
export function parseInteger(name: string, text: string | undefined, min: number, max: number, fallback: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InputError(`--${name}: expected an integer from ${min} to ${max}, got '${quote(text)}'`);
  }
  return Number(text);
}

/** `--seed`: a u32, 1 when absent. */
export const parseSeed = (text: string | undefined): number => parseInteger('seed', text, 0, MAX_SEED, 1);

/**
 * A built-in by id or name, or a scenario file; `cpus` widens (or narrows) the machine, and an error it
 * causes says so, naming where the count came from (`cpusFrom`).
 */
export function loadScenario(name: string, readFile: (file: string) => string, cpus?: number, cpusFrom = '--cpus'): Scenario {
  const builtin = findBuiltin(name);
  if (builtin) {
    const raw = cpus === undefined ? builtin.raw : { ...builtin.raw, machine: { ...(builtin.raw.machine as object), cpus } };
    const r = validateScenario(raw, builtin.id, validationContext);
    if (!r.ok) throw new InputError(formatError(builtin.id, r.errors[0] as { path: string; message: string }) + cpusNote(cpus, (builtin.raw.machine as { cpus?: unknown }).cpus, cpusFrom));
    return r.scenario;
  }
  let text: string;
  try {
    text = readFile(name);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? `no such file, and not a built-in scenario${didYouMean(name, scenarioNames())} (see \`shootdown list\`)`
        : code === 'EISDIR'
          ? 'is a directory'
          : (e as Error).message;
    throw new InputError(`${quote(name)}: ${why}`);
  }
  let r = loadScenarioText(text, name);
  const own = r.ok ? r.scenario.machine.cpus : undefined;
  if (r.ok && cpus !== undefined && cpus !== r.scenario.machine.cpus) {
    const raw = JSON.parse(text) as { machine: object };
    r = validateScenario({ ...raw, machine: { ...raw.machine, cpus } }, r.scenario.id, validationContext);
  }
  if (!r.ok) {
    const first = r.errors[0];
    const more = r.errors.length > 1 ? ` (and ${r.errors.length - 1} more)` : '';
    throw new InputError(`${first ? formatError(quote(name), first) : `${quote(name)}: invalid`}${cpusNote(cpus, own, cpusFrom)}${more}`);
  }
  return { ...r.scenario, digest: scenarioDigest(r.scenario) };
}

/**
 * What a scenario file says, as a short hash: the validated scenario but its kernel (a replay
 * checks that against the header's preset and switches, naming each) and its description (prose).
 */
export function scenarioDigest(scenario: Scenario): string {
  const { kernel: _kernel, description: _description, digest: _digest, ...rest } = scenario;
  return crypto.createHash('sha256').update(JSON.stringify(rest)).digest('hex').slice(0, 16);
}

/** What an error owes to `--cpus` when it changed the machine's CPU count (the scenario is valid as written). */
function cpusNote(cpus: number | undefined, own: unknown, from: string): string {
  if (cpus === undefined || typeof own !== 'number' || own === cpus) return '';
  return ` (with ${from} ${cpus}: the scenario is written for ${own} CPUs)`;
}

/** Every built-in's id and name, for suggestions. */
export function scenarioNames(): string[] {
  return [...BUILTIN_SCENARIOS, ...RACE_SCENARIOS].flatMap((s) => [s.id, s.name]);
}

/** --kernel, --fix and --no-fix on top of the scenario's own kernel. */
export function withKernel(scenario: Scenario, preset: string | undefined, fix: readonly string[], noFix: readonly string[]): Scenario {
  if (preset !== undefined && !findPreset(preset)) {
    const names = PRESETS.map((p) => p.name);
    throw new InputError(`--kernel: unknown preset '${quote(preset)}'${didYouMean(preset, names)} (known: ${names.join(', ')})`);
  }
  for (const [flag, names] of [['--fix', fix], ['--no-fix', noFix]] as const) {
    for (const n of names) {
      if (!isSwitchName(n)) throw new InputError(`${flag}: unknown kernel switch '${quote(n)}'${didYouMean(n, SWITCH_NAMES)} (see \`shootdown kernels\`)`);
    }
  }
  for (const n of fix) if (noFix.includes(n)) throw new InputError(`--fix and --no-fix both name '${n}'`);
  return {
    ...scenario,
    kernel: {
      preset: preset ?? scenario.kernel.preset,
      // (A switch given again, e.g. a replay's --fix that its trace's header has already, is listed once.)
      fix: [...scenario.kernel.fix.filter((n) => !noFix.includes(n) && !fix.includes(n)), ...fix],
      noFix: [...scenario.kernel.noFix.filter((n) => !fix.includes(n) && !noFix.includes(n)), ...noFix],
    },
  };
}

/** The kernel a trace was recorded with, as a preset plus the switches that differ from it. */
export function kernelOf(preset: string, switches: readonly string[]): Scenario['kernel'] {
  const base = findPreset(preset)?.switches ?? [];
  return {
    preset,
    fix: switches.filter((s) => !base.some((b) => b === s)),
    noFix: base.filter((s) => !switches.includes(s)),
  };
}
