/**
 * Shards: one search split over processes that share nothing, on as many machines (`explore --shard
 * i/n`, then `explore merge`). Exhaustive search: every shard runs the same breadth-first prefix —
 * the search is deterministic, so the prefix is the same states in the same order in each — down to
 * the split depth: the first depth whose frontier holds at least 8n states (or the depth given).
 * There shard i expands only the frontier states whose state hash is i modulo n, and goes on below
 * them with its own visited set. Every path of the search passes through the frontier (or ends
 * above it, in the prefix every shard searched), and each frontier state is expanded by exactly one
 * shard, so the shards together cover what one process searches; states below the split reached
 * from the frontier states of several shards are searched by each of them (the shards share no
 * visited set) — in the built-in races, whose interleavings reconverge, most of them. A frontier state a shard does not own stays in its visited set: reached again
 * below, it is left to its owner, as one process would leave it (and with a smaller sleep set,
 * only the choices asleep the first time are expanded again, as in one process).
 * Random walks and PCT: shard i runs the runs and seeds worker i of n would (parallel.ts).
 */
import type { Scenario } from '../scenarios/types.js';
import { explore, type ExploreOptions, type ExploreResult } from './explorer.js';
import { jobsFor, mergeResults } from './parallel.js';

import { FRONTIER_PER_SHARD, type ShardOption, type SplitInfo } from './shard-split.js';

export { FRONTIER_PER_SHARD, ShardSplit, type ShardOption, type SplitInfo } from './shard-split.js';

/** One shard of a search: exhaustive split at a frontier, random walks and PCT by seeds. */
export function exploreShard(scenario: Scenario, opts: Omit<ExploreOptions, 'shard' | 'rootSlice'>, index: number, of: number, splitDepth?: number): ExploreResult {
  if (opts.strategy !== 'exhaustive') return explore(scenario, (jobsFor(scenario, opts, of)[index] as { opts: ExploreOptions }).opts);
  const shard: ShardOption = { index, of, minFrontier: FRONTIER_PER_SHARD * of, ...(splitDepth !== undefined ? { splitDepth } : {}) };
  return explore(scenario, { ...opts, shard });
}

/**
 * The shards' results as one: complete only if every shard completed, the shortest counterexample
 * of each property (kind, with allViolations; the first in choice-key order among equals, else the
 * lowest shard's), as `--workers` merges. States and transitions: the shared prefix once, and what
 * each shard searched below the split (a state reached by several shards counts once per shard).
 * A shard cut by --max-time before the split searched part of the prefix only: the prefix counted
 * is the longest. `results` in shard order.
 */
export function mergeShards(results: readonly ExploreResult[], allViolations: boolean): ExploreResult {
  const merged = mergeResults(results, Math.max(0, ...results.map((r) => r.elapsedMs)), allViolations);
  const splits = results.map((r) => r.split);
  if (!splits.every((s): s is SplitInfo => s !== undefined)) return merged;
  const below = (own: number, prefix: number) => own - prefix;
  return {
    ...merged,
    statesVisited: Math.max(...splits.map((s) => s.prefixStates)) + results.reduce((a, r, i) => a + below(r.statesVisited, (splits[i] as SplitInfo).prefixStates), 0),
    transitions: Math.max(...splits.map((s) => s.prefixTransitions)) + results.reduce((a, r, i) => a + below(r.transitions, (splits[i] as SplitInfo).prefixTransitions), 0),
  };
}
