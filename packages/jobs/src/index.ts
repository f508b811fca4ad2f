export * from './jobService.ts';
export * from './jobWaiter.ts';
export * from './modelCatalog.ts';
export * from './operatorService.ts';
export * from './queueOperations.ts';
export * from './replayOperations.ts';
