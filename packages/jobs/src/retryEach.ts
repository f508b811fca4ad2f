import { AppError } from '@inferq/core';

/**
 * Retries the given jobs, `concurrency` at a time, and returns how many went back in the queue.
 * A job that changed meanwhile (retried by someone else, still held by a worker, or deleted) is
 * left and not counted; any other error stops the run.
 */
export async function retryEach(
  ids: readonly string[],
  retry: (id: string) => Promise<unknown>,
  concurrency: number,
): Promise<number> {
  let retried = 0;
  let next = 0;
  const run = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      try {
        await retry(id);
        retried++;
      } catch (error) {
        if (error instanceof AppError && (error.code === 'CONFLICT' || error.code === 'JOB_NOT_FOUND')) continue;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, run));
  return retried;
}
