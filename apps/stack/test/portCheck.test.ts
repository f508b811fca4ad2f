import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { firstBusyPort } from '../src/portCheck.ts';

let held: Server | undefined;
afterEach(async () => {
  await new Promise((resolve) => (held ? held.close(resolve) : resolve(undefined)));
  held = undefined;
});

async function holdPort(): Promise<number> {
  held = createServer();
  await new Promise<void>((resolve) => held!.listen(0, '127.0.0.1', resolve));
  return (held.address() as AddressInfo).port;
}

describe('firstBusyPort', () => {
  it('names a port in use, what it is for and the setting that moves it', async () => {
    const port = await holdPort();
    const line = await firstBusyPort([{ port, host: '127.0.0.1', what: 'the API', setting: 'PORT' }]);
    expect(line).toBe(
      `port ${port} on 127.0.0.1 (the API, PORT) is in use: stop what holds it, or choose another, e.g. PORT=${port + 1} pnpm start`,
    );
  });

  it('answers null when every port is free, and leaves them free', async () => {
    const port = await holdPort();
    await new Promise((resolve) => held!.close(resolve));
    held = undefined;
    expect(await firstBusyPort([{ port, host: '127.0.0.1', what: 'the API', setting: 'PORT' }])).toBeNull();
    // The check closed its own listener: the port can be taken right after.
    expect(await firstBusyPort([{ port, host: '127.0.0.1', what: 'the API', setting: 'PORT' }])).toBeNull();
  });
});
