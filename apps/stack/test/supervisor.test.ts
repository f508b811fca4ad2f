import { describe, expect, it } from 'vitest';
import { Supervisor, type ServiceSpec } from '../src/supervisor.ts';

/** A Node process that prints `ready`, then on SIGTERM prints `stopping`, and `exiting` as it exits `delayMs` later. */
function nodeService(
  name: string,
  options: { infrastructure?: boolean; delayMs?: number; exitAfterMs?: number } = {},
): ServiceSpec {
  const script = `
    process.on('SIGTERM', () => { console.log('stopping'); setTimeout(() => { console.log('exiting'); process.exit(0); }, ${options.delayMs ?? 0}); });
    // Ready only once the handler is in place: the supervisor may stop it as soon as it reads this.
    console.log('ready');
    ${options.exitAfterMs !== undefined ? `setTimeout(() => process.exit(3), ${options.exitAfterMs});` : ''}
    setInterval(() => {}, 1000);`;
  return {
    name,
    color: 'green',
    command: process.execPath,
    args: ['-e', script],
    ready: (line) => line === 'ready',
    infrastructure: options.infrastructure ?? false,
  };
}

function collect() {
  const lines: string[] = [];
  const exits: Array<{ name: string; code: number | null }> = [];
  const supervisor = new Supervisor({
    write: (line) => lines.push(line),
    onUnexpectedExit: (service, code) => exits.push({ name: service.spec.name, code }),
  });
  return { supervisor, lines, exits };
}

/** Where `name` printed `what` in the supervisor's output. */
function at(lines: string[], name: string, what: 'stopping' | 'exiting'): number {
  const index = lines.indexOf(`${name.padEnd(8)} | ${what}`);
  if (index < 0) throw new Error(`${name} never printed ${what}:\n${lines.join('\n')}`);
  return index;
}

describe('Supervisor', () => {
  it('prefixes output, and stops the apps first and the servers they use after them, last started first', async () => {
    const { supervisor, lines, exits } = collect();
    await supervisor.start(nodeService('postgres', { infrastructure: true }));
    await supervisor.start(nodeService('redis', { infrastructure: true }));
    await Promise.all([
      supervisor.start(nodeService('api', { delayMs: 1000 })),
      supervisor.start(nodeService('worker', { delayMs: 1000 })),
    ]);
    expect(lines).toEqual(
      expect.arrayContaining(['postgres | ready', 'redis    | ready', 'api      | ready', 'worker   | ready']),
    );

    await supervisor.stop();
    // The apps stop together: each was asked while the other was still draining.
    expect(at(lines, 'worker', 'stopping')).toBeLessThan(at(lines, 'api', 'exiting'));
    expect(at(lines, 'api', 'stopping')).toBeLessThan(at(lines, 'worker', 'exiting'));
    // Then the servers, once every app has exited, last started first.
    expect(at(lines, 'redis', 'stopping')).toBeGreaterThan(
      Math.max(at(lines, 'api', 'exiting'), at(lines, 'worker', 'exiting')),
    );
    expect(at(lines, 'postgres', 'stopping')).toBeGreaterThan(at(lines, 'redis', 'exiting'));
    expect(exits).toEqual([]);
  });

  it('rejects with the last lines when a service exits before it is ready', async () => {
    const { supervisor } = collect();
    const failing: ServiceSpec = {
      name: 'api',
      color: 'green',
      command: process.execPath,
      args: ['-e', 'console.log("no database"); process.exit(1)'],
      ready: (line) => line === 'ready',
    };
    await expect(supervisor.start(failing)).rejects.toMatchObject({
      message: 'api exited (code 1) before it was ready',
      tail: 'no database',
    });
  });

  it('reports a service that exits on its own once running', async () => {
    const { supervisor, exits } = collect();
    const service = await supervisor.start(nodeService('worker', { exitAfterMs: 50 }));
    await service.exited;
    expect(exits).toEqual([{ name: 'worker', code: 3 }]);
    await supervisor.stop();
  });
});
