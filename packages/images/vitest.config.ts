import { defineConfig } from 'vitest/config';

// This package needs no Postgres, Redis or models, so its tests can run without the root harness:
// `pnpm --filter @inferq/images test`. The root `pnpm test` runs them too.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
