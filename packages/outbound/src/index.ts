export * from './outboundPolicy.ts';
export * from './outboundAgent.ts';
export * from './fetchBounded.ts';
