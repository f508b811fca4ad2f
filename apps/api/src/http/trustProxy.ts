import ipaddr from 'ipaddr.js';

/**
 * Which proxies' `X-Forwarded-For` the API believes, as Express's `trust proxy` takes it: `false`
 * (none: the client is the TCP peer), a hop count (the last N proxies in front of the API), or a
 * list of proxy addresses and subnets (and Express's names `loopback`, `linklocal`,
 * `uniquelocal`). Never `true`: trusting every hop lets any client write its own address into
 * `X-Forwarded-For`, which would let it slip past the per-address limits or aim them at another
 * address.
 */
export type TrustProxySetting = false | number | string[];

const namedRanges = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * Parses TRUST_PROXY: `false`/`0`/empty → false; a whole number → that many hops; otherwise a
 * comma-separated list of addresses, CIDR subnets and named ranges. Throws on `true` and on
 * anything in the list that is not an address, a subnet or a name.
 */
export function parseTrustProxy(text: string): TrustProxySetting {
  const value = text.trim();
  if (value === '' || value === 'false' || value === '0') return false;
  if (value === 'true')
    throw new Error(
      '"true" trusts any X-Forwarded-For a client sends; give the number of proxies in front of the API, or their addresses',
    );
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 10) throw new Error('more than 10 proxy hops is not a real setup');
    return hops;
  }
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  for (const entry of entries) {
    const valid = namedRanges.has(entry) || ipaddr.isValid(entry) || (entry.includes('/') && isCidr(entry));
    if (!valid)
      throw new Error(`"${entry}" is not a proxy address, a subnet (CIDR) or one of loopback, linklocal, uniquelocal`);
  }
  return entries;
}

function isCidr(entry: string): boolean {
  try {
    ipaddr.parseCIDR(entry);
    return true;
  } catch {
    return false;
  }
}
