import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { RateLimits } from '@inferq/admission';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, inject } from 'vitest';
import { AccountStore, resolveTiers, type TierOverrides } from '@inferq/accounts';
import { createDatabase } from '@inferq/db';
import { registryCatalog } from '@inferq/jobs';
import { createTestUser, TestJobs, type TestUser } from '@inferq/testing';
import { ModelRegistry } from '@inferq/models';
import { createRedisConnection, InferenceQueue, WebhookQueue } from '@inferq/queue';
import { createApp } from '../src/app.ts';
import type { TrustProxySetting } from '../src/http/trustProxy.ts';
import { HttpServer } from '../src/server.ts';
import { buildApiServices, type ApiParts } from '../src/services.ts';

export interface TestApi {
  baseUrl: string;
  deps: ApiParts;
  queue: InferenceQueue;
  /** The API's jobs, to write and read rows as a worker or another process would. */
  jobs: TestJobs;
  /** A user with a key; `user.headers` authenticates a request. */
  user: TestUser;
  close(): Promise<void>;
}

export interface TestApiOptions extends Partial<ApiParts> {
  /** The dashboard's build folder. @defaultValue none */
  dashboardDir?: string;
  /** Which proxies' X-Forwarded-For decides `req.ip`. @defaultValue false */
  trustProxy?: TrustProxySetting;
  /** Small limits for a test: changes to the built-in tiers. */
  tierOverrides?: TierOverrides;
  /** Failed authentications per minute from one address. @defaultValue 1000 */
  authFailuresPerMinute?: number;
  /** Requests per minute from one address to the public model files. @defaultValue 1000 */
  publicRequestsPerMinute?: number;
  /** Bearer token /metrics requires. @defaultValue none */
  metricsToken?: string;
}

/**
 * The API in this process, on real Postgres and Redis, with a queue of its own; its rate-limit
 * counters are keyed under that queue too, so tests never share them.
 */
export async function startTestApi(options: TestApiOptions = {}): Promise<TestApi> {
  const {
    tierOverrides,
    authFailuresPerMinute,
    publicRequestsPerMinute,
    dashboardDir,
    trustProxy,
    metricsToken,
    ...overrides
  } = options;
  const logger = pino({ level: 'silent' });
  const db = createDatabase({ url: inject('databaseUrl') });
  const redis = createRedisConnection({ url: inject('redisUrl'), role: 'producer' });
  redis.on('error', () => {});
  const queueName = `test-${randomUUID()}`;
  // The shipped registry's models, as the API's registry would list them.
  const queue = new InferenceQueue({
    connection: redis,
    name: queueName,
    prefix: inject('queuePrefix'),
    models: () => ['mnist', 'nsfw'],
  });
  await queue.waitUntilReady();
  const tiers = overrides.tiers ?? resolveTiers(tierOverrides);
  const deps: ApiParts = {
    logger,
    db,
    accounts: new AccountStore(db, { tiers: Object.keys(tiers) }),
    tiers,
    rateLimits: new RateLimits({
      redis,
      tiers,
      keyPrefix: `${inject('queuePrefix')}:${queueName}:rl`,
      authFailures: { points: authFailuresPerMinute ?? 1000, durationSeconds: 60 },
      publicRequests: { points: publicRequestsPerMinute ?? 1000, durationSeconds: 60 },
    }),
    queue,
    models: registryCatalog(overrides.registry ?? new ModelRegistry({ root: inject('modelsDir') })),
    registry: new ModelRegistry({ root: inject('modelsDir') }),
    defaultModel: 'nsfw',
    // The dispatcher's queue under this run's prefix, for the redelivery tests to read.
    webhooks: new WebhookQueue({ connection: redis, prefix: inject('queuePrefix') }),
    imageLimits: {
      maxBytes: 2 * 1024 * 1024,
      maxPixels: 40_000_000,
      minWidth: 32,
      minHeight: 32,
      maxWidth: 8192,
      maxHeight: 8192,
    },
    ...overrides,
  };
  const app = createApp({
    logger: deps.logger,
    services: buildApiServices(deps),
    dashboardDir,
    trustProxy,
    metricsToken,
  });
  const server = new HttpServer({ app, logger, host: '127.0.0.1', port: 0 });
  const address: AddressInfo = await server.start();
  const user = await createTestUser(inject('databaseUrl'));
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    deps,
    queue,
    jobs: new TestJobs(db),
    user,
    async close() {
      await server.stop();
      await queue.obliterate().catch(() => {});
      await queue.close();
      await deps.webhooks?.close();
      redis.disconnect();
      await db.$disconnect();
    },
  };
}

/**
 * A `start` for test files where each test starts an API of its own: the one a test started is
 * closed after it. Call it at the top level of the file.
 */
export function apiPerTest(): (options: TestApiOptions) => Promise<TestApi> {
  let api: TestApi | undefined;
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  return async (options) => (api = await startTestApi(options));
}

/** An error answer's body, read for its code (tests match the code, never the message). */
export interface ErrorJson {
  error: { code: string };
}

/** The API of a whole describe block, with an administrator beside its user. */
export interface SharedTestApi extends TestApi {
  admin: TestUser;
}

/**
 * One API for every test of a describe block, with an administrator: started before the first
 * test and closed after the last. Call it in the block's body; the object it returns is filled
 * in when the API has started, so read its fields inside tests and hooks.
 */
export function sharedTestApi(options: TestApiOptions = {}): SharedTestApi {
  const shared = {} as SharedTestApi;
  beforeAll(async () => {
    // The API first, so that it is closed even when the administrator cannot be made.
    Object.assign(shared, await startTestApi(options));
    shared.admin = await createTestUser(inject('databaseUrl'), { role: 'admin' });
  });
  afterAll(async () => {
    await shared.close?.();
  });
  return shared;
}

/** A multipart body with the image in the field "image". */
export function imageForm(
  bytes: Buffer,
  fields: Record<string, string> = {},
  fileName = 'image.jpg',
  contentType = 'image/jpeg',
): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  form.set('image', new Blob([new Uint8Array(bytes)], { type: contentType }), fileName);
  return form;
}

/**
 * A submission whose body never finishes: the head (with `contentLength`, or chunked when
 * undefined) and the start of the image part. `answer` settles if the server answers early.
 */
export function stalledUpload(
  target: TestApi,
  user: TestUser,
  contentLength: number | undefined,
): {
  req: ClientRequest;
  answer: Promise<{ status: number; body: { error?: { code: string; details?: Record<string, unknown> } } }>;
} {
  const url = new URL(`${target.baseUrl}/v1/jobs`);
  const boundary = 'stalled-upload';
  const req = request({
    host: url.hostname,
    port: url.port,
    path: url.pathname,
    method: 'POST',
    headers: {
      ...user.headers,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      ...(contentLength === undefined ? {} : { 'content-length': String(contentLength) }),
    },
  });
  req.on('error', () => {});
  const answer = new Promise<{ status: number; body: { error?: { code: string; details?: Record<string, unknown> } } }>(
    (resolve) => {
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }),
        );
      });
    },
  );
  req.write(
    `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`,
  );
  return { req, answer };
}
