export * from './mnistData.ts';
export * from './mnistModel.ts';
export * from './checkpoints.ts';
export * from './trainMnist.ts';
export * from './exportModel.ts';
export * from './mnistManifest.ts';
export * from './importMnistModel.ts';
