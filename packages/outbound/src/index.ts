export * from './outboundPolicy.ts';
export * from './outboundAgent.ts';
