import type { Logger } from 'pino';
import { AccountStore, clearSecretsWarning, SecretBox } from '@inferq/accounts';
import { closeInOrder, type ShutdownStep } from '@inferq/core/shutdown';
import { createDatabase, JobQueries, WebhookDeliveryStore } from '@inferq/db';
import { createRedisConnection, JobEventSubscriber, WebhookQueue } from '@inferq/queue';
import { WebhookSender } from '@inferq/webhooks';
import type { DispatcherEnv } from './env.ts';
import { WebhookDispatcher } from './webhookDispatcher.ts';

/** The webhook dispatcher process's pieces, built from its settings; started by `start()`. */
export interface WebhookServices {
  dispatcher: WebhookDispatcher;
  /** Starts delivering. */
  start(): Promise<void>;
  /** How the process stops, in order: deliveries in flight finish, then the connections close. */
  closers: ShutdownStep[];
  /** Runs `closers` (a test's or a caller's stop; the process stops through handleShutdown). */
  close(): Promise<void>;
}

/** Builds every piece of the webhook dispatcher process from its settings (parsed once in index.ts); starts nothing. */
export function buildWebhookServices(env: DispatcherEnv, logger: Logger): WebhookServices {
  const db = createDatabase({ url: env.DATABASE_URL, poolSize: 4 });
  // Consumer connections: this process waits through Redis restarts instead of failing requests.
  const redis = createRedisConnection({ url: env.REDIS_URL, role: 'consumer', connectionName: 'inferq-webhooks' });
  redis.on('error', (error) => logger.warn({ err: error }, 'redis connection error'));
  // A subscribed connection can run no other command.
  const eventsConnection = createRedisConnection({
    url: env.REDIS_URL,
    role: 'consumer',
    connectionName: 'inferq-webhooks-events',
  });
  eventsConnection.on('error', () => {});

  const retry = {
    attempts: env.WEBHOOK_ATTEMPTS,
    firstDelayMs: env.WEBHOOK_RETRY_FIRST_DELAY_MS,
    maxDelayMs: env.WEBHOOK_RETRY_MAX_DELAY_MS,
  };
  const queue = new WebhookQueue({ connection: redis, prefix: env.QUEUE_PREFIX, policy: retry });
  // Only the secret is read, so no tier needs to be known.
  const secrets = new SecretBox(env.WEBHOOK_SECRET_KEYS);
  if (!secrets.encrypting) logger.warn(clearSecretsWarning);
  const accounts = new AccountStore(db, { tiers: [], secrets });
  // Why a target was refused goes to the debug log only: the delivery record says just "refused".
  const sender = new WebhookSender({
    allowLoopback: env.WEBHOOK_ALLOW_LOOPBACK,
    allowPorts: env.WEBHOOK_ALLOW_PORTS,
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    logger,
  });
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

  const closers: ShutdownStep[] = [
    { name: 'dispatcher', close: () => dispatcher.close() },
    { name: 'queue', close: () => queue.close() },
    { name: 'sender', close: () => sender.close() },
    {
      name: 'redis',
      close: () => {
        redis.disconnect();
        eventsConnection.disconnect();
      },
    },
    { name: 'postgres', close: () => db.$disconnect() },
  ];
  return {
    dispatcher,
    start: () => dispatcher.start(),
    closers,
    close: () => closeInOrder(closers, 'close', logger),
  };
}
