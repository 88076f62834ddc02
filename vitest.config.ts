import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The simulator is deterministic; tests have no timing assertions, only a generous ceiling.
    testTimeout: 60_000,
    // One test file per core: left to itself vitest ran the files one at a time on the 2-core CI
    // machine (about 10 minutes), where two at a time take about two thirds of that.
    maxWorkers: Math.max(1, availableParallelism()),
  },
});
