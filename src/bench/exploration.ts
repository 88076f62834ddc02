/**
 * The exploration section of `npm run bench`.
 * 4a. The target of the explorer: the 3-CPU R2 model searched to the end, each run in a fresh
 *     process (`shootdown explore … --json`), as a user's command runs it: the figure includes
 *     the JIT warming up, so it is the honest one; median and range over the runs.
 * 4b. The R2 race (emergency restart against a kdump panic, nothing aimed) at 2, 3 and 4 CPUs,
 *     under v5.11 (which has the bug) and mainline (which does not), with and without sleep sets,
 *     in this process (warm), with the transition cache and, for comparison, the direct engine:
 *     states visited, states/s, time to the first violation, peak memory.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBuiltin } from '../scenarios/builtin.js';
import { validateScenario } from '../scenarios/validate.js';
import { validationContext } from '../sim/catalog.js';
import { DEFAULT_EXPLORE, explore } from '../explore/explorer.js';
import { collect, fmt, median, table, type PeakRss } from './measure.js';

export const EXPLORE_CPUS = (process.env.BENCH_EXPLORE_CPUS ?? '2,3,4').split(',').map(Number);
const MAX_STATES = Number(process.env.BENCH_EXPLORE_MAX_STATES ?? 150_000);
const TARGET_RUNS = Number(process.env.BENCH_EXPLORE_RUNS ?? 5);
/** The direct engine (no transition cache) is measured up to this many CPUs: it is the slow one. */
const DIRECT_CPUS = Number(process.env.BENCH_EXPLORE_DIRECT_CPUS ?? 3);

interface CliResult {
  complete: boolean;
  statesVisited: number;
  transitions: number;
  elapsedMs: number;
  violations: unknown[];
  cache?: { hits: number; misses: number };
}

/** One `shootdown explore … --json` in a fresh node process. */
function exploreFresh(args: string[]): CliResult {
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'shootdown-bench-'));
  try {
    const r = spawnSync(process.execPath, [cli, 'explore', ...args, '--json', '--out', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.status !== 0 && r.status !== 1) throw new Error(`shootdown explore ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
    return JSON.parse(r.stdout) as CliResult;
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

function target(out: (line?: string) => void): void {
  out(`-- 4a. The target: R2 at 3 CPUs searched to the end, ${TARGET_RUNS} fresh processes each (shootdown explore R2 --cpus 3 … --json) --`);
  const rows: string[][] = [];
  const cases: [string, string[]][] = [
    ['mainline', ['--property', 'no-kernel-bug']],
    ['mainline', []],
    ['v5.11', []],
  ];
  for (const [preset, extra] of cases) {
    const runs = Array.from({ length: TARGET_RUNS }, () => exploreFresh(['R2', '--cpus', '3', '--kernel', preset, ...extra]));
    const first = runs[0] as CliResult;
    const rates = runs.map((r) => r.statesVisited / (r.elapsedMs / 1000));
    rows.push([
      preset,
      extra.length ? extra.join(' ') : 'all properties',
      fmt(first.statesVisited),
      fmt(first.transitions),
      first.cache ? `${fmt((first.cache.hits / Math.max(1, first.cache.hits + first.cache.misses)) * 100, 1)} %` : '-',
      first.cache ? fmt(first.cache.misses) : '-',
      fmt(median(runs.map((r) => r.elapsedMs))),
      fmt(median(rates)),
      `${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))}`,
      String(first.violations.length),
      first.complete ? 'yes' : 'no',
    ]);
  }
  out(table(['kernel', 'properties', 'states', 'transitions', 'from cache', 'run for real', 'ms (median)', 'states/s (median)', 'states/s (range)', 'violations', 'complete'], rows));
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
}
