import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validJpeg } from '@inferq/images/testing';
import { imageForm, startTestApi, type TestApi } from './apiHarness.ts';

let api: TestApi;

beforeAll(async () => {
  // One submission a window with no burst: the second submission is a 429.
  api = await startTestApi({ tierOverrides: { free: { submitsPerWindow: 1, submitBurst: 0 } } });
});
afterAll(async () => {
  await api?.close();
});

/** The value of one series in the Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const response = await fetch(`${api.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

describe('GET /metrics (API)', () => {
  it('counts submissions, 429s, request durations by route template, queue depth and process metrics', async () => {
    const image = await validJpeg(64, 64);
    const accepted = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(image),
    });
    expect(accepted.status).toBe(202);
    const { id } = await accepted.json();
    const refused = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: api.user.headers,
      body: imageForm(image),
    });
    expect(refused.status).toBe(429);
    expect((await fetch(`${api.baseUrl}/v1/jobs/${id}`, { headers: api.user.headers })).status).toBe(200);
    expect((await fetch(`${api.baseUrl}/no/such/route/${id}`)).status).toBe(404);

    const text = await scrape();
    expect(sample(text, 'inferq_jobs_submitted_total{model="nsfw"}')).toBe(1);
    expect(sample(text, 'inferq_rate_limit_rejections_total{reason="RATE_LIMITED",tier="free"}')).toBe(1);
    expect(
      sample(text, 'inferq_http_request_duration_seconds_count{method="POST",route="/v1/jobs",status_code="202"}'),
    ).toBe(1);
    // Refused by the rate limiter after the submit-slot guard matched the route.
    expect(
      sample(text, 'inferq_http_request_duration_seconds_count{method="POST",route="/v1/jobs",status_code="429"}'),
    ).toBe(1);
    expect(
      sample(text, 'inferq_http_request_duration_seconds_count{method="GET",route="/v1/jobs/:id",status_code="200"}'),
    ).toBe(1);
    // A raw path never becomes a label value.
    expect(
      sample(text, 'inferq_http_request_duration_seconds_count{method="GET",route="unrouted",status_code="404"}'),
    ).toBe(1);
    expect(text).not.toContain(id);
    const queued =
      (sample(text, 'inferq_queue_jobs{model="nsfw",state="waiting"}') ?? 0) +
      (sample(text, 'inferq_queue_jobs{model="nsfw",state="prioritized"}') ?? 0);
    expect(queued).toBe(1);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toContain('nodejs_eventloop_lag_seconds');
  });

  it('needs no API key and carries a request id', async () => {
    const response = await fetch(`${api.baseUrl}/metrics`, { headers: { authorization: 'Bearer nonsense' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });
});
