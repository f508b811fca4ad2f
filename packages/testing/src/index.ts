export * from './testServices.ts';
export * from './processes.ts';
export * from './testUsers.ts';
export * from './ports.ts';
export * from './testJobs.ts';
export * from './otlpReceiver.ts';
