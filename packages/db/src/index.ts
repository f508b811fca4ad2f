export * from './client.ts';
export * from './jobStore.ts';
export * from './webhookDeliveryStore.ts';
export * from './errors.ts';
export { Prisma } from '@prisma/client';
export * from './jobStats.ts';
export * from './jobMaintenance.ts';
