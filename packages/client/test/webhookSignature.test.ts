import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { signWebhook, standardWebhookHeaders } from '@inferq/webhooks';
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
    [
      'a signed timestamp swapped',
      () => ({ header: signWebhook({ secret, body, timestamp: now }).replace(`t=${now}`, `t=${now - 1}`) }),
    ],
  ])('refuses %s', async (_name, make) => {
    const given = make();
    expect(
      await verifyWebhookSignature({
        secret: given.secret ?? secret,
        body: given.body ?? body,
        header: given.header,
        now: given.now ?? now,
      }),
    ).toBe(false);
  });
});

describe('verifyWebhookSignature with Standard Webhooks headers', () => {
  // The example of the Standard Webhooks specification.
  const specSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const specHeaders = {
    'webhook-id': 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    'webhook-timestamp': '1614265330',
    'webhook-signature': 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  };
  const specBody = '{"test": 2432232314}';

  it('accepts the specification example, as a plain object and as Fetch Headers', async () => {
    expect(
      await verifyWebhookSignature({ secret: specSecret, body: specBody, headers: specHeaders, now: 1614265330 }),
    ).toBe(true);
    expect(
      await verifyWebhookSignature({
        secret: specSecret,
        body: specBody,
        headers: new Headers(specHeaders),
        now: 1614265330,
      }),
    ).toBe(true);
  });

  it('accepts what the dispatcher signs and what the reference library signs, for a secret with + and /', async () => {
    const secret = `whsec_${Buffer.from(Array.from({ length: 24 }, (_, index) => 250 - index)).toString('base64')}`;
    expect(secret).toMatch(/[+/]/);
    const headers = standardWebhookHeaders({ secret, messageId: 'delivery-1', body, timestamp: now });
    expect(headers['webhook-signature']).toBe(new Webhook(secret).sign('delivery-1', new Date(now * 1000), body));
    expect(await verifyWebhookSignature({ secret, body, headers, now })).toBe(true);
    // The original header of the same delivery, keyed with the URL-safe form it was issued in.
    expect(
      await verifyWebhookSignature({ secret, body, header: signWebhook({ secret, body, timestamp: now }), now }),
    ).toBe(true);
    expect(
      await verifyWebhookSignature({
        secret: secret.replace(/\+/g, '-').replace(/\//g, '_'),
        body,
        header: signWebhook({ secret, body, timestamp: now }),
        now,
      }),
    ).toBe(true);
  });

  it.each<[string, Partial<Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string>>, string?]>([
    ['another message id', { 'webhook-id': 'msg_other' }],
    ['another timestamp', { 'webhook-timestamp': '1614265331' }],
    ['a signature of another scheme', { 'webhook-signature': 'v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' }],
    ['a changed body', {}, '{"test": 2432232315}'],
  ])('refuses %s', async (_name, changed, changedBody) => {
    expect(
      await verifyWebhookSignature({
        secret: specSecret,
        body: changedBody ?? specBody,
        headers: { ...specHeaders, ...changed },
        now: 1614265330,
      }),
    ).toBe(false);
  });

  it('refuses a replay outside the tolerance', async () => {
    expect(
      await verifyWebhookSignature({ secret: specSecret, body: specBody, headers: specHeaders, now: 1614265330 + 301 }),
    ).toBe(false);
  });
});
