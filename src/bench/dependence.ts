/**
 * 4d of `npm run bench`: what sleep sets save with each dependence relation (src/explore/dependence.ts).
 * R2 at 2–4 CPUs under every preset and T-L2/T14 (guests), all properties, in this process on the
 * transition cache: transitions taken with no sleep sets, with the coarse relation ('shared': different
 * CPUs, neither wrote shared memory nor sent) and with read/write footprints ('fields', the default).
 * Sleep sets never change the states reached (a test holds them to it), so the states column is one
 * number per row — but for a search stopped at the state bound, where which states fill the bound
 * depends on the order they are met, and only the transitions per state compare.
 */
import { findBuiltin } from '../scenarios/builtin.js';
import { validateScenario } from '../scenarios/validate.js';
import { validationContext } from '../sim/catalog.js';
import { DEFAULT_EXPLORE, explore, type ExploreResult } from '../explore/explorer.js';
import type { Scenario } from '../scenarios/types.js';
import { fmt, table } from './measure.js';

/** Enough for R2 at 4 CPUs under v5.10 and v5.11 to complete (646,888 states). */
const MAX_STATES = Number(process.env.BENCH_DEPENDENCE_MAX_STATES ?? 700_000);
const GUEST_STATES = Number(process.env.BENCH_DEPENDENCE_GUEST_STATES ?? 5_000);
const PRESETS = ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'];

function scenario(id: string, cpus?: number, preset?: string): Scenario {
  const b = findBuiltin(id);
  if (!b) throw new Error(`${id} missing`);
  const raw = b.raw as Record<string, unknown>;
  const r = validateScenario({ ...raw, ...(cpus ? { machine: { ...(raw.machine as object), cpus } } : {}), ...(preset ? { kernel: { preset } } : {}) }, id, validationContext);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.scenario;
}

/** One row: the three searches of a scenario and what the finer relation saves. */
function row(label: string[], s: Scenario, maxStates: number): string[] {
  const run = (reduction: boolean, dependence: 'shared' | 'fields'): ExploreResult =>
    explore(s, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', allViolations: true, maxStates, reduction, dependence });
  const none = run(false, 'fields');
  const shared = run(true, 'shared');
  const fields = run(true, 'fields');
  const pct = (a: number, b: number) => `${(100 * (1 - a / b)).toFixed(1)} %`;
  const states = [none, shared, fields].map((r) => r.statesVisited);
  return [
    ...label,
    states.every((n) => n === states[0]) ? fmt(none.statesVisited) : states.map(fmt).join(' / '),
    fields.complete ? 'yes' : 'no (bound)',
    fmt(none.transitions),
    fmt(shared.transitions),
    fmt(fields.transitions),
    fmt(fields.slept ?? 0),
    pct(shared.transitions, none.transitions),
    pct(fields.transitions, none.transitions),
    pct(fields.transitions, shared.transitions),
    `${fmt(shared.elapsedMs)} / ${fmt(fields.elapsedMs)}`,
  ];
}

export function dependenceRows(cpusList: readonly number[], out: (line?: string) => void): void {
  out(`-- 4d. Sleep sets: transitions with no reduction, the coarse relation ('shared') and read/write footprints ('fields'), all properties, at most ${fmt(MAX_STATES)} states (guests: ${fmt(GUEST_STATES)}) --`);
  const rows: string[][] = [];
  for (const cpus of cpusList) for (const preset of PRESETS) rows.push(row(['R2', String(cpus), preset], scenario('R2', cpus, preset), MAX_STATES));
  for (const id of ['T-L2', 'T14']) rows.push(row([id, '-', '-'], scenario(id), GUEST_STATES));
  out(
    table(
      ['scenario', 'CPUs', 'kernel', 'states', 'complete', 'transitions: none', 'shared', 'fields', 'slept (fields)', 'saved: shared', 'fields', 'fields vs shared', 'ms shared / fields'],
      rows,
    ),
  );
  out(`   (states: one number when all three searches reached the same count; with a bound, none / shared / fields)`);
  out();
}
