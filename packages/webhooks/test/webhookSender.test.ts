import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppError } from '@inferq/core';
import { checkWebhookUrl, WebhookSender } from '../src/index.ts';

// Only loopback targets: a local receiver that counts connections and answers from a script.
let server: Server;
let connections = 0;
let port = 0;
const paths: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    paths.push(req.url ?? '');
    req.resume();
    if (req.url === '/redirect') res.writeHead(302, { location: `http://127.0.0.1:${port}/target` }).end();
    else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 2000);
    else res.writeHead(req.url === '/fail' ? 500 : 204).end();
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const body = JSON.stringify({ id: 'x', status: 'succeeded' });

describe('WebhookSender', () => {
  it('delivers to loopback only when allowed, and reports the status', async () => {
    const sender = new WebhookSender({ allowLoopback: true });
    expect(await sender.send(`http://127.0.0.1:${port}/ok`, body, {})).toMatchObject({
      ok: true,
      statusCode: 204,
      error: null,
    });
    expect(await sender.send(`http://127.0.0.1:${port}/fail`, body, {})).toMatchObject({ ok: false, statusCode: 500 });
    sender.close();
  });

  it('never follows a redirect', async () => {
    const sender = new WebhookSender({ allowLoopback: true });
    const before = paths.length;
    expect(await sender.send(`http://127.0.0.1:${port}/redirect`, body, {})).toMatchObject({
      ok: false,
      statusCode: 302,
    });
    expect(paths.slice(before)).toEqual(['/redirect']);
    sender.close();
  });

  it('gives up after its timeout', async () => {
    const sender = new WebhookSender({ allowLoopback: true, timeoutMs: 200 });
    const result = await sender.send(`http://127.0.0.1:${port}/slow`, body, {});
    expect(result).toMatchObject({ ok: false, statusCode: null });
    expect(result.durationMs).toBeLessThan(1500);
    sender.close();
  });

  // A public-looking name whose DNS answer is loopback (DNS rebinding): refused when connecting.
  const rebinding: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [
        { address: '127.0.0.1', family: 4 },
      ]);
    else callback(null, '127.0.0.1', 4);
  };

  it('checks the resolved address: the same name connects only where loopback is allowed', async () => {
    const before = connections;
    const allowed = new WebhookSender({ allowLoopback: true, timeoutMs: 2000, lookup: rebinding });
    // https to a plain http receiver: the connection is made, then TLS fails.
    expect(await allowed.send(`https://hooks.example.test:${port}/hook`, body, {})).toMatchObject({
      ok: false,
      statusCode: null,
    });
    expect(connections).toBe(before + 1);
    allowed.close();
  });

  it.each([
    ['a loopback literal', () => `https://127.0.0.1:${port}/hook`, false],
    ['a public name that resolves to loopback', () => `https://hooks.example.test:${port}/hook`, false],
    ['plain http', () => `http://127.0.0.1:${port}/hook`, false],
    ['an IPv4-compatible IPv6 literal (::/96)', () => `https://[::127.0.0.1]:${port}/hook`, false],
    ['an IPv4-mapped IPv6 literal', () => `https://[::ffff:127.0.0.1]:${port}/hook`, false],
    ['localhost with a trailing dot', () => `https://localhost.:${port}/hook`, false],
    // Loopback allowed, but ::/96 is never a loopback address.
    ['an IPv4-compatible literal where loopback is allowed', () => `https://[::127.0.0.1]:${port}/hook`, true],
  ])('refuses %s without connecting, saying only "refused"', async (_name, url, allowLoopback) => {
    const sender = new WebhookSender({ timeoutMs: 2000, lookup: rebinding, allowLoopback });
    const before = connections;
    const result = await sender.send(url(), body, {});
    expect(result).toMatchObject({ ok: false, statusCode: null, error: 'refused' });
    expect(connections).toBe(before);
    sender.close();
  });

  // No DNS oracle: a name that resolves to an inside address and one that resolves to nothing read
  // the same to the webhook's owner; only the operators' debug log says which.
  const nowhere: LookupFunction = (hostname, _options, callback) => {
    const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
    (callback as (error: NodeJS.ErrnoException) => void)(error);
  };

  it('says the same "refused" for a private target and a name that does not resolve, and logs why at debug', async () => {
    const logged: Array<{ reason?: string }> = [];
    const logger = { debug: (details: object) => void logged.push(details as { reason?: string }) };
    const inside = new WebhookSender({ timeoutMs: 2000, lookup: rebinding, logger });
    const unknown = new WebhookSender({ timeoutMs: 2000, lookup: nowhere, logger });
    const a = await inside.send('https://intranet.example.test/hook', body, {});
    const b = await unknown.send('https://no-such-host.example.test/hook', body, {});
    expect([a.error, b.error]).toEqual(['refused', 'refused']);
    expect({ ...a, durationMs: 0 }).toEqual({ ...b, durationMs: 0 });
    expect(logged.map((entry) => entry.reason)).toEqual(['private_address', 'no_such_name']);
    inside.close();
    unknown.close();
  });

  it.each([
    ['SSH on a public host', 'https://hooks.example.test:22/hook', [], 'refused'],
    ['Redis on a public host', 'https://hooks.example.test:6379/hook', [], 'refused'],
    ['a port the setting allows (then the address decides)', 'https://hooks.example.test:8443/hook', [8443], 'refused'],
  ] as const)('refuses %s', async (_case, url, allowPorts, error) => {
    const logged: Array<{ reason?: string }> = [];
    const sender = new WebhookSender({
      timeoutMs: 2000,
      lookup: rebinding,
      allowPorts,
      logger: { debug: (details: object) => void logged.push(details as { reason?: string }) },
    });
    const before = connections;
    expect(await sender.send(url, body, {})).toMatchObject({ ok: false, statusCode: null, error });
    expect(connections).toBe(before);
    // The port is refused before any lookup; an allowed port goes on to the address check.
    expect(logged.map((entry) => entry.reason)).toEqual([allowPorts.length === 0 ? 'port' : 'private_address']);
    sender.close();
  });
});

describe('checkWebhookUrl ports', () => {
  it.each([
    ['https://hooks.example.com/x', {}, true],
    ['https://hooks.example.com:443/x', {}, true],
    ['https://hooks.example.com:80/x', {}, true],
    ['https://hooks.example.com:22/x', {}, false],
    ['https://hooks.example.com:6379/x', {}, false],
    ['https://hooks.example.com:8443/x', { allowPorts: [8443] }, true],
    ['https://hooks.example.com:8444/x', { allowPorts: [8443] }, false],
    ['http://127.0.0.1:5000/x', { allowLoopback: true }, true],
  ] as const)('%s with %j: accepted %s', (url, policy, accepted) => {
    let code: string | undefined;
    let reason: string | undefined;
    try {
      checkWebhookUrl(url, policy);
    } catch (error) {
      code = (error as AppError).code;
      reason = ((error as AppError).details as { reason?: string }).reason;
    }
    expect(accepted ? { code, reason } : { code, reason }).toEqual(
      accepted ? { code: undefined, reason: undefined } : { code: 'INVALID_WEBHOOK_URL', reason: 'port' },
    );
  });
});
