import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { repoRoot, tinyConvNetModel, tinyTextModel, type PlatformProcess } from '@inferq/testing';
import {
  docsCoverage,
  documentedPages,
  fencedBlocks,
  formatDocsCoverage,
  type DocBlock,
} from '../../scripts/docs/docBlocks.ts';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from '../e2e/platform.ts';

/**
 * The documented commands, run: every fenced block whose info string says `runnable`
 * (```` ```bash runnable ````, ```` ```ts runnable ````, ```` ```python runnable ````), on every page
 * of docs/, in order, from the root of the checkout, against one real API and worker. A renamed
 * flag, route or field then fails here rather than for a reader. Shell blocks run in bash,
 * TypeScript blocks in Node (type stripping) from a file that can import `@inferq/client`, Python
 * blocks in python3 with `clients/python` importable (standard library only). Blocks that need
 * what CI lacks (Docker, Kubernetes, a GPU, PyTorch, the internet) stay unmarked.
 */

/** Pages that run first, in this order: later pages use what they set up (the user's models). */
const firstPages = [
  'docs/getting-started.md',
  'docs/models/bring-your-own-model.md',
  'docs/api/clients.md',
  'docs/api/v2.md',
];

/** A block may take this long (a loaded CI machine); the whole file takes about two minutes. */
const blockTimeoutMs = 90_000;

const pageBlocks = documentedPages()
  .filter((page) => page.startsWith('docs/'))
  .map((page) => ({ page, blocks: fencedBlocks(page, readFileSync(path.join(repoRoot, page), 'utf8')) }));
const order = (page: string): number => (firstPages.includes(page) ? firstPages.indexOf(page) : firstPages.length);
const blocks = pageBlocks
  .sort((a, b) => order(a.page) - order(b.page) || a.page.localeCompare(b.page))
  .flatMap(({ blocks: found }) => found.filter((block) => block.runnable));

// A registry of this file's own: a page may publish models and make versions live.
const registry = await mkdtemp(path.join(tmpdir(), 'inferq-docs-models-'));
// TypeScript blocks are written here, beside a node_modules that resolves the workspace's packages.
const scratch = await mkdtemp(path.join(tmpdir(), 'inferq-docs-blocks-'));
const env = platformEnv({
  queuePrefix: `${inject('queuePrefix')}-docs-${randomUUID().slice(0, 8)}`,
  modelsDir: registry,
});
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let blockEnv: Record<string, string> = {};

/**
 * The bring-your-own-model page exports two models with PyTorch, which CI lacks: its blocks from
 * `models add` on run against ONNX files of the same inputs and outputs, written where the export
 * leaves them (the root of the checkout) and removed after. A file already there is left alone.
 */
const pyTorchStandIns = { 'tiny-convnet.onnx': tinyConvNetModel, 'tiny-text.onnx': tinyTextModel };
const standInsWritten: string[] = [];

beforeAll(async () => {
  await Promise.all([
    cp(inject('modelsDir'), registry, { recursive: true }),
    symlink(path.join(repoRoot, 'node_modules'), path.join(scratch, 'node_modules'), 'dir'),
  ]);
  for (const [file, build] of Object.entries(pyTorchStandIns)) {
    const target = path.join(repoRoot, file);
    if (existsSync(target)) continue;
    await writeFile(target, build());
    standInsWritten.push(target);
  }
  const [apiStarted, workerStarted, user] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'docs' }),
    createTestUser(env.databaseUrl, { tier: 'pro', role: 'admin' }),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  blockEnv = {
    // The `inferq` command, as `npm install -g @inferq/cli` would put it on PATH.
    PATH: `${path.join(repoRoot, 'node_modules/.bin')}${path.delimiter}${process.env.PATH ?? ''}`,
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
    // The Python client as if installed (`pip install ./clients/python`).
    PYTHONPATH: path.join(repoRoot, 'clients/python'),
    PYTHONDONTWRITEBYTECODE: '1',
    NO_COLOR: '1',
  };
});

afterAll(async () => {
  await stopAll([api, worker]);
  await Promise.all([
    rm(registry, { recursive: true, force: true }),
    rm(scratch, { recursive: true, force: true }),
    ...standInsWritten.map((file) => rm(file, { force: true })),
  ]);
});

/** The command that runs a block: bash with its script, Node or python3 with the block as a file. */
async function blockCommand(block: DocBlock, index: number): Promise<string[]> {
  if (block.runsAs === 'bash') return ['bash', '-euo', 'pipefail', '-c', block.script];
  const file = path.join(scratch, `block-${index}.${block.runsAs === 'ts' ? 'mts' : 'py'}`);
  await writeFile(file, `${block.script}\n`);
  return block.runsAs === 'ts' ? ['node', file] : ['python3', file];
}

function run(command: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const [program, ...args] = command;
    const child = spawn(program!, args, { cwd: repoRoot, env: blockEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => {
      output += `\n(killed after ${blockTimeoutMs} ms)`;
      child.kill('SIGKILL');
    }, blockTimeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('runnable blocks of the docs', () => {
  it('reports the share of documented commands run here', () => {
    const coverage = docsCoverage();
    console.log(formatDocsCoverage(coverage));
    // Every block marked runnable is one of those run below: a mark elsewhere (README.md) would count and not run.
    expect(coverage.runnable).toBe(blocks.length);
  });

  it('finds the runnable blocks of the quick start, the model guide, the clients and the protocol', () => {
    for (const page of firstPages)
      expect(blocks.filter((block) => block.page === page).length, page).toBeGreaterThanOrEqual(
        page === 'docs/getting-started.md' ? 5 : 3,
      );
    expect(new Set(blocks.map((block) => block.runsAs))).toEqual(new Set(['bash', 'ts', 'python']));
    expect(
      blocks.every((block) => block.runsAs !== null),
      'runnable is for shell, TypeScript and Python blocks',
    ).toBe(true);
  });

  it('reads a block between its fences, its language and its mark, and refuses one never closed', () => {
    expect(
      fencedBlocks(
        'x.md',
        'text\n```bash runnable\necho one\necho two\n```\n```sh\nnot this\n```\n```\nout\n```\n  ```ts runnable\n  const a = 1;\n  ```\n',
      ),
    ).toEqual([
      { page: 'x.md', line: 2, language: 'bash', runsAs: 'bash', runnable: true, script: 'echo one\necho two' },
      { page: 'x.md', line: 6, language: 'sh', runsAs: 'bash', runnable: false, script: 'not this' },
      { page: 'x.md', line: 9, language: '', runsAs: null, runnable: false, script: 'out' },
      { page: 'x.md', line: 12, language: 'ts', runsAs: 'ts', runnable: true, script: 'const a = 1;' },
    ]);
    expect(() => fencedBlocks('x.md', '```bash runnable\necho one\n')).toThrow(/never closed/);
  });

  it.each(blocks.map((block, index) => ({ ...block, index })))(
    '$page:$line ($runsAs) exits 0',
    { timeout: blockTimeoutMs + 10_000 },
    async (block) => {
      const { code, output } = await run(await blockCommand(block, block.index));
      expect(code, `${block.page}:${block.line} exited ${code}:\n${output}`).toBe(0);
    },
  );
});
