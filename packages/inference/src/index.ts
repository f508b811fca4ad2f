export * from './backend.ts';
export * from './modelLoader.ts';
export * from './servedModel.ts';
export * from './preprocess.ts';
export * from './batcher.ts';
export * from './importNsfwModel.ts';
export * from './batchingDefaults.ts';
export * from './modelPool.ts';
