import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import {
  addressAllowed,
  guardedLookup,
  normalizeHost,
  OutboundRefusedError,
  type OutboundPolicy,
} from './outboundPolicy.ts';

export interface OutboundAgentOptions {
  /** Name resolution; its answers are checked before any connection is made. @defaultValue dns.lookup */
  lookup?: LookupFunction;
  /** Longest a TCP + TLS connection may take to open. @defaultValue 10000 */
  connectTimeoutMs?: number;
}

/**
 * An undici dispatcher whose every connection obeys `policy`: an address literal is checked
 * before connecting, a name on the addresses it resolves to (so DNS rebinding cannot reach
 * inside). Because the check sits in the connector, it holds for every request and hop sent
 * through the agent, whoever builds the request. undici's `request` follows no redirects.
 */
export function createOutboundAgent(policy: OutboundPolicy, options: OutboundAgentOptions = {}): Agent {
  const lookup = guardedLookup(policy, options.lookup);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  const base = buildConnector({ lookup, timeout: connectTimeoutMs } as buildConnector.BuildOptions);
  const connect: buildConnector.connector = (connectOptions, callback) => {
    // net.connect skips `lookup` for an address literal, so literals are judged here.
    const host = normalizeHost(connectOptions.hostname);
    if (isIP(host) !== 0 && !addressAllowed(host, host, policy)) {
      callback(new OutboundRefusedError('private_address'), null);
      return;
    }
    base(connectOptions, callback);
  };
  return new Agent({ connect, keepAliveTimeout: 1000 });
}
