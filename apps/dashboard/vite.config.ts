import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

/**
 * The dashboard is served by the API under /dashboard (same origin, so no CORS and the API key
 * never leaves the page's own requests). `pnpm --filter @inferq/dashboard dev` proxies /v1 to an
 * API on :3000 for development.
 */
export default defineConfig({
  base: '/dashboard/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/v1': { target: 'http://127.0.0.1:3000', changeOrigin: false } },
  },
  test: {
    name: 'dashboard',
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
    restoreMocks: true,
  },
});
