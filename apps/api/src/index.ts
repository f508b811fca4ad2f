import { pino } from 'pino';
import { handleShutdown } from '@inferq/core/shutdown';
import { useJpegDecoder } from '@inferq/images';
import { buildApiProcess } from './apiProcess.ts';
import { parseApiEnv } from './env.ts';

const env = parseApiEnv(process.env);
// Asynchronous: lines logged while a write is in flight go out together in the next, instead of
// one synchronous write per line (two lines per job: the submit and the wait). Flushed on exit.
const logDestination = pino.destination({ dest: 1, sync: false });
const logger = pino(
  { level: env.LOG_LEVEL, base: { service: 'api' }, redact: ['req.headers.authorization', 'req.headers.cookie'] },
  logDestination,
);

// The check at submit decodes plain JPEGs with libjpeg-turbo where the system has it.
const jpegDecoder = useJpegDecoder(env.JPEG_DECODER);
const api = buildApiProcess(env, logger);
const address = await api.start();
logger.info({ port: address.port, host: address.address, jpegDecoder }, 'api listening');

handleShutdown({
  logger,
  steps: api.closers,
  // The server's own drain takes up to SHUTDOWN_TIMEOUT_MS; the connections get 5 s more.
  timeoutMs: env.SHUTDOWN_TIMEOUT_MS + 5000,
  flush: () => logDestination.flushSync(),
});
