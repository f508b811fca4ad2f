import { randomUUID } from 'node:crypto';
import { inject, describe, expect, it } from 'vitest';
import { createTestUser, type TestUser } from '@inferq/testing';
import { drawingImage } from '@inferq/images/testing';
import { imageForm, sharedTestApi, type ErrorJson } from './apiHarness.ts';

const api = sharedTestApi();

interface JobJson {
  id: string;
  status: string;
  metadata: Record<string, string>;
  input: { fileName: string | null };
}

async function submit(
  user: TestUser,
  fields: Record<string, string>,
  fileName = 'image.png',
): Promise<{ status: number; body: JobJson & ErrorJson & { error: { details?: { reason?: string } } } }> {
  const response = await fetch(`${api.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(await drawingImage(64, 64), fields, fileName, 'image/png'),
  });
  return { status: response.status, body: await response.json() };
}

async function list(
  user: TestUser,
  path: string,
): Promise<{ status: number; ids: string[]; body: { data: JobJson[]; nextCursor: string | null } & ErrorJson }> {
  const response = await fetch(`${api.baseUrl}${path}`, { headers: user.headers });
  const body = await response.json();
  return { status: response.status, ids: (body.data ?? []).map((job: JobJson) => job.id), body };
}

/** Marks a job failed with a code, as the worker would. */
async function fail(id: string, code: string): Promise<void> {
  await api.deps.db.job.update({
    where: { id },
    data: { status: 'failed', errorCode: code, errorMessage: 'failed in a test', finishedAt: new Date() },
  });
}

describe('job metadata', () => {
  it('is stored with the job and returned in its view and listings', async () => {
    const metadata = { customer: 'cus_42', 'order id': 'A-17', empty: '', __proto__: 'plain data' };
    const submitted = await submit(api.user, { metadata: JSON.stringify(metadata) });
    expect(submitted.status).toBe(202);
    expect(submitted.body.metadata).toEqual(JSON.parse(JSON.stringify(metadata)));
    const row = await api.deps.db.job.findUnique({ where: { id: submitted.body.id } });
    expect(row?.metadata).toEqual(JSON.parse(JSON.stringify(metadata)));
    const poll = await fetch(`${api.baseUrl}/v1/jobs/${submitted.body.id}`, { headers: api.user.headers });
    expect(((await poll.json()) as JobJson).metadata).toMatchObject({ customer: 'cus_42', 'order id': 'A-17' });
  });

  it('is an empty object on a job submitted without it', async () => {
    const submitted = await submit(api.user, {});
    expect(submitted.status).toBe(202);
    expect(submitted.body.metadata).toEqual({});
  });

  const long = (n: number) => 'x'.repeat(n);
  const tooMany = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v']));
  it.each([
    ['not JSON', '{customer: 42', 'not_json'],
    ['an array', '["a"]', 'not_object'],
    ['a string', '"cus_42"', 'not_object'],
    ['21 keys', JSON.stringify(tooMany), 'too_many_keys'],
    ['a 41-character key', JSON.stringify({ [long(41)]: 'v' }), 'key_too_long'],
    ['an empty key', JSON.stringify({ '': 'v' }), 'key_empty'],
    ['a key with brackets', JSON.stringify({ 'a[b]': 'v' }), 'key_invalid'],
    ['a number value', JSON.stringify({ count: 3 }), 'value_not_string'],
    ['a nested object', JSON.stringify({ nested: { a: 'b' } }), 'value_not_string'],
    ['a 501-character value', JSON.stringify({ note: long(501) }), 'value_too_long'],
    ['a field over 16 KiB', JSON.stringify({ note: long(17_000) }), 'too_large'],
  ])('refuses %s: 400 INVALID_METADATA and no job', async (_name, metadata, reason) => {
    const before = await api.deps.db.job.count({ where: { userId: api.user.userId } });
    const answer = await submit(api.user, { metadata });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('INVALID_METADATA');
    expect(answer.body.error.details?.reason).toBe(reason);
    expect(await api.deps.db.job.count({ where: { userId: api.user.userId } })).toBe(before);
  });

  it('takes the limits exactly: 20 keys of 40 characters with values of 500', async () => {
    const metadata = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`${String(i).padStart(2, '0')}${long(38)}`, long(500)]),
    );
    const answer = await submit(api.user, { metadata: JSON.stringify(metadata) });
    expect(answer.status).toBe(202);
    expect(Object.keys(answer.body.metadata)).toHaveLength(20);
  });
});

describe('GET /v1/jobs filters', () => {
  it("filters the caller's jobs by metadata, combined with status, model, error code and dates", async () => {
    const owner = await createTestUser(inject('databaseUrl'));
    const other = await createTestUser(inject('databaseUrl'));
    const tag = randomUUID();
    const a = await submit(owner, { metadata: JSON.stringify({ batch: tag, team: 'red' }) });
    const b = await submit(owner, { metadata: JSON.stringify({ batch: tag, team: 'blue' }) });
    const c = await submit(owner, { metadata: JSON.stringify({ batch: tag, team: 'red' }), model: 'mnist' });
    const foreign = await submit(other, { metadata: JSON.stringify({ batch: tag, team: 'red' }) });
    for (const job of [a, b, c, foreign]) expect(job.status).toBe(202);
    await fail(b.body.id, 'INFERENCE_FAILED');

    const q = (query: string) => `/v1/jobs?${query}`;
    const batch = `metadata%5Bbatch%5D=${tag}`;
    expect(new Set((await list(owner, q(batch))).ids)).toEqual(new Set([a.body.id, b.body.id, c.body.id]));
    expect((await list(owner, q(`${batch}&metadata[team]=red`))).ids.sort()).toEqual([a.body.id, c.body.id].sort());
    expect((await list(owner, q(`${batch}&metadata[team]=red&model=nsfw`))).ids).toEqual([a.body.id]);
    expect((await list(owner, q(`${batch}&status=failed`))).ids).toEqual([b.body.id]);
    expect((await list(owner, q(`${batch}&errorCode=INFERENCE_FAILED`))).ids).toEqual([b.body.id]);
    expect((await list(owner, q(`${batch}&errorCode=TIMEOUT`))).ids).toEqual([]);
    expect((await list(owner, q(`metadata[team]=green`))).ids).toEqual([]);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await list(owner, q(`${batch}&createdAfter=${future}`))).ids).toEqual([]);
    expect((await list(owner, q(`${batch}&createdBefore=${future}`))).ids).toHaveLength(3);
    // Another user's job with the same metadata is never listed.
    expect((await list(other, q(batch))).ids).toEqual([foreign.body.id]);

    // Pages follow the filter.
    const first = await list(owner, q(`${batch}&limit=2`));
    expect(first.ids).toHaveLength(2);
    const second = await list(owner, q(`${batch}&limit=2&cursor=${first.body.nextCursor}`));
    expect(second.ids).toHaveLength(1);
    expect(new Set([...first.ids, ...second.ids]).size).toBe(3);
  });

  it.each([
    ['createdAfter=yesterday', 'VALIDATION_FAILED'],
    ['createdBefore=2026-13-45T00:00:00Z', 'VALIDATION_FAILED'],
    ['model=bad%20name', 'VALIDATION_FAILED'],
    ['status=lost', 'VALIDATION_FAILED'],
    [`metadata[${'k'.repeat(41)}]=v`, 'INVALID_METADATA'],
  ])('refuses %s', async (query, code) => {
    const answer = await list(api.user, `/v1/jobs?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe(code);
  });
});

