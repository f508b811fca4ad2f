export * from './webhookUrl.ts';
export * from './webhookSignature.ts';
export * from './webhookSender.ts';
