import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { signalExitCode } from '../src/shutdown.ts';

const fixture = path.join(import.meta.dirname, 'fixtures/shutdownProcess.ts');

interface Run {
  lines: Array<Record<string, unknown>>;
  /** Resolves once the process printed `{ ready: true }`, or once it printed a line `predicate` accepts. */
  waitFor(predicate: (line: Record<string, unknown>) => boolean): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(
  steps: Array<{ name: string; ms: number; fail?: boolean }>,
  bound: number | 'none',
  env: Record<string, string> = {},
): Run {
  const child = spawn(process.execPath, [fixture, JSON.stringify(steps), String(bound)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const waiting: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const part of parts) {
      const line = JSON.parse(part) as Record<string, unknown>;
      lines.push(line);
      for (const waiter of waiting.filter((each) => each.predicate(line))) waiter.resolve();
    }
  });
  return {
    lines,
    waitFor: (predicate) =>
      lines.some(predicate) ? Promise.resolve() : new Promise((resolve) => waiting.push({ predicate, resolve })),
    kill: (signal) => child.kill(signal),
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  };
}

const ready = (line: Record<string, unknown>) => line.ready === true;

describe('handleShutdown', () => {
  it('runs the steps in order on SIGTERM, each given the signal, and exits 0', async () => {
    const run = start(
      [
        { name: 'server', ms: 50 },
        { name: 'queue', ms: 10 },
        { name: 'db', ms: 10 },
      ],
      5000,
    );
    await run.waitFor(ready);
    run.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.lines.filter((line) => 'step' in line)).toEqual([
      { step: 'server', reason: 'SIGTERM' },
      { step: 'queue', reason: 'SIGTERM' },
      { step: 'db', reason: 'SIGTERM' },
    ]);
    expect(run.lines.at(-1)).toMatchObject({ level: 'info', msg: 'stopped' });
  });

  it('goes on with the next step when one fails, logs which, and still exits 0', async () => {
    const run = start(
      [
        { name: 'tracing', ms: 10, fail: true },
        { name: 'db', ms: 10 },
      ],
      5000,
    );
    await run.waitFor(ready);
    run.kill('SIGINT');
    expect((await run.exited).code).toBe(0);
    expect(run.lines.find((line) => line.level === 'warn')).toMatchObject({ step: 'tracing' });
    expect(run.lines.filter((line) => 'step' in line && !('level' in line)).map((line) => line.step)).toEqual([
      'tracing',
      'db',
    ]);
  });

  it('exits 1 when the steps pass the bound, before the later steps start', async () => {
    const run = start(
      [
        { name: 'worker', ms: 30_000 },
        { name: 'db', ms: 10 },
      ],
      300,
    );
    await run.waitFor(ready);
    run.kill('SIGTERM');
    expect((await run.exited).code).toBe(1);
    expect(run.lines.find((line) => line.level === 'error')).toMatchObject({ timeoutMs: 300 });
    expect(run.lines.some((line) => line.step === 'db')).toBe(false);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('exits at once with the code of a second %s, after onForce', async (signal, code) => {
    const run = start([{ name: 'worker', ms: 30_000 }], 'none', { REPEAT_GRACE_MS: '0' });
    await run.waitFor(ready);
    run.kill('SIGTERM');
    await run.waitFor((line) => line.step === 'worker');
    run.kill(signal);
    expect((await run.exited).code).toBe(code);
    expect(run.lines.some((line) => line.forced === true)).toBe(true);
    expect(run.lines.some((line) => line.msg === 'stopped')).toBe(false);
  });

  it.each([
    ['SIGINT', 'SIGINT'],
    ['SIGINT', 'SIGTERM'],
  ] as const)(
    'takes a %s then a %s within repeatGraceMs (1 s by default) as one stop, as a process group and its supervisor send them',
    async (first, second) => {
      const run = start([{ name: 'server', ms: 500 }], 5000);
      await run.waitFor(ready);
      run.kill(first);
      await run.waitFor((line) => line.step === 'server');
      run.kill(second);
      expect((await run.exited).code).toBe(0);
      expect(run.lines.some((line) => line.forced === true)).toBe(false);
    },
  );
});

describe('signalExitCode', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s is %i', (signal, code) => {
    expect(signalExitCode(signal)).toBe(code);
  });
});
