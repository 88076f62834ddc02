/**
 * How much each fuzz suite runs. `npm test` runs a small fixed-seed slice of every suite, so CI is
 * reproducible; `npm run fuzz` runs the same properties longer with a fresh seed: FUZZ_RUNS cases
 * per property, stopping early (not failing) when the FUZZ_SECONDS budget of that property is spent.
 * A failure prints fast-check's seed and path; FUZZ_SEED=<seed> re-runs it.
 */
import type { Parameters } from 'fast-check';

const envInt = (name: string): number | undefined => {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name}: expected a non-negative integer, got '${text}'`);
  return n;
};

const LONG = envInt('FUZZ_RUNS') !== undefined;

/** fast-check parameters for a property whose default slice in `npm test` is `quick` cases. */
export function fuzzParams<T>(quick: number): Parameters<T> {
  const seed = envInt('FUZZ_SEED') ?? (LONG ? undefined : 20261206);
  const seconds = envInt('FUZZ_SECONDS');
  return {
    numRuns: envInt('FUZZ_RUNS') ?? quick,
    ...(seed !== undefined ? { seed } : {}),
    ...(seconds !== undefined ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}),
  };
}

/** Generous vitest timeout for a fuzz test: the budget plus slack, or a fixed ceiling for the quick slice. */
export const fuzzTimeout = (quickMs: number): number => {
  const seconds = envInt('FUZZ_SECONDS');
  return seconds !== undefined ? seconds * 1000 * 2 + 60_000 : quickMs;
};
