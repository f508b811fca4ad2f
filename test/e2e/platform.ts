import { randomUUID } from 'node:crypto';
import { inject } from 'vitest';
import {
  createTestUser,
  startApiProcess,
  startWorkerProcess,
  type PlatformEnv,
  type PlatformProcess,
  type TestUser,
} from '@inferq/testing';

/** Env for one test's platform: shared services, a queue of its own. */
export function platformEnv(overrides: Partial<PlatformEnv> = {}): PlatformEnv {
  return {
    databaseUrl: inject('databaseUrl'),
    redisUrl: inject('redisUrl'),
    queuePrefix: inject('queuePrefix'),
    modelsDir: inject('modelsDir'),
    queueName: `e2e-${randomUUID()}`,
    ...overrides,
  };
}

export interface JobJson {
  id: string;
  status: string;
  attempts: number;
  model: { name: string; version: string | null; engine: string | null };
  result: { output: number[][]; top: Array<{ label: string; score: number }> | null } | null;
  error: { code: string; message: string } | null;
  timings: { queueWaitMs: number | null; heldMs: number | null; inferenceMs: number | null; totalMs: number | null };
  links: { self: string };
}

/** Where to send requests and as whom. */
export interface Caller {
  baseUrl: string;
  user: TestUser;
}

/**
 * Submits one image; as a client should, a `429 CONCURRENCY_LIMITED` (the caller's own
 * submissions in progress fill their share) is sent again after its Retry-After.
 */
export async function submit(caller: Caller, image: Buffer, fields: Record<string, string> = {}): Promise<JobJson> {
  for (let attempt = 0; ; attempt++) {
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) form.set(key, value);
    form.set('image', new Blob([new Uint8Array(image)]), 'upload.bin');
    const response = await fetch(`${caller.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: caller.user.headers,
      body: form,
    });
    if (response.status === 202) return (await response.json()) as JobJson;
    const text = await response.text();
    if (response.status === 429 && text.includes('"CONCURRENCY_LIMITED"') && attempt < 30) {
      await new Promise((resolve) => setTimeout(resolve, Number(response.headers.get('retry-after') ?? 1) * 1000));
      continue;
    }
    throw new Error(`submit answered ${response.status}: ${text}`);
  }
}

export async function getJob(caller: Caller, id: string): Promise<JobJson> {
  const response = await fetch(`${caller.baseUrl}/v1/jobs/${id}`, { headers: caller.user.headers });
  if (response.status !== 200) throw new Error(`get answered ${response.status}: ${await response.text()}`);
  return (await response.json()) as JobJson;
}

const finalStatuses = new Set(['succeeded', 'failed', 'canceled', 'expired']);

/** Long-polls (`?wait=`) until the job is final, or throws once the deadline passes. */
export async function waitForFinal(caller: Caller, id: string, timeoutMs = 60_000): Promise<JobJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const waitSeconds = Math.max(1, Math.min(20, Math.ceil((deadline - Date.now()) / 1000)));
    const response = await fetch(`${caller.baseUrl}/v1/jobs/${id}?wait=${waitSeconds}`, {
      headers: caller.user.headers,
    });
    if (response.status !== 200) throw new Error(`get answered ${response.status}: ${await response.text()}`);
    const job = (await response.json()) as JobJson;
    if (finalStatuses.has(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms`);
  }
}

export async function stopAll(processes: Array<PlatformProcess | undefined>): Promise<void> {
  await Promise.all(processes.map((child) => child?.stop()));
}

export { createTestUser, startApiProcess, startWorkerProcess };
