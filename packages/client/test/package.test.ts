import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { generatedTypesPath, generateTypes } from '../scripts/generateTypes.ts';

const run = promisify(execFile);
const packageDir = path.resolve(import.meta.dirname, '..');

// That these types equal the server's wire types is a compile-time check: test/wireTypes.ts.
describe('@inferq/client types', () => {
  it('are the generated types of the current OpenAPI document (run `pnpm --filter @inferq/client generate` after changing a wire schema)', async () => {
    expect(await readFile(generatedTypesPath, 'utf8')).toBe(await generateTypes());
  });
});

const cliDir = path.resolve(packageDir, '../cli');

/** `pnpm pack` of a workspace package, unpacked where an installer would put it under `out`. */
async function packInto(dir: string, out: string, name: string): Promise<string> {
  const packed = await mkdtemp(path.join(tmpdir(), 'inferq-packed-'));
  await run('pnpm', ['pack', '--pack-destination', packed], { cwd: dir });
  const tarball = (await readdir(packed)).find((file) => file.endsWith('.tgz'))!;
  const installed = path.join(out, 'node_modules', ...name.split('/'));
  await mkdir(installed, { recursive: true });
  await run('tar', ['-xzf', path.join(packed, tarball), '-C', installed, '--strip-components=1']);
  return installed;
}

describe('the published packages', () => {
  it('@inferq/client packs to plain JavaScript and types with no dependency at all, and imports and runs outside the workspace', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'inferq-pack-'));
    const installed = await packInto(packageDir, out, '@inferq/client');

    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'));
    expect(JSON.stringify(manifest)).not.toContain('workspace:');
    expect(manifest.exports).toEqual({ '.': { types: './dist/index.d.ts', default: './dist/index.js' } });
    expect(manifest.bin).toBeUndefined();
    expect(manifest.dependencies).toBeUndefined();
    expect((await readFile(path.join(installed, 'README.md'), 'utf8')).split('\n')[0]).toBe('# @inferq/client');
    const files = await readdir(path.join(installed, 'dist'), { recursive: true });
    expect(files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([]);
    for (const file of files.filter((name) => name.endsWith('.js'))) {
      const text = await readFile(path.join(installed, 'dist', file), 'utf8');
      expect(text, file).not.toMatch(/from ['"][^'"]+\.ts['"]|@inferq\/(core|db|queue)/);
    }
    for (const file of files.filter((name) => name.endsWith('.d.ts'))) {
      expect(await readFile(path.join(installed, 'dist', file), 'utf8'), file).not.toMatch(/@inferq\/(core|db|queue)/);
    }

    const imported = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('@inferq/client'); console.log(Object.keys(m).sort().join(','))",
      ],
      { cwd: out },
    );
    expect(imported.stdout.trim().split(',')).toEqual(
      expect.arrayContaining(['InferQClient', 'InferQError', 'verifyWebhookSignature', 'isFinal']),
    );
    // A consumer's TypeScript finds the types through `exports`, with full library checking.
    await writeFile(
      path.join(out, 'consumer.ts'),
      "import { InferQClient, type Job } from '@inferq/client';\nconst client = new InferQClient({ baseUrl: 'http://localhost:3000', apiKey: 'k' });\nexport const job: Promise<Job> = client.run(new Uint8Array(1));\nexport const status: Job['status'] = 'succeeded';\n",
    );
    const tsc = path.join(packageDir, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--lib',
        'es2023,dom',
        '--types',
        'node',
        '--typeRoots',
        path.join(packageDir, '..', '..', 'node_modules', '@types'),
        'consumer.ts',
      ],
      { cwd: out },
    );
  }, 120_000);

  it('@inferq/cli packs to an inferq command that runs on the published client and its own two dependencies', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'inferq-pack-cli-'));
    await packInto(packageDir, out, '@inferq/client');
    const installed = await packInto(cliDir, out, '@inferq/cli');
    const manifest = JSON.parse(await readFile(path.join(installed, 'package.json'), 'utf8'));
    expect(manifest.bin).toEqual({ inferq: './dist/main.js' });
    expect(manifest.dependencies).toEqual({
      '@inferq/client': expect.stringMatching(/^\^\d+\.\d+\.\d+$/),
      'cli-progress': expect.any(String),
      'cli-table3': expect.any(String),
    });
    // Its other dependencies, as an installer would place them.
    for (const dependency of ['cli-progress', 'cli-table3']) {
      await symlink(path.join(cliDir, 'node_modules', dependency), path.join(out, 'node_modules', dependency));
    }
    const help = await run(process.execPath, [path.join(installed, manifest.bin.inferq), '--help'], { cwd: out });
    expect(help.stdout).toContain('Usage: inferq');
  }, 120_000);
});
