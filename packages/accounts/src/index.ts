export * from './apiKeys.ts';
export * from './accountStore.ts';
export * from './tiers.ts';
export * from './accountService.ts';
export * from './principalCache.ts';
export * from './secretBox.ts';
