import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { ensureDashboardBuilt as buildDashboardWhenStale } from '@inferq/stack/dashboardBuild';
import { repoRoot } from '@inferq/testing';

export const dashboardRoot = path.join(repoRoot, 'apps/dashboard');
export const dashboardDist = path.join(dashboardRoot, 'dist');

/**
 * Builds the dashboard (vite build) when its build is missing or older than its sources, so the
 * browser tests run against the current code on a fresh clone without a separate build step
 * (the same check `pnpm start` makes).
 */
export async function ensureDashboardBuilt(): Promise<void> {
  await buildDashboardWhenStale(dashboardRoot);
}

/** Debian's Chromium (Playwright's own browser download is not used). */
export function chromiumPath(): string {
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) => existsSync(candidate));
  if (!found)
    throw new Error(
      'Chromium is not installed: apt-get install -y chromium (the browser tests drive /usr/bin/chromium)',
    );
  return found;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
