import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { ModelRegistry, readModelManifest } from '@inferq/models';
import { createTestUser, type TestUser } from '@inferq/testing';
import { mnistFixtureFolder } from '@inferq/training';
import { startTestApi, type TestApi } from './apiHarness.ts';

/**
 * POST /v1/admin/models/:name/versions against hostile and broken model hosts (SSRF, unbounded
 * downloads, documents that are no model, bodies that must not be echoed). Each case is a real
 * request to the real API; each refused one must leave nothing in the registry.
 */

const secretBody = 'inferq_internal_secret_metric 42';
let modelJson: Buffer;
let shard: Buffer;
let shardName: string;
const hits: string[] = [];
let host: Server;
let hostPort = 0;
let root: string;
let api: TestApi;
let strictApi: TestApi;
let admin: TestUser;
let mnist: Awaited<ReturnType<typeof readModelManifest>>;
let streamedBytes = 0;

function modelJsonNaming(paths: string[], bytes: number): string {
  return JSON.stringify({
    format: 'layers-model',
    modelTopology: { class_name: 'Sequential' },
    weightsManifest: [{ paths, weights: [{ name: 'w', shape: [bytes], dtype: 'bool' }] }],
  });
}

beforeAll(async () => {
  mnist = await readModelManifest(mnistFixtureFolder);
  modelJson = await readFile(path.join(mnistFixtureFolder, 'model.json'));
  shardName = (JSON.parse(modelJson.toString('utf8')) as { weightsManifest: Array<{ paths: string[] }> })
    .weightsManifest[0]!.paths[0]!;
  shard = await readFile(path.join(mnistFixtureFolder, shardName));
  host = createServer((req, res) => {
    const url = req.url ?? '';
    hits.push(url);
    const json = (text: string) => res.writeHead(200, { 'content-type': 'application/json' }).end(text);
    if (url === '/ok/model.json') json(modelJson.toString('utf8'));
    else if (url === `/ok/${shardName}`) res.writeHead(200).end(shard);
    else if (url === '/readyz/model.json') json('{"status":"ok","checks":{"postgres":"ok","redis":"ok"}}');
    else if (url === '/redirect/model.json')
      res.writeHead(302, { location: `http://127.0.0.1:${hostPort}/internal/model.json` }).end();
    else if (url === '/metrics/model.json') res.writeHead(500, { 'content-type': 'text/plain' }).end(secretBody);
    else if (url === '/metrics-json/model.json') res.writeHead(200, { 'content-type': 'text/plain' }).end(secretBody);
    else if (url === '/declared-big/model.json') json(modelJsonNaming(['big.bin'], 8 * 1024 * 1024));
    else if (url === '/declared-big/big.bin')
      res.writeHead(200, { 'content-length': String(8 * 1024 * 1024) }).end(Buffer.alloc(1024));
    else if (url === '/endless/model.json') json(modelJsonNaming(['big.bin'], 8 * 1024 * 1024));
    else if (url === '/endless/big.bin') {
      // No Content-Length: only the running byte count can stop this one.
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024);
      const push = () => {
        while (res.writable && !res.destroyed && streamedBytes < 64 * 1024 * 1024) {
          streamedBytes += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', push);
        }
        res.end();
      };
      push();
    } else if (url === '/slow/model.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"modelTopology":');
      // Never finishes: only the deadline ends it.
    } else if (url === '/nul/model.json') json(modelJsonNaming(['a\u0000b.bin'], 1));
    else if (url === '/prefix/model.json')
      json(
        JSON.stringify({
          modelTopology: {},
          weightsManifest: [{ paths: ['a', 'a/b'], weights: [{ name: 'w', shape: [2], dtype: 'bool' }] }],
        }),
      );
    else if (url === '/mismatch/model.json') json(modelJsonNaming(['w.bin'], 100));
    else if (url === '/mismatch/w.bin') res.writeHead(200).end(Buffer.alloc(10));
    else res.writeHead(404).end('nothing here');
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  hostPort = (host.address() as AddressInfo).port;

  root = await mkdtemp(path.join(tmpdir(), 'inferq-model-url-'));
  const registry = new ModelRegistry({ root });
  // A name that resolves to loopback, as a rebinding DNS name would.
  const rebinding: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all)
      (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [
        { address: '127.0.0.1', family: 4 },
      ]);
    else callback(null, '127.0.0.1', 4);
  };
  [api, strictApi] = await Promise.all([
    // An internal model store on 127.0.0.1, named in the allow list.
    startTestApi({
      registry,
      modelDownload: { policy: { allowHosts: ['127.0.0.1'] }, maxBytes: 2 * 1024 * 1024, deadlineMs: 3000 },
    }),
    // The default policy: public https hosts only.
    startTestApi({ registry, modelDownload: { lookup: rebinding } }),
  ]);
  admin = await createTestUser(inject('databaseUrl'), { role: 'admin' });
});

