export * from './jobLifecycle.ts';
