/**
 * The direct engine and the transition cache on one scenario, for the tests that hold them to the
 * same search (cached.test.ts, cached-guests.test.ts): every violation, not just each property's
 * first, so the whole space is compared; the cache verifies each transition it applies.
 */
import { DEFAULT_EXPLORE, explore, type ExploreOptions, type ExploreResult } from '../../src/explore/explorer.js';
import { exhaustiveCached, type CachedStats } from '../../src/explore/cached.js';
import type { Scenario } from '../../src/scenarios/types.js';

export function both(s: Scenario, o: Partial<ExploreOptions>): { direct: ExploreResult; cached: ExploreResult; stats: CachedStats } {
  const opts: ExploreOptions = { ...DEFAULT_EXPLORE, strategy: 'exhaustive', collectEnds: true, allViolations: true, ...o };
  const direct = explore(s, { ...opts, engine: 'direct' });
  const stats: CachedStats = { hits: 0, misses: 0 };
  const cached = exhaustiveCached(s, { ...opts, verify: true }, stats);
  return { direct, cached, stats };
}
