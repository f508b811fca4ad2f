import { describe, expect, inject, it } from 'vitest';
import { photoLikeImage, validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { AdmissionShares } from '../src/admissionShares.ts';
import { apiPerTest, imageForm, stalledUpload, type TestApi } from './apiHarness.ts';

const start = apiPerTest();
/** Rate limits and quotas out of the way: what is tested is what a flood holds inside the API. */
const lifted = { submitsPerWindow: 100_000, submitBurst: 0, requestsPerWindow: 100_000, maxJobsInFlight: 100_000 };

interface Answer {
  status: number;
  code: string | undefined;
  resource: string | undefined;
}

async function submit(target: TestApi, user: TestUser, image: Buffer): Promise<Answer> {
  const response = await fetch(`${target.baseUrl}/v1/jobs`, { method: 'POST', headers: user.headers, body: imageForm(image) });
  const body = (await response.json()) as { error?: { code: string; details?: { resource?: string } } };
  return { status: response.status, code: body.error?.code, resource: body.error?.details?.resource };
}

const storedJobs = (target: TestApi, user: TestUser) => target.deps.db.job.count({ where: { userId: user.userId } });

/** Resolves once `probe` holds, asking every 20 ms (for state the server changes when a socket closes). */
async function eventually(probe: () => boolean | Promise<boolean>): Promise<void> {
  await expect.poll(probe, { timeout: 5000, interval: 20 }).toBe(true);
}

describe('one user cannot crowd out the others', () => {
  it('120 concurrent free submits, then 5 pro submits: all five pro submits are accepted, and the flood is refused only with its own 429s', async () => {
    const target = await start({ tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    const flood = Array.from({ length: 120 }, () => submit(target, target.user, image));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const pros = await Promise.all(Array.from({ length: 5 }, () => submit(target, pro, image)));
    const floods = await Promise.all(flood);

    expect(pros.map((answer) => answer.status)).toEqual([202, 202, 202, 202, 202]);
    const refused = floods.filter((answer) => answer.status !== 202);
    for (const answer of refused) expect(answer).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'submits' });
    expect(await storedJobs(target, target.user)).toBe(floods.length - refused.length);
    expect(await storedJobs(target, pro)).toBe(5);
  });

  it('holds one user to their share of submissions in progress; another user is still taken; nothing is stored for a refusal', async () => {
    const shares = new AdmissionShares({ submits: 4, submitsPerUser: 2 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    // Two submissions of the free user in progress, as if still validating.
    const held = [shares.submits.tryAcquire(target.user.userId), shares.submits.tryAcquire(target.user.userId)];
    const image = await validJpeg(64, 48);
    const refused = await submit(target, target.user, image);
    expect(refused).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'submits' });
    expect((await submit(target, pro, image)).status).toBe(202);
    expect(await storedJobs(target, target.user)).toBe(0);
    for (const lease of held) if (lease.ok) lease.release();
    expect((await submit(target, target.user, image)).status).toBe(202);
  });

  it("refuses a known key's submissions while its user holds their share before the rate limiter counts them", async () => {
    const shares = new AdmissionShares({ submits: 8, submitsPerUser: 2 });
    const target = await start({ shares, tierOverrides: { free: { submitsPerWindow: 3, submitBurst: 0, requestsPerWindow: 1000 } } });
    const image = await validJpeg(64, 48);
    expect((await submit(target, target.user, image)).status).toBe(202); // the key is now known
    const held = [shares.submits.tryAcquire(target.user.userId), shares.submits.tryAcquire(target.user.userId)];
    // Each is held for its Retry-After (1 s) before it is answered.
    const refused = await Promise.all(Array.from({ length: 5 }, () => submit(target, target.user, image)));
    for (const answer of refused) expect(answer).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'submits' });
    for (const lease of held) if (lease.ok) lease.release();
    // The five refusals spent nothing of the rate budget: two of its three submits are left.
    expect((await submit(target, target.user, image)).status).toBe(202);
    expect((await submit(target, target.user, image)).status).toBe(202);
    expect(await submit(target, target.user, image)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  });

  it('decodes by declared pixels: a user holding their share of decode memory gets 429, a full process 503, others go on', async () => {
    const shares = new AdmissionShares({ decodePixels: 10_000_000, decodePixelsPerUser: 4_000_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const third = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    const mine = shares.decodePixels.tryAcquire(target.user.userId, 4_000_000);
    expect(await submit(target, target.user, image)).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'decodePixels' });
    expect((await submit(target, pro, image)).status).toBe(202);
    const theirs = shares.decodePixels.tryAcquire(pro.userId, 4_000_000);
    const more = shares.decodePixels.tryAcquire(`${pro.userId}-other`, 1_999_000);
    expect(await submit(target, third, await validJpeg(1000, 1000))).toMatchObject({ status: 503, code: 'SERVER_BUSY', resource: 'decodePixels' });
    for (const lease of [mine, theirs, more]) if (lease.ok) lease.release();
    expect((await submit(target, third, await validJpeg(1000, 1000))).status).toBe(202);
    expect(shares.decodePixels.inUse).toBe(0);
  });

  it('under concurrent large decodes, the flooding user is refused with their own 429s and the other user never', async () => {
    // 1600×1200 is 1.92 MP: three of them fit one user's share.
    const shares = new AdmissionShares({ decodePixels: 64_000_000, decodePixelsPerUser: 6_000_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const large = await photoLikeImage(1600, 1200, 'jpeg');
    const flood = Array.from({ length: 12 }, () => submit(target, target.user, large));
    const pros = await Promise.all(Array.from({ length: 3 }, () => submit(target, pro, large)));
    for (const answer of await Promise.all(flood)) {
      if (answer.status !== 202) expect(answer).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED' });
    }
    expect(pros.map((answer) => answer.status)).toEqual([202, 202, 202]);
    expect(shares.decodePixels.inUse).toBe(0);
  });
});

describe('upload memory', () => {
  it("refuses a body declared larger than the caller's tier takes at once, before any of it is sent (413)", async () => {
    const target = await start({ tierOverrides: { free: { ...lifted, maxUploadBytes: 100_000 } } });
    const stalled = stalledUpload(target, target.user, 1_500_000);
    try {
      const { status, body } = await stalled.answer;
      expect(status).toBe(413);
      expect(body.error).toMatchObject({ code: 'IMAGE_TOO_LARGE', details: { maxBytes: 100_000 } });
    } finally {
      stalled.req.destroy();
    }
  });

  it("stops reading an upload with no declared length at the tier's own limit, not the global one", async () => {
    const target = await start({ tierOverrides: { free: { ...lifted, maxUploadBytes: 100_000 } } });
    const image = await photoLikeImage(800, 600, 'png');
    expect(image.length).toBeGreaterThan(100_000);
    // Through a stream, so the body goes chunked, with no Content-Length to refuse it by.
    const form = new Response(imageForm(image));
    const response = await fetch(`${target.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { ...target.user.headers, 'content-type': form.headers.get('content-type')! },
      body: form.body,
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: { details: unknown } }).error.details).toEqual({ maxBytes: 100_000 });
  });

  it('holds one user to their share of buffered bytes (429 at once), a full process answers 503, and other users go on', async () => {
    const shares = new AdmissionShares({ uploadBytes: 1_100_000, uploadBytesPerUser: 600_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const third = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const stalled = [stalledUpload(target, target.user, 400_000)];
    try {
      await eventually(() => shares.uploadBytes.heldBy(target.user.userId) === 400_000);
      const over = stalledUpload(target, target.user, 300_000);
      stalled.push(over);
      expect(await over.answer).toMatchObject({ status: 429, body: { error: { code: 'CONCURRENCY_LIMITED', details: { resource: 'uploadBytes', limit: 600_000 } } } });
      expect((await submit(target, pro, await validJpeg(64, 48))).status).toBe(202);

      stalled.push(stalledUpload(target, pro, 600_000));
      await eventually(() => shares.uploadBytes.inUse === 1_000_000);
      const full = stalledUpload(target, third, 200_000);
      stalled.push(full);
      expect(await full.answer).toMatchObject({ status: 503, body: { error: { code: 'SERVER_BUSY', details: { resource: 'uploadBytes' } } } });
    } finally {
      for (const upload of stalled) upload.req.destroy();
    }
    // A client that goes away gives its bytes back.
    await eventually(() => shares.uploadBytes.inUse === 0);
    expect((await submit(target, target.user, await validJpeg(64, 48))).status).toBe(202);
  });
});
