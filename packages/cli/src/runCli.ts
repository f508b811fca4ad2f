import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { SingleBar } from 'cli-progress';
import Table from 'cli-table3';
import {
  describeStatus,
  InferQClient,
  InferQError,
  isFinal,
  isInferQError,
  type ErrorCode,
  type Job,
  type ModelList,
  type RetryInfo,
} from '@inferq/client';
import { loadConfig } from './config.ts';

/** Exit codes: scripts can tell a wrong command line from an API refusal from a failed job. */
export const exitCodes = { ok: 0, internal: 1, usage: 2, api: 3, jobFailed: 4, notFinal: 5 } as const;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

class UsageError extends Error {}

const usage = `Usage: inferq <command> [options]

Commands:
  submit <files…>   Submit images; --wait to wait for the results
  submit --url <u>  Submit images by URL (the server fetches them); --url may be repeated
  get <id>          Show a job (--wait to wait until it is final)
  list              List your jobs, newest first (--status, --model, --version, --meta,
                    --error-code, --created-after, --created-before, --limit, --cursor)
  cancel <id>       Cancel a queued or running job
  models            List the models the server serves
  retry-failed      Administrators: retry the failed jobs of a selection (--model, --version,
                    --error-code, --meta, --created-after, --created-before, --user, --q);
                    prints the count first, retries only with --yes
  redeliver <id>    Administrators: deliver a job's webhook again
  redeliver --from <t> --to <t>
                    Administrators: deliver again every webhook that failed in that range
                    (the count only, unless --yes)

Options:
  --model <name>        Model to run (submit)
  --version <version>   Model version (submit)
  --webhook <url>       URL to POST each job to when it is final (submit)
  --ttl <s>             Seconds a job may wait to start; not started by then, it ends
                        expired (submit)
  --cancel-after <d>    Execution deadline of each attempt: seconds or 90s, 5m, 1h30m
                        (submit); an attempt running longer fails with DEADLINE_EXCEEDED
  --meta <key=value>    Metadata of the jobs (submit) or a metadata filter (list); repeat it for
                        more keys (at most 20; keys up to 40 characters, values up to 500)
  --wait                Wait until jobs are final (submit, get)
  --timeout <s>         Longest --wait, in seconds (default 300); a job not final by then
                        stays queued or running, and its id is printed
  --batch-size <n>      Images per upload request when submitting several (submit; default 16,
                        at most your tier's maxBatchImages)
  --concurrency <n>     Jobs waited for at once (submit --wait; default 4)
  --status <s,…>        Filter by status (list)
  --error-code <c,…>    Filter by failure code (list)
  --created-after <t>   Jobs submitted at or after an ISO 8601 time (list)
  --created-before <t>  Jobs submitted before an ISO 8601 time (list)
  --user <id>           One user's jobs (retry-failed)
  --q <text>            Text in the id, file name or a metadata value (retry-failed)
  --from <t>, --to <t>  A time range, ISO 8601 (redeliver)
  --yes                 Do it, after the count (retry-failed, redeliver --from/--to)
  --limit <n>           Page size, 1 to 100 (list)
  --cursor <c>          Next page (list)
  --json                Print JSON for scripts instead of tables
  --base-url <url>      API address (INFERQ_BASE_URL; default http://localhost:3000)
  --api-key <key>       API key (INFERQ_API_KEY, or "apiKey" in ~/.config/inferq/config.json)
  -h, --help            This help

Exit codes: 0 ok, 2 usage error or a file that cannot be read (the others are still
submitted), 3 API error, 4 a job failed, was canceled or expired, 5 a job is not final after --timeout
(it was submitted: queued or running).
`;

