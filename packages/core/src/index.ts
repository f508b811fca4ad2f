export * from './errors.ts';
export * from './types.ts';
export * from './jobCatalog.ts';
export * from './wire.ts';
export * from './jobView.ts';
export * from './dashboardWire.ts';
export * from './accountsWire.ts';
export * from './modelsWire.ts';
