import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot, type PlatformProcess } from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from '../e2e/platform.ts';

/**
 * The documented commands, run: every fenced block whose info string is `bash runnable`, in
 * these pages, in order, with bash from the root of the checkout, against a real API and worker.
 * A renamed flag, route or field then fails here rather than for a reader. A page that is not on
 * this branch (the bring-your-own-model page comes with its own change) is skipped.
 */
const runnablePages = ['docs/getting-started.md', 'docs/models/bring-your-own-model.md', 'docs/api/clients.md'];

interface Block {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  script: string;
}

function runnableBlocks(page: string, markdown: string): Block[] {
  const blocks: Block[] = [];
  const lines = markdown.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const open = /^(`{3,}|~{3,})\s*bash\s+runnable\s*$/.exec(lines[index]!);
    if (!open) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !lines[end]!.startsWith(fence)) body.push(lines[end++]!);
    if (end === lines.length) throw new Error(`${page}:${index + 1}: a runnable block is never closed`);
    blocks.push({ page, line: index + 1, script: body.join('\n') });
    index = end;
  }
  return blocks;
}

const pages = runnablePages.filter((page) => existsSync(path.join(repoRoot, page)));
const blocks = (await Promise.all(pages.map(async (page) => runnableBlocks(page, await readFile(path.join(repoRoot, page), 'utf8'))))).flat();

// A registry of this file's own: a page may publish models and make versions live.
const registry = await mkdtemp(path.join(tmpdir(), 'inferq-docs-models-'));
const env = platformEnv({ queuePrefix: `${inject('queuePrefix')}-docs-${randomUUID().slice(0, 8)}`, modelsDir: registry });
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let blockEnv: Record<string, string> = {};

beforeAll(async () => {
  await cp(inject('modelsDir'), registry, { recursive: true });
  const [apiStarted, workerStarted, user] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'docs' }),
    createTestUser(env.databaseUrl, { tier: 'pro', role: 'admin' }),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  blockEnv = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    INFERQ_URL: apiStarted.baseUrl,
    INFERQ_BASE_URL: apiStarted.baseUrl,
    INFERQ_API_KEY: user.key,
    // What the admin CLI and a hand-started worker need: this run's database, queue and registry.
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    QUEUE_NAME: env.queueName ?? 'inference',
    MODELS_DIR: registry,
    PYTHONDONTWRITEBYTECODE: '1',
    NO_COLOR: '1',
  };
});

afterAll(async () => {
  await stopAll([api, worker]);
  await rm(registry, { recursive: true, force: true });
});

function runBash(script: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: repoRoot, env: blockEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('runnable blocks of the docs', () => {
  it('finds the quick start and client blocks', () => {
    expect(pages).toEqual(expect.arrayContaining(['docs/getting-started.md', 'docs/api/clients.md']));
    expect(blocks.filter((block) => block.page === 'docs/getting-started.md').length).toBeGreaterThanOrEqual(5);
    expect(blocks.filter((block) => block.page === 'docs/api/clients.md').length).toBeGreaterThanOrEqual(3);
  });

  it('reads a block between its fences, and refuses one never closed', () => {
    expect(runnableBlocks('x.md', 'text\n```bash runnable\necho one\necho two\n```\n```sh\nnot this\n```\n')).toEqual([{ page: 'x.md', line: 2, script: 'echo one\necho two' }]);
    expect(() => runnableBlocks('x.md', '```bash runnable\necho one\n')).toThrow(/never closed/);
  });

  it.each(blocks)('$page:$line exits 0', { timeout: 180_000 }, async (block) => {
    const { code, output } = await runBash(block.script);
    expect(code, `${block.page}:${block.line} exited ${code}:\n${output}`).toBe(0);
  });
});
