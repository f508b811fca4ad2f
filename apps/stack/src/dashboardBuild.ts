import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

function newestMtime(entry: string): number {
  const stats = statSync(entry);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(entry).reduce(
    (newest, name) => Math.max(newest, newestMtime(path.join(entry, name))),
    stats.mtimeMs,
  );
}

/** The dashboard's build is missing or older than one of its sources. */
export function isDashboardStale(dashboardRoot: string): boolean {
  const index = path.join(dashboardRoot, 'dist', 'index.html');
  const sources = ['src', 'index.html', 'vite.config.ts', 'package.json'].map((name) => path.join(dashboardRoot, name));
  const newestSource = Math.max(...sources.filter((source) => existsSync(source)).map(newestMtime));
  return !existsSync(index) || statSync(index).mtimeMs < newestSource;
}

/**
 * Builds the dashboard (vite build into `dist/`) when its build is missing or older than its
 * sources. Resolves true when it built.
 */
export async function ensureDashboardBuilt(dashboardRoot: string): Promise<boolean> {
  if (!isDashboardStale(dashboardRoot)) return false;
  const vite = path.join(
    path.dirname(createRequire(path.join(dashboardRoot, 'package.json')).resolve('vite/package.json')),
    'bin/vite.js',
  );
  // Built aside and moved into place, so a process beside this one never serves half a build.
  const aside = path.join(dashboardRoot, `node_modules/.cache/dist-${process.pid}`);
  await run(process.execPath, [vite, 'build', '--logLevel', 'warn', '--outDir', aside], {
    cwd: dashboardRoot,
    maxBuffer: 16 * 1024 * 1024,
  });
  const dist = path.join(dashboardRoot, 'dist');
  await rm(dist, { recursive: true, force: true });
  // Another run may have moved its own fresh build in meanwhile; either one will do.
  await rename(aside, dist).catch(() => rm(aside, { recursive: true, force: true }));
  return true;
}
