import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookSender } from '../src/index.ts';

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
    expect(await sender.send(`http://127.0.0.1:${port}/ok`, body, {})).toMatchObject({ ok: true, statusCode: 204, error: null });
    expect(await sender.send(`http://127.0.0.1:${port}/fail`, body, {})).toMatchObject({ ok: false, statusCode: 500 });
    sender.close();
  });

  it('never follows a redirect', async () => {
    const sender = new WebhookSender({ allowLoopback: true });
    const before = paths.length;
    expect(await sender.send(`http://127.0.0.1:${port}/redirect`, body, {})).toMatchObject({ ok: false, statusCode: 302 });
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
    if ((options as { all?: boolean }).all) (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
    else callback(null, '127.0.0.1', 4);
  };

  it('checks the resolved address: the same name connects only where loopback is allowed', async () => {
    const before = connections;
    const allowed = new WebhookSender({ allowLoopback: true, timeoutMs: 2000, lookup: rebinding });
    // https to a plain http receiver: the connection is made, then TLS fails.
    expect(await allowed.send(`https://hooks.example.test:${port}/hook`, body, {})).toMatchObject({ ok: false, statusCode: null });
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
  ])('refuses %s without connecting, saying only "refused: private address"', async (_name, url, allowLoopback) => {
    const sender = new WebhookSender({ timeoutMs: 2000, lookup: rebinding, allowLoopback });
    const before = connections;
    const result = await sender.send(url(), body, {});
    expect(result).toMatchObject({ ok: false, statusCode: null, error: 'refused: private address' });
    expect(connections).toBe(before);
    sender.close();
  });
});
