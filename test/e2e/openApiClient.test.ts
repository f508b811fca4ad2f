import { randomUUID } from 'node:crypto';
import createClient from 'openapi-fetch';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { paths } from '@inferq/client';
import { drawingImage } from '@inferq/images/testing';
import type { PlatformProcess } from '@inferq/testing';
import { createTestUser, platformEnv, startApiProcess, startWorkerProcess, stopAll } from './platform.ts';

// The OpenAPI document as users consume it: a client made by third-party tools (openapi-typescript's
// types of the document, packages/client/src/generated/openapi.ts, and openapi-fetch) runs a job's
// lifecycle against the real API. Query parameters are typed as the document says (`wait: 30`).
const env = platformEnv({ queuePrefix: `${inject('queuePrefix')}-oa-${randomUUID().slice(0, 8)}` });
let api: PlatformProcess | undefined;
let worker: PlatformProcess | undefined;
let baseUrl = '';

beforeAll(async () => {
  const [apiStarted, workerStarted] = await Promise.all([
    startApiProcess(env),
    startWorkerProcess({ ...env, workerId: 'openapi-client' }),
  ]);
  api = apiStarted.process;
  worker = workerStarted.process;
  baseUrl = apiStarted.baseUrl;
});
afterAll(async () => {
  await stopAll([api, worker]);
});

describe('a client generated from /openapi.json by third-party tools', () => {
  it('submits, waits, lists, reads the models and cancels, typed by the document', async () => {
    const user = await createTestUser(env.databaseUrl, { tier: 'pro' });
    const client = createClient<paths>({ baseUrl, headers: user.headers });
    const image = await sharp(await drawingImage(320, 240))
      .jpeg()
      .toBuffer();

    const submitted = await client.POST('/v1/jobs', {
      // The fields typed as the JSON submit's; sent as the multipart form, with the image.
      body: { model: 'nsfw' },
      bodySerializer: (body) => {
        const form = new FormData();
        form.set('model', body.model!);
        form.set('image', new Blob([new Uint8Array(image)], { type: 'image/jpeg' }), 'photo.jpg');
        return form;
      },
    });
    expect(submitted.response.status).toBe(202);
    const id = submitted.data!.id;

    const waited = await client.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: 30 } } });
    expect(waited.data?.status).toBe('succeeded');
    expect(waited.data?.result?.top?.map((entry) => entry.label).sort()).toEqual([
      'Drawing',
      'Hentai',
      'Neutral',
      'Porn',
      'Sexy',
    ]);

    const page = await client.GET('/v1/jobs', { params: { query: { limit: 5, status: 'succeeded' } } });
    expect(page.data?.data.map((job) => job.id)).toContain(id);
    const models = await client.GET('/v1/models');
    expect(models.data?.models.map((model) => model.name)).toContain('nsfw');

    const cancel = await client.POST('/v1/jobs/{id}/cancel', { params: { path: { id } } });
    expect(cancel.response.status).toBe(409);
    expect(cancel.error?.error.code).toBe('JOB_FINISHED');
    // A wait past 60 s is clamped (as Prefer: wait is) and announced; one that is no number is refused.
    const tooLong = await client.GET('/v1/jobs/{id}', { params: { path: { id }, query: { wait: 61 } } });
    expect(tooLong.response.status).toBe(200);
    expect(tooLong.response.headers.get('preference-applied')).toBe('wait=60');
    const notANumber = await client.GET('/v1/jobs/{id}', {
      params: { path: { id }, query: { wait: 'soon' as unknown as number } },
    });
    expect(notANumber.error?.error.code).toBe('VALIDATION_FAILED');
  });
});
