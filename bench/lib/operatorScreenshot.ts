// A picture of the dashboard's Operations page while a benchmark's load runs: headless Chromium
// (the browser tests' launcher, test/e2e/browser.ts) signs in with an administrator's key, opens
// Operations and, once the page shows jobs queued in a model's queue and jobs held or running,
// captures the queue, models and workers panels.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { ensureDashboardBuilt, launchChromium } from '../../test/e2e/browser.ts';

/** What the page showed when it was captured, read from its own cells. */
export interface ShownCounts {
  models: Array<{ model: string; queued: number; held: number; running: number; workers: number }>;
}

export class OperatorScreenshot {
  readonly #browser: Browser;
  #context: BrowserContext | undefined;
  #page: Page | undefined;

  private constructor(browser: Browser) {
    this.#browser = browser;
  }

  /** Builds the dashboard when its build is stale (the API serves apps/dashboard/dist) and starts Chromium. */
  static async launch(): Promise<OperatorScreenshot> {
    await ensureDashboardBuilt();
    return new OperatorScreenshot(await launchChromium());
  }

  /** Signs in at `baseUrl` (the API, which serves /dashboard) and waits for the Operations page with live updates. */
  async open(baseUrl: string, key: string): Promise<void> {
    await this.#context?.close();
    this.#context = await this.#browser.newContext({
      viewport: { width: 1280, height: 900 },
      locale: 'en-GB',
      timezoneId: 'UTC',
    });
    const page = await this.#context.newPage();
    this.#page = page;
    await page.goto(`${baseUrl}/`);
    await page.waitForURL('**/dashboard/sign-in');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Your jobs' }).waitFor();
    await page.getByRole('link', { name: 'Operations' }).click();
    await page.getByTestId('model-queues').waitFor();
    await page.getByTestId('workers-panel').locator('tr[data-worker-id]').first().waitFor();
    await page.locator('[data-testid="live-state"][data-state="live"]').waitFor();
  }

  /**
   * Waits (up to `timeoutMs`) until a model's queue shows jobs queued while some model shows jobs
   * held or running, then writes the panels to `file`. Captures what is there at the timeout
   * otherwise; the answer says what the page showed either way.
   */
  async capture(file: string, timeoutMs: number): Promise<{ shown: ShownCounts; waitedForLoad: boolean }> {
    const page = this.#page;
    if (!page) throw new Error('open() first');
    const waitedForLoad = await page
      .waitForFunction(
        () => {
          const rows = [...document.querySelectorAll('[data-testid="model-queues"] tbody tr')].map((row) =>
            [...row.querySelectorAll('td')].map((cell) => Number((cell.textContent ?? '').replace(/[^0-9]/g, ''))),
          );
          return (
            rows.some((cells) => (cells[1] ?? 0) > 0) && rows.some((cells) => (cells[2] ?? 0) + (cells[3] ?? 0) > 0)
          );
        },
        undefined,
        { timeout: timeoutMs, polling: 100 },
      )
      .then(() => true)
      .catch(() => false);
    const shown = await this.#shown(page);
    await page.mouse.move(0, 0);
    const top = await page.getByTestId('queue-panel').boundingBox();
    const bottom = await page.getByTestId('workers-panel').boundingBox();
    await mkdir(path.dirname(file), { recursive: true });
    const margin = 16;
    await page.screenshot({
      path: file,
      fullPage: true,
      clip:
        top && bottom
          ? { x: 0, y: Math.max(0, top.y - margin), width: 1280, height: bottom.y + bottom.height - top.y + 2 * margin }
          : undefined,
    });
    return { shown, waitedForLoad };
  }

  async #shown(page: Page): Promise<ShownCounts> {
    const models = await page.locator('[data-testid="model-queues"] tbody tr').evaluateAll((rows) =>
      rows.map((row) => {
        const cells = [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '');
        const count = (text: string | undefined) => Number((text ?? '').replace(/[^0-9]/g, ''));
        return {
          model: row.getAttribute('data-model') ?? '',
          queued: count(cells[1]),
          held: count(cells[2]),
          running: count(cells[3]),
          workers: count(cells[4]),
        };
      }),
    );
    return { models };
  }

  async close(): Promise<void> {
    await this.#context?.close();
    await this.#browser.close();
  }
}
