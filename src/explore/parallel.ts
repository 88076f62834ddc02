/**
 * Exploration on several cores (Node worker_threads). Exhaustive search splits the first choice of
 * the run between workers (each explores its share of the subtrees, with its own visited set), so
 * the union is the whole space and the verdict is the one worker's; random walks and PCT give each
 * worker its own seeds. Results merge: complete only if every worker completed, the shortest
 * counterexample of each kind.
 */
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '../scenarios/types.js';
import { stopReasons, type ExploreOptions, type ExploreResult, type Found, type Progress } from './options.js';
import { keysBefore, violationKind } from './harness.js';

export interface WorkerJob {
  scenario: Scenario;
  opts: Omit<ExploreOptions, 'onProgress'>;
  /** Post progress this often (ms), if set. */
  progressMs?: number;
}

/** The compiled worker script: next to this module in dist/, or dist/ of the checkout under a test runner. */
function workerScript(): string {
  const here = new URL('./worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(here))) return fileURLToPath(here);
  const built = new URL('../../dist/src/explore/worker.js', import.meta.url);
  if (fs.existsSync(fileURLToPath(built))) return fileURLToPath(built);
  throw new Error('the compiled explorer worker is missing: run `npm run build`');
}

/**
 * One job per worker. The state bound is the whole search's: the workers of an exhaustive search count
 * the states they keep in one shared place (`sharedStates`, starting at their roots), so their counts,
 * summed, never pass `maxStates` however unevenly the root's choices split the work (a split of the
 * bound itself stopped a worker at its share while another had nothing to do); at most one worker per state.
 */
export function jobsFor(scenario: Scenario, opts: Omit<ExploreOptions, 'onProgress'>, workers: number): WorkerJob[] {
  const n = opts.strategy === 'exhaustive' ? Math.max(1, Math.min(workers, opts.maxStates)) : workers;
  const sharedStates = new Int32Array(new SharedArrayBuffer(4));
  // Each worker keeps the root without asking: counted here once per worker, as the sum counts it.
  sharedStates[0] = n;
  return Array.from({ length: n }, (_, index) =>
    opts.strategy === 'exhaustive'
      ? { scenario, opts: { ...opts, rootSlice: { index, of: n }, sharedStates } }
      : {
          scenario,
          opts: {
            ...opts,
            seed: opts.seed + index * 1_000_003,
            runs: Math.floor(opts.runs / workers) + (index < opts.runs % workers ? 1 : 0),
          },
        },
  );
}

export function mergeResults(results: readonly ExploreResult[], elapsedMs: number, allViolations = false): ExploreResult {
  // The shortest of each property (or kind, with allViolations), the first in breadth-first order
  // among equals: what one search over the whole space reports, whatever the number of workers.
  const found = new Map<string, Found>();
  for (const r of results) {
    for (const v of r.violations) {
      const kind = allViolations ? violationKind(v) : v.property;
      const prior = found.get(kind);
      if (
        !prior ||
        v.picks.length < prior.picks.length ||
        (v.picks.length === prior.picks.length && v.keys && prior.keys && keysBefore(v.keys, prior.keys))
      ) {
        found.set(kind, v);
      }
    }
  }
  return {
    complete: results.every((r) => r.complete),
    stoppedBy: stopReasons(results.flatMap((r) => r.stoppedBy)),
    statesVisited: results.reduce((a, r) => a + r.statesVisited, 0),
    transitions: results.reduce((a, r) => a + r.transitions, 0),
    ...(results.every((r) => r.slept !== undefined) ? { slept: results.reduce((a, r) => a + (r.slept ?? 0), 0) } : {}),
    maxDepth: Math.max(0, ...results.map((r) => r.maxDepth)),
    elapsedMs,
    firstViolationMs: results.reduce<number | null>((m, r) => (r.firstViolationMs === null ? m : m === null ? r.firstViolationMs : Math.min(m, r.firstViolationMs)), null),
    violations: [...found.values()].sort((a, b) => a.property.localeCompare(b.property) || a.picks.length - b.picks.length),
    ...(results.every((r) => r.cache)
      ? { cache: { hits: results.reduce((a, r) => a + (r.cache?.hits ?? 0), 0), misses: results.reduce((a, r) => a + (r.cache?.misses ?? 0), 0) } }
      : {}),
  };
}

/** `progress`: the workers' progress summed (states, transitions, frontier; the deepest depth), at most every `everyMs`. */
export async function exploreParallel(
  scenario: Scenario,
  opts: Omit<ExploreOptions, 'onProgress'>,
  workers: number,
  progress?: { everyMs: number; onProgress: (p: Progress) => void },
): Promise<ExploreResult> {
  const started = performance.now();
  const script = workerScript();
  const jobs = jobsFor(scenario, opts, workers);
  const latest: (Progress | null)[] = Array.from({ length: jobs.length }, () => null);
  let lastShown = started;
  const show = () => {
    const now = performance.now();
    if (!progress || now - lastShown < progress.everyMs) return;
    lastShown = now;
    const ps = latest.filter((p): p is Progress => p !== null);
    progress.onProgress({
      states: ps.reduce((a, p) => a + p.states, 0),
      transitions: ps.reduce((a, p) => a + p.transitions, 0),
      depth: Math.max(0, ...ps.map((p) => p.depth)),
      frontier: ps.reduce((a, p) => a + p.frontier, 0),
      elapsedMs: now - started,
    });
  };
  const results = await Promise.all(
    jobs.map(
      (job, index) =>
        new Promise<ExploreResult>((resolve, reject) => {
          const w = new Worker(script, { workerData: progress ? { ...job, progressMs: Math.min(progress.everyMs, 500) } : job });
          w.on('message', (m: { result?: ExploreResult; progress?: Progress }) => {
            if (m.progress) {
              latest[index] = m.progress;
              show();
            } else if (m.result) resolve(m.result);
          });
          w.once('error', reject);
          w.once('exit', (code) => {
            if (code !== 0) reject(new Error(`explorer worker exited with code ${code}`));
          });
        }),
    ),
  );
  return mergeResults(results, performance.now() - started, opts.allViolations === true);
}
