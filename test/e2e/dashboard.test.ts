import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drawingImage, photoLikeImage, textFile } from '@inferq/images/testing';
import { repoRoot, type PlatformProcess, type TestUser } from '@inferq/testing';
import { InferenceQueue } from '@inferq/queue';
import { ensureDashboardBuilt, launchChromium } from './browser.ts';
import { createTestUser, getJob, platformEnv, startApiProcess, startWorkerProcess, stopAll, submit, waitForFinal, type Caller } from './platform.ts';

/** `UPDATE_SCREENSHOTS=1` refreshes the README's pictures; other runs leave them alone and write to a temporary folder. */
const screenshots = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(repoRoot, 'docs/screenshots') : path.join(os.tmpdir(), 'inferq-dashboard-screenshots');
const wide = { width: 1280, height: 860 };
const phone = { width: 390, height: 844 };

describe('the dashboard in Chromium, against the real API, worker, Postgres and Redis', () => {
  // The pro tier allows one submission per minute here, so a second one shows the rate-limit answer.
  const env = platformEnv({ extra: { TIER_OVERRIDES: JSON.stringify({ pro: { submitsPerWindow: 1, submitBurst: 0 } }) } });
  let api: PlatformProcess | undefined;
  let worker: PlatformProcess | undefined;
  let baseUrl = '';
  let user: TestUser;
  let admin: TestUser;
  let browser: Browser;
  let redis: Redis;
  let queue: InferenceQueue;
  let db: pg.Client;
  /** Every address the browser asked for that held a key; must stay empty. */
  const keyInUrl: string[] = [];

  beforeAll(async () => {
    const [started, startedWorker] = await Promise.all([
      startApiProcess(env),
      startWorkerProcess({ ...env, workerId: 'dashboard-e2e-worker' }),
      ensureDashboardBuilt(),
      mkdir(screenshots, { recursive: true }),
    ]);
    api = started.process;
    baseUrl = started.baseUrl;
    worker = startedWorker.process;
    [user, admin] = await Promise.all([createTestUser(env.databaseUrl), createTestUser(env.databaseUrl, { role: 'admin' })]);
    browser = await launchChromium();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    // Every model's queue (pause and resume act on all of them).
    queue = new InferenceQueue({ connection: redis, name: env.queueName!, prefix: env.queuePrefix, models: () => ['nsfw', 'mnist'] });
    db = new pg.Client({ connectionString: env.databaseUrl });
    await db.connect();
  });

  afterAll(async () => {
    await browser?.close();
    await queue?.obliterate().catch(() => {});
    await queue?.close();
    redis?.disconnect();
    await db?.end();
    await stopAll([api, worker]);
  });

  async function signIn(key: string, viewport = wide): Promise<{ context: BrowserContext; page: Page; eventStreams: () => number }> {
    const context = await browser.newContext({ viewport, deviceScaleFactor: viewport === phone ? 2 : 1, locale: 'en-GB', timezoneId: 'UTC' });
    const page = await context.newPage();
    let streams = 0;
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/v1/events') streams++;
      if (request.url().includes(key)) keyInUrl.push(request.url());
    });
    await page.goto(`${baseUrl}/`);
    await page.waitForURL('**/dashboard/sign-in');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your jobs' }).waitFor();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor();
    return { context, page, eventStreams: () => streams };
  }

  function row(page: Page, id: string) {
    return page.locator(`[data-testid="jobs-table"] tr[data-job-id="${id}"]`);
  }

  async function submitInPage(page: Page, bytes: Buffer, name: string, mimeType: string) {
    await page.getByTestId('file-input').setInputFiles({ name, mimeType, buffer: bytes });
    const [response] = await Promise.all([
      page.waitForResponse((answer) => answer.url().endsWith('/v1/jobs') && answer.request().method() === 'POST'),
      page.getByRole('button', { name: 'Submit', exact: true }).click(),
    ]);
    return response;
  }

  it('a user signs in, submits a real image, watches it reach succeeded live and sees its scores as a chart', async () => {
    const { context, page, eventStreams } = await signIn(user.key);
    expect(await page.evaluate(() => ({ session: sessionStorage.length, local: localStorage.length, cookies: document.cookie }))).toEqual({ session: 1, local: 0, cookies: '' });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'jobs-empty.png') });
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));

    const image = await sharp(await drawingImage(640, 480)).jpeg({ quality: 90 }).toBuffer();
    await page.getByTestId('file-input').setInputFiles({ name: 'drawing.jpg', mimeType: 'image/jpeg', buffer: image });
    await page.getByAltText('Preview of the image to submit').waitFor();
    // Every status the row shows, in order, recorded in the page as it changes.
    await page.evaluate(() => {
      const seen: string[] = [];
      Object.assign(window, { seenStatuses: seen });
      const record = () => {
        const status = document.querySelector('[data-testid="jobs-table"] tbody tr')?.getAttribute('data-status');
        if (status && seen.at(-1) !== status) seen.push(status);
      };
      new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
    });
    const answer = await submitInPage(page, image, 'drawing.jpg', 'image/jpeg');
    expect(answer.status()).toBe(202);
    const { id } = (await answer.json()) as { id: string };

    await row(page, id).and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { seenStatuses: string[] }).seenStatuses);
    expect(seen.at(-1)).toBe('succeeded');
    // Never backwards: each status seen comes later in the lifecycle than the one before.
    const order = ['queued', 'running', 'succeeded'];
    expect(seen.map((status) => order.indexOf(status))).toEqual([...seen.map((status) => order.indexOf(status))].sort());
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    await expect.poll(() => row(page, id).locator('td[data-label="Inference"]').textContent()).toMatch(/\d+ (ms|s)/);

    await row(page, id).getByRole('link').click();
    const chart = page.getByTestId('scores-chart');
    await chart.waitFor();
    // One labelled bar per class (a near-zero score draws no rectangle, but keeps its label and row).
    await expect.poll(() => chart.locator('.recharts-yAxis .recharts-cartesian-axis-tick').count()).toBe(5);
    expect(await chart.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    expect(await chart.locator('table th').allTextContents()).toHaveLength(5);
    expect(await page.getByTestId('top-label').textContent()).toMatch(/^Drawing/);
    const picture = page.getByTestId('job-image');
    await picture.waitFor();
    expect(await picture.evaluate((element) => [(element as HTMLImageElement).naturalWidth, (element as HTMLImageElement).naturalHeight])).toEqual([640, 480]);
    expect(await page.getByTestId('attempts').textContent()).toBe('1');
    await page.getByText('Raw output').click();
    const raw = JSON.parse((await page.getByTestId('raw-output').textContent()) ?? '') as { output: number[][] };
    expect(raw.output[0]).toHaveLength(5);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'job-detail.png'), fullPage: true });

    // One event stream for the tab, however many pages were opened in it.
    expect(eventStreams()).toBe(1);
    await context.close();
  });

  it('the image route serves the stored input to its owner only', async () => {
    const job = await submit({ baseUrl, user }, await photoLikeImage(96, 64, 'png'));
    const own = await fetch(`${baseUrl}/v1/jobs/${job.id}/image`, { headers: user.headers });
    expect(own.status).toBe(200);
    expect(own.headers.get('content-type')).toBe('image/png');
    expect((await sharp(Buffer.from(await own.arrayBuffer())).metadata()).width).toBe(96);
    const other = await fetch(`${baseUrl}/v1/jobs/${job.id}/image`, { headers: admin.headers });
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
    await waitForFinal({ baseUrl, user }, job.id);
  });

  it('shows a file that is not an image refused with the API code and message, and stores nothing', async () => {
    const { context, page } = await signIn(user.key);
    const before = (await (await fetch(`${baseUrl}/v1/jobs?limit=100`, { headers: user.headers })).json()) as { data: unknown[] };
    const answer = await submitInPage(page, textFile(), 'holiday.jpg', 'image/jpeg');
    const body = (await answer.json()) as { error: { code: string; message: string } };
    expect(answer.status()).toBe(400);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe(body.error.code);
    expect(body.error.code).toBe('INVALID_IMAGE');
    expect(await alert.textContent()).toContain(body.error.message);
    const after = (await (await fetch(`${baseUrl}/v1/jobs?limit=100`, { headers: user.headers })).json()) as { data: unknown[] };
    expect(after.data).toHaveLength(before.data.length);
    await context.close();
  });

  it('says "rate limited" with the wait when the tier refuses a submission', async () => {
    const limited = await createTestUser(env.databaseUrl, { tier: 'pro' });
    const { context, page } = await signIn(limited.key);
    const image = await photoLikeImage(128, 96);
    expect((await submitInPage(page, image, 'first.jpg', 'image/jpeg')).status()).toBe(202);
    const refused = await submitInPage(page, image, 'second.jpg', 'image/jpeg');
    expect(refused.status()).toBe(429);
    const retryAfter = Number(refused.headers()['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe('RATE_LIMITED');
    expect(await alert.textContent()).toMatch(/retry in \d+ s/);
    await context.close();
  });

  it('cancels a queued job from its page while the queue is paused', async () => {
    await queue.pause();
    try {
      const { context, page } = await signIn(user.key);
      const answer = await submitInPage(page, await photoLikeImage(200, 150), 'wait.jpg', 'image/jpeg');
      const { id } = (await answer.json()) as { id: string };
      await row(page, id).and(page.locator('[data-status="queued"]')).waitFor();
      await row(page, id).getByRole('link').click();
      await page.getByRole('button', { name: 'Cancel job' }).click();
      await page.locator('.badge[data-status="canceled"]').waitFor();
      expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
      expect((await getJob({ baseUrl, user }, id)).status).toBe('canceled');
      await context.close();
    } finally {
      await queue.resume();
    }
  });

  it('an operator sees queue counts and workers change live, retries a failed job and cancels a user’s job', async () => {
    const { context, page } = await signIn(admin.key);
    await page.getByRole('link', { name: 'Operations' }).click();
    const panel = page.getByTestId('queue-panel');
    await panel.waitFor();
    await page.locator('[data-worker-id="dashboard-e2e-worker"]').waitFor();
    await expect.poll(() => page.getByTestId('cap').textContent()).toMatch(/^0 \/ 10,000/);

    // Paused: submitted jobs stay in the queue, and the counts (pushed every 2 s) show them.
    await queue.pause();
    const caller: Caller = { baseUrl, user };
    const image = await photoLikeImage(160, 120);
    const held = await Promise.all([submit(caller, image), submit(caller, image), submit(caller, image)]);
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^3 \/ 10,000/);
    expect(await panel.getByText('paused').count()).toBe(1);
    // The nsfw model's own queue holds them (one queue per model).
    expect(await panel.getByTestId('queued-nsfw').textContent()).toBe('3');
    expect(await panel.getByTestId('queued-mnist').textContent()).toBe('0');

    // Cancel one of the user's queued jobs from the operators' list.
    await page.getByRole('button', { name: 'Queued and running' }).click();
    const adminRow = page.locator(`[data-testid="admin-jobs-panel"] tr[data-job-id="${held[0]!.id}"]`);
    await adminRow.getByRole('button', { name: 'Cancel' }).click();
    await adminRow.waitFor({ state: 'detached' });
    expect((await getJob(caller, held[0]!.id)).status).toBe('canceled');
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^2 \/ 10,000/);

    // A genuine worker failure: the input of a queued job goes missing (INPUT_MISSING, no retries).
    const broken = held[1]!;
    const { rows } = await db.query<{ data: Buffer }>('SELECT data FROM job_inputs WHERE job_id = $1', [broken.id]);
    await db.query('DELETE FROM job_inputs WHERE job_id = $1', [broken.id]);
    await queue.resume();
    await waitForFinal(caller, held[2]!.id);
    expect(await waitForFinal(caller, broken.id)).toMatchObject({ status: 'failed', error: { code: 'INPUT_MISSING' } });
    await expect.poll(() => page.getByTestId('count-completed').textContent(), { timeout: 15_000 }).not.toBe('0');
    await page.getByRole('button', { name: 'Failed', exact: true }).click();
    const failedRow = page.locator(`[data-testid="admin-jobs-panel"] tr[data-job-id="${broken.id}"]`);
    await failedRow.getByText('INPUT_MISSING').waitFor();

    // The input is restored, and the operator's retry runs the same job id again to success.
    await db.query('INSERT INTO job_inputs (job_id, data) VALUES ($1, $2)', [broken.id, rows[0]!.data]);
    await failedRow.getByRole('button', { name: 'Retry' }).click();
    await failedRow.waitFor({ state: 'detached' });
    const retried = await waitForFinal(caller, broken.id);
    expect(retried).toMatchObject({ status: 'succeeded', attempts: 2, error: null });
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^0 \/ 10,000/);
    await page.getByTestId('throughput-chart').locator('.recharts-area').first().waitFor({ state: 'attached' });
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'operations.png'), fullPage: true });

    // A worker that dies without a word disappears from the list once its heartbeat expires.
    worker!.kill('SIGKILL');
    await worker!.exited;
    await page.locator('[data-worker-id="dashboard-e2e-worker"]').waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByText('No workers running').waitFor();
    await context.close();
  });

  it('phone width: the pages stack into one readable column', async () => {
    const { context, page } = await signIn(admin.key, phone);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(phone.width);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'jobs-phone.png') });
    await page.getByRole('link', { name: 'Operations' }).click();
    await page.getByTestId('queue-panel').waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(phone.width);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'operations-phone.png') });
    await context.close();
  });

  it('ends the session and says "signed out" when the key stops working', async () => {
    const doomed = await createTestUser(env.databaseUrl);
    const { context, page } = await signIn(doomed.key);
    await db.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [doomed.keyId]);
    await page.getByRole('button', { name: 'Failed' }).click();
    await page.waitForURL('**/dashboard/sign-in');
    expect(await page.locator('[data-code="UNAUTHENTICATED"]').textContent()).toContain('Signed out');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });

  it("a user's list shows every job above, newest first, each with its own status", async () => {
    const { context, page } = await signIn(user.key);
    // The list loads after the page shell; wait for the rows rather than reading a table still on its way.
    await expect.poll(() => page.locator('[data-testid="jobs-table"] tbody tr').count()).toBeGreaterThanOrEqual(6);
    const statuses = await page.locator('[data-testid="jobs-table"] tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')));
    expect(statuses.length).toBeGreaterThanOrEqual(6);
    expect(new Set(statuses)).toEqual(new Set(['succeeded', 'canceled']));
    await page.getByRole('button', { name: 'Canceled' }).click();
    await expect.poll(() => page.locator('[data-testid="jobs-table"] tbody tr').count()).toBe(2);
    await page.getByRole('button', { name: 'All' }).click();
    await expect.poll(() => page.locator('[data-testid="jobs-table"] tbody tr').count()).toBe(statuses.length);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'jobs.png') });
    await context.close();
  });

  it('never put a key in an address (every request above was checked)', () => {
    expect(keyInUrl).toEqual([]);
  });
});
