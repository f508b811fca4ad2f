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
import {
  createTestUser,
  getJob,
  platformEnv,
  startApiProcess,
  startWorkerProcess,
  stopAll,
  submit,
  waitForFinal,
  type Caller,
} from './platform.ts';

/** `UPDATE_SCREENSHOTS=1` refreshes the pictures of docs/dashboard.md; other runs leave them alone and write to a temporary folder. */
const screenshots =
  process.env.UPDATE_SCREENSHOTS === '1'
    ? path.join(repoRoot, 'docs/screenshots')
    : path.join(os.tmpdir(), 'inferq-dashboard-screenshots');
const wide = { width: 1280, height: 860 };
const phone = { width: 390, height: 844 };

describe('the dashboard in Chromium, against the real API, worker, Postgres and Redis', () => {
  // The pro tier allows one submission per minute here, so a second one shows the rate-limit answer.
  const env = platformEnv({
    extra: { TIER_OVERRIDES: JSON.stringify({ pro: { submitsPerWindow: 1, submitBurst: 0 } }) },
  });
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
    [user, admin] = await Promise.all([
      createTestUser(env.databaseUrl),
      createTestUser(env.databaseUrl, { role: 'admin' }),
    ]);
    browser = await launchChromium();
    redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    // Every model's queue (pause and resume act on all of them).
    queue = new InferenceQueue({
      connection: redis,
      name: env.queueName!,
      prefix: env.queuePrefix,
      models: () => ['nsfw', 'mnist'],
    });
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

  async function signIn(
    key: string,
    viewport = wide,
  ): Promise<{ context: BrowserContext; page: Page; eventStreams: () => number }> {
    const context = await browser.newContext({
      viewport,
      deviceScaleFactor: viewport === phone ? 2 : 1,
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
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
    expect(
      await page.evaluate(() => ({
        session: sessionStorage.length,
        local: localStorage.length,
        cookies: document.cookie,
      })),
    ).toEqual({ session: 1, local: 0, cookies: '' });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'jobs-empty.png') });
    await page.evaluate(() => Object.assign(window, { notReloaded: true }));

    const image = await sharp(await drawingImage(640, 480))
      .jpeg({ quality: 90 })
      .toBuffer();
    await page.getByTestId('file-input').setInputFiles({ name: 'drawing.jpg', mimeType: 'image/jpeg', buffer: image });
    await page.getByAltText('Preview of the image to submit').waitFor();
    // Every status the row shows, in order, recorded in the page as it changes.
    await page.evaluate(() => {
      const seen: string[] = [];
      // What the row's timing and result cells said in the very render that first showed "succeeded".
      const atSucceeded: { inference?: string | null; result?: string | null } = {};
      Object.assign(window, { seenStatuses: seen, atSucceeded });
      const record = () => {
        const row = document.querySelector('[data-testid="jobs-table"] tbody tr');
        const status = row?.getAttribute('data-status');
        if (status && seen.at(-1) !== status) {
          seen.push(status);
          if (status === 'succeeded' && atSucceeded.inference === undefined) {
            atSucceeded.inference = row!.querySelector('td[data-label="Inference"]')?.textContent ?? null;
            atSucceeded.result = row!.querySelector('td[data-label="Result"]')?.textContent ?? null;
          }
        }
      };
      new MutationObserver(record).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        attributeFilter: ['data-status'],
      });
    });
    const answer = await submitInPage(page, image, 'drawing.jpg', 'image/jpeg');
    expect(answer.status()).toBe(202);
    const { id } = (await answer.json()) as { id: string };

    await row(page, id).and(page.locator('[data-status="succeeded"]')).waitFor({ timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { seenStatuses: string[] }).seenStatuses);
    expect(seen.at(-1)).toBe('succeeded');
    // Never backwards: each status seen comes later in the lifecycle than the one before.
    const order = ['queued', 'running', 'succeeded'];
    expect(seen.map((status) => order.indexOf(status))).toEqual(
      [...seen.map((status) => order.indexOf(status))].sort(),
    );
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
    // Timings and the best class came with the status, not a render later.
    const atSucceeded = await page.evaluate(
      () => (window as unknown as { atSucceeded: { inference: string; result: string } }).atSucceeded,
    );
    expect(atSucceeded.inference).toMatch(/^\d+(\.\d)? (ms|s)$/);
    expect(atSucceeded.result).toMatch(/^Drawing \d+(\.\d)?%$/);
    expect(await row(page, id).getByTestId('file-name').textContent()).toBe('drawing.jpg');
    const thumbnail = row(page, id).getByTestId('job-thumbnail');
    await thumbnail.waitFor();
    // The API's thumbnail (88 px square for the 44 px cell), not the 640 × 480 upload.
    expect(
      await thumbnail.evaluate((element) => [
        (element as HTMLImageElement).naturalWidth,
        (element as HTMLImageElement).naturalHeight,
      ]),
    ).toEqual([88, 88]);

    await row(page, id).getByRole('link').click();
    const chart = page.getByTestId('scores-chart');
    await chart.waitFor();
    // One labelled bar per class (a near-zero score draws no rectangle, but keeps its label and row).
    await expect.poll(() => chart.locator('.recharts-yAxis .recharts-cartesian-axis-tick').count()).toBe(5);
    expect(await chart.locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0);
    expect(await chart.locator('table th').allTextContents()).toHaveLength(5);
    expect(await page.getByTestId('top-label').textContent()).toMatch(/^Drawing/);
    expect(await page.getByTestId('detail-file-name').textContent()).toContain('drawing.jpg');
    const picture = page.getByTestId('job-image');
    await picture.waitFor();
    expect(
      await picture.evaluate((element) => [
        (element as HTMLImageElement).naturalWidth,
        (element as HTMLImageElement).naturalHeight,
      ]),
    ).toEqual([640, 480]);
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
    const before = (await (await fetch(`${baseUrl}/v1/jobs?limit=100`, { headers: user.headers })).json()) as {
      data: unknown[];
    };
    const answer = await submitInPage(page, textFile(), 'holiday.jpg', 'image/jpeg');
    const body = (await answer.json()) as { error: { code: string; message: string } };
    expect(answer.status()).toBe(400);
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.getAttribute('data-code')).toBe(body.error.code);
    expect(body.error.code).toBe('INVALID_IMAGE');
    expect(await alert.textContent()).toContain(body.error.message);
    const after = (await (await fetch(`${baseUrl}/v1/jobs?limit=100`, { headers: user.headers })).json()) as {
      data: unknown[];
    };
    expect(after.data).toHaveLength(before.data.length);
    await context.close();
  });

  it('submits several files at once, with a progress bar, and says what became of each', async () => {
    const { context, page } = await signIn(user.key);
    // About 3 MB, under the free tier's 5 MiB: big enough that its upload takes a moment.
    const photo = await sharp(await photoLikeImage(1200, 900))
      .png()
      .toBuffer();
    const drawing = await sharp(await drawingImage(320, 240))
      .jpeg()
      .toBuffer();
    // Every progress bar the panel showed, recorded as it appears.
    await page.evaluate(() => {
      const bars = new Set<string>();
      Object.assign(window, { progressBars: bars });
      new MutationObserver(() => {
        for (const bar of document.querySelectorAll('[data-testid="file-progress"]'))
          bars.add(bar.getAttribute('aria-label') ?? '');
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.getByTestId('file-input').setInputFiles([
      { name: 'big photo.png', mimeType: 'image/png', buffer: photo },
      { name: 'notes.jpg', mimeType: 'image/jpeg', buffer: textFile() },
      { name: 'sketch.jpg', mimeType: 'image/jpeg', buffer: drawing },
    ]);
    const items = page.getByTestId('upload-list').getByRole('listitem');
    expect(await items.evaluateAll((found) => found.map((item) => item.getAttribute('data-file-name')))).toEqual([
      'big photo.png',
      'notes.jpg',
      'sketch.jpg',
    ]);
    await page.getByRole('button', { name: 'Submit all 3' }).click();
    await page.getByRole('status').getByText('Submitted 2 jobs; 1 refused').waitFor({ timeout: 30_000 });
    expect(
      await items.evaluateAll((found) =>
        found.map((item) => [item.getAttribute('data-file-name'), item.getAttribute('data-state')]),
      ),
    ).toEqual([
      ['big photo.png', 'submitted'],
      ['sketch.jpg', 'submitted'],
      ['notes.jpg', 'failed'],
    ]);
    expect(
      await page
        .getByTestId('upload-list')
        .locator('[data-file-name="notes.jpg"] [role="alert"]')
        .getAttribute('data-code'),
    ).toBe('INVALID_IMAGE');
    expect(await page.getByTestId('upload-progress').getAttribute('aria-valuenow')).toBe('100');
    expect(await page.getByTestId('upload-count').textContent()).toBe('2 / 3 submitted');
    const bars = await page.evaluate(() => [...(window as unknown as { progressBars: Set<string> }).progressBars]);
    expect(bars).toContain('Uploading big photo.png');

    // Each submitted file is a row with its name; both run to the end.
    const table = page.getByTestId('jobs-table');
    for (const name of ['big photo.png', 'sketch.jpg']) {
      await table
        .locator('tr[data-status="succeeded"]')
        .filter({ has: page.getByTestId('file-name').getByText(name, { exact: true }) })
        .waitFor({ timeout: 60_000 });
    }
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'upload-many.png') });
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
      // Asked first: "Keep it" leaves the job as it was.
      await page.getByRole('button', { name: 'Cancel job' }).click();
      const dialog = page.getByRole('dialog', { name: 'Cancel this job?' });
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Keep it' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect((await getJob({ baseUrl, user }, id)).status).toBe('queued');
      await page.getByRole('button', { name: 'Cancel job' }).click();
      await dialog.getByRole('button', { name: 'Cancel the job' }).click();
      await page.locator('.badge[data-status="canceled"]').waitFor();
      expect(await page.getByRole('button', { name: 'Cancel job' }).count()).toBe(0);
      expect((await getJob({ baseUrl, user }, id)).status).toBe('canceled');
      await context.close();
    } finally {
      await queue.resume();
    }
  });

  it('an operator cleans finished jobs older than an age: counted first, then gone from Postgres and the queue', async () => {
    const owner = await createTestUser(env.databaseUrl);
    const caller: Caller = { baseUrl, user: owner };
    const done = await Promise.all([
      submit(caller, await photoLikeImage(64, 48)),
      submit(caller, await photoLikeImage(64, 48)),
    ]);
    for (const job of done) expect((await waitForFinal(caller, job.id)).status).toBe('succeeded');
    // BullMQ keeps completed entries for an hour: the clean must take them too.
    expect((await Promise.all(done.map((job) => queue.getJob(job.id, 'nsfw')))).map((entry) => entry?.id)).toEqual(
      done.map((job) => job.id),
    );
    // A failed job is not among the statuses cleaned by default, so it stays.
    const failed = await submit(caller, await photoLikeImage(64, 48));
    expect((await waitForFinal(caller, failed.id)).status).toBe('succeeded');
    await db.query("UPDATE jobs SET status = 'failed', error_code = 'INTERNAL' WHERE id = $1", [failed.id]);

    const { context, page } = await signIn(admin.key);
    await page.getByRole('link', { name: 'Operations' }).click();
    const jobsPanel = page.getByTestId('admin-jobs-panel');
    await jobsPanel.getByTestId('user-filter').selectOption(owner.userId);
    await jobsPanel.getByRole('button', { name: 'Clean…' }).click();
    const dialog = page.getByRole('dialog');
    // Finished more than a day ago: nothing yet.
    await expect.poll(() => dialog.getByTestId('clean-preview').textContent()).toMatch(/^0 jobs match/);
    expect(await dialog.getByRole('button', { name: /^Delete/ }).isDisabled()).toBe(true);
    await dialog.getByTestId('clean-age').fill('0');
    await dialog.getByTestId('clean-unit').selectOption('minutes');
    await expect.poll(() => dialog.getByTestId('clean-preview').textContent()).toMatch(/^2 jobs match/);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(screenshots, 'operations-clean.png') });
    await dialog.getByRole('button', { name: 'Delete 2 jobs' }).click();
    await jobsPanel.getByRole('status').getByText('Deleted 2 finished jobs.').waitFor();

    const { rows } = await db.query<{ id: string; status: string }>('SELECT id, status FROM jobs WHERE user_id = $1', [
      owner.userId,
    ]);
    expect(rows).toEqual([{ id: failed.id, status: 'failed' }]);
    expect(await Promise.all(done.map((job) => queue.getJob(job.id, 'nsfw')))).toEqual([undefined, undefined]);
    await context.close();
  });

  it('an operator pauses the queue, cancels a user’s job after a confirmation, finds a failed job by id with its JSON, retries all failed and resumes', async () => {
    const { context, page } = await signIn(admin.key);
    await page.getByRole('link', { name: 'Operations' }).click();
    const panel = page.getByTestId('queue-panel');
    await panel.waitFor();
    await page.locator('[data-worker-id="dashboard-e2e-worker"]').waitFor();
    await expect.poll(() => page.getByTestId('cap').textContent()).toMatch(/^0 \/ 10,000/);

    // Paused from the page: the queue in Redis says so, and submitted jobs stay in it.
    await page.getByRole('button', { name: /Pause/ }).click();
    await panel.getByText('paused', { exact: true }).waitFor();
    expect(await queue.isPaused()).toBe(true);
    const caller: Caller = { baseUrl, user };
    const image = await photoLikeImage(160, 120);
    const held = await Promise.all([submit(caller, image), submit(caller, image), submit(caller, image)]);
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^3 \/ 10,000/);
    // The nsfw model's own queue holds them (one queue per model).
    expect(await panel.getByTestId('queued-nsfw').textContent()).toBe('3');
    expect(await panel.getByTestId('queued-mnist').textContent()).toBe('0');

    // Cancel one of the user's queued jobs from the operators' list, after saying yes.
    const jobsPanel = page.getByTestId('admin-jobs-panel');
    await jobsPanel.getByRole('button', { name: 'Queued and running' }).click();
    const adminRow = jobsPanel.locator(`tr[data-job-id="${held[0]!.id}"]`);
    await adminRow.getByRole('button', { name: 'Cancel' }).click();
    const confirm = page.getByRole('dialog');
    await confirm.getByText(user.email).waitFor();
    await confirm.getByRole('button', { name: 'Cancel the job' }).click();
    await adminRow.waitFor({ state: 'detached' });
    expect((await getJob(caller, held[0]!.id)).status).toBe('canceled');
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^2 \/ 10,000/);

    // A genuine worker failure: the input of a queued job goes missing (INPUT_MISSING, no retries).
    const broken = held[1]!;
    // Its input row (the bytes, or where the blob store keeps them) is set aside, and put back below.
    const { rows } = await db.query<{ input: unknown }>(
      'SELECT to_jsonb(i) AS input FROM job_inputs i WHERE job_id = $1',
      [broken.id],
    );
    await db.query('DELETE FROM job_inputs WHERE job_id = $1', [broken.id]);
    await page.getByRole('button', { name: /Resume/ }).click();
    await panel.getByText('running', { exact: true }).waitFor();
    expect(await queue.isPaused()).toBe(false);
    await waitForFinal(caller, held[2]!.id);
    expect(await waitForFinal(caller, broken.id)).toMatchObject({ status: 'failed', error: { code: 'INPUT_MISSING' } });
    await expect.poll(() => page.getByTestId('count-completed').textContent(), { timeout: 15_000 }).not.toBe('0');

    // Found by its id, with the raw JSON the API answers for it.
    await jobsPanel.getByTestId('job-search').fill(broken.id);
    await jobsPanel.getByRole('button', { name: 'Find' }).click();
    const foundRow = jobsPanel.locator(`tr[data-job-id="${broken.id}"]`);
    await foundRow.getByText('INPUT_MISSING').waitFor();
    await foundRow.getByRole('button', { name: 'JSON' }).click();
    const json = JSON.parse((await jobsPanel.getByTestId('job-json').textContent()) ?? '') as {
      id: string;
      userId: string;
      error: { code: string };
    };
    expect(json).toMatchObject({ id: broken.id, userId: user.userId, error: { code: 'INPUT_MISSING' } });
    await jobsPanel.getByTestId('job-search').fill('00000000-0000-4000-8000-000000000000');
    await jobsPanel.getByRole('button', { name: 'Find' }).click();
    await jobsPanel.getByText('No job with this id').waitFor();
    await jobsPanel.getByRole('button', { name: 'Clear search' }).click();

    // Filtered to the user, the failed list holds exactly the broken job; "Retry all failed"
    // (this user's, so the other tests' jobs are left alone) runs it again under the same id.
    await jobsPanel.getByTestId('user-filter').selectOption(user.userId);
    await jobsPanel.getByRole('button', { name: 'Failed', exact: true }).click();
    await expect
      .poll(() =>
        jobsPanel
          .locator('tbody tr[data-job-id]')
          .evaluateAll((found) => found.map((row) => row.getAttribute('data-job-id'))),
      )
      .toEqual([broken.id]);
    await db.query('INSERT INTO job_inputs SELECT * FROM jsonb_populate_record(NULL::job_inputs, $1)', [
      rows[0]!.input,
    ]);
    await jobsPanel.getByRole('button', { name: 'Retry all failed' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Retry them all' }).click();
    await jobsPanel.getByRole('status').getByText('Retried 1 failed job.').waitFor();
    const retried = await waitForFinal(caller, broken.id);
    expect(retried).toMatchObject({ status: 'succeeded', attempts: 2, error: null });
    await jobsPanel.getByText('No failed jobs').waitFor();
    await expect.poll(() => page.getByTestId('cap').textContent(), { timeout: 15_000 }).toMatch(/^0 \/ 10,000/);
    await page.getByTestId('throughput-chart').locator('.recharts-area').first().waitFor({ state: 'attached' });
    // The picture for docs/dashboard.md: every user's jobs, one expanded to its JSON.
    await jobsPanel.getByTestId('user-filter').selectOption('');
    await jobsPanel.getByRole('button', { name: 'All', exact: true }).click();
    // Its JSON, opened during the search, stays open in the list.
    await jobsPanel.locator(`tr[data-json-for="${broken.id}"]`).getByTestId('job-json').waitFor();
    expect(
      await jobsPanel.locator(`tr[data-job-id="${broken.id}"]`).getByRole('button', { name: 'Hide JSON' }).count(),
    ).toBe(1);
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

  it('a user who is not an administrator gets one "administrators only" page at /operations, and no failed requests', async () => {
    const { context, page } = await signIn(user.key);
    const refused: string[] = [];
    page.on('response', (response) => {
      if (response.status() === 403) refused.push(new URL(response.url()).pathname);
    });
    expect(await page.getByRole('link', { name: 'Operations' }).count()).toBe(0);
    await page.goto(`${baseUrl}/dashboard/operations`);
    await page.getByTestId('admins-only').getByText('Administrators only').waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    expect(refused).toEqual([]);
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
    // The page may meet the revoked key on its own first (a live query, the event stream) and leave
    // before the click lands: either way it must end on the sign-in page, as asserted below.
    await Promise.race([
      page
        .getByRole('button', { name: 'Failed' })
        .click()
        .catch(() => {}),
      page.waitForURL('**/dashboard/sign-in'),
    ]);
    await page.waitForURL('**/dashboard/sign-in');
    expect(await page.locator('[data-code="UNAUTHENTICATED"]').textContent()).toContain('Signed out');
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });

  it("a user's list shows every job above, newest first, each with its own status", async () => {
    const { context, page } = await signIn(user.key);
    // The list loads after the page shell; wait for the rows rather than reading a table still on its way.
    await expect.poll(() => page.locator('[data-testid="jobs-table"] tbody tr').count()).toBeGreaterThanOrEqual(6);
    const statuses = await page
      .locator('[data-testid="jobs-table"] tbody tr')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-status')));
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
