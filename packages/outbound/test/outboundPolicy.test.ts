import { describe, expect, it } from 'vitest';
import { checkOutboundUrl, classifyAddress, type OutboundPolicy } from '../src/index.ts';

describe('classifyAddress', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.9.9.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:8.8.8.8', 'public'],
    ['::ffff:10.0.0.1', 'private'],
    // IPv4-compatible (::/96): never public, whatever IPv4 address it carries.
    ['::127.0.0.1', 'private'],
    ['::8.8.8.8', 'private'],
    ['::', 'private'],
    ['0.0.0.0', 'private'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'private'],
    ['100.64.0.1', 'private'],
    ['fd00::1', 'private'],
    ['fe80::1', 'private'],
    ['64:ff9b::7f00:1', 'private'],
    ['2002:7f00:1::', 'private'],
    ['224.0.0.1', 'private'],
    ['fe80::1%eth0', 'private'],
    ['not an address', 'private'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddress(address)).toBe(kind);
  });
});

describe('checkOutboundUrl', () => {
  const refusal = (url: string, policy: OutboundPolicy = {}) => {
    try {
      checkOutboundUrl(url, policy);
      return null;
    } catch (error) {
      return (error as { reason?: string }).reason ?? 'thrown';
    }
  };

  it.each([
    ['https://[::127.0.0.1]/', {}, 'private_address'],
    ['https://[::ffff:127.0.0.1]/', {}, 'private_address'],
    ['https://[::ffff:7f00:1]/', {}, 'private_address'],
    ['https://localhost./hook', {}, 'private_address'],
    ['https://LOCALHOST/hook', {}, 'private_address'],
    ['https://api.localhost/hook', {}, 'private_address'],
    ['https://169.254.169.254/latest/meta-data', {}, 'private_address'],
    ['https://10.0.0.5/', {}, 'private_address'],
    ['http://example.com/', {}, 'not_https'],
    ['ftp://example.com/', {}, 'not_https'],
    ['https://user:pw@example.com/', {}, 'credentials'],
    ['not a url', {}, 'malformed'],
    ['http://127.0.0.1:9/', {}, 'private_address'],
    ['https://[::127.0.0.1]/', { allowLoopback: true }, 'private_address'],
    ['http://10.0.0.5/', { allowHosts: ['models.internal'] }, 'private_address'],
  ])('refuses %s (policy %j) as %s', (url, policy, reason) => {
    expect(refusal(url, policy)).toBe(reason);
  });

  it.each([
    ['https://example.com/hook', {}],
    ['http://127.0.0.1:9/', { allowLoopback: true }],
    ['http://localhost./', { allowLoopback: true }],
    ['http://models.internal/m/model.json', { allowHosts: ['models.internal'] }],
    ['http://MODELS.internal./m/model.json', { allowHosts: ['models.internal'] }],
    ['http://10.0.0.5/model.json', { allowHosts: ['10.0.0.5'] }],
  ])('accepts %s (policy %j)', (url, policy) => {
    expect(refusal(url, policy)).toBeNull();
  });
});
