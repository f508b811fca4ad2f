import { defineConfig } from 'vitest/config';

/**
 * Fault tests (`pnpm test:faults`): real API and worker processes, private Redis and Postgres
 * servers that are killed and restarted mid-run. One file at a time: each one loads the machine.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 420_000,
    hookTimeout: 180_000,
    globalSetup: ['./test/globalSetup.ts'],
  },
});
