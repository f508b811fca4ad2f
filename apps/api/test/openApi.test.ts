import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { validate } from '@readme/openapi-parser';
import { errorStatus } from '@inferq/core';
import { createTestUser, type TestUser } from '@inferq/testing';
import { drawingImage } from '@inferq/images/testing';
import { startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;
let admin: TestUser;
let document: Record<string, any>;

beforeAll(async () => {
  api = await startTestApi();
  admin = await createTestUser(inject('databaseUrl'), { role: 'admin' });
  const response = await fetch(`${api.baseUrl}/openapi.json`);
  expect(response.status).toBe(200);
  document = await response.json();
});
afterAll(async () => {
  await api?.close();
});

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document, served without authentication', async () => {
    expect(document.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(document) as Parameters<typeof validate>[0]);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('gives integers only their real bounds, and types numeric query parameters as bounded integers', () => {
    const text = JSON.stringify(document);
    expect(text).not.toContain(String(Number.MAX_SAFE_INTEGER));
    expect(text).not.toContain(String(Number.MIN_SAFE_INTEGER));
    const query = (path: string, name: string) =>
      document.paths[path].get.parameters.find(
        (parameter: { name: string; in: string }) => parameter.in === 'query' && parameter.name === name,
      ).schema;
    expect(query('/v1/jobs/{id}', 'wait')).toMatchObject({ type: 'integer', minimum: 0, maximum: 60 });
    expect(query('/v1/jobs', 'limit')).toMatchObject({ type: 'integer', minimum: 1, maximum: 100 });
    expect(query('/v1/admin/stats', 'window')).toMatchObject({ type: 'integer', minimum: 60, maximum: 604800 });
  });

  it('lists every error code with its HTTP status', () => {
    const description: string = document.info.description;
    for (const [code, status] of Object.entries(errorStatus)) {
      expect(description).toContain(`| \`${code}\` | ${status} |`);
    }
    expect(document.components.schemas.ErrorCode.enum.sort()).toEqual(Object.keys(errorStatus).sort());
  });

  it('declares Bearer authentication, and none on the public routes', () => {
    expect(document.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.security).toEqual([{ bearerAuth: [] }]);
    for (const path of ['/healthz', '/readyz', '/openapi.json']) expect(document.paths[path].get.security).toEqual([]);
  });

  it('documents the webhook with its signature headers', () => {
    const webhook = document.webhooks.jobFinished.post;
    expect(webhook.parameters.map((parameter: { name: string }) => parameter.name).sort()).toEqual([
      'InferQ-Attempt',
      'InferQ-Delivery',
      'InferQ-Event',
      'InferQ-Signature',
      'webhook-id',
      'webhook-signature',
      'webhook-timestamp',
    ]);
    expect(webhook.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Job' });
  });

  it('documents only routes that exist: each documented operation answers something other than 404', async () => {
    // Real values for the path parameters, so no route answers 404 for a missing thing.
    const submitted = await fetch(`${api.baseUrl}/v1/jobs`, { method: 'POST', headers: admin.headers });
    expect(submitted.status).toBe(400); // no image: the route exists
    const job = await api.jobs.create({
      id: crypto.randomUUID(),
      userId: admin.userId,
      modelName: 'nsfw',
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    // A job of its own for the delete, so the operations after it still find theirs.
    const doomed = await api.jobs.create({
      id: crypto.randomUUID(),
      userId: admin.userId,
      modelName: 'nsfw',
      input: { data: Buffer.from('x'), format: 'jpeg', width: 64, height: 64, sha256: '0'.repeat(64) },
    });
    const spare = await api.deps.accounts.issueKey(admin.userId, 'spare');
    const nsfw = await api.deps.registry!.resolve('nsfw');
    const values: Record<string, string> = {
      id: job.id,
      user: admin.userId,
      key: spare.id,
      name: 'nsfw',
      version: nsfw.version,
      file: 'model.json',
    };
    // Bulk actions get a body that scopes them to this test's admin, who has no jobs to retry or
    // clean: other test files share the database.
    const bodies: Record<string, unknown> = {
      'POST /v1/admin/jobs/retry-failed': { userId: admin.userId },
      'POST /v1/admin/jobs/clean': { statuses: ['succeeded'], olderThanSeconds: 0, userId: admin.userId, dryRun: true },
    };
    const checked: string[] = [];
    for (const [template, item] of Object.entries<Record<string, unknown>>(document.paths)) {
      for (const method of ['get', 'post', 'patch', 'put', 'delete'].filter((name) => name in item)) {
        const path = template.replace(/\{(\w+)\}/g, (_match, name: string) =>
          method === 'delete' && name === 'id' ? doomed.id : values[name]!,
        );
        const controller = new AbortController();
        const body = bodies[`${method.toUpperCase()} ${template}`];
        const response = await fetch(`${api.baseUrl}${path}`, {
          method: method.toUpperCase(),
          headers: body ? { ...admin.headers, 'content-type': 'application/json' } : admin.headers,
          ...(body ? { body: JSON.stringify(body) } : {}),
          signal: controller.signal,
        });
        // Event streams never end: the status line is enough.
        controller.abort();
        checked.push(`${method.toUpperCase()} ${template} ${response.status}`);
        expect(response.status, `${method.toUpperCase()} ${template}`).not.toBe(404);
      }
    }
    expect(checked.length).toBeGreaterThanOrEqual(18);
  });
});

describe('GET /docs', () => {
  it('has a submit sample that works as written: each form field its example, or empty (as the page fills them)', async () => {
    const schema = document.paths['/v1/jobs'].post.requestBody.content['multipart/form-data'].schema;
    const form = new FormData();
    for (const [name, property] of Object.entries<{ format?: string; example?: string }>(schema.properties)) {
      if (property.format === 'binary')
        form.append(name, new Blob([new Uint8Array(await drawingImage(64, 64))], { type: 'image/png' }), 'photo.png');
      else form.append(name, property.example ?? '');
    }
    const response = await fetch(`${api.baseUrl}/v1/jobs`, { method: 'POST', headers: admin.headers, body: form });
    expect(response.status, JSON.stringify(await response.clone().json())).toBe(202);
  });

  it('serves the page without upgrade-insecure-requests, so it works over plain http from any address', async () => {
    for (const path of ['/docs', '/dashboard/']) {
      const policy = (await fetch(`${api.baseUrl}${path}`)).headers.get('content-security-policy') ?? '';
      expect(policy, path).not.toBe('');
      expect(policy, path).not.toContain('upgrade-insecure-requests');
    }
  });

  it('serves the reference page and its renderer from this server only', async () => {
    const page = await fetch(`${api.baseUrl}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    expect(html).toContain('data-url="/openapi.json"');
    const sources = [...html.matchAll(/src="([^"]+)"/g)].map((match) => match[1]);
    expect(sources).toEqual(['/docs/scalar.js']);
    // No inline script body: the Content-Security-Policy allows same-origin scripts only.
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");

    const script = await fetch(`${api.baseUrl}/docs/scalar.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(100_000);
  });
});