afterAll(async () => {
  await Promise.all([api?.close(), strictApi?.close()]);
  host?.closeAllConnections();
  await new Promise((resolve) => host?.close(resolve));
  await rm(root, { recursive: true, force: true });
});

const body = (url: string, version = '1.0.0') => ({
  version,
  url,
  format: 'layers',
  input: mnist.input,
  output: mnist.output,
});

async function publish(
  target: TestApi,
  name: string,
  payload: unknown,
): Promise<{ status: number; json: any; text: string }> {
  const response = await fetch(`${target.baseUrl}/v1/admin/models/${name}/versions`, {
    method: 'POST',
    headers: { ...admin.headers, 'content-type': 'application/json' },
    body: JSON.stringify(payload),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text), text };
}

/** Nothing of `name` in the registry: no version folder, no staging folder left, no listing. */
async function expectNothingStored(name: string): Promise<void> {
  expect(await readdir(path.join(root, name)).catch(() => [])).toEqual([]);
  expect(await readdir(path.join(root, '.staging')).catch(() => [])).toEqual([]);
  const listed = await fetch(`${api.baseUrl}/v1/models/${name}`, { headers: admin.headers });
  expect(listed.status).toBe(404);
}

let counter = 0;
const freshName = () => `safety-${process.pid}-${counter++}`;

