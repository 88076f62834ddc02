/**
 * The ranges of explore's numeric options, in one place: the command line checks its flags against
 * them, and `explore merge` checks the same fields of a shard result file (a file can say anything).
 */
import { MAX_PASS_OVER } from '../explore/passover.js';
import { MAX_SEED } from '../scenarios/limits.js';

/** Exploration's CPU bound: a state space grows too fast for more to finish. */
export const MAX_EXPLORE_CPUS = 64;

/** The numeric options: name, smallest, largest. */
export const NUMERIC: Record<string, [number, number]> = {
  cpus: [1, MAX_EXPLORE_CPUS],
  'max-states': [1, 1_000_000_000],
  'max-depth': [1, 10_000_000],
  'max-time': [1, 31 * 24 * 3600],
  seed: [0, MAX_SEED],
  runs: [1, 1_000_000_000],
  'pct-depth': [1, 100],
  workers: [1, 64],
  'pnr-max-states': [1, 1_000_000_000],
  'split-depth': [1, 10_000_000],
  'max-pass-over': [1, MAX_PASS_OVER],
};

/** The range of a numeric option, as [smallest, largest]. */
export function range(name: string): [number, number] {
  const r = NUMERIC[name];
  if (!r) throw new Error(`internal error: no range for --${name}`);
  return r;
}
