/**
 * The direct engine and the transition cache on one scenario, for the tests that hold them to the
 * same search (cached.test.ts, cached-guests.test.ts): every violation, not just each property's
 * first, so the whole space is compared; the cache verifies each transition it applies.
 */
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult } from '../../src/explore/explorer.js';
import { exhaustiveCached, type CachedStats } from '../../src/explore/cached.js';
import type { Scenario } from '../../src/scenarios/types.js';
import { expect } from 'vitest';
import { loadScenario, withKernel } from '../../src/cli/scenario-args.js';

export function both(s: Scenario, o: Partial<ExploreOptions>): { direct: ExploreResult; cached: ExploreResult; stats: CachedStats } {
  const opts: ExploreOptions = { ...DEFAULT_EXPLORE, strategy: 'exhaustive', collectEnds: true, allViolations: true, ...o };
  const direct = explore(s, { ...opts, engine: 'direct' });
  const stats: CachedStats = { hits: 0, misses: 0 };
  const cached = exhaustiveCached(s, { ...opts, verify: true }, stats);
  return { direct, cached, stats };
}

/** Both results are the same search: states, transitions, depth, violations, end states (and what stopped it, with `stoppedBy`). */
export function same(a: ExploreResult, b: ExploreResult, opts: { stoppedBy?: boolean } = {}): void {
  const strip = (r: ExploreResult) => ({
    complete: r.complete,
    ...(opts.stoppedBy ? { stoppedBy: r.stoppedBy } : {}),
    statesVisited: r.statesVisited,
    transitions: r.transitions,
    maxDepth: r.maxDepth,
    violations: r.violations,
    ends: r.ends,
  });
  expect(strip(b)).toEqual(strip(a));
}

/** R2 with 2 CPUs under v6.2 where CPU 0 takes `action` (an SMI, a stall) right after sending its shootdown NMIs (before crash_ipi_issued is set). */
export const afterNmis = (action: 'smi' | 'stall'): Scenario =>
  withKernel(
    loadScenario(`${action}.json`, () =>
      JSON.stringify({
        name: `r2-${action}-after-nmis`,
        description: `R2 where CPU 0 takes a scripted ${action} right after sending its shootdown NMIs`,
        machine: { cpus: 2 },
        initial: { all: { vmx: 'root', loadedVmcs: 1 } },
        options: { kdump: true, kdumpBringsUpAps: false },
        script: [
          { cpu: 0, do: 'emergency-restart', at: 0 },
          { cpu: 1, do: 'panic', at: 0, message: 'race R2' },
          { cpu: 0, do: action, when: { cpu: 0, enters: 'emergencyRestart.shoot.setIssued' } },
        ],
      }),
    ),
    'v6.2',
    [],
    [],
  );
