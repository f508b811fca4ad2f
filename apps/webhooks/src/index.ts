import { pino } from 'pino';
import { AccountStore, clearSecretsWarning, SecretBox } from '@inferq/accounts';
import { createDatabase, JobQueries, WebhookDeliveryStore } from '@inferq/db';
import { createRedisConnection, JobEventSubscriber, WebhookQueue } from '@inferq/queue';
import { WebhookSender } from '@inferq/webhooks';
import { parseDispatcherEnv } from './env.ts';
import { WebhookDispatcher } from './webhookDispatcher.ts';

const env = parseDispatcherEnv(process.env);
const logger = pino({ level: env.LOG_LEVEL, base: { service: 'webhooks' } });

const db = createDatabase({ url: env.DATABASE_URL, poolSize: 4 });
// Consumer connections: this process waits through Redis restarts instead of failing requests.
const redis = createRedisConnection({ url: env.REDIS_URL, role: 'consumer', connectionName: 'inferq-webhooks' });
redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
// A subscribed connection can run no other command.
const eventsConnection = createRedisConnection({ url: env.REDIS_URL, role: 'consumer', connectionName: 'inferq-webhooks-events' });
eventsConnection.on('error', () => {});

const retry = { attempts: env.WEBHOOK_ATTEMPTS, firstDelayMs: env.WEBHOOK_RETRY_FIRST_DELAY_MS, maxDelayMs: env.WEBHOOK_RETRY_MAX_DELAY_MS };
const queue = new WebhookQueue({ connection: redis, prefix: env.QUEUE_PREFIX, policy: retry });
// Only the secret is read, so no tier needs to be known.
const secrets = new SecretBox(env.WEBHOOK_SECRET_KEYS);
if (!secrets.encrypting) logger.warn(clearSecretsWarning);
const accounts = new AccountStore(db, { tiers: [], secrets });
// Why a target was refused goes to the debug log only: the delivery record says just "refused".
const sender = new WebhookSender({ allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK, allowPorts: env.WEBHOOK_ALLOW_PORTS, timeoutMs: env.WEBHOOK_TIMEOUT_MS, logger });
const dispatcher = new WebhookDispatcher({
  connection: redis,
  queue,
  subscriber: new JobEventSubscriber({ connection: eventsConnection, prefix: env.QUEUE_PREFIX }),
  jobs: new JobQueries(db),
  deliveries: new WebhookDeliveryStore(db),
  secretOf: (userId) => accounts.webhookSecret(userId),
  sender,
  logger,
  prefix: env.QUEUE_PREFIX,
  concurrency: env.WEBHOOK_CONCURRENCY,
  retry,
  sweepIntervalMs: env.WEBHOOK_SWEEP_INTERVAL_MS,
});
await dispatcher.start();
logger.info({ concurrency: env.WEBHOOK_CONCURRENCY, allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK }, 'webhook dispatcher started');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down: finishing deliveries in flight');
  const force = setTimeout(() => {
    logger.error('shutdown timed out; exiting (unfinished deliveries run again)');
    process.exit(1);
  }, env.SHUTDOWN_TIMEOUT_MS);
  force.unref();
  await dispatcher.close();
  await queue.close().catch(() => {});
  sender.close();
  redis.disconnect();
  eventsConnection.disconnect();
  await db.$disconnect().catch(() => {});
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