describe('GET /v1/admin/jobs search', () => {
  it("finds jobs by user, free text in the id, file name or a metadata value, and the owners' filters", async () => {
    const owner = await createTestUser(inject('databaseUrl'));
    const tag = randomUUID().slice(0, 8);
    const byValue = await submit(owner, { metadata: JSON.stringify({ customer: `Cust-${tag}-Acme` }) });
    const byName = await submit(owner, {}, `holiday-${tag}.png`);
    const elsewhere = await submit(api.user, { metadata: JSON.stringify({ customer: `cust-${tag}-other` }) });
    await fail(elsewhere.body.id, 'TIMEOUT');

    const search = (query: string) => list(api.admin, `/v1/admin/jobs?${query}`);
    expect(new Set((await search(`q=${tag}`)).ids)).toEqual(
      new Set([byValue.body.id, byName.body.id, elsewhere.body.id]),
    );
    expect((await search(`q=CUST-${tag}-acme`)).ids).toEqual([byValue.body.id]);
    expect((await search(`q=holiday-${tag}`)).ids).toEqual([byName.body.id]);
    expect((await search(`q=${byName.body.id.slice(4, 20)}`)).ids).toEqual([byName.body.id]);
    expect(new Set((await search(`q=${tag}&user=${owner.userId}`)).ids)).toEqual(
      new Set([byValue.body.id, byName.body.id]),
    );
    expect((await search(`q=${tag}&status=failed&errorCode=TIMEOUT`)).ids).toEqual([elsewhere.body.id]);
    expect((await search(`metadata[customer]=cust-${tag}-other`)).ids).toEqual([elsewhere.body.id]);
    // LIKE's wildcards are text like any other.
    expect((await search(`q=${tag}%25`)).ids).toEqual([]);
  });

  it.each([['q=ab'], ['user=someone']])('refuses %s: 400 VALIDATION_FAILED', async (query) => {
    const answer = await list(api.admin, `/v1/admin/jobs?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('VALIDATION_FAILED');
  });

  it('is for administrators only', async () => {
    expect((await list(api.user, '/v1/admin/jobs?q=abc')).status).toBe(403);
  });
});
