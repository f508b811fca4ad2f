import { describe, expect, inject, it } from 'vitest';
import { AdmissionShares } from '@inferq/admission';
import { photoLikeImage, validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
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
  const response = await fetch(`${target.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(image),
  });
  const body = (await response.json()) as { error?: { code: string; details?: { resource?: string } } };
  return { status: response.status, code: body.error?.code, resource: body.error?.details?.resource };
}

const storedJobs = (target: TestApi, user: TestUser) => target.deps.db.job.count({ where: { userId: user.userId } });

/** Resolves once `probe` holds, asking every 20 ms (for state the server changes when a socket closes). */
async function eventually(probe: () => boolean | Promise<boolean>): Promise<void> {
  await expect.poll(probe, { timeout: 5000, interval: 20 }).toBe(true);
}

describe('fair admission: one user alone uses the whole server, and under contention no user starves another', () => {
  it('a burst of 64 submits from one pro user on an idle server is all accepted (waiting its turn, never refused)', async () => {
    const target = await start({});
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    const answers = await Promise.all(Array.from({ length: 64 }, () => submit(target, pro, image)));
    expect(answers.filter((answer) => answer.status !== 202)).toEqual([]);
    expect(await storedJobs(target, pro)).toBe(64);
    expect(target.deps.shares?.submits.inUse ?? 0).toBe(0);
  });

  it('a free flood of 300 beside 20 pro submits: all 20 pro submits are accepted, and the flood is refused only with 429s', async () => {
    const target = await start({ tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    const flood = Array.from({ length: 300 }, () => submit(target, target.user, image));
    await new Promise((resolve) => setTimeout(resolve, 10));
    const pros = await Promise.all(Array.from({ length: 20 }, () => submit(target, pro, image)));
    const floods = await Promise.all(flood);

    expect(pros.filter((answer) => answer.status !== 202)).toEqual([]);
    const refused = floods.filter((answer) => answer.status !== 202);
    for (const answer of refused) expect(answer).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED' });
    expect(await storedJobs(target, target.user)).toBe(floods.length - refused.length);
    expect(await storedJobs(target, pro)).toBe(20);
  });

  it('a submit waits for a slot held by another user instead of being refused; past the wait bound the holder gets 429 and the other 503', async () => {
    const shares = new AdmissionShares({ submits: 2, maxWaitMs: 300 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    // Both slots held by the free user, as if still validating.
    const held = [await shares.submits.acquire(target.user.userId), await shares.submits.acquire(target.user.userId)];
    const waiting = submit(target, pro, image);
    await new Promise((resolve) => setTimeout(resolve, 100));
    held[0]!.release();
    expect((await waiting).status).toBe(202);

    // Past the bound: the holder is told it holds its fair share (429), the other that the server is busy (503).
    const again = await shares.submits.acquire(target.user.userId);
    const [mine, theirs] = await Promise.all([submit(target, target.user, image), submit(target, pro, image)]);
    expect(mine).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'submits' });
    expect(theirs).toMatchObject({ status: 503, code: 'SERVER_BUSY', resource: 'submits' });
    expect(await storedJobs(target, target.user)).toBe(0);
    held[1]!.release();
    again.release();
    expect((await submit(target, target.user, image)).status).toBe(202);
  });

  it("refuses a known key's submissions while its user's queues are full, before the rate limiter counts them", async () => {
    const shares = new AdmissionShares({ submits: 1, maxWaitMs: 60_000, queueLengthLimit: 1 });
    const target = await start({
      shares,
      tierOverrides: { free: { submitsPerWindow: 20, submitBurst: 0, requestsPerWindow: 1000 } },
    });
    const image = await validJpeg(64, 48);
    expect((await submit(target, target.user, image)).status).toBe(202); // the key is now known
    const held = await shares.submits.acquire(target.user.userId);
    // Six queues of one: six submits wait; the next ones are refused at the door.
    const waiting = Array.from({ length: 6 }, () => submit(target, target.user, image));
    await eventually(() => shares.submits.waiting === 6);
    const refused = await Promise.all(Array.from({ length: 3 }, () => submit(target, target.user, image)));
    for (const answer of refused)
      expect(answer).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED', resource: 'submits' });
    held.release();
    expect((await Promise.all(waiting)).map((answer) => answer.status)).toEqual([202, 202, 202, 202, 202, 202]);
    // The refusals spent nothing of the rate budget: 1 + 6 used, 13 left.
    for (let i = 0; i < 13; i++) expect((await submit(target, target.user, image)).status).toBe(202);
    expect(await submit(target, target.user, image)).toMatchObject({ status: 429, code: 'RATE_LIMITED' });
  });

  it("keeps a user's submissions past the door's few waiting there, unread, while another user's go straight in", async () => {
    const shares = new AdmissionShares({ submits: 1, enteringPerUser: 2, maxWaitMs: 10_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const image = await validJpeg(64, 48);
    // Both keys are known once they have authenticated: at the door their requests count as their users'.
    expect((await submit(target, target.user, image)).status).toBe(202);
    expect((await submit(target, pro, image)).status).toBe(202);
    const held = await shares.submits.acquire('someone else');
    const flood = Array.from({ length: 6 }, () => submit(target, target.user, image));
    // Two are read and wait for the slot; four wait at the door, their bodies unread.
    await eventually(() => shares.submits.waiting === 2 && shares.entry.waiting === 4);
    const proAnswer = submit(target, pro, image);
    await eventually(() => shares.submits.waiting === 3);
    expect(shares.entry.waiting).toBe(4);
    expect(shares.entry.insideOf(pro.userId)).toBe(1);
    // What an operator sees: the user's six submissions all wait for their turn at a slot.
    const use = shares.snapshot().submits.flows.find((flow) => flow.flow === target.user.userId);
    expect(use).toMatchObject({ waiting: 6 });

    // A request with the user's key prefix but not their key is not in their line: answered at once.
    const [prefix] = /^iq_[0-9a-f]{12}/.exec(target.user.key)!;
    const forged = await fetch(`${target.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${prefix}_${'A'.repeat(43)}` },
      body: imageForm(image),
    });
    expect(forged.status).toBe(401);
    expect(shares.entry.waiting).toBe(4);

    held.release();
    expect((await proAnswer).status).toBe(202);
    expect((await Promise.all(flood)).map((answer) => answer.status)).toEqual([202, 202, 202, 202, 202, 202]);
    expect(await storedJobs(target, target.user)).toBe(7);
    expect(shares.entry.waiting).toBe(0);
    expect(shares.entry.insideOf(target.user.userId)).toBe(0);
  });

  it("refuses a user's submission at the door once their line there is full, before reading it", async () => {
    // One past the door, and a line of six (the six queues of one that a user's hand holds).
    const shares = new AdmissionShares({ submits: 1, enteringPerUser: 1, queueLengthLimit: 1, maxWaitMs: 10_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const image = await validJpeg(64, 48);
    expect((await submit(target, target.user, image)).status).toBe(202);
    const held = await shares.submits.acquire('someone else');
    const waiting = Array.from({ length: 7 }, () => submit(target, target.user, image));
    await eventually(() => shares.submits.waiting === 1 && shares.entry.waiting === 6);
    expect(await submit(target, target.user, image)).toMatchObject({
      status: 429,
      code: 'CONCURRENCY_LIMITED',
      resource: 'submits',
    });
    held.release();
    expect((await Promise.all(waiting)).every((answer) => answer.status === 202)).toBe(true);
    expect(await storedJobs(target, target.user)).toBe(8);
  });

  it("lets a user's next submission in past their stalled upload: the door counts work, not waiting", async () => {
    const shares = new AdmissionShares({ enteringPerUser: 1, maxWaitMs: 3000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const image = await validJpeg(64, 48);
    expect((await submit(target, target.user, image)).status).toBe(202);
    // Inside the door, its body never finishing: it counts against the user for the first second only.
    const stalled = stalledUpload(target, target.user, 200_000);
    try {
      await eventually(() => shares.entry.insideOf(target.user.userId) === 1);
      const next = await submit(target, target.user, image);
      expect(next.status).toBe(202);
      expect(await storedJobs(target, target.user)).toBe(2);
    } finally {
      stalled.req.destroy();
    }
  });

  it('decodes in turn by cost: a decode waits while the budget is spoken for, and goes once it frees', async () => {
    const shares = new AdmissionShares({ decodePixels: 10_000_000, maxWaitMs: 2000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const hog = await shares.decodePixels.acquire(target.user.userId, 9_999_000);
    const waiting = submit(target, pro, await validJpeg(1000, 1000));
    await eventually(() => shares.decodePixels.waiting === 1);
    hog.release();
    expect((await waiting).status).toBe(202);
    expect(shares.decodePixels.inUse).toBe(0);
  });

  it('under concurrent large decodes of a flooding user, the other user is never refused', async () => {
    // 1600×1200 is 1.92 MP: three decodes at once fill the budget.
    const shares = new AdmissionShares({ decodePixels: 6_000_000 });
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

  it('an upload waits its turn for buffered bytes held by another user, and is answered 503 only past the wait bound', async () => {
    const shares = new AdmissionShares({ uploadBytes: 1_000_000, maxWaitMs: 400 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const pro = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const stalled = [stalledUpload(target, target.user, 990_000)];
    try {
      await eventually(() => shares.uploadBytes.heldBy(target.user.userId) === 990_000);
      // Past the bound: the other user is told the server is busy, the holder that it holds its share.
      expect(await submit(target, pro, await validJpeg(256, 256))).toMatchObject({
        status: 503,
        code: 'SERVER_BUSY',
        resource: 'uploadBytes',
      });
      const mine = stalledUpload(target, target.user, 300_000);
      stalled.push(mine);
      expect(await mine.answer).toMatchObject({
        status: 429,
        body: { error: { code: 'CONCURRENCY_LIMITED', details: { resource: 'uploadBytes' } } },
      });
      // Within the bound: the pro submit waits, and goes once the stalled upload is gone.
      const waiting = submit(target, pro, await validJpeg(256, 256));
      await eventually(() => shares.uploadBytes.waiting === 1);
      stalled[0]!.req.destroy();
      expect((await waiting).status).toBe(202);
    } finally {
      for (const upload of stalled) upload.req.destroy();
    }
    // A client that goes away gives its bytes back.
    await eventually(() => shares.uploadBytes.inUse === 0);
    expect((await submit(target, target.user, await validJpeg(64, 48))).status).toBe(202);
  });
});

describe('admission reported per user and resource', () => {
  it('shows who waited and who was refused in GET /v1/admin/admission and /metrics', async () => {
    const shares = new AdmissionShares({ submits: 1, maxWaitMs: 100 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const admin = await createTestUser(inject('databaseUrl'), { tier: 'pro', role: 'admin' });
    const image = await validJpeg(64, 48);
    const held = await shares.submits.acquire(target.user.userId);
    expect(await submit(target, target.user, image)).toMatchObject({ status: 429, code: 'CONCURRENCY_LIMITED' });
    held.release();

    const response = await fetch(`${target.baseUrl}/v1/admin/admission`, { headers: admin.headers });
    expect(response.status).toBe(200);
    const view = (await response.json()) as {
      submits: { capacity: number; inUse: number; users: Array<{ userId: string; queued: number; refused: number }> };
    };
    expect(view.submits).toMatchObject({ capacity: 1, inUse: 0 });
    expect(view.submits.users.find((user) => user.userId === target.user.userId)).toMatchObject({
      queued: 1,
      refused: 1,
    });
    expect((await fetch(`${target.baseUrl}/v1/admin/admission`, { headers: target.user.headers })).status).toBe(403);

    const metrics = await (await fetch(`${target.baseUrl}/metrics`)).text();
    expect(metrics).toContain(`inferq_admission_refused_total{resource="submits",user="${target.user.userId}"} 1`);
    expect(metrics).toContain(`inferq_admission_queued_total{resource="submits",user="${target.user.userId}"} 1`);
    expect(metrics).toMatch(/^inferq_admission_capacity\{resource="submits"\} 1$/m);
  });
});
