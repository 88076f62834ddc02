/**
 * The exploration table of `npm run bench`: the R2 race (emergency restart against a kdump panic,
 * nothing aimed) at 2, 3 and 4 CPUs, under v5.11 (which has the bug) and mainline (which does not),
 * with and without sleep sets: states visited, states/s, time to the first violation, peak memory.
 */
import { findBuiltin } from '../scenarios/builtin.js';
import { validateScenario } from '../scenarios/validate.js';
import { validationContext } from '../sim/catalog.js';
import { DEFAULT_EXPLORE, explore } from '../explore/explorer.js';
import { collect, fmt, table, type PeakRss } from './measure.js';

export const EXPLORE_CPUS = (process.env.BENCH_EXPLORE_CPUS ?? '2,3,4').split(',').map(Number);
const MAX_STATES = Number(process.env.BENCH_EXPLORE_MAX_STATES ?? 150_000);

export function exploration(peak: PeakRss, out: (line?: string) => void): void {
  out(`== 4. Exploration: R2 (emergency restart vs kdump panic, no aiming), exhaustive, at most ${fmt(MAX_STATES)} states ==`);
  const b = findBuiltin('R2');
  if (!b) throw new Error('R2 missing');
  const rows: string[][] = [];
  for (const cpus of EXPLORE_CPUS) {
    for (const preset of ['v5.11', 'mainline']) {
      for (const reduction of [true, false]) {
        const r = validateScenario({ ...b.raw, machine: { cpus }, kernel: { preset } }, 'R2', validationContext);
        if (!r.ok) throw new Error(JSON.stringify(r.errors));
        collect();
        peak.reset();
        const res = explore(r.scenario, { ...DEFAULT_EXPLORE, strategy: 'exhaustive', reduction, maxStates: MAX_STATES });
        rows.push([
          String(cpus),
          preset,
          reduction ? 'sleep sets' : 'none',
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
  out(
    table(
      ['CPUs', 'kernel', 'reduction', 'states', 'transitions', 'states/s', 'ms', 'first violation ms', 'violations', 'complete', 'peak RSS MiB'],
      rows,
    ),
  );
  out();
}
