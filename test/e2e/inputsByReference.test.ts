import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBlobStore, inputBlobKey, type BlobStore } from '@inferq/storage';
import { InferQClient } from '@inferq/client';
import { startS3Server, type PlatformProcess, type S3Server } from '@inferq/testing';
import {
  createTestUser,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  waitForFinal,
  type Caller,
  type JobJson,
} from './platform.ts';

const photosDir = path.resolve(import.meta.dirname, '../../packages/inference/test/fixtures/photos');
const photoNames = ['astronaut.jpg', 'coffee.jpg', 'rocket.jpg', 'chelsea.jpg'];
const maxUploadBytes = 2_000_000;

/**
 * A local file server for the platform to fetch from: real photos, and the ways a fetch goes wrong.
 * It counts the requests it gets, so a refused URL can be shown never to have been fetched.
 */
async function startFileServer(): Promise<{ server: Server; origin: string; hits: Map<string, number> }> {
  const hits = new Map<string, number>();
  const photos = new Map(
    await Promise.all(photoNames.map(async (name) => [name, await readFile(path.join(photosDir, name))] as const)),
  );
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    const photo = photos.get(url.pathname.replace('/photos/', ''));
    if (url.pathname.startsWith('/photos/') && photo) res.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
    else if (url.pathname === '/moved.jpg') res.writeHead(302, { location: '/photos/astronaut.jpg' }).end();
    else if (url.pathname === '/large.jpg')
      res.writeHead(200, { 'content-type': 'image/jpeg' }).end(Buffer.alloc(maxUploadBytes + 1, 0xff));
    else if (url.pathname === '/endless.jpg') {
      // No Content-Length: the body grows past the limit and is cut off while it is read.
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      const chunk = Buffer.alloc(64 * 1024, 0xff);
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(timer));
    } else if (url.pathname === '/slow.jpg') {
      res.writeHead(200, { 'content-type': 'image/jpeg' });
      res.write(Buffer.from([0xff, 0xd8]));
      // …and nothing more until the client gives up.
    } else if (url.pathname === '/text.jpg')
      res
        .writeHead(200, { 'content-type': 'image/jpeg' })
        .end('this is not an image, whatever it says it is. '.repeat(100));
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

