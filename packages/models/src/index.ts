export * from './modelManifest.ts';
export * from './modelNotReady.ts';
export * from './compareVersions.ts';
export * from './computeModelHash.ts';
export * from './readModelManifest.ts';
export * from './modelRegistry.ts';
export * from './fetchModelFiles.ts';
export * from './inspectOnnxModel.ts';
