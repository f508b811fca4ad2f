import type {
  AdmissionView,
  AdminJobView,
  CleanJobsBody,
  CleanJobsView,
  HistoryRange,
  HistoryView,
  JobView,
  QueueControlView,
  QueueSnapshot,
  RedeliveryView,
  RetryFailedBody,
  RetryFailedView,
  RetryJobsBody,
  RetryJobsView,
  StatsSeries,
  UserView,
} from '@inferq/core';
import type { ApiTransport } from './apiTransport.ts';
import { listJobsSearch, type ListJobsQuery } from './jobsApi.ts';

export interface AdminJobPage {
  data: AdminJobView[];
  nextCursor: string | null;
}

/** The administrators' routes (`/v1/admin/…`): the queue, every user's jobs, users, history. */
export class OperatorsApi {
  readonly #transport: ApiTransport;

  constructor(transport: ApiTransport) {
    this.#transport = transport;
  }

  overview(signal?: AbortSignal): Promise<QueueSnapshot> {
    return this.#transport.json('GET', '/v1/admin/overview', { signal });
  }

  /** The fair queues of the API process that answers, per user. */
  admission(signal?: AbortSignal): Promise<AdmissionView> {
    return this.#transport.json('GET', '/v1/admin/admission', { signal });
  }

  stats(window: { windowSeconds: number; bucketSeconds: number }, signal?: AbortSignal): Promise<StatsSeries> {
    return this.#transport.json(
      'GET',
      `/v1/admin/stats?window=${window.windowSeconds}&bucket=${window.bucketSeconds}`,
      { signal },
    );
  }

  /** The per-model history of the last hour, day or week. */
  history(range: HistoryRange, signal?: AbortSignal): Promise<HistoryView> {
    return this.#transport.json('GET', `/v1/admin/history?range=${range}`, { signal });
  }

  /** Every user's jobs, newest first. */
  jobs(query: ListJobsQuery = {}, signal?: AbortSignal): Promise<AdminJobPage> {
    return this.#transport.json('GET', `/v1/admin/jobs${listJobsSearch(query)}`, { signal });
  }

  /** Any user's job by id. */
  job(id: string, signal?: AbortSignal): Promise<AdminJobView> {
    return this.#transport.json('GET', `/v1/admin/jobs/${encodeURIComponent(id)}`, { signal });
  }

  /** Cancels any user's job. */
  cancelJob(id: string): Promise<JobView> {
    return this.#transport.json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/cancel`);
  }

  retryJob(id: string): Promise<JobView> {
    return this.#transport.json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/retry`);
  }

  /** Delivers a final job's webhook again. */
  redeliverJob(id: string): Promise<RedeliveryView> {
    return this.#transport.json('POST', `/v1/admin/jobs/${encodeURIComponent(id)}/redeliver`);
  }

  /** Puts every failed job (or one user's) back in the queue under its own id. */
  retryFailed(body: RetryFailedBody = {}): Promise<RetryFailedView> {
    return this.#transport.post('/v1/admin/jobs/retry-failed', body);
  }

  /** Retries the failed jobs of a selection: `dryRun` previews the count and the `asOf` to send back. */
  retryJobs(body: RetryJobsBody): Promise<RetryJobsView> {
    return this.#transport.post('/v1/admin/jobs/retry', body);
  }

  /** Deletes finished jobs older than an age, or with `dryRun` counts them. */
  cleanJobs(body: CleanJobsBody): Promise<CleanJobsView> {
    return this.#transport.post('/v1/admin/jobs/clean', body);
  }

  /** Workers take no new jobs from the queue(s) until resumed; running ones finish. */
  pauseQueue(): Promise<QueueControlView> {
    return this.#transport.post('/v1/admin/queue/pause', {});
  }

  resumeQueue(): Promise<QueueControlView> {
    return this.#transport.post('/v1/admin/queue/resume', {});
  }

  /** Every user, for the owner filter. */
  async users(signal?: AbortSignal): Promise<UserView[]> {
    return (await this.#transport.json<{ data: UserView[] }>('GET', '/v1/admin/users', { signal })).data;
  }

  /** Disables a user (every key of theirs stops on its next request; data kept) or enables them again. */
  async setUserDisabled(userId: string, disabled: boolean): Promise<UserView> {
    return (
      await this.#transport.post<{ user: UserView }>(
        `/v1/admin/users/${encodeURIComponent(userId)}/${disabled ? 'disable' : 'enable'}`,
        {},
      )
    ).user;
  }
}