async function submitJson(
  caller: Caller,
  body: unknown,
  route = '/v1/jobs',
): Promise<{
  status: number;
  body: { error?: { code: string; details?: Record<string, unknown> } } & Partial<JobJson> & Record<string, unknown>;
}> {
  const response = await fetch(`${caller.baseUrl}${route}`, {
    method: 'POST',
    headers: { ...caller.user.headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as never };
}

/** Makes an upload, PUTs the bytes where it says, and returns its id. */
async function upload(caller: Caller, bytes: Buffer): Promise<{ uploadId: string; url: string }> {
  const created = await submitJson(caller, { contentType: 'image/jpeg', size: bytes.byteLength }, '/v1/uploads');
  expect(created.status).toBe(201);
  const { uploadId, url, headers } = created.body as {
    uploadId: string;
    url: string;
    headers?: Record<string, string>;
  };
  // To the API itself (the filesystem driver) the PUT carries the caller's key; to a bucket, only the signed headers.
  const own = url.startsWith(caller.baseUrl);
  const put = await fetch(url, {
    method: 'PUT',
    headers: { ...(headers ?? {}), ...(own ? caller.user.headers : {}) },
    body: new Uint8Array(bytes),
  });
  expect(put.status).toBeLessThan(300);
  return { uploadId, url };
}

const tierOverrides = JSON.stringify({ free: { requestsPerWindow: 1_000_000, submitsPerWindow: 1_000_000 } });

describe.each(['s3', 'file'] as const)('inputs by reference, blobs in the %s store, with real processes', (driver) => {
  const env = platformEnv();
  let s3: S3Server | undefined;
  let folder: string | undefined;
  let files: Awaited<ReturnType<typeof startFileServer>>;
  let store: BlobStore;
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let caller: Caller;
  let sql: pg.Pool;

  beforeAll(async () => {
    files = await startFileServer();
    let blobEnv: Record<string, string>;
    if (driver === 's3') {
      s3 = await startS3Server();
      blobEnv = {
        BLOB_STORE_URL: `s3://${s3.bucket}/e2e`,
        BLOB_STORE_ENDPOINT: s3.endpoint,
        BLOB_STORE_ACCESS_KEY_ID: s3.accessKeyId,
        BLOB_STORE_SECRET_ACCESS_KEY: s3.secretAccessKey,
        BLOB_STORE_FORCE_PATH_STYLE: 'true',
      };
      store = createBlobStore({
        url: blobEnv.BLOB_STORE_URL!,
        endpoint: s3.endpoint,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        forcePathStyle: true,
      });
    } else {
      folder = await mkdtemp(path.join(tmpdir(), 'inferq-e2e-blobs-'));
      blobEnv = { BLOB_STORE_URL: `file://${folder}/` };
      store = createBlobStore({ url: blobEnv.BLOB_STORE_URL! });
    }
    const extra = {
      ...blobEnv,
      INPUT_FETCH_ALLOW_HOSTS: '127.0.0.1',
      INPUT_FETCH_TIMEOUT_MS: '1500',
      MAX_UPLOAD_BYTES: String(maxUploadBytes),
      TIER_OVERRIDES: tierOverrides,
    };
    const [started, startedWorker] = await Promise.all([
      startApiProcess({ ...env, extra }),
      // The reconciler every half second: retention is part of what is checked.
      startWorkerProcess({
        ...env,
        workerId: `e2e-blobs-${driver}`,
        extra: { ...blobEnv, RECONCILE_INTERVAL_MS: '500' },
      }),
    ]);
    api = started.process;
    worker = startedWorker.process;
    caller = { baseUrl: started.baseUrl, user: await createTestUser(env.databaseUrl) };
    sql = new pg.Pool({ connectionString: env.databaseUrl, max: 2 });
  });
  afterAll(async () => {
    await stopAll([api, worker]);
    await sql?.end();
    await store?.close();
    await s3?.stop();
    await new Promise((resolve) => files?.server.close(resolve));
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('runs a real photo fetched from an allowed host; Postgres keeps the reference, the store the bytes', async () => {
    const submitted = await submitJson(caller, { model: 'nsfw', imageUrl: `${files.origin}/photos/astronaut.jpg` });
    expect(submitted.status).toBe(202);
    const job = await waitForFinal(caller, submitted.body.id!);
    expect(job.status).toBe('succeeded');
    expect(job.result!.output[0]!).toHaveLength(5);
    const { rows } = await sql.query<{ data: Buffer | null; blob_key: string | null }>(
      'SELECT data, blob_key FROM job_inputs WHERE job_id = $1',
      [job.id],
    );
    expect(rows[0]).toEqual({ data: null, blob_key: inputBlobKey(job.id) });
    expect(await store.list('inputs/')).toContain(inputBlobKey(job.id));
    // The stored image is served back from the store, and so is its thumbnail.
    const image = await fetch(`${caller.baseUrl}/v1/jobs/${job.id}/image`, { headers: caller.user.headers });
    expect(image.status).toBe(200);
    expect(Buffer.from(await image.arrayBuffer()).equals((await store.get(inputBlobKey(job.id)))!)).toBe(true);
    expect(
      (await fetch(`${caller.baseUrl}/v1/jobs/${job.id}/image?size=64`, { headers: caller.user.headers })).status,
    ).toBe(200);
  });

  it.each([
    ['http://example.com/photo.jpg', 'not_https'],
    ['https://10.1.2.3/photo.jpg', 'private_address'],
    ['https://169.254.169.254/latest/meta-data', 'private_address'],
    ['https://user:secret@example.com/photo.jpg', 'credentials'],
    ['ftp://example.com/photo.jpg', 'not_https'],
    ['not a url', 'malformed'],
  ])('refuses %s with 400 INVALID_INPUT_URL (%s)', async (imageUrl, reason) => {
    const answer = await submitJson(caller, { imageUrl });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('INVALID_INPUT_URL');
    expect(answer.body.error?.details?.reason).toBe(reason);
  });

  it('never fetches a refused URL: the file server under a name that is not allowed gets no request', async () => {
    const port = new URL(files.origin).port;
    for (const host of ['localhost', '127.0.0.2']) {
      const answer = await submitJson(caller, { imageUrl: `http://${host}:${port}/photos/coffee.jpg?refused=${host}` });
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ code: 'INVALID_INPUT_URL', details: { reason: 'private_address' } });
    }
    expect(files.hits.get('/photos/coffee.jpg') ?? 0).toBe(0);
  });

  it.each([
    ['/missing.jpg', 422, 'INPUT_FETCH_FAILED', 'not_found'],
    ['/moved.jpg', 422, 'INPUT_FETCH_FAILED', 'redirect'],
    ['/large.jpg', 422, 'INPUT_FETCH_FAILED', 'too_large'],
    ['/endless.jpg', 422, 'INPUT_FETCH_FAILED', 'too_large'],
    ['/slow.jpg', 422, 'INPUT_FETCH_FAILED', 'timeout'],
    ['/text.jpg', 400, 'INVALID_IMAGE', undefined],
  ])('answers a fetch of %s at submit: %i %s', async (route, status, code, reason) => {
    const answer = await submitJson(caller, { imageUrl: `${files.origin}${route}` });
    expect(answer.status).toBe(status);
    expect(answer.body.error?.code).toBe(code);
    if (reason) expect(answer.body.error?.details?.reason).toBe(reason);
  });

  it('takes an upload (PUT where POST /v1/uploads says), submits it by id, and uses it once', async () => {
    const photo = await readFile(path.join(photosDir, 'rocket.jpg'));
    const { uploadId, url } = await upload(caller, photo);
    // With a bucket the bytes go straight to it, never through the API.
    if (driver === 's3') expect(url.startsWith(s3!.endpoint)).toBe(true);
    else expect(url.startsWith(caller.baseUrl)).toBe(true);
    expect(await store.list(`uploads/${caller.user.userId}/`)).toEqual([`uploads/${caller.user.userId}/${uploadId}`]);
    const submitted = await submitJson(caller, { model: 'nsfw', uploadId });
    expect(submitted.status).toBe(202);
    expect((await waitForFinal(caller, submitted.body.id!)).status).toBe('succeeded');
    await expect.poll(() => store.list(`uploads/${caller.user.userId}/`)).toEqual([]);
    const again = await submitJson(caller, { model: 'nsfw', uploadId });
    expect(again.status).toBe(404);
    expect(again.body.error?.code).toBe('UPLOAD_NOT_FOUND');
    // Another user's id, or one never made, is the same 404.
    expect((await submitJson(caller, { uploadId: '00000000-0000-4000-8000-000000000000' })).body.error?.code).toBe(
      'UPLOAD_NOT_FOUND',
    );
  });

  it('writes the result JSON to the result sink, and deletes it with the job', async () => {
    const submitted = await submitJson(caller, {
      model: 'nsfw',
      imageUrl: `${files.origin}/photos/rocket.jpg`,
      resultPrefix: 'sink-test/run-1',
    });
    expect(submitted.status).toBe(202);
    const job = await waitForFinal(caller, submitted.body.id!);
    expect(job.status).toBe('succeeded');
    const key = `results/sink-test/run-1/${job.id}.json`;
    await expect.poll(() => store.stat(key), { timeout: 10_000 }).not.toBeNull();
    const copy = JSON.parse((await store.get(key))!.toString('utf8')) as { id: string; result: { output: number[][] } };
    expect(copy.id).toBe(job.id);
    expect(copy.result.output).toEqual(job.result!.output);
    expect(
      (await fetch(`${caller.baseUrl}/v1/jobs/${job.id}`, { method: 'DELETE', headers: caller.user.headers })).status,
    ).toBe(204);
    expect(await store.stat(key)).toBeNull();
    expect(
      (await submitJson(caller, { imageUrl: `${files.origin}/photos/rocket.jpg`, resultPrefix: '../escape' })).body
        .error,
    ).toMatchObject({ code: 'VALIDATION_FAILED', details: { field: 'resultPrefix' } });
  });

  it('is what the typed client does for submitByUrl and submitUpload', async () => {
    const client = new InferQClient({
      baseUrl: caller.baseUrl,
      apiKey: caller.user.headers.authorization!.slice('Bearer '.length),
    });
    const byUrl = await client.submitByUrl(`${files.origin}/photos/coffee.jpg`, { model: 'nsfw' });
    const byUpload = await client.submitUpload(
      new Blob([new Uint8Array(await readFile(path.join(photosDir, 'chelsea.jpg')))], { type: 'image/jpeg' }),
      { model: 'nsfw' },
    );
    for (const job of [byUrl, byUpload])
      expect((await client.wait(job.id, { timeoutMs: 60_000 })).status).toBe('succeeded');
    await expect(client.submitByUrl('https://192.168.0.1/x.jpg')).rejects.toMatchObject({
      code: 'INVALID_INPUT_URL',
      status: 400,
    });
  });

  it.each([
    [{}, 'imageUrl'],
    [{ imageUrl: 'https://example.com/a.jpg', uploadId: 'x' }, 'imageUrl'],
    [{ imageUrl: 'https://example.com/a.jpg', ttlSeconds: 0 }, 'ttlSeconds'],
    [{ imageUrl: 'https://example.com/a.jpg', unknown: 1 }, 'body'],
  ])('refuses the JSON body %j with 400 VALIDATION_FAILED', async (body, field) => {
    const answer = await submitJson(caller, body);
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('VALIDATION_FAILED');
    expect(answer.body.error?.details?.field).toBe(field);
  });

  it('submits a batch of references: a job for each good one, its own error for each bad one', async () => {
    const answer = await submitJson(
      caller,
      {
        model: 'nsfw',
        inputs: [
          { imageUrl: `${files.origin}/photos/chelsea.jpg` },
          { imageUrl: `${files.origin}/missing.jpg` },
          { imageUrl: 'https://10.0.0.1/x.jpg' },
        ],
      },
      '/v1/jobs/batch',
    );
    expect(answer.status).toBe(202);
    const data = answer.body.data as Array<{ status: number; job: JobJson | null; error: { code: string } | null }>;
    expect(data.map((item) => item.status)).toEqual([202, 422, 400]);
    expect(data.map((item) => item.error?.code ?? null)).toEqual([null, 'INPUT_FETCH_FAILED', 'INVALID_INPUT_URL']);
    expect((await waitForFinal(caller, data[0]!.job!.id)).status).toBe('succeeded');
  });

  it("removes the blobs with the jobs: deletion, retention and the account's erasure leave nothing in the store", async () => {
    const user = await createTestUser(env.databaseUrl);
    const owner: Caller = { baseUrl: caller.baseUrl, user };
    const submitOne = async (name: string) => {
      const answer = await submitJson(owner, { model: 'nsfw', imageUrl: `${files.origin}/photos/${name}` });
      expect(answer.status).toBe(202);
      return waitForFinal(owner, answer.body.id!);
    };
    const [deleted, expired, kept] = await Promise.all([
      submitOne('astronaut.jpg'),
      submitOne('coffee.jpg'),
      submitOne('rocket.jpg'),
    ]);
    const pending = await upload(owner, await readFile(path.join(photosDir, 'chelsea.jpg')));
    const ownKeys = async () =>
      (await store.list('inputs/')).filter((key) =>
        [deleted.id, expired.id, kept.id].some((id) => key === inputBlobKey(id)),
      );
    expect(await ownKeys()).toHaveLength(3);

    // The owner deletes one job.
    expect(
      (await fetch(`${caller.baseUrl}/v1/jobs/${deleted.id}`, { method: 'DELETE', headers: user.headers })).status,
    ).toBe(204);
    expect(await store.stat(inputBlobKey(deleted.id))).toBeNull();

    // Retention: the reconciler deletes a final job past its expiry, and its blob with it.
    await sql.query(`UPDATE jobs SET expires_at = now() - interval '1 minute' WHERE id = $1`, [expired.id]);
    await expect
      .poll(async () => (await sql.query('SELECT 1 FROM jobs WHERE id = $1', [expired.id])).rowCount, {
        timeout: 20_000,
      })
      .toBe(0);
    await expect.poll(() => store.stat(inputBlobKey(expired.id)), { timeout: 5000 }).toBeNull();

    // The account's erasure: the last job's blob and the upload never submitted.
    const erased = await fetch(`${caller.baseUrl}/v1/account`, {
      method: 'DELETE',
      headers: { ...user.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ confirm: user.email }),
    });
    expect(erased.status).toBe(200);
    expect(await ownKeys()).toEqual([]);
    expect(await store.list(`uploads/${user.userId}/`)).toEqual([]);
    expect(pending.uploadId).toBeTruthy();
  });
});
