import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeStatus,
  InferQClient,
  InferQError,
  verifyWebhookSignature,
  type Job,
  type RetryInfo,
} from '@inferq/client';
import { drawingImage } from '@inferq/images/testing';
import { PlatformProcess, repoRoot, type TestUser } from '@inferq/testing';
import { inject } from 'vitest';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from './platform.ts';

const run = promisify(execFile);

/** A webhook receiver on loopback: records every request and answers from a script of statuses. */
class Receiver {
  readonly requests: Array<{ headers: IncomingHttpHeaders; body: string }> = [];
  statuses: number[] = [];
  readonly server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.requests.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(this.statuses.shift() ?? 200).end();
    });
  });
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }
}

// A queue prefix of its own: the dispatcher here only ever sees this file's job events.
const env = platformEnv({ queuePrefix: `${inject('queuePrefix')}-${randomUUID().slice(0, 8)}` });
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let dispatcher: PlatformProcess | undefined;
let baseUrl = '';
let user: TestUser;
let client: InferQClient;
let image: Buffer;
const receiver = new Receiver();

beforeAll(async () => {
  await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve));
  // Free-tier users may submit once per window (the rate-limit test); everyone else is pro.
  // "brief": one submission per 2 s, for the CLI's wait on a rate limit.
  const extra = {
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    TIER_OVERRIDES: JSON.stringify({
      free: { submitsPerWindow: 1, submitBurst: 0, rateWindowSeconds: 3600 },
      brief: { submitsPerWindow: 1, submitBurst: 0, rateWindowSeconds: 2 },
    }),
  };
  dispatcher = new PlatformProcess('webhooks', 'apps/webhooks/src/index.ts', {
    NODE_ENV: 'test',
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    QUEUE_PREFIX: env.queuePrefix,
    WEBHOOK_ALLOW_LOOPBACK: 'true',
    WEBHOOK_RETRY_FIRST_DELAY_MS: '200',
    // Off: the sweep reads every final job of the shared test database.
    WEBHOOK_SWEEP_INTERVAL_MS: '0',
  });
  const [apiStarted, workerStarted] = await Promise.all([
    startApiProcess({ ...env, extra }),
    // nsfw only: jobs for mnist (in the registry, served by no worker) stay queued, waiting for a worker.
    startWorkerProcess({ ...env, workerId: 'client-e2e', extra: { WORKER_MODELS: 'nsfw' } }),
    dispatcher.waitForLog((line) => line.msg === 'webhook dispatcher started'),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  baseUrl = apiStarted.baseUrl;
  user = await createTestUser(env.databaseUrl, { tier: 'pro' });
  client = new InferQClient({ baseUrl, apiKey: user.key });
  image = await sharp(await drawingImage(320, 240))
    .jpeg()
    .toBuffer();
});
afterAll(async () => {
  await stopAll([api, worker, dispatcher]);
  await new Promise((resolve) => receiver.server.close(resolve));
});

