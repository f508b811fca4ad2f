export * from './tensorData.ts';
export * from './inferenceRequest.ts';
export * from './inferenceResponse.ts';
export * from './tensorPayload.ts';
export * from './tensorBatch.ts';
export * from './outputReaders.ts';
export * from './modelMetadata.ts';
