export * from './redis.ts';
export * from './inferenceQueue.ts';
export * from './queueControl.ts';
export * from './jobEvents.ts';
export * from './webhookQueue.ts';
export * from './workerRegistry.ts';
export * from './pixelStore.ts';
export * from './jobEventLog.ts';
