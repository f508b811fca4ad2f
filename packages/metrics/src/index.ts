export * from './metrics.ts';
export { Registry } from 'prom-client';
