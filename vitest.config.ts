import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'platform',
          include: [
            'apps/*/src/**/*.test.ts',
            'apps/*/test/**/*.test.ts',
            'packages/*/src/**/*.test.ts',
            'packages/*/test/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          exclude: ['**/node_modules/**', 'test/faults/**', 'apps/dashboard/**'],
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 120_000,
          globalSetup: ['./test/globalSetup.ts'],
        },
      },
      // The dashboard's front-end tests: a DOM (happy-dom) and React, no databases (apps/dashboard/vite.config.ts).
      'apps/dashboard',
    ],
  },
});
