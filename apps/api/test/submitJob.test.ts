import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decompressionBomb,
  drawingImage,
  emptyFile,
  pixelBomb,
  pngWithCorruptChunk,
  textFile,
  tinyImage,
  truncatedJpeg,
  validJpeg,
  validPng,
} from '@inferq/images/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;

beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

async function countJobs(): Promise<number> {
  return api.deps.db.job.count();
}

describe('POST /v1/jobs', () => {
  it('accepts a real image: 202, Location, a queued row and a BullMQ job with the same id', async () => {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await drawingImage(320, 240)),
    });
    expect(response.status).toBe(202);
    const body = await response.json();
    expect(body).toMatchObject({
      status: 'queued',
      model: { name: 'nsfw' },
      input: { format: 'png', width: 320, height: 240 },
    });
    expect(response.headers.get('location')).toBe(`/v1/jobs/${body.id}`);
    expect(response.headers.get('x-request-id')).toBeTruthy();

    const row = await api.deps.db.job.findUnique({ where: { id: body.id }, include: { input: true } });
    expect(row?.status).toBe('queued');
    expect(row?.input?.data?.byteLength).toBe(row?.inputBytes);
    const queued = await api.queue.queueFor('nsfw').getJob(body.id);
    expect(queued?.data).toEqual({ jobId: body.id, model: 'nsfw' });

    const poll = await fetch(`${api.baseUrl}${body.links.self}`, { headers: api.user.headers });
    expect(poll.status).toBe(200);
    expect(await poll.json()).toMatchObject({ id: body.id, status: 'queued', result: null });
  });

  it('detects the real format from the bytes, not the file name or Content-Type', async () => {
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(await validPng(64, 64), {}, 'photo.jpg', 'image/jpeg'),
    });
    expect(response.status).toBe(202);
    expect((await response.json()).input.format).toBe('png');
  });

  const oversize = Buffer.alloc(3 * 1024 * 1024, 0xff);
  const badUploads: Array<[string, () => Promise<RequestInit>, number, string]> = [
    ['an empty body', async () => ({ method: 'POST' }), 400, 'MISSING_IMAGE'],
    // JSON submits by reference (imageUrl or uploadId); image bytes are no field of it.
    [
      'a JSON body with image bytes',
      async () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"image":"x"}' }),
      400,
      'VALIDATION_FAILED',
    ],
    [
      'a form without the image field',
      async () => {
        const form = new FormData();
        form.set('model', 'nsfw');
        return { method: 'POST', body: form };
      },
      400,
      'MISSING_IMAGE',
    ],
    ['a zero-byte file', async () => ({ method: 'POST', body: imageForm(emptyFile()) }), 400, 'INVALID_IMAGE'],
    [
      'a text file named .jpg',
      async () => ({ method: 'POST', body: imageForm(textFile(), {}, 'cat.jpg') }),
      400,
      'INVALID_IMAGE',
    ],
    [
      'a truncated JPEG',
      async () => ({ method: 'POST', body: imageForm(await truncatedJpeg()) }),
      400,
      'INVALID_IMAGE',
    ],
    [
      'a PNG with a corrupt chunk',
      async () => ({ method: 'POST', body: imageForm(await pngWithCorruptChunk()) }),
      400,
      'INVALID_IMAGE',
    ],
    ['a 1×1 image', async () => ({ method: 'POST', body: imageForm(await tinyImage()) }), 422, 'IMAGE_DIMENSIONS'],
    [
      'a PNG claiming 100000×100000 pixels',
      async () => ({ method: 'POST', body: imageForm(pixelBomb()) }),
      413,
      'IMAGE_TOO_LARGE',
    ],
    [
      'a 20000×20000 decompression bomb',
      async () => ({ method: 'POST', body: imageForm(decompressionBomb()) }),
      413,
      'IMAGE_TOO_LARGE',
    ],
    [
      'an upload over the size limit',
      async () => ({ method: 'POST', body: imageForm(oversize) }),
      413,
      'IMAGE_TOO_LARGE',
    ],
    [
      'an unknown model',
      async () => ({ method: 'POST', body: imageForm(await validJpeg(64, 64), { model: 'no-such-model' }) }),
      400,
      'UNKNOWN_MODEL',
    ],
    [
      'an unknown model version',
      async () => ({ method: 'POST', body: imageForm(await validJpeg(64, 64), { version: '999.0.0' }) }),
      400,
      'UNKNOWN_MODEL',
    ],
    [
      'two files',
      async () => {
        const form = imageForm(await validJpeg(64, 64));
        form.append('image', new Blob([new Uint8Array(await validJpeg(64, 64))]), 'second.jpg');
        return { method: 'POST', body: form };
      },
      400,
      'BAD_REQUEST',
    ],
    [
      'a file in another field',
      async () => {
        const form = new FormData();
        form.set('picture', new Blob([new Uint8Array(await validJpeg(64, 64))]), 'a.jpg');
        return { method: 'POST', body: form };
      },
      400,
      'BAD_REQUEST',
    ],
    [
      'a malformed multipart body',
      async () => ({
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
        body: '--xyz\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\nabc',
      }),
      400,
      'BAD_REQUEST',
    ],
  ];

  it('names the models there are when the model, or its version, does not exist', async () => {
    const submit = async (fields: Record<string, string>) => {
      const response = await fetch(`${api.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: api.user.headers,
        body: imageForm(await validJpeg(64, 64), fields),
      });
      expect(response.status).toBe(400);
      return (await response.json()).error as {
        code: string;
        message: string;
        details: { models: Array<{ name: string; versions: string[] }> };
      };
    };
    const unknown = await submit({ model: 'no-such-model' });
    expect(unknown.code).toBe('UNKNOWN_MODEL');
    const nsfw = unknown.details.models.find((model) => model.name === 'nsfw');
    expect(nsfw?.versions.length).toBeGreaterThan(0);
    expect(unknown.message).toMatch(/^No such model: no-such-model\. Models here: .*\bnsfw\b/);
    const version = await submit({ model: 'nsfw', version: '999.0.0' });
    expect(version.message).toBe(`No such model: nsfw@999.0.0. Versions of nsfw: ${nsfw!.versions.join(', ')}.`);
  });

  it.each(badUploads)('rejects %s with a 4xx and stores nothing', async (_name, makeInit, status, code) => {
    const before = await countJobs();
    const init = await makeInit();
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      ...init,
      headers: { ...(init.headers as Record<string, string>), ...api.user.headers },
    });
    expect(response.status).toBe(status);
    const body = await response.json();
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    expect(await countJobs()).toBe(before);
    // The API still answers afterwards.
    expect((await fetch(`${api.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe('GET /v1/jobs/:id', () => {
  it.each([
    ['an unknown id', '5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11'],
    ['a non-UUID id', 'not-a-uuid'],
    ['a path-like id', '..%2F..%2Fetc%2Fpasswd'],
    ['an SQL-looking id', "1'%20OR%20'1'='1"],
  ])('answers 404 JOB_NOT_FOUND for %s', async (_name, id) => {
    const response = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: api.user.headers });
    expect(response.status).toBe(404);
    expect((await response.json()).error.code).toBe('JOB_NOT_FOUND');
  });
});

describe('health', () => {
  it('reports Postgres and Redis ready', async () => {
    const response = await fetch(`${api.baseUrl}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', checks: { postgres: true, redis: true } });
  });
});
