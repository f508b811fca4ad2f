import { describe, expect, inject, it } from 'vitest';
import { AdmissionShares } from '@inferq/admission';
import sharp from 'sharp';
import { validJpeg } from '@inferq/images/testing';
import { createTestUser, type TestUser } from '@inferq/testing';
import { apiPerTest, imageForm, type TestApi } from './apiHarness.ts';

const start = apiPerTest();
const lifted = { submitsPerWindow: 100_000, submitBurst: 0, requestsPerWindow: 100_000, maxJobsInFlight: 100_000 };

/** A flat AVIF: a few hundred bytes that declare many pixels (what a hostile upload looks like). */
const flatAvif = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: { r: 90, g: 140, b: 200 } } })
    .avif({ effort: 0 })
    .toBuffer();

async function submit(
  target: TestApi,
  user: TestUser,
  image: Buffer,
): Promise<{ status: number; id?: string; code?: string; details?: Record<string, unknown>; at: number }> {
  const response = await fetch(`${target.baseUrl}/v1/jobs`, {
    method: 'POST',
    headers: user.headers,
    body: imageForm(image),
  });
  const body = (await response.json()) as { id?: string; error?: { code: string; details?: Record<string, unknown> } };
  return {
    status: response.status,
    id: body.id,
    code: body.error?.code,
    details: body.error?.details,
    at: performance.now(),
  };
}

async function thumbnail(
  target: TestApi,
  user: TestUser,
  id: string,
  size: number,
): Promise<{ status: number; bytes: Buffer; at: number }> {
  const response = await fetch(`${target.baseUrl}/v1/jobs/${id}/image?size=${size}`, { headers: user.headers });
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()), at: performance.now() };
}

describe('every decode is admitted by cost', () => {
  it('refuses an AVIF past its own pixel limit at submit (413), naming the format', async () => {
    const target = await start({
      tierOverrides: { free: lifted },
      imageLimits: {
        maxBytes: 10 * 1024 * 1024,
        maxPixels: 40_000_000,
        minWidth: 32,
        minHeight: 32,
        maxWidth: 8192,
        maxHeight: 8192,
        maxPixelsByFormat: { avif: 1_000_000 },
      },
    });
    const answer = await submit(target, target.user, await flatAvif(1200, 1000));
    expect(answer).toMatchObject({
      status: 413,
      code: 'IMAGE_TOO_LARGE',
      details: { maxPixels: 1_000_000, format: 'avif' },
    });
    expect((await submit(target, target.user, await flatAvif(1000, 1000))).status).toBe(202);
  });

  it("one user's many thumbnails of an expensive AVIF take turns with another user's submit, never answer 500, and are made once", async () => {
    // One 2000×2000 AVIF weighs 32 M of decode cost (8 per pixel): the budget runs one at a time.
    const shares = new AdmissionShares({ decodePixels: 40_000_000, maxWaitMs: 20_000 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const other = await createTestUser(inject('databaseUrl'), { tier: 'pro' });
    const hostile = await submit(target, target.user, await flatAvif(2000, 2000));
    expect(hostile.status).toBe(202);

    const sizes = [40, 48, 56, 64, 72, 80, 88, 96];
    const thumbnails = sizes.map((size) => thumbnail(target, target.user, hostile.id!, size));
    await expect.poll(() => shares.decodePixels.waiting, { timeout: 5000, interval: 5 }).toBeGreaterThan(0);
    const theirs = await submit(target, other, await validJpeg(640, 480));
    const mine = await Promise.all(thumbnails);

    expect(theirs.status).toBe(202);
    expect(mine.map((answer) => answer.status)).toEqual(sizes.map(() => 200));
    // The other user's submit had its turn before the last of the flood's thumbnails was made.
    expect(theirs.at).toBeLessThan(Math.max(...mine.map((answer) => answer.at)));
    for (const [i, answer] of mine.entries()) expect((await sharp(answer.bytes).metadata()).width).toBe(sizes[i]);
    expect(shares.decodePixels.inUse).toBe(0);

    // Made once: with the whole decode budget taken, a thumbnail made before is still answered
    // at once, from the cache; a new size waits its turn.
    const hog = await shares.decodePixels.acquire(other.userId, 40_000_000);
    const again = await thumbnail(target, target.user, hostile.id!, 64);
    expect(again.status).toBe(200);
    expect(again.bytes.equals(mine[3]!.bytes)).toBe(true);
    const fresh = thumbnail(target, target.user, hostile.id!, 128);
    await expect.poll(() => shares.decodePixels.waiting, { timeout: 5000, interval: 5 }).toBe(1);
    hog.release();
    expect((await fresh).status).toBe(200);
  });

  it('answers a thumbnail whose turn does not come in time with 429 or 503 and Retry-After, not 500', async () => {
    const shares = new AdmissionShares({ decodePixels: 10_000_000, maxWaitMs: 100 });
    const target = await start({ shares, tierOverrides: { free: lifted } });
    const job = await submit(target, target.user, await validJpeg(640, 480));
    const hog = await shares.decodePixels.acquire('someone-else', 10_000_000);
    const response = await fetch(`${target.baseUrl}/v1/jobs/${job.id}/image?size=64`, { headers: target.user.headers });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('SERVER_BUSY');
    hog.release();
    expect((await thumbnail(target, target.user, job.id!, 64)).status).toBe(200);
  });
});
