import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The simulator is deterministic; tests have no timing assertions, only a generous ceiling.
    testTimeout: 60_000,
  },
});
