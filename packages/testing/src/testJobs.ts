import {
  JobExecution,
  JobQueries,
  type CompletedJob,
  type Database,
  type JobRecord,
  type NewJob,
  type Prisma,
} from '@inferq/db';

/** A job row as tests write it: optionally with model pixels stored beside the input, as API versions before the Redis hand-off wrote them. */
export type TestNewJob = Omit<NewJob, 'input'> & {
  input: NewJob['input'] & { pixels?: { data: Buffer; spec: string } | undefined };
};

/**
 * Jobs as tests and benchmarks write and read them. `create` and `start` are writers only tests
 * use: a row straight in the database (no quota or idempotency check, as JobAdmission makes),
 * and one attempt started without a worker. The rest is the real JobExecution and JobQueries.
 */
export class TestJobs {
  readonly db: Database;
  readonly execution: JobExecution;
  readonly queries: JobQueries;

  constructor(db: Database) {
    this.db = db;
    this.execution = new JobExecution(db);
    this.queries = new JobQueries(db);
  }

  get(id: string): Promise<JobRecord | null> {
    return this.queries.get(id);
  }

  completeMany(jobs: CompletedJob[]): Promise<string[]> {
    return this.execution.completeMany(jobs);
  }

  fail(id: string, code: string, message: string): Promise<boolean> {
    return this.execution.fail(id, code, message);
  }

  cancel(id: string): Promise<boolean> {
    return this.execution.cancel(id);
  }

  #rowOf(job: TestNewJob): Prisma.JobUncheckedCreateInput {
    return {
      id: job.id,
      userId: job.userId,
      modelName: job.modelName,
      requestedVersion: job.requestedVersion ?? null,
      inputFormat: job.input.format,
      inputWidth: job.input.width,
      inputHeight: job.input.height,
      inputBytes: job.input.data.byteLength,
      inputSha256: job.input.sha256,
      inputFileName: job.input.fileName ?? null,
      priority: job.priority ?? null,
      expiresAt: job.expiresAt ?? null,
      idempotencyKey: job.idempotencyKey ?? null,
      webhookUrl: job.webhookUrl ?? null,
      startBy: job.startBy ?? null,
      cancelAfterMs: job.cancelAfterMs ?? null,
      ...(job.webhookEvents ? { webhookEvents: [...job.webhookEvents] } : {}),
      ...(job.metadata ? { metadata: { ...job.metadata } } : {}),
      input: {
        create: {
          data: job.input.data as Uint8Array<ArrayBuffer>,
          pixels: (job.input.pixels?.data as Uint8Array<ArrayBuffer> | undefined) ?? null,
          pixelsSpec: job.input.pixels?.spec ?? null,
        },
      },
    };
  }

  async create(job: TestNewJob): Promise<JobRecord> {
    return this.db.job.create({ data: this.#rowOf(job), include: { result: true } });
  }

  /**
   * Starts one attempt as a worker would (JobExecution.startMany). Returns null when the job is
   * gone or already final, in which case the attempt must not run.
   */
  async start(id: string, workerId: string, now = new Date()): Promise<JobRecord | null> {
    const started = await this.execution.startMany([id], workerId, now);
    return started.has(id) ? this.get(id) : null;
  }
}
