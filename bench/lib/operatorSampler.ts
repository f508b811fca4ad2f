// The operators' view sampled during a load run: `GET /v1/admin/overview`, the snapshot the
// dashboard's Operations page shows, read as an administrator every `intervalMs`. Each model's
// queue depth comes from Redis at the moment of the read; held and running per worker come from
// the workers' heartbeats, so they are as fresh as HEARTBEAT_INTERVAL_MS (the benchmark sets it to
// the sampling interval) and each heartbeat is counted once, however many reads saw it.
import { queueStates, type QueueSnapshot, type QueueState } from '@inferq/core';
import type { HttpClient } from './loadClient.ts';
import { median } from './stats.ts';

export interface OperatorSample {
  /** Milliseconds since sampling started. */
  atMs: number;
  models: Array<{ model: string; counts: Record<QueueState, number>; held: number; running: number; workers: number }>;
  workers: Array<{
    workerId: string;
    heartbeatAt: string;
    jobs: Array<{ model: string; held: number; running: number; concurrency: number }>;
  }>;
}

export interface Spread {
  median: number;
  max: number;
}

export interface OperatorSummary {
  /** Reads answered (and refused: non-200 answers or errors) while sampling. */
  samples: number;
  refused: number;
  intervalMs: number;
  /** Per model, over every read: queued (waiting + prioritized, the dashboard's "Queued"), each BullMQ state, held and running. */
  models: Record<
    string,
    { queued: Spread; states: Record<QueueState, Spread>; held: Spread; running: Spread; workers: Spread }
  >;
  /** Per worker and model, over distinct heartbeats. */
  workers: Record<
    string,
    { heartbeats: number; models: Record<string, { held: Spread; running: Spread; concurrency: number }> }
  >;
}

const spread = (values: number[]): Spread =>
  values.length === 0 ? { median: Number.NaN, max: Number.NaN } : { median: median(values), max: Math.max(...values) };

/** Reads the overview back to back at most once per `intervalMs` (never two reads at once) until `stop()`. */
export class OperatorSampler {
  readonly #http: HttpClient;
  readonly #headers: Record<string, string>;
  readonly #intervalMs: number;
  readonly #samples: OperatorSample[] = [];
  #refused = 0;
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(http: HttpClient, options: { headers: Record<string, string>; intervalMs: number }) {
    this.#http = http;
    this.#headers = options.headers;
    this.#intervalMs = options.intervalMs;
  }

  start(): void {
    this.#running = true;
    const started = performance.now();
    this.#loop = (async () => {
      while (this.#running) {
        const at = performance.now();
        try {
          const answer = await this.#http.request<QueueSnapshot>('GET', '/v1/admin/overview', {
            headers: this.#headers,
            timeoutMs: 10_000,
          });
          if (answer.status === 200) this.#samples.push(toSample(answer.body, at - started));
          else this.#refused++;
        } catch {
          this.#refused++;
        }
        const wait = this.#intervalMs - (performance.now() - at);
        if (wait > 0 && this.#running) await new Promise((resolve) => setTimeout(resolve, wait));
      }
    })();
  }

  async stop(): Promise<{ samples: OperatorSample[]; summary: OperatorSummary }> {
    this.#running = false;
    await this.#loop;
    return { samples: this.#samples, summary: summarizeSamples(this.#samples, this.#refused, this.#intervalMs) };
  }
}

function toSample(snapshot: QueueSnapshot, atMs: number): OperatorSample {
  return {
    atMs: Math.round(atMs),
    models: (snapshot.models ?? []).map(({ model, counts, held, running, workers }) => ({
      model,
      counts,
      held,
      running,
      workers,
    })),
    workers: snapshot.workers.map((worker) => ({
      workerId: worker.workerId,
      heartbeatAt: worker.heartbeatAt,
      jobs: worker.jobs ?? [],
    })),
  };
}

export function summarizeSamples(samples: OperatorSample[], refused: number, intervalMs: number): OperatorSummary {
  const models: OperatorSummary['models'] = {};
  for (const name of [...new Set(samples.flatMap((sample) => sample.models.map((entry) => entry.model)))].sort()) {
    const entries = samples.flatMap((sample) => sample.models.filter((entry) => entry.model === name));
    models[name] = {
      queued: spread(entries.map((entry) => entry.counts.waiting + entry.counts.prioritized)),
      states: Object.fromEntries(
        queueStates.map((state) => [state, spread(entries.map((entry) => entry.counts[state]))]),
      ) as Record<QueueState, Spread>,
      held: spread(entries.map((entry) => entry.held)),
      running: spread(entries.map((entry) => entry.running)),
      workers: spread(entries.map((entry) => entry.workers)),
    };
  }
  const heartbeats = new Map<string, Map<string, OperatorSample['workers'][number]>>();
  for (const sample of samples) {
    for (const worker of sample.workers) {
      const seen = heartbeats.get(worker.workerId) ?? new Map();
      seen.set(worker.heartbeatAt, worker);
      heartbeats.set(worker.workerId, seen);
    }
  }
  const workers: OperatorSummary['workers'] = {};
  for (const [workerId, seen] of [...heartbeats].sort(([a], [b]) => a.localeCompare(b))) {
    const beats = [...seen.values()];
    const served = [...new Set(beats.flatMap((beat) => beat.jobs.map((entry) => entry.model)))].sort();
    workers[workerId] = {
      heartbeats: beats.length,
      models: Object.fromEntries(
        served.map((model) => {
          const entries = beats.flatMap((beat) => beat.jobs.filter((entry) => entry.model === model));
          return [
            model,
            {
              held: spread(entries.map((entry) => entry.held)),
              running: spread(entries.map((entry) => entry.running)),
              concurrency: Math.max(...entries.map((entry) => entry.concurrency)),
            },
          ];
        }),
      ),
    };
  }
  return { samples: samples.length, refused, intervalMs, models, workers };
}
