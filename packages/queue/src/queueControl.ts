import type { InferenceQueue } from './inferenceQueue.ts';

/** Whether the inference queues hand out jobs, and which queues that is. */
export interface QueueControlState {
  /** True when every queue is paused; one paused queue of several still says false. */
  paused: boolean;
  queues: string[];
}

/**
 * Pauses or resumes every inference queue given, as bull-board's pause button does for one: a
 * paused queue hands no new job to any worker (attempts already running finish), and submissions
 * still go into it. The one place the API pauses through, so queues per model only add entries
 * to `queues` (each InferenceQueue pauses all its model queues). Idempotent: pausing a paused queue changes nothing.
 */
export async function setQueuesPaused(queues: readonly InferenceQueue[], paused: boolean): Promise<QueueControlState> {
  await Promise.all(queues.map((entry) => (paused ? entry.pause() : entry.resume())));
  return queuesPaused(queues);
}

/** Whether every queue given is paused (BullMQ keeps the flag in Redis, so every API process agrees). */
export async function queuesPaused(queues: readonly InferenceQueue[]): Promise<QueueControlState> {
  // Each InferenceQueue is paused when every one of its model queues is.
  const states = await Promise.all(queues.map((entry) => entry.isPaused()));
  return { paused: states.length > 0 && states.every(Boolean), queues: queues.map((entry) => entry.name) };
}
