import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '@inferq/webhooks';
import { verifyWebhookSignature } from '../src/index.ts';

const secret = 'whsec_test';
const body = '{"id":"5f1d7c7e-4c1b-4a59-9b47-6a4d1f0b2a11","status":"succeeded"}';
const now = 1_767_225_600;

describe('verifyWebhookSignature', () => {
  it('accepts what the dispatcher signs, and matches a plain node:crypto HMAC', async () => {
    const header = signWebhook({ secret, body, timestamp: now });
    expect(header).toBe(`t=${now},v1=${createHmac('sha256', secret).update(`${now}.${body}`).digest('hex')}`);
    expect(await verifyWebhookSignature({ secret, body, header, now })).toBe(true);
  });

  it.each<[string, () => { header: string | undefined; body?: string; secret?: string; now?: number }]>([
    ['another secret', () => ({ header: signWebhook({ secret, body, timestamp: now }), secret: 'whsec_other' })],
    ['a changed body', () => ({ header: signWebhook({ secret, body, timestamp: now }), body: `${body} ` })],
    ['an old timestamp', () => ({ header: signWebhook({ secret, body, timestamp: now - 301 }) })],
    ['a future timestamp', () => ({ header: signWebhook({ secret, body, timestamp: now + 301 }) })],
    ['a missing header', () => ({ header: undefined })],
    ['no v1', () => ({ header: `t=${now}` })],
    ['no timestamp', () => ({ header: signWebhook({ secret, body, timestamp: now }).replace(/^t=\d+,/, '') })],
    ['a signed timestamp swapped', () => ({ header: signWebhook({ secret, body, timestamp: now }).replace(`t=${now}`, `t=${now - 1}`) })],
  ])('refuses %s', async (_name, make) => {
    const given = make();
    expect(await verifyWebhookSignature({ secret: given.secret ?? secret, body: given.body ?? body, header: given.header, now: given.now ?? now })).toBe(false);
  });
});
