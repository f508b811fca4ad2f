export * from './redis.ts';
export * from './inferenceQueue.ts';
