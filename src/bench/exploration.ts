/**
 * The exploration section of `npm run bench`.
 * 4a. The verdict on the 3-CPU R2 model per kernel preset, each run in a fresh process
 *     (`shootdown explore … --json`), as a user's command runs it: the figure includes node's start,
 *     loading the code and the JIT warming up, so it is the honest one; median and range over the runs.
 * 4b. The R2 race (emergency restart against a kdump panic, nothing aimed) at 2, 3 and 4 CPUs,
 *     under v5.11 (which has the bug) and mainline (which does not), with and without sleep sets,
 *     in this process (warm), with the transition cache and, for comparison, the direct engine:
 *     states visited, states/s, time to the first violation, peak memory.
 * 4c. T-L2 and T14 (guests) up to 100,000 states in a fresh process: states/s in search.
 * 4d. What sleep sets save with each dependence relation (dependence.ts).
 * (4e, symmetry against none, is symmetry-rows.ts.)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findBuiltin } from '../scenarios/builtin.js';
import { validateScenario } from '../scenarios/validate.js';
import { validationContext } from '../sim/catalog.js';
import { DEFAULT_EXPLORE, explore } from '../explore/explorer.js';
import { collect, fmt, table, type PeakRss } from './measure.js';
import { spread, spreadText, timeProcess } from './paired.js';
import { BIN, cpuText } from './cold.js';
import { dependenceRows } from './dependence.js';

export const EXPLORE_CPUS = (process.env.BENCH_EXPLORE_CPUS ?? '2,3,4').split(',').map(Number);
const MAX_STATES = Number(process.env.BENCH_EXPLORE_MAX_STATES ?? 150_000);
const TARGET_RUNS = Number(process.env.BENCH_EXPLORE_RUNS ?? 5);
/** The direct engine (no transition cache) is measured up to this many CPUs: it is the slow one. */
const DIRECT_CPUS = Number(process.env.BENCH_EXPLORE_DIRECT_CPUS ?? 3);
const GUEST_MAX_STATES = 100_000;

export interface CliResult {
  complete: boolean;
  statesVisited: number;
  transitions: number;
  elapsedMs: number;
  violations: unknown[];
  cache?: { hits: number; misses: number };
  symmetry?: { states: number; unreducedStates: number; factor: number };
}