describe('InferQClient against the running platform', () => {
  it('runs an image to its result: submit, wait (server-held), get, list', async () => {
    const job = await client.run(image, { model: 'nsfw' });
    expect(job.status).toBe('succeeded');
    expect(job.result?.top?.map((entry) => entry.label).sort()).toEqual([
      'Drawing',
      'Hentai',
      'Neutral',
      'Porn',
      'Sexy',
    ]);
    expect((await client.get(job.id)).status).toBe('succeeded');

    const queued = await client.submit(image);
    const finished = await client.wait(queued.id, { timeoutMs: 60_000 });
    expect(finished).toMatchObject({ id: queued.id, status: 'succeeded' });
    const page = await client.list({ limit: 5 });
    expect(page.data.map((entry) => entry.id)).toEqual(expect.arrayContaining([job.id, queued.id]));
  });

  it('takes a Buffer, Uint8Array, ArrayBuffer, Blob, File and ReadableStream', async () => {
    const bytes = new Uint8Array(image);
    const inputs = [
      image,
      bytes,
      bytes.slice().buffer,
      new Blob([bytes], { type: 'image/jpeg' }),
      new File([bytes], 'drawing.jpg', { type: 'image/jpeg' }),
      new Blob([bytes]).stream(),
    ];
    const jobs = await Promise.all(inputs.map((input) => client.submit(input)));
    expect(jobs.map((job) => job.input.format)).toEqual(inputs.map(() => 'jpeg'));
  });

  it.each<[string, () => Promise<unknown>, string, number]>([
    ['an unknown job', () => client.get(randomUUID()), 'JOB_NOT_FOUND', 404],
    [
      'a bad key',
      () => new InferQClient({ baseUrl, apiKey: 'iq_000000000000_nope' }).get(randomUUID()),
      'UNAUTHENTICATED',
      401,
    ],
    ['a bad webhook', () => client.submit(image, { webhook: 'ftp://example.com/x' }), 'INVALID_WEBHOOK_URL', 400],
    ['an unknown model', () => client.submit(image, { model: 'no-such-model' }), 'UNKNOWN_MODEL', 400],
  ])('throws InferQError with the API code for %s', async (_name, call, code, status) => {
    const error = await call().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(InferQError);
    expect(error).toMatchObject({ code, status });
  });

  it('submits many images in batches (submitMany): a job or an error per image, in order', async () => {
    const batch = await client.submitMany([image, Buffer.from('not an image'), new Uint8Array(image)], {
      batchSize: 2,
      waitSeconds: 30,
    });
    expect(batch.data.map((item) => [item.index, item.status, item.job?.status ?? item.error?.code])).toEqual([
      [0, 200, 'succeeded'],
      [1, 400, 'INVALID_IMAGE'],
      [2, 200, 'succeeded'],
    ]);
    expect(batch).toMatchObject({ accepted: 2, refused: 1 });
  });

  it('throws JOB_FINISHED when canceling a finished job', async () => {
    const job = await client.run(image);
    await expect(client.cancel(job.id)).rejects.toMatchObject({ code: 'JOB_FINISHED', status: 409 });
  });

  it('retries a 429 honouring Retry-After within its bounds, then throws RATE_LIMITED', async () => {
    const limited = await createTestUser(env.databaseUrl, { tier: 'free' });
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    const retries: RetryInfo[] = [];
    const limitedClient = new InferQClient({
      baseUrl,
      apiKey: limited.key,
      fetch: counting,
      maxRetries: 2,
      maxRetryDelayMs: 50,
      onRetry: (retry) => retries.push(retry),
    });
    await limitedClient.submit(image);
    requests = 0;
    await expect(limitedClient.submit(image)).rejects.toMatchObject({ code: 'RATE_LIMITED', status: 429 });
    expect(requests).toBe(3);
    // Retry-After asks for most of the hour's window; each pause is capped.
    expect(retries.map(({ status, code, delayMs, attempt }) => ({ status, code, delayMs, attempt }))).toEqual([
      { status: 429, code: 'RATE_LIMITED', delayMs: 50, attempt: 1 },
      { status: 429, code: 'RATE_LIMITED', delayMs: 50, attempt: 2 },
    ]);
    expect(retries[0]!.retryAfterMs).toBeGreaterThan(1000);
  });

  it("reads the account: the key's user, its tier and the submissions counted against it", async () => {
    const fresh = await createTestUser(env.databaseUrl, { tier: 'pro' });
    const freshClient = new InferQClient({ baseUrl, apiKey: fresh.key });
    await freshClient.submit(image);
    const account = await freshClient.account();
    expect(account.user).toMatchObject({ id: fresh.userId, role: 'user' });
    expect(account.tier.name).toBe('pro');
    expect(account.usage.submitsInWindow).toBe(1);
  });

  it('says a job no worker can take is queued, waiting for a worker, and a wait that runs out still gives the job', async () => {
    const queued = await client.submit(image, { model: 'mnist' });
    expect(queued).toMatchObject({ status: 'queued', waitingFor: 'worker' });
    expect(describeStatus(await client.get(queued.id))).toBe('queued · waiting for a worker');
    const updates: Job[] = [];
    const timedOut = await client
      .run(image, { model: 'mnist', timeoutMs: 1500, onUpdate: (job) => updates.push(job) })
      .then(
        () => undefined,
        (error: unknown) => error as InferQError,
      );
    expect(timedOut).toMatchObject({
      code: 'WAIT_TIMEOUT',
      status: 0,
      job: { status: 'queued', waitingFor: 'worker' },
    });
    expect(timedOut!.job!.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(updates.map((job) => [job.id, job.waitingFor])).toEqual([[timedOut!.job!.id, 'worker']]);
  });

  it('reads GET /v1/models, typed', async () => {
    const list = await client.models();
    const nsfw = list.models.find((model) => model.name === 'nsfw');
    expect(nsfw?.versions.find((version) => version.live)?.labels).toEqual([
      'Drawing',
      'Hentai',
      'Neutral',
      'Porn',
      'Sexy',
    ]);
    expect(list.workers.map((each) => each.workerId)).toContain('client-e2e');
  });
});

describe('webhooks end to end', () => {
  it('POSTs the signed job when it is final, retries failures with backoff and records every attempt', async () => {
    receiver.statuses = [500, 503, 200];
    const secret = await client.webhookSecret();
    const job = await client.submit(image, { webhook: `${receiver.url}/hooks/inferq` });
    expect(job.webhook?.url).toBe(`${receiver.url}/hooks/inferq`);
    const deadline = Date.now() + 60_000;
    while (receiver.requests.length < 3 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(receiver.requests).toHaveLength(3);

    const final = await client.get(job.id);
    for (const [index, request] of receiver.requests.entries()) {
      expect(request.headers['inferq-event']).toBe('job.succeeded');
      expect(request.headers['inferq-attempt']).toBe(String(index + 1));
      expect(request.headers['content-type']).toBe('application/json');
      expect(
        await verifyWebhookSignature({
          secret,
          body: request.body,
          header: request.headers['inferq-signature'] as string,
        }),
      ).toBe(true);
      expect(
        await verifyWebhookSignature({
          secret: `${secret}x`,
          body: request.body,
          header: request.headers['inferq-signature'] as string,
        }),
      ).toBe(false);
      // Standard Webhooks: the same check as any of its libraries makes.
      expect(request.headers['webhook-id']).toBe(request.headers['inferq-delivery']);
      expect(await verifyWebhookSignature({ secret, body: request.body, headers: request.headers })).toBe(true);
      expect(await verifyWebhookSignature({ secret, body: `${request.body} `, headers: request.headers })).toBe(false);
      expect(JSON.parse(request.body)).toEqual(final);
    }
    // One delivery id for all tries, so a receiver can drop duplicates.
    expect(new Set(receiver.requests.map((request) => request.headers['inferq-delivery'])).size).toBe(1);

    let deliveries = await client.deliveries(job.id);
    while (deliveries.data.length < 3 && Date.now() < deadline) deliveries = await client.deliveries(job.id);
    expect(deliveries.data.map((delivery) => [delivery.event, delivery.attempt, delivery.statusCode])).toEqual([
      ['completed', 1, 500],
      ['completed', 2, 503],
      ['completed', 3, 200],
    ]);
    // The log names the delivery by the id the receiver got.
    expect(deliveries.data.map((delivery) => delivery.id)).toEqual(
      receiver.requests.map((request) => request.headers['webhook-id']),
    );
  });

  it("carries the job's metadata in the webhook body, and the client filters its list by it", async () => {
    receiver.requests.length = 0;
    receiver.statuses = [];
    const tag = randomUUID();
    const metadata = { order: tag, customer: 'cus_42' };
    const job = await client.submit(image, { webhook: `${receiver.url}/hooks/metadata`, metadata });
    expect(job.metadata).toEqual(metadata);
    await client.submit(image, { metadata: { order: 'another' } });
    const deadline = Date.now() + 60_000;
    while (receiver.requests.length < 1 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(JSON.parse(receiver.requests[0]!.body)).toMatchObject({ id: job.id, status: 'succeeded', metadata });
    const listed = await client.list({
      metadata: { order: tag },
      status: 'succeeded',
      model: 'nsfw',
      createdAfter: new Date(Date.now() - 600_000),
    });
    expect(listed.data.map((found) => found.id)).toEqual([job.id]);
    expect((await client.list({ metadata: { order: tag }, errorCode: 'TIMEOUT' })).data).toEqual([]);
    await expect(client.submit(image, { metadata: { ['k'.repeat(41)]: 'v' } })).rejects.toMatchObject({
      code: 'INVALID_METADATA',
      status: 400,
    });
  });

  it('sends job.started too when the webhook asks for it (webhookEvents)', async () => {
    receiver.requests.length = 0;
    receiver.statuses = [];
    const job = await client.submit(image, {
      webhook: `${receiver.url}/hooks/started`,
      webhookEvents: ['started', 'completed'],
    });
    expect(job.webhook?.events).toEqual(['started', 'completed']);
    const deadline = Date.now() + 60_000;
    while (receiver.requests.length < 2 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(receiver.requests.map((request) => request.headers['inferq-event']).sort()).toEqual([
      'job.started',
      'job.succeeded',
    ]);
    // Two deliveries, each with its own id.
    expect(new Set(receiver.requests.map((request) => request.headers['webhook-id'])).size).toBe(2);
    await expect(
      client.submit(image, { webhook: `${receiver.url}/hooks/x`, webhookEvents: ['finished' as 'completed'] }),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('the inferq CLI as a child process', () => {
  const cli = path.join(repoRoot, 'packages/cli/src/main.ts');
  let dir = '';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'inferq-cli-'));
    await writeFile(path.join(dir, 'a.jpg'), image);
    await writeFile(
      path.join(dir, 'b.png'),
      await sharp(await drawingImage(200, 200))
        .png()
        .toBuffer(),
    );
  });

  async function inferq(
    args: string[],
    extraEnv: Record<string, string> = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: dir,
          INFERQ_BASE_URL: baseUrl,
          INFERQ_API_KEY: user.key,
          ...extraEnv,
        },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
    }
  }

  it('submits several files, waits, and prints JSON with every result', async () => {
    // Three files in batches of two: two POST /v1/jobs/batch requests.
    const result = await inferq(['submit', 'a.jpg', 'b.png', 'a.jpg', '--wait', '--json', '--batch-size', '2']);
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as Array<{ file: string; job: Job }>;
    expect(rows.map((row) => [row.file, row.job.status])).toEqual([
      ['a.jpg', 'succeeded'],
      ['b.png', 'succeeded'],
      ['a.jpg', 'succeeded'],
    ]);
  });

  it('prints a table, and get / list / cancel answer as documented', async () => {
    const submitted = await inferq(['submit', 'a.jpg', '--wait']);
    expect(submitted.code).toBe(0);
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(submitted.stdout)?.[0];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(submitted.stdout).toContain('succeeded');
    expect(submitted.stdout).toMatch(/(Drawing|Hentai|Neutral|Porn|Sexy) 0\.\d{3}/);

    const got = await inferq(['get', id!, '--json']);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id, status: 'succeeded' });
    const listed = await inferq(['list', '--limit', '3', '--json']);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).data).toHaveLength(3);
    const cancel = await inferq(['cancel', id!]);
    expect(cancel.code).toBe(3);
    expect(cancel.stderr).toContain('JOB_FINISHED');
  });

  it('submits with --meta and lists by it', async () => {
    const tag = randomUUID();
    const submitted = await inferq([
      'submit',
      'a.jpg',
      '--wait',
      '--json',
      '--meta',
      `run=${tag}`,
      '--meta',
      'team=red=blue',
    ]);
    expect(submitted.code).toBe(0);
    const job = (JSON.parse(submitted.stdout) as Array<{ job: Job }>)[0]!.job;
    expect(job.metadata).toEqual({ run: tag, team: 'red=blue' });
    const listed = await inferq(['list', '--json', '--meta', `run=${tag}`, '--status', 'succeeded', '--model', 'nsfw']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { data: Job[] }).data.map((found) => found.id)).toEqual([job.id]);
    const bad = await inferq(['list', '--meta', 'novalue']);
    expect(bad.code).toBe(2);
  });

  it('retries the failed jobs of a selection and redelivers webhooks, for administrators', async () => {
    const admin = await createTestUser(env.databaseUrl, { role: 'admin', tier: 'pro' });
    const asAdmin = { INFERQ_API_KEY: admin.key };
    const tag = randomUUID();
    const submitted = await inferq(['submit', 'a.jpg', '--wait', '--json', '--meta', `replay=${tag}`]);
    const id = (JSON.parse(submitted.stdout) as Array<{ job: Job }>)[0]!.job.id;
    const sql = new pg.Client({ connectionString: env.databaseUrl });
    await sql.connect();
    try {
      await sql.query(
        "UPDATE jobs SET status = 'failed', error_code = 'TIMEOUT', error_message = 'x', finished_at = now() - interval '1 second' WHERE id = $1",
        [id],
      );
    } finally {
      await sql.end();
    }
    const preview = await inferq(['retry-failed', '--meta', `replay=${tag}`, '--json'], asAdmin);
    expect(preview.code).toBe(0);
    expect(JSON.parse(preview.stdout)).toMatchObject({ matched: 1, retried: 0, dryRun: true });
    const done = await inferq(['retry-failed', '--meta', `replay=${tag}`, '--error-code', 'TIMEOUT', '--yes'], asAdmin);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/retried 1 of 1/);
    expect((await client.wait(id, { timeoutMs: 60_000 })).status).toBe('succeeded');
    // A user's key is refused the operators' commands.
    expect((await inferq(['retry-failed'])).code).toBe(3);
    const range = await inferq(
      ['redeliver', '--from', new Date(Date.now() - 60_000).toISOString(), '--to', new Date().toISOString(), '--json'],
      asAdmin,
    );
    expect(range.code).toBe(0);
    expect(JSON.parse(range.stdout)).toMatchObject({ dryRun: true, enqueued: 0 });
    const noWebhook = await inferq(['redeliver', id], asAdmin);
    expect(noWebhook.code).toBe(3);
    expect(noWebhook.stderr).toContain('CONFLICT');
  });

  it.each([
    ['no command', []],
    ['an unknown command', ['frobnicate']],
    ['submit without files', ['submit']],
    ['a missing file', ['submit', 'missing.jpg']],
    ['an unknown flag', ['list', '--colour']],
    ['get without an id', ['get']],
  ])('exits 2 for a usage error: %s', async (_name, args) => {
    expect((await inferq(args)).code).toBe(2);
  });

  it('submits the files it can read and reports the one it cannot, in its row and on stderr, exit 2 without the usage', async () => {
    const result = await inferq(['submit', 'a.jpg', 'missing.jpg', 'b.png', '--wait', '--json']);
    expect(result.code).toBe(2);
    const rows = JSON.parse(result.stdout) as Array<{ file: string; job: Job | null; error: { code: string } | null }>;
    expect(rows.map((row) => [row.file, row.job?.status ?? null, row.error?.code ?? null])).toEqual([
      ['a.jpg', 'succeeded', null],
      ['missing.jpg', null, 'FILE_UNREADABLE'],
      ['b.png', 'succeeded', null],
    ]);
    expect(result.stderr).toContain('inferq: cannot read missing.jpg: ENOENT (not submitted)');
    expect(result.stderr).not.toContain('Usage:');
  });

  it('exits 3 for an API error and 4 for a failed job', async () => {
    expect((await inferq(['get', randomUUID()])).code).toBe(3);
    expect((await inferq(['list'], { INFERQ_API_KEY: 'iq_000000000000_nope' })).code).toBe(3);

    const id = randomUUID();
    const db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
    try {
      await db.query(
        `INSERT INTO jobs (id, user_id, status, model_name, input_format, input_width, input_height, input_bytes, input_sha256, error_code, error_message, finished_at, updated_at)
         VALUES ($1, $2, 'failed', 'nsfw', 'jpeg', 64, 64, 1, $3, 'INFERENCE_FAILED', 'The model rejected this input.', now(), now())`,
        [id, user.userId, '0'.repeat(64)],
      );
    } finally {
      await db.end();
    }
    const failed = await inferq(['get', id, '--json']);
    expect(failed.code).toBe(4);
    expect(JSON.parse(failed.stdout).error.code).toBe('INFERENCE_FAILED');
  });

  it("puts the API's error message in the table, one line per row", async () => {
    await writeFile(path.join(dir, 'notes.jpg'), 'not an image');
    const submitted = await inferq(['submit', 'a.jpg', 'notes.jpg', '--wait']);
    expect(submitted.code).toBe(3);
    const lines = submitted.stdout.trim().split('\n');
    // Top border, header, header rule, two rows, bottom border: no rule between rows.
    expect(lines).toHaveLength(6);
    expect(lines[3]).toContain('succeeded');
    expect(lines[4]).toMatch(/notes\.jpg .*not submitted .*INVALID_IMAGE: \S+/);
    const listed = await inferq(['list', '--limit', '3']);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .filter((line) => /[0-9a-f]{8}-/.test(line)),
    ).toHaveLength(3);
  });

  it('says a submitted job is queued, waiting for a worker, with its id, when --wait runs out (exit 5)', async () => {
    const submitted = await inferq(['submit', 'a.jpg', '--model', 'mnist', '--wait', '--timeout', '2']);
    expect(submitted.code).toBe(5);
    const id = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(submitted.stdout)?.[0];
    expect(id).toBeDefined();
    expect(submitted.stdout).toContain('queued · waiting for a worker');
    expect(submitted.stdout).not.toContain('not submitted');
    expect(submitted.stdout).not.toContain('WAIT_TIMEOUT');
    // Said at once, and again when the wait ends, each time with the id.
    expect(
      submitted.stderr.split('\n').filter((line) => line.includes(id!) && line.includes('waiting for a worker')),
    ).toHaveLength(2);
    expect(submitted.stderr).toContain(`inferq get ${id} --wait`);

    const got = await inferq(['get', id!]);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain('queued · waiting for a worker');
    const waited = await inferq(['get', id!, '--wait', '--timeout', '1', '--json']);
    expect(waited.code).toBe(5);
    expect(JSON.parse(waited.stdout)).toMatchObject({ id, status: 'queued', waitingFor: 'worker' });

    const several = await inferq([
      'submit',
      'a.jpg',
      'b.png',
      '--model',
      'mnist',
      '--wait',
      '--timeout',
      '1',
      '--json',
    ]);
    expect(several.code).toBe(5);
    const rows = JSON.parse(several.stdout) as Array<{ job: Job | null; error: { code: string } | null }>;
    expect(rows.map((row) => [row.job?.status, row.job?.waitingFor, row.error?.code])).toEqual([
      ['queued', 'worker', 'WAIT_TIMEOUT'],
      ['queued', 'worker', 'WAIT_TIMEOUT'],
    ]);
  });

  it('lists the models as a table', async () => {
    const models = await inferq(['models']);
    expect(models.code).toBe(0);
    expect(models.stdout).toMatch(/│ nsfw +│ \S+ +│ live +│ layers +│ 224x224x3 +│ 5 +│ 1\/1 /);
    // The engine each model ran on, never the TF.js backend alone (the worker's wasm).
    expect(models.stdout).toMatch(/workers: \S+ \((onnxruntime|tfjs)-[a-z]+(, (onnxruntime|tfjs)-[a-z]+)*\)/);
    expect(models.stdout).not.toMatch(/\(wasm\)/);
    expect(
      JSON.parse((await inferq(['models', '--json'])).stdout).models.map((model: { name: string }) => model.name),
    ).toContain('nsfw');
  });

  it('says when it waits on a rate limit, and for how long', async () => {
    const limited = await createTestUser(env.databaseUrl, { tier: 'free' });
    const db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
    await db.query(`UPDATE users SET tier = 'brief' WHERE id = $1`, [limited.userId]);
    await db.end();
    expect((await inferq(['submit', 'a.jpg'], { INFERQ_API_KEY: limited.key })).code).toBe(0);
    const second = await inferq(['submit', 'a.jpg'], { INFERQ_API_KEY: limited.key });
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(/^inferq: rate limited \(RATE_LIMITED\): retrying in \d+(\.\d)? s \(1 of 3\)$/m);
  });

  it('reads the key from ~/.config/inferq/config.json when the environment has none', async () => {
    const config = path.join(dir, 'xdg');
    await mkdir(path.join(config, 'inferq'), { recursive: true });
    await writeFile(path.join(config, 'inferq', 'config.json'), JSON.stringify({ baseUrl, apiKey: user.key }));
    const listed = await inferq(['list', '--json'], {
      INFERQ_API_KEY: '',
      INFERQ_BASE_URL: '',
      XDG_CONFIG_HOME: config,
    });
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).data.length).toBeGreaterThan(0);
    expect((await inferq(['list'], { INFERQ_API_KEY: '', XDG_CONFIG_HOME: path.join(dir, 'nowhere') })).code).toBe(2);
  });
});
