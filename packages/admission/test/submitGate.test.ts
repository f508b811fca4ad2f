import { describe, expect, it } from 'vitest';
import { FairQueue } from '../src/fairQueue.ts';
import { SubmitGate } from '../src/submitGate.ts';

describe('SubmitGate', () => {
  it('lets unknown and known keys in while their user has room, and refuses a known key once its user is at its limit', () => {
    const queue = new FairQueue({ capacity: 4, maxPerFlow: 1 });
    const gate = new SubmitGate(queue);
    expect(gate.refusalFor(null)).toBeUndefined();
    expect(gate.refusalFor('ak_alice')).toBeUndefined();
    gate.learn('ak_alice', 'alice');
    expect(gate.refusalFor('ak_alice')).toBeUndefined();

    const lease = queue.tryAcquire('alice');
    expect(gate.refusalFor('ak_alice')).toMatchObject({
      code: 'CONCURRENCY_LIMITED',
      retryAfterSeconds: 1,
      details: { resource: 'submits', reason: 'queue-full', inUse: 1, limit: 4 },
    });
    // Another user's key is not refused for alice's full queues.
    gate.learn('ak_bob', 'bob');
    expect(gate.refusalFor('ak_bob')).toBeUndefined();

    if ('release' in lease) lease.release();
    expect(gate.refusalFor('ak_alice')).toBeUndefined();
  });

  it('follows a key prefix to the user it last authenticated as', () => {
    const queue = new FairQueue({ capacity: 4, maxPerFlow: 1 });
    const gate = new SubmitGate(queue);
    queue.tryAcquire('alice');
    gate.learn('ak_shared', 'bob');
    expect(gate.refusalFor('ak_shared')).toBeUndefined();
    gate.learn('ak_shared', 'alice');
    expect(gate.refusalFor('ak_shared')?.code).toBe('CONCURRENCY_LIMITED');
  });
});