const options = {
  model: { type: 'string' },
  version: { type: 'string' },
  webhook: { type: 'string' },
  url: { type: 'string', multiple: true },
  ttl: { type: 'string' },
  'cancel-after': { type: 'string' },
  meta: { type: 'string', multiple: true },
  'error-code': { type: 'string' },
  'created-after': { type: 'string' },
  'created-before': { type: 'string' },
  user: { type: 'string' },
  q: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  yes: { type: 'boolean' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  concurrency: { type: 'string' },
  'batch-size': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  cursor: { type: 'string' },
  json: { type: 'boolean' },
  'base-url': { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

/** `--meta key=value`, repeated, as one object; the server checks the limits. */
function metadataOption(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs?.length) return undefined;
  const metadata: Record<string, string> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new UsageError(`--meta takes key=value, not ${JSON.stringify(pair)}`);
    Object.defineProperty(metadata, pair.slice(0, equals), {
      value: pair.slice(equals + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return metadata;
}

function top(job: Job): string {
  const best = job.result?.top?.[0];
  return best ? `${best.label} ${best.score.toFixed(3)}` : '';
}

/** One line per row, no rule between rows: a long list stays readable in a terminal. */
function table(head: string[], colWidths?: Array<number | null>): Table.Table {
  return new Table({
    head,
    style: { head: [], border: [], compact: true },
    ...(colWidths ? { colWidths, wordWrap: true } : {}),
  });
}

/** What went wrong, as a user reads it: the code and the API's own message. */
function describeError(error: { code: string; message: string } | null | undefined): string {
  return error ? `${error.code}: ${error.message}` : '';
}

/** What a row reports went wrong: the API's error, or a file that could not be read (`FILE_UNREADABLE`). */
type RowError = { code: string; message: string };

/** One file of a submit: its job, or why it has none; `timedOut`: the job is not final after --timeout. */
interface Row {
  name?: string;
  job?: Job;
  error?: RowError;
  timedOut?: boolean;
}

function jobTable(rows: Row[], wide: boolean): string {
  const withNames = rows.some((row) => row.name !== undefined);
  const head = [...(withNames ? ['file'] : []), 'job', 'status', 'model', 'top label', 'error'];
  const anyError = rows.some((row) => (row.error && !row.timedOut) || row.job?.error);
  // On a terminal a long message wraps inside its column instead of breaking the table.
  const output = table(head, wide && anyError ? [...head.slice(0, -1).map(() => null), 48] : undefined);
  for (const row of rows) {
    const job = row.job;
    output.push([
      ...(withNames ? [row.name ?? ''] : []),
      job?.id ?? '',
      job ? describeStatus(job) : 'not submitted',
      job ? `${job.model.name}${job.model.version ? `@${job.model.version}` : ''}` : '',
      job ? top(job) : '',
      describeError(row.timedOut ? job?.error : (row.error ?? job?.error)),
    ]);
  }
  return output.toString();
}

/** The models table of `inferq models`; the problem column says what GET /v1/models reports wrong. */
export function modelsTable(list: ModelList): string {
  const output = table([
    'model',
    'version',
    'live',
    'format',
    'input',
    'classes',
    'workers ready',
    'engines',
    'problem',
  ]);
  for (const model of list.models) {
    for (const version of model.versions) {
      output.push([
        model.name,
        version.version,
        version.live ? 'live' : '',
        version.format,
        version.input
          ? `${version.input.width}x${version.input.height}x${version.input.channels}`
          : (version.tensors?.inputs ?? []).map((t) => `${t.name}:${t.datatype}[${t.shape.join(',')}]`).join(' '),
        version.labels ? String(version.labels.length) : (version.tensors?.reader ?? 'raw'),
        `${version.workersReady}/${model.workers}`,
        version.engines.join(', '),
        model.swap && model.swap.to === version.version
          ? `swap: ${model.swap.switched} switched, ${model.swap.loading} loading, ${model.swap.failures.length} failed`
          : '',
      ]);
    }
    for (const problem of model.problems)
      output.push([model.name, problem.version, '', '', '', '', '', '', `${problem.reason}: ${problem.message}`]);
    // A version the registry holds but a worker could not load: it serves none of the model's jobs.
    for (const failure of model.loadFailures) {
      output.push([
        model.name,
        failure.version,
        '',
        '',
        '',
        '',
        '',
        '',
        `load failed on ${failure.workerId}: ${failure.reason ?? failure.code}: ${failure.message}`,
      ]);
    }
  }
  // Each worker's engines (what ran its models), not its TF.js backend alone.
  const engines = (worker: ModelList['workers'][number]) =>
    [...new Set(worker.models.flatMap((model) => (model.engine ? [model.engine] : [])))].join(', ') ||
    `tfjs-${worker.backend}`;
  const workers = list.workers.map((worker) => `${worker.workerId} (${engines(worker)})`).join(', ');
  return `${output.toString()}
workers: ${workers || 'none'}`;
}

/** "rate limited (RATE_LIMITED): retrying in 12 s (1 of 3)" on stderr, so the wait is never silent. */
function retryLine(retry: RetryInfo): string {
  const why = retry.code === 'RATE_LIMITED' ? 'rate limited' : retry.status === 429 ? 'refused (429)' : 'server busy';
  const seconds = retry.delayMs >= 10_000 ? Math.round(retry.delayMs / 1000) : Math.round(retry.delayMs / 100) / 10;
  const asked =
    retry.retryAfterMs !== undefined && retry.retryAfterMs > retry.delayMs
      ? `; the server asked for ${Math.ceil(retry.retryAfterMs / 1000)} s`
      : '';
  return `inferq: ${why}${retry.code ? ` (${retry.code})` : ''}: retrying in ${seconds} s (${retry.attempt} of ${retry.maxRetries}${asked})`;
}

/**
 * A wait that ran out: the job was submitted and is still queued or running. Said as that, with
 * its id, never as an error of the submit.
 */
function notFinalLine(job: Job, timeoutSeconds: number): string {
  return `inferq: job ${job.id} was submitted and is still ${describeStatus(job)} after ${timeoutSeconds} s; it stays ${job.status}. Wait again with: inferq get ${job.id} --wait`;
}

/** Said once per job, as soon as it is seen queued with no live worker serving its model. */
function waitingForWorkerLine(job: Job, timeoutSeconds: number): string {
  return `inferq: job ${job.id} submitted: queued · waiting for a worker (no live worker serves model ${job.model.name}); waiting up to ${timeoutSeconds} s (--timeout), the job stays queued after`;
}

function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new UsageError(`--${name} must be a positive whole number`);
  return Number(value);
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const print = (text: string) => io.stdout.write(`${text}\n`);
  const fail = (text: string) => io.stderr.write(`inferq: ${text}\n`);
  try {
    let parsed;
    try {
      parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      (values.help ? io.stdout : io.stderr).write(usage);
      return values.help ? exitCodes.ok : exitCodes.usage;
    }
    const config = await loadConfig({ baseUrl: values['base-url'], apiKey: values['api-key'] }, io.env);
    if (!config.apiKey)
      throw new UsageError(
        'no API key: set INFERQ_API_KEY, pass --api-key, or put "apiKey" in ~/.config/inferq/config.json',
      );
    const client = new InferQClient({
      baseUrl: config.baseUrl,
      apiKey: config.apiKey,
      onRetry: (retry) => io.stderr.write(`${retryLine(retry)}\n`),
    });
    const wide = io.stdout.isTTY === true;
    const json = values.json ?? false;
    const one = (name: string) => {
      if (rest.length !== 1) throw new UsageError(`${command} takes one ${name}`);
      return rest[0]!;
    };
    const finalCode = (jobs: Array<Job | undefined>) =>
      jobs.some((job) => job && (job.status === 'failed' || job.status === 'canceled' || job.status === 'expired'))
        ? exitCodes.jobFailed
        : exitCodes.ok;
    const timeoutSeconds = positiveInt(values.timeout, 'timeout', 300);
    // Tells, once per job, that it waits for a worker: a long wait is never silent.
    const told = new Set<string>();
    const onUpdate = (job: Job) => {
      if (job.waitingFor !== 'worker' || told.has(job.id)) return;
      told.add(job.id);
      io.stderr.write(`${waitingForWorkerLine(job, timeoutSeconds)}\n`);
    };
    /** Waits for `row`'s job; a wait that runs out keeps the job (submitted, not final) and marks the row. */
    const waitFor = async (row: Row, timeoutMs: number) => {
      try {
        row.job = await client.wait(row.job!.id, { timeoutMs, onUpdate });
      } catch (error) {
        if (!isInferQError(error)) throw error;
        row.error = error;
        if (error.code === 'WAIT_TIMEOUT' && error.job) {
          row.job = error.job;
          row.timedOut = true;
        }
      }
    };

    switch (command) {
      case 'submit': {
        if (values.url?.length) {
          if (rest.length > 0) throw new UsageError('submit takes image files or --url, not both');
          const started = Date.now();
          const jobOptions = {
            ...(values.model ? { model: values.model } : {}),
            ...(values.version ? { version: values.version } : {}),
            ...(values.webhook ? { webhook: values.webhook } : {}),
          };
          const rows: Array<Row & { name: string }> = values.url.map((url) => ({ name: url }));
          for (const row of rows) {
            try {
              row.job = await client.submitByUrl(row.name, jobOptions);
            } catch (error) {
              if (!isInferQError(error)) throw error;
              row.error = error;
            }
            if (values.wait && row.job && !isFinal(row.job)) {
              onUpdate(row.job);
              await waitFor(row, timeoutSeconds * 1000 - (Date.now() - started));
            }
          }
          if (json)
            print(
              JSON.stringify(
                rows.map(({ name, job, error }) => ({
                  url: name,
                  job: job ?? null,
                  error: error ? { code: error.code, message: error.message } : null,
                })),
                null,
                2,
              ),
            );
          else print(jobTable(rows, wide));
          for (const row of rows) if (row.timedOut) io.stderr.write(`${notFinalLine(row.job!, timeoutSeconds)}\n`);
          if (rows.some((row) => row.error && !row.timedOut)) return exitCodes.api;
          const failed = finalCode(rows.map((row) => row.job));
          return failed === exitCodes.ok && rows.some((row) => row.timedOut) ? exitCodes.notFinal : failed;
        }
        if (rest.length === 0) throw new UsageError('submit needs at least one image file, or --url');
        const concurrency = positiveInt(values.concurrency, 'concurrency', 4);
        // A file that cannot be read is reported in its row and the others are still submitted.
        const read = await Promise.all(
          rest.map(async (file): Promise<{ name: string; bytes: Buffer } | { name: string; error: RowError }> => {
            try {
              return { name: file, bytes: await readFile(file) };
            } catch (error) {
              const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
              return { name: file, error: { code: 'FILE_UNREADABLE', message: `cannot read ${file}: ${reason}` } };
            }
          }),
        );
        const unreadable = read.filter((file) => 'error' in file);
        for (const file of unreadable) fail(`${file.error.message} (not submitted)`);
        const files = read.filter((file) => 'bytes' in file);
        const bar =
          io.stderr.isTTY && !json && files.length > 0
            ? new SingleBar({ format: ' {bar} {value}/{total} {phase}', hideCursor: true, stream: io.stderr })
            : undefined;
        bar?.start(files.length, 0, { phase: values.wait ? 'finished' : 'submitted' });
        const results: Array<Row & { name: string }> = files.map((file) => ({ name: file.name }));
        const started = Date.now();
        const metadata = metadataOption(values.meta);
        const jobOptions = {
          ...(values.model ? { model: values.model } : {}),
          ...(values.version ? { version: values.version } : {}),
          ...(values.webhook ? { webhook: values.webhook } : {}),
          ...(metadata ? { metadata } : {}),
          // Checked by the server: a bad value is its 400 VALIDATION_FAILED, named after the field.
          ...(values.ttl !== undefined ? { ttlSeconds: Number(values.ttl) } : {}),
          ...(values['cancel-after'] !== undefined ? { cancelAfter: values['cancel-after'] } : {}),
        };
        if (files.length === 0) {
          // Nothing readable: nothing to submit.
        } else if (files.length === 1) {
          const result = results[0]!;
          try {
            result.job = await client.submit(files[0]!.bytes, {
              filename: path.basename(files[0]!.name),
              ...jobOptions,
            });
          } catch (error) {
            if (!isInferQError(error)) throw error;
            result.error = error;
          }
          if (values.wait && result.job && !isFinal(result.job)) {
            onUpdate(result.job);
            await waitFor(result, timeoutSeconds * 1000 - (Date.now() - started));
          }
          bar?.increment();
        } else {
          // Several files go up together, --batch-size per request (POST /v1/jobs/batch); each
          // file gets its own job or its own error.
          const batch = await client.submitMany(
            files.map((file) => file.bytes),
            {
              ...jobOptions,
              filenames: files.map((file) => path.basename(file.name)),
              batchSize: positiveInt(values['batch-size'], 'batch-size', 16),
              ...(values.wait ? { waitSeconds: Math.min(60, timeoutSeconds) } : {}),
            },
          );
          for (const item of batch.data) {
            const result = results[item.index]!;
            if (item.job) result.job = item.job;
            else
              result.error = new InferQError({
                code: (item.error?.code ?? 'INTERNAL') as ErrorCode,
                status: item.status,
                message: item.error?.message ?? 'refused',
                details: item.error?.details,
              });
            if (!values.wait || !item.job || isFinal(item.job)) bar?.increment();
          }
          if (values.wait) {
            // Jobs still unfinished after the server-held wait: waited for, `concurrency` at once.
            const pending = results.filter((result) => result.job && !isFinal(result.job));
            let next = 0;
            await Promise.all(
              Array.from({ length: Math.min(concurrency, pending.length) }, async () => {
                for (let index = next++; index < pending.length; index = next++) {
                  const result = pending[index]!;
                  onUpdate(result.job!);
                  await waitFor(result, timeoutSeconds * 1000 - (Date.now() - started));
                  bar?.increment();
                }
              }),
            );
          }
        }
        bar?.stop();
        // Rows in the order the files were given.
        const rows: Array<Row & { name: string }> = rest.map(
          (name) => results.find((result) => result.name === name) ?? unreadable.find((file) => file.name === name)!,
        );
        if (json)
          print(
            JSON.stringify(
              rows.map(({ name, job, error }) => ({
                file: name,
                job: job ?? null,
                error: error ? { code: error.code, message: error.message } : null,
              })),
              null,
              2,
            ),
          );
        else print(jobTable(rows, wide));
        for (const result of results)
          if (result.timedOut) io.stderr.write(`${notFinalLine(result.job!, timeoutSeconds)}\n`);
        if (unreadable.length > 0) return exitCodes.usage;
        if (results.some((result) => result.error && !result.timedOut)) return exitCodes.api;
        const failed = finalCode(results.map((result) => result.job));
        return failed === exitCodes.ok && results.some((result) => result.timedOut) ? exitCodes.notFinal : failed;
      }
      case 'get': {
        const id = one('job id');
        const row: Row = { job: await client.get(id) };
        if (values.wait && !isFinal(row.job!)) {
          onUpdate(row.job!);
          await waitFor(row, timeoutSeconds * 1000);
          if (row.error && !row.timedOut) throw row.error;
        }
        print(json ? JSON.stringify(row.job, null, 2) : jobTable([row], wide));
        if (row.timedOut) {
          io.stderr.write(`${notFinalLine(row.job!, timeoutSeconds)}\n`);
          return exitCodes.notFinal;
        }
        return finalCode([row.job]);
      }
      case 'list': {
        const page = await client.list({
          ...(values.status ? { status: values.status.split(',') as Job['status'][] } : {}),
          ...(values.model ? { model: values.model } : {}),
          ...(values.version ? { version: values.version } : {}),
          ...(values['error-code'] ? { errorCode: values['error-code'] } : {}),
          ...(values['created-after'] ? { createdAfter: values['created-after'] } : {}),
          ...(values['created-before'] ? { createdBefore: values['created-before'] } : {}),
          ...(values.meta?.length ? { metadata: metadataOption(values.meta)! } : {}),
          ...(values.cursor ? { cursor: values.cursor } : {}),
          limit: positiveInt(values.limit, 'limit', 20),
        });
        if (json) print(JSON.stringify(page, null, 2));
        else {
          print(
            jobTable(
              page.data.map((job) => ({ job })),
              wide,
            ),
          );
          if (page.nextCursor) print(`more: inferq list --cursor ${page.nextCursor}`);
        }
        return exitCodes.ok;
      }
      case 'retry-failed': {
        const metadata = metadataOption(values.meta);
        const filter = {
          ...(values.model ? { model: values.model } : {}),
          ...(values.version ? { version: values.version } : {}),
          ...(values['error-code'] ? { errorCode: values['error-code'] } : {}),
          ...(values['created-after'] ? { createdAfter: values['created-after'] } : {}),
          ...(values['created-before'] ? { createdBefore: values['created-before'] } : {}),
          ...(values.user ? { user: values.user } : {}),
          ...(values.q ? { q: values.q } : {}),
          ...(metadata ? { metadata } : {}),
        };
        const preview = await client.retryJobs({ filter, dryRun: true });
        if (!values.yes) {
          print(
            json
              ? JSON.stringify(preview, null, 2)
              : `${preview.matched} failed job(s) match (as of ${preview.asOf}); add --yes to retry them`,
          );
          return exitCodes.ok;
        }
        const done = await client.retryJobs({ filter, asOf: preview.asOf });
        print(
          json
            ? JSON.stringify(done, null, 2)
            : `retried ${done.retried} of ${done.matched} (operation ${done.operationId})${done.remaining ? `; ${done.remaining} left: run it again` : ''}`,
        );
        return exitCodes.ok;
      }
      case 'redeliver': {
        if (values.from || values.to) {
          if (!values.from || !values.to) throw new UsageError('redeliver takes both --from and --to');
          const answer = await client.redeliverFailed({ from: values.from, to: values.to, dryRun: !values.yes });
          print(
            json
              ? JSON.stringify(answer, null, 2)
              : values.yes
                ? `enqueued ${answer.enqueued} of ${answer.matched} failed deliveries (operation ${answer.operationId})`
                : `${answer.matched} job(s) whose webhook failed in that range; add --yes to deliver them again`,
          );
          return exitCodes.ok;
        }
        const answer = await client.redeliver(one('job id'));
        print(json ? JSON.stringify(answer, null, 2) : `delivery enqueued (operation ${answer.operationId})`);
        return exitCodes.ok;
      }
      case 'cancel': {
        const job = await client.cancel(one('job id'));
        print(json ? JSON.stringify(job, null, 2) : jobTable([{ job }], wide));
        return exitCodes.ok;
      }
      case 'models': {
        const models = await client.models();
        print(json ? JSON.stringify(models, null, 2) : modelsTable(models));
        return exitCodes.ok;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      fail(`${error.message}\n`);
      io.stderr.write(usage);
      return exitCodes.usage;
    }
    if (isInferQError(error)) {
      fail(`${error.code}${error.status ? ` (HTTP ${error.status})` : ''}: ${error.message}`);
      return exitCodes.api;
    }
    fail((error as Error).stack ?? String(error));
    return exitCodes.internal;
  }
}
