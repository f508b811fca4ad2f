export * from './trafficRouting.ts';
export * from './versionComparison.ts';
export * from './rollbackJudge.ts';
export * from './rolloutGuard.ts';
export * from './rollbackWebhook.ts';
export * from './rolloutService.ts';
