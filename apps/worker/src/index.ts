import { setPriority } from 'node:os';
import { pino } from 'pino';
import { countBuffersInHeapLimit } from '@inferq/core/garbageCollection';
import { handleShutdown } from '@inferq/core/shutdown';
import { useIccTables, useJpegDecoder } from '@inferq/images';
import { parseWorkerEnv } from './env.ts';
import { buildWorkerServices } from './services.ts';
import { WorkerSupervisor } from './workerSupervisor.ts';

const env = parseWorkerEnv(process.env);
// Before the first upload or decode: buffers count in V8's heap limit (see countBuffersInHeapLimit).
if (env.GC_BUFFERS_IN_HEAP_LIMIT) countBuffersInHeapLimit();
const logger = pino({ level: env.LOG_LEVEL, base: { service: 'worker', workerId: env.WORKER_ID } });
// libjpeg-turbo, or sharp where the system lacks libturbojpeg (Debian: libturbojpeg0).
const jpegDecoder = useJpegDecoder(env.JPEG_DECODER);
useIccTables(env.ICC_TABLES);
// First, before any thread exists: Linux sets the priority per thread, and threads started later
// (libuv's pool, where sharp decodes) inherit it from the main thread.
if (env.WORKER_NICE !== 0) {
  try {
    setPriority(env.WORKER_NICE);
  } catch (error) {
    logger.warn(
      { err: error, nice: env.WORKER_NICE },
      'could not change the worker priority; running at the inherited one',
    );
  }
}

if (env.WORKER_PROCESSES > 1) {
  // This process only supervises: each child runs this file as a single worker process.
  const supervisor = new WorkerSupervisor({
    entry: import.meta.filename,
    processes: env.WORKER_PROCESSES,
    workerId: env.WORKER_ID,
    port: env.WORKER_PORT,
    shutdownTimeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    logger,
    ...(env.ORT_INTRA_OP_THREADS !== undefined ? { ortIntraOpThreads: env.ORT_INTRA_OP_THREADS } : {}),
  });
  // No bound of its own: the supervisor kills children still running SHUTDOWN_TIMEOUT_MS + 5 s on.
  handleShutdown({
    logger,
    steps: [
      { name: 'worker processes', close: (reason) => supervisor.stop(reason === 'SIGINT' ? 'SIGINT' : 'SIGTERM') },
    ],
    onForce: () => supervisor.kill(),
  });
  await supervisor.run();
} else {
  const services = buildWorkerServices(env, logger);
  const { models } = await services.start();
  logger.info({ queue: env.QUEUE_NAME, models, jpegDecoder }, 'worker taking jobs');

  handleShutdown({
    logger,
    steps: services.closers,
    timeoutMs: env.SHUTDOWN_TIMEOUT_MS,
    startMessage: 'shutting down: finishing running jobs',
    timeoutMessage: 'shutdown timed out; exiting (unfinished jobs return to the queue as stalled)',
  });
}
