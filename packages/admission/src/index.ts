// Admission: whether a request may go on, and when. Per-user rate limits (Redis, shared by every
// API instance), the process's fair queues (submit slots, upload memory, decode pixels, event
// streams) with their shares per tier, and the in-flight quota. No HTTP here: apps/api's
// middleware (src/http/) turns these decisions into answers and headers.
export * from './fairQueue.ts';
export * from './admissionShares.ts';
export * from './entryLine.ts';
export * from './rateLimits.ts';
export * from './inFlightQuota.ts';
export * from './submitGate.ts';
