import { randomUUID } from 'node:crypto';
import type { Principal } from '@inferq/accounts';
import { AppError } from '@inferq/core';
import type { JobRecord, JobStore } from '@inferq/db';
import type { ImageLimits } from '@inferq/images';
import { validateImage } from '@inferq/images';
import type { InferenceQueue } from '@inferq/queue';

/** What the API needs to know about models: whether a name (and version) can be served. */
export interface ModelCatalog {
  resolve(name: string, version?: string): Promise<{ name: string; version: string } | null>;
}

export interface JobServiceOptions {
  jobs: JobStore;
  queue: InferenceQueue;
  models: ModelCatalog;
  defaultModel: string;
  imageLimits: ImageLimits;
}

export interface SubmitJobInput {
  principal: Principal;
  image: Buffer | undefined;
  model?: string | undefined;
  modelVersion?: string | undefined;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const modelNamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/i;

/** Job submission and lookup. Returns data or throws AppError; knows nothing of HTTP. */
export class JobService {
  readonly #options: JobServiceOptions;

  constructor(options: JobServiceOptions) {
    this.#options = options;
  }

  async submit(input: SubmitJobInput): Promise<JobRecord> {
    const { jobs, queue, models, defaultModel, imageLimits } = this.#options;
    if (!input.image) throw new AppError('MISSING_IMAGE', 'Send the image in the multipart field "image".');

    const modelName = input.model?.trim() || defaultModel;
    const version = input.modelVersion?.trim() || undefined;
    if (!modelNamePattern.test(modelName) || (version !== undefined && !modelNamePattern.test(version))) {
      throw new AppError('UNKNOWN_MODEL', 'No such model.', { details: { model: modelName.slice(0, 64), version } });
    }
    const model = await models.resolve(modelName, version);
    if (!model) throw new AppError('UNKNOWN_MODEL', `No such model: ${modelName}${version ? `@${version}` : ''}.`, { details: { model: modelName, version } });

    const image = await validateImage(input.image, imageLimits);
    // Refuse at once while Redis is down: no row is written for a job that cannot be queued.
    if (!queue.isReady()) {
      throw new AppError('QUEUE_UNAVAILABLE', 'The job queue is unavailable; nothing was stored. Try again shortly.', {
        headers: { 'Retry-After': '5' },
      });
    }

    const id = randomUUID();
    const record = await jobs.create({
      id,
      userId: input.principal.userId,
      modelName,
      requestedVersion: version,
      input: { data: input.image, format: image.format, width: image.width, height: image.height, sha256: image.sha256 },
    });
    try {
      await queue.enqueue({ jobId: id, model: modelName, ...(version ? { modelVersion: version } : {}) });
    } catch (error) {
      // The client gets no id, so the row must not stay behind looking queued.
      await jobs.discard(id).catch(() => {});
      throw error;
    }
    return record;
  }

  /** A job of the caller's; another user's job is answered exactly like a missing one. */
  async get(principal: Principal, id: string): Promise<JobRecord> {
    if (!uuidPattern.test(id)) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    const job = await this.#options.jobs.get(id);
    if (!job || job.userId !== principal.userId) throw new AppError('JOB_NOT_FOUND', 'No such job.');
    return job;
  }
}
