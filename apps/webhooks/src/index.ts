import { pino } from 'pino';
import { handleShutdown } from '@inferq/core/shutdown';
import { parseDispatcherEnv } from './env.ts';
import { buildWebhookServices } from './services.ts';

const env = parseDispatcherEnv(process.env);
const logger = pino({ level: env.LOG_LEVEL, base: { service: 'webhooks' } });

const services = buildWebhookServices(env, logger);
await services.start();
logger.info(
  { concurrency: env.WEBHOOK_CONCURRENCY, allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK },
  'webhook dispatcher started',
);

handleShutdown({
  logger,
  steps: services.closers,
  timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
  startMessage: 'shutting down: finishing deliveries in flight',
  timeoutMessage: 'shutdown timed out; exiting (unfinished deliveries run again)',
});