describe('registering a model by URL', () => {
  it('works from an allowed internal host: a real TF.js model is downloaded, checked, stored and served', async () => {
    const name = freshName();
    const response = await publish(api, name, body(`http://127.0.0.1:${hostPort}/ok/model.json`));
    expect(response.status).toBe(201);
    expect(response.json).toMatchObject({ status: 'written', version: '1.0.0', sha256: mnist.sha256 });
    const served = await fetch(`${api.baseUrl}/v1/models/${name}/1.0.0/${shardName}`);
    expect(Buffer.from(await served.arrayBuffer()).equals(shard)).toBe(true);
    expect(await readdir(path.join(root, '.staging'))).toEqual([]);
  });

  const port = () => hostPort;
  it.each([
    // The default policy: nothing inside the network, however it is spelled.
    ['loopback over http', 'strict', () => `http://127.0.0.1:${port()}/ok/model.json`, 'private_address'],
    ['loopback over https', 'strict', () => `https://127.0.0.1:${port()}/ok/model.json`, 'private_address'],
    [
      'IPv4-compatible IPv6 (::/96)',
      'strict',
      () => `https://[::127.0.0.1]:${port()}/ok/model.json`,
      'private_address',
    ],
    ['IPv4-mapped IPv6', 'strict', () => `https://[::ffff:127.0.0.1]:${port()}/ok/model.json`, 'private_address'],
    ['localhost with a trailing dot', 'strict', () => `https://localhost.:${port()}/ok/model.json`, 'private_address'],
    [
      'cloud metadata (link-local)',
      'strict',
      () => 'http://169.254.169.254/latest/meta-data/model.json',
      'private_address',
    ],
    ['a private network', 'strict', () => 'https://10.0.0.7/model.json', 'private_address'],
    [
      'a public name resolving to loopback (checked when connecting)',
      'strict',
      () => `https://models.example.test:${port()}/ok/model.json`,
      'private_address',
    ],
    ['plain http to a public name', 'strict', () => 'http://models.example.test/model.json', 'not_https'],
    // The allowed internal host, answering badly.
    ['a redirect (never followed)', 'allowed', () => `http://127.0.0.1:${port()}/redirect/model.json`, 'redirect'],
    [
      'an internal JSON page that is no model (/readyz)',
      'allowed',
      () => `http://127.0.0.1:${port()}/readyz/model.json`,
      'not_a_model',
    ],
    [
      'a text page (/metrics) answered 200',
      'allowed',
      () => `http://127.0.0.1:${port()}/metrics-json/model.json`,
      'not_json',
    ],
    ['a 500 with a body', 'allowed', () => `http://127.0.0.1:${port()}/metrics/model.json`, 'http_status'],
    ['a missing model.json', 'allowed', () => `http://127.0.0.1:${port()}/nothing/model.json`, 'not_found'],
    [
      'a shard declared larger than the limit',
      'allowed',
      () => `http://127.0.0.1:${port()}/declared-big/model.json`,
      'too_large',
    ],
    [
      'a shard streamed past the limit without Content-Length',
      'allowed',
      () => `http://127.0.0.1:${port()}/endless/model.json`,
      'too_large',
    ],
    [
      'a model.json that never finishes (total deadline)',
      'allowed',
      () => `http://127.0.0.1:${port()}/slow/model.json`,
      'timeout',
    ],
    ['a shard path with a NUL byte', 'allowed', () => `http://127.0.0.1:${port()}/nul/model.json`, 'invalid_path'],
    [
      'two shards where one path is a folder of the other',
      'allowed',
      () => `http://127.0.0.1:${port()}/prefix/model.json`,
      'invalid_path',
    ],
    [
      'shards that do not hold the weights model.json declares',
      'allowed',
      () => `http://127.0.0.1:${port()}/mismatch/model.json`,
      'weights_mismatch',
    ],
  ])(
    'refuses %s (%s policy): 400 VALIDATION_FAILED, nothing stored, no remote body echoed',
    async (_case, which, url, reason) => {
      const name = freshName();
      const response = await publish(which === 'strict' ? strictApi : api, name, body(url()));
      expect({
        status: response.status,
        code: response.json.error.code,
        reason: response.json.error.details?.reason,
      }).toEqual({ status: 400, code: 'VALIDATION_FAILED', reason });
      expect(response.text).not.toContain('inferq_internal_secret_metric');
      expect(response.text).not.toContain('nothing here');
      await expectNothingStored(name);
    },
  );

  it('never follows the redirect to the internal target', async () => {
    await publish(api, freshName(), body(`http://127.0.0.1:${hostPort}/redirect/model.json`));
    expect(hits).not.toContain('/internal/model.json');
  });

  it('stops reading a streamed shard soon after the limit (2 MiB), not at its end', async () => {
    expect(streamedBytes).toBeGreaterThan(0);
    // The host stops at 64 MiB; the API hangs up long before (socket buffers allow some slack).
    expect(streamedBytes).toBeLessThan(16 * 1024 * 1024);
  });

  it.each([
    ['a model name that is not one', 'Bad.Name', () => body(`http://127.0.0.1:${hostPort}/ok/model.json`), 'name'],
    [
      'a version that is not one',
      'fine-name',
      () => body(`http://127.0.0.1:${hostPort}/ok/model.json`, '../../1'),
      'version',
    ],
    [
      'a manifest that is not valid',
      'fine-name',
      () => ({ ...body(`http://127.0.0.1:${hostPort}/ok/model.json`), output: { kind: 'classification', labels: [] } }),
      undefined,
    ],
  ])('checks %s before fetching anything', async (_case, name, payload, field) => {
    const before = hits.length;
    const response = await publish(api, name, payload());
    expect({
      status: response.status,
      code: response.json.error.code,
      field: response.json.error.details?.field,
    }).toEqual({ status: 400, code: 'VALIDATION_FAILED', field });
    expect(hits.length).toBe(before);
    await expectNothingStored(name);
  });
});
