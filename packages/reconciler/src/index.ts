export * from './leaderLock.ts';
export * from './reconciler.ts';
export * from './historyRecorder.ts';
