import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Each run forks a child process; keep the machine's two cores from being oversubscribed.
    maxWorkers: 2,
  },
});
