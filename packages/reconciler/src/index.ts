export * from './leaderLock.ts';
export * from './reconciler.ts';