/** One `shootdown explore … --json` in a fresh node process, timed from spawn to exit. */
export function exploreFresh(args: string[]): CliResult & { wallMs: number; cpuMs: number | null; exit: number | null } {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-bench-'));
  try {
    const r = timeProcess(process.execPath, [BIN, 'explore', ...args, '--json', '--out', out], { cpu: true });
    if (r.status !== 0 && r.status !== 1 && r.status !== 3) throw new Error(`shootdown explore ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
    return { ...(JSON.parse(r.stdout) as CliResult), wallMs: r.ms, cpuMs: r.cpuMs, exit: r.status };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

/** The kernel presets of `shootdown kernels`, oldest first: one row each. */
const PRESETS = ['v5.10', 'v5.11', 'v6.2', 'v6.6', 'mainline'];

function target(out: (line?: string) => void): void {
  out(`-- 4a. The verdict on R2 at 3 CPUs, per kernel preset, ${TARGET_RUNS} fresh processes each, as a user types it --`);
  out(`   node dist/bin/shootdown.js explore R2 --cpus 3 --kernel <preset> [--property no-kernel-bug] --json --out <tmp>`);
  out(`   (whole = spawn to exit, the time a user waits for the verdict; search = the explorer's own elapsedMs)`);
  const rows: string[][] = [];
  const cases: [string, string[]][] = [...PRESETS.map((p): [string, string[]] => [p, []]), ['mainline', ['--property', 'no-kernel-bug']]];
  for (const [preset, extra] of cases) {
    const runs = Array.from({ length: TARGET_RUNS }, () => exploreFresh(['R2', '--cpus', '3', '--kernel', preset, ...extra]));
    const first = runs[0] as CliResult & { exit: number | null };
    const rates = spread(runs.map((r) => r.statesVisited / (r.elapsedMs / 1000)));
    const whole = spread(runs.map((r) => r.wallMs));
    rows.push([
      preset,
      extra.length ? extra.join(' ') : 'all properties',
      first.exit === 0 ? 'holds' : first.exit === 1 ? `violated (${first.violations.length})` : `exit ${first.exit}`,
      fmt(first.statesVisited),
      fmt(first.transitions),
      first.cache ? `${fmt((first.cache.hits / Math.max(1, first.cache.hits + first.cache.misses)) * 100, 1)} %` : '-',
      spreadText(spread(runs.map((r) => r.elapsedMs)), (n) => fmt(n)),
      spreadText(rates, (n) => fmt(n)),
      spreadText(whole, (n) => fmt(n)),
      cpuText(runs.map((r) => r.cpuMs)),
      whole.median <= 1000 ? 'PASS' : 'MISS',
    ]);
  }
  out(table(['kernel', 'properties', 'verdict', 'states', 'transitions', 'from cache', 'search ms', 'states/s (search)', 'whole ms', 'whole CPU ms', '≤ 1 s whole'], rows));
  out();
}

/** Issue #12: scenarios with guests (vCPUs in L2, vsock traffic) searched up to 100,000 states, in fresh processes. */
function guests(out: (line?: string) => void): void {
  const runs = Number(process.env.BENCH_GUEST_RUNS ?? 1);
  if (runs < 1) return;
  out(`-- 4c. Scenarios with guests, --max-states ${fmt(GUEST_MAX_STATES)}, ${runs} fresh process(es) each (goal: ≥ 50,000 states/s in search) --`);
  out(`   node dist/bin/shootdown.js explore <scenario> --max-states ${GUEST_MAX_STATES} --json --out <tmp>`);
  const rows: string[][] = [];
  for (const id of ['T-L2', 'T14']) {
    const rs = Array.from({ length: runs }, () => exploreFresh([id, '--max-states', String(GUEST_MAX_STATES)]));
    const first = rs[0] as CliResult;
    const rates = spread(rs.map((r) => r.statesVisited / (r.elapsedMs / 1000)));
    rows.push([
      id,
      first.cache ? 'transition cache' : 'direct',
      fmt(first.statesVisited),
      fmt(first.transitions),
      first.cache ? `${fmt((first.cache.hits / Math.max(1, first.cache.hits + first.cache.misses)) * 100, 1)} %` : '-',
      first.complete ? 'yes' : 'no (bound)',
      spreadText(spread(rs.map((r) => r.elapsedMs)), (n) => fmt(n)),
      spreadText(rates, (n) => fmt(n)),
      spreadText(spread(rs.map((r) => r.wallMs)), (n) => fmt(n)),
      rates.median >= 50_000 ? 'PASS' : 'MISS',
    ]);
  }
  out(table(['scenario', 'engine', 'states', 'transitions', 'from cache', 'complete', 'search ms', 'states/s (search)', 'whole ms', '≥ 50k/s'], rows));
  out();
}

export function exploration(peak: PeakRss, out: (line?: string) => void): void {
  out(`== 4. Exploration: R2 (emergency restart vs kdump panic, no aiming), exhaustive ==`);
  target(out);
  out(`-- 4b. R2 at ${EXPLORE_CPUS.join(', ')} CPUs, at most ${fmt(MAX_STATES)} states, all properties, in this process --`);
  const b = findBuiltin('R2');
  if (!b) throw new Error('R2 missing');
  const rows: string[][] = [];
  for (const cpus of EXPLORE_CPUS) {
    for (const preset of ['v5.11', 'mainline']) {
      for (const reduction of [true, false]) {
        for (const engine of ['cached', 'direct'] as const) {
          if (engine === 'direct' && (cpus > DIRECT_CPUS || !reduction)) continue;
          const r = validateScenario({ ...b.raw, machine: { cpus }, kernel: { preset } }, 'R2', validationContext);
          if (!r.ok) throw new Error(JSON.stringify(r.errors));
          collect();
          peak.reset();
          const res = explore(r.scenario, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', reduction, maxStates: MAX_STATES, engine });
          rows.push([
            String(cpus),
            preset,
            reduction ? 'sleep sets' : 'none',
            engine === 'cached' ? 'transition cache' : 'direct',
            fmt(res.statesVisited),
            fmt(res.transitions),
            fmt(res.statesVisited / (res.elapsedMs / 1000)),
            fmt(res.elapsedMs),
            res.firstViolationMs === null ? '-' : fmt(res.firstViolationMs),
            String(res.violations.length),
            res.complete ? 'yes' : 'no',
            fmt(peak.peak()),
          ]);
        }
      }
    }
  }
  out(
    table(
      ['CPUs', 'kernel', 'reduction', 'engine', 'states', 'transitions', 'states/s', 'ms', 'first violation ms', 'violations', 'complete', 'peak RSS MiB'],
      rows,
    ),
  );
  out();
  guests(out);
  dependenceRows(EXPLORE_CPUS, out);
}
