import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { repoRoot } from '@inferq/testing';

const run = promisify(execFile);

export const dashboardRoot = path.join(repoRoot, 'apps/dashboard');
export const dashboardDist = path.join(dashboardRoot, 'dist');

function newestMtime(entry: string): number {
  const stats = statSync(entry);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(entry).reduce((newest, name) => Math.max(newest, newestMtime(path.join(entry, name))), stats.mtimeMs);
}

/**
 * Builds the dashboard (vite build) when its build is missing or older than its sources, so the
 * browser tests run against the current code on a fresh clone without a separate build step.
 */
export async function ensureDashboardBuilt(): Promise<void> {
  const index = path.join(dashboardDist, 'index.html');
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((name) => path.join(dashboardRoot, name));
  const newestSource = Math.max(...sources.map(newestMtime));
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource) return;
  const vite = path.join(path.dirname(createRequire(path.join(dashboardRoot, 'package.json')).resolve('vite/package.json')), 'bin/vite.js');
  // Built aside and moved into place, so a test run beside this one never serves half a build.
  const aside = path.join(dashboardRoot, `node_modules/.cache/dist-${process.pid}`);
  await run(process.execPath, [vite, 'build', '--logLevel', 'warn', '--outDir', aside], { cwd: dashboardRoot, maxBuffer: 16 * 1024 * 1024 });
  await rm(dashboardDist, { recursive: true, force: true });
  // Another run may have moved its own fresh build in meanwhile; either one will do.
  await rename(aside, dashboardDist).catch(() => rm(aside, { recursive: true, force: true }));
}

/** Debian's Chromium (Playwright's own browser download is not used). */
export function chromiumPath(): string {
  const found = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((candidate) => existsSync(candidate));
  if (!found) throw new Error('Chromium is not installed: apt-get install -y chromium (the browser tests drive /usr/bin/chromium)');
  return found;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
