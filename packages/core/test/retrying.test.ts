import { describe, expect, it } from 'vitest';
import { decideFailedAttempt, type FailedAttempt } from '../src/retrying.ts';

const young = { ageMs: 1000, maxAgeMs: 3600_000 };
const old = { ageMs: 7200_000, maxAgeMs: 3600_000 };

describe('decideFailedAttempt', () => {
  it.each<[string, FailedAttempt, ReturnType<typeof decideFailedAttempt>]>([
    // A permanent failure fails now, whatever attempts remain: no retry loop on poison jobs.
    [
      'permanent, attempts left',
      {
        error: { kind: 'permanent', code: 'PREPROCESSING_FAILED', message: 'bad' },
        attemptsMade: 1,
        attemptsAllowed: 5,
      },
      { action: 'fail', code: 'PREPROCESSING_FAILED', message: 'bad' },
    ],
    [
      'permanent, last attempt',
      { error: { kind: 'permanent', code: 'TIMEOUT', message: 'slow' }, attemptsMade: 5, attemptsAllowed: 5 },
      { action: 'fail', code: 'TIMEOUT', message: 'slow' },
    ],
    // Postgres down: retried while attempts remain, then left to the reconciler, which enqueues it again.
    [
      'database down, attempts left',
      { error: { kind: 'databaseUnavailable', code: 'DATABASE_UNAVAILABLE' }, attemptsMade: 2, attemptsAllowed: 5 },
      { action: 'retry', code: 'DATABASE_UNAVAILABLE' },
    ],
    [
      'database down, last attempt',
      { error: { kind: 'databaseUnavailable', code: 'DATABASE_UNAVAILABLE' }, attemptsMade: 5, attemptsAllowed: 5 },
      { action: 'requeue', code: 'DATABASE_UNAVAILABLE' },
    ],
    [
      'database down, entry ended, young',
      {
        error: { kind: 'databaseUnavailable', code: 'QUEUE_UNAVAILABLE' },
        attemptsMade: 1,
        attemptsAllowed: 1,
        ...young,
      },
      { action: 'requeue', code: 'QUEUE_UNAVAILABLE' },
    ],
    [
      'database down, entry ended, too old',
      {
        error: { kind: 'databaseUnavailable', code: 'DATABASE_UNAVAILABLE' },
        attemptsMade: 1,
        attemptsAllowed: 1,
        ...old,
      },
      { action: 'fail', code: 'DATABASE_UNAVAILABLE', message: 'The job failed.' },
    ],
    // Anything else: retried with backoff, then failed with INTERNAL.
    [
      'other, attempts left',
      { error: { kind: 'other' }, attemptsMade: 4, attemptsAllowed: 5 },
      { action: 'retry', code: 'INTERNAL' },
    ],
    [
      'other, last attempt',
      { error: { kind: 'other' }, attemptsMade: 5, attemptsAllowed: 5 },
      { action: 'fail', code: 'INTERNAL', message: 'The job failed after all its attempts.' },
    ],
    // The reconciler, for an entry BullMQ failed: its reason goes into the message.
    [
      'crashed past the stall limit',
      {
        error: { kind: 'other', reason: 'job stalled more than allowable limit' },
        attemptsMade: 1,
        attemptsAllowed: 1,
        ...young,
      },
      { action: 'fail', code: 'INTERNAL', message: 'The job failed: job stalled more than allowable limit' },
    ],
    [
      'failed with no reason',
      { error: { kind: 'other', reason: '' }, attemptsMade: 1, attemptsAllowed: 1, ...young },
      { action: 'fail', code: 'INTERNAL', message: 'The job failed.' },
    ],
    // A lost queue entry: enqueued again while young, JOB_LOST past the maximum age.
    [
      'lost, young',
      { error: { kind: 'lost' }, attemptsMade: 1, attemptsAllowed: 1, ...young },
      { action: 'requeue', code: null },
    ],
    [
      'lost, too old',
      { error: { kind: 'lost' }, attemptsMade: 1, attemptsAllowed: 1, ...old },
      { action: 'fail', code: 'JOB_LOST', message: 'The job was lost from the queue and is too old to run again.' },
    ],
    // Past its ttl and never started: expired, whatever else is true.
    [
      'lost, past its ttl',
      { error: { kind: 'lost' }, attemptsMade: 0, attemptsAllowed: 1, pastTtlUnstarted: true, ...young },
      { action: 'expire' },
    ],
    [
      'permanent, past its ttl',
      {
        error: { kind: 'permanent', code: 'INPUT_MISSING', message: 'gone' },
        attemptsMade: 0,
        attemptsAllowed: 5,
        pastTtlUnstarted: true,
      },
      { action: 'expire' },
    ],
  ])('%s', (_name, attempt, decision) => {
    expect(decideFailedAttempt(attempt)).toEqual(decision);
  });

  it('is never too old without an age limit', () => {
    expect(
      decideFailedAttempt({
        error: { kind: 'lost' },
        attemptsMade: 1,
        attemptsAllowed: 1,
        ageMs: Number.MAX_SAFE_INTEGER,
      }),
    ).toEqual({ action: 'requeue', code: null });
  });

  it('counts the failed attempt itself: the attempt that reaches the allowance is the last', () => {
    expect(decideFailedAttempt({ error: { kind: 'other' }, attemptsMade: 1, attemptsAllowed: 1 }).action).toBe('fail');
    expect(decideFailedAttempt({ error: { kind: 'other' }, attemptsMade: 1, attemptsAllowed: 2 }).action).toBe('retry');
  });
});
