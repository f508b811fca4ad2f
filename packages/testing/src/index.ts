export * from './testServices.ts';
export * from './processes.ts';
