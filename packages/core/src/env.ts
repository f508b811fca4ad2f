import { z } from 'zod';

/**
 * The environment of every process, parsed once at boot with zod. Each app's `env.ts` extends
 * `commonEnvSchema` (or picks from it) with its own settings and calls `parseEnv`; nothing else
 * reads `process.env`.
 */

/** `true`/`false`/`1`/`0`; anything else is refused rather than read as false. */
export const envBoolean = z.enum(['true', 'false', '1', '0']).transform((value) => value === 'true' || value === '1');

/** Comma-separated TCP ports (`8443,9443`), each 1 to 65535; empty is none. */
export const envPortList = z.string().transform((text, ctx): number[] => {
  const ports = text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (!ports.every((port) => /^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535)) {
    ctx.addIssue({ code: 'custom', message: 'must be comma-separated ports from 1 to 65535' });
    return z.NEVER;
  }
  return ports.map(Number);
});

/** Comma-separated host names (`images.internal,store.local`), trimmed; empty is none. */
export const envHostList = z
  .string()
  .default('')
  .transform((text) =>
    text
      .split(',')
      .map((host) => host.trim())
      .filter((host) => host.length > 0),
  );

/** A setting holding JSON (TIER_OVERRIDES): parsed, then checked against `schema`. */
export function envJson<T extends z.ZodType>(schema: T) {
  return z
    .string()
    .transform((text, ctx): unknown => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

/**
 * The settings every process shares, with the same defaults everywhere. Each field's `.describe()`
 * text is its documentation: `pnpm docs:settings` writes docs/operating/settings.md from it.
 */
export const commonEnvSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe(
      '`production` hides internals (no stacks in errors) and refuses the development-only settings (`DEV_ADMIN_KEY`, `WEBHOOK_ALLOW_LOOPBACK`).',
    ),
  DATABASE_URL: z
    .string()
    .url()
    .default('postgresql://postgres@127.0.0.1:5432/inferq')
    .describe('Postgres, the source of truth for jobs, inputs, results, users and keys.'),
  REDIS_URL: z
    .string()
    .url()
    .default('redis://127.0.0.1:6379')
    .describe('Redis: the job queues (ids only), rate-limit counters, job events and worker heartbeats.'),
  QUEUE_NAME: z
    .string()
    .default('inference')
    .describe(
      'Base of the BullMQ queue names: each model has its own queue, `<QUEUE_NAME>.<model>` (`modelQueueName` in `packages/core/src/jobCatalog.ts`).',
    ),
  QUEUE_PREFIX: z
    .string()
    .default('inferq')
    .describe(
      'Redis key prefix of the queues, rate-limit counters, events and heartbeats; give each stack sharing one Redis its own.',
    ),
  MODELS_DIR: z
    .string()
    .default('models')
    .describe(
      'The model registry folder (`<name>/<version>/` and `<name>/LIVE`), shared by the API, the workers and the admin CLI.',
    ),
  JPEG_DECODER: z
    .enum(['auto', 'sharp'])
    .default('auto')
    .describe(
      "Which library decodes JPEG in the API's check and the worker: `auto` uses libjpeg-turbo's TurboJPEG (the system's `libturbojpeg.so.0`; Debian and Ubuntu: `libturbojpeg0`, in the Docker image) for plain files, the same pixels as sharp's at less than half the CPU (about 4 ms less per 1024×768 job in all), and sharp for the rest and where the library is missing; `sharp`: sharp alone. The worker logs which it uses (`jpegDecoder`).",
    ),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino log level.'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url()
    .optional()
    .describe(
      'An OTLP/HTTP collector (`http://otel-collector:4318`) for OpenTelemetry spans, sent to `<endpoint>/v1/traces`; unset, tracing is off and costs nothing. See [metrics and tracing](metrics-and-tracing.md).',
    ),
  EVENTS_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000)
    .describe(
      'How long (ms) job events are kept in Redis for event streams that reconnect with Last-Event-ID; a client away longer gets a `reset` event and re-reads.',
    ),
  EVENTS_MAX_LENGTH: z.coerce
    .number()
    .int()
    .min(1000)
    .default(100_000)
    .describe(
      'Most job events kept for resuming event streams, whatever their age (about 200 bytes each in Redis); past it the oldest go first.',
    ),
});

/**
 * `source` checked against `schema`; throws one error listing every bad setting, named after the
 * app (`Invalid API configuration: …`), so a typo fails fast at boot.
 */
export function parseEnv<T extends z.ZodType>(
  schema: T,
  appName: string,
  source: Record<string, string | undefined>,
): z.infer<T> {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`Invalid ${appName} configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
