import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions, type LookupOneOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * Which hosts the platform's own outbound requests (webhook deliveries, model fetches) may reach.
 *
 * The default is the safe one: https to public unicast addresses only. What counts as public is
 * decided on the address itself, after name resolution, when each connection is made (see
 * {@link guardedLookup} and `createOutboundAgent`), so a name that resolves to an inside address
 * now or later (DNS rebinding) cannot reach inside.
 */
export interface OutboundPolicy {
  /**
   * Accept loopback hosts (127.0.0.0/8, ::1, `localhost`) and plain http to them: for development
   * and tests only; the apps refuse the setting in production.
   * @defaultValue false
   */
  allowLoopback?: boolean;
  /**
   * Host names (or address literals) that may resolve to private addresses and may be reached over
   * plain http: an internal model store. Matched exactly, case-insensitively, without a trailing dot.
   * @defaultValue [] (none)
   */
  allowHosts?: readonly string[];
}

/** Where an address points: the public internet, this machine, or anything else (private, reserved). */
export type AddressClass = 'public' | 'loopback' | 'private';

/** Why an outbound URL or connection was refused; carried as `reason`. */
export type OutboundRefusal = 'malformed' | 'credentials' | 'not_https' | 'private_address';

/** The one message a refused address gets, wherever it is shown (delivery logs, API errors). */
export const privateAddressMessage = 'refused: private address';

/**
 * An outbound request the policy refused. Its message never carries the resolved addresses or
 * the resolver's words: those describe the inside of the network to whoever set the URL.
 */
export class OutboundRefusedError extends Error {
  readonly code = 'ERR_OUTBOUND_REFUSED';
  readonly reason: OutboundRefusal;

  constructor(
    reason: OutboundRefusal,
    message: string = reason === 'private_address' ? privateAddressMessage : `refused: ${reason}`,
  ) {
    super(message);
    this.name = 'OutboundRefusedError';
    this.reason = reason;
  }
}

export function isOutboundRefused(error: unknown): error is OutboundRefusedError {
  return error instanceof OutboundRefusedError;
}

/** A URL host as a plain name or address: no brackets, no trailing dot, lower case. */
export function normalizeHost(hostname: string): string {
  let host = hostname.toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  while (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}

/**
 * Classifies an address literal. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is judged as the IPv4
 * address it carries; the deprecated IPv4-compatible block (`::/96`, e.g. `::127.0.0.1`, which
 * some stacks still route to the IPv4 address) is never public. Anything ipaddr.js does not call
 * `unicast` (private, link-local, CGNAT, unique-local, multicast, 6to4, NAT64, documentation,
 * reserved) is private. Something that is not an address at all is private too.
 */
export function classifyAddress(address: string): AddressClass {
  let bare = normalizeHost(address);
  // ipaddr.js reads any dotted tail as IPv4-mapped (`::127.0.0.1` → `::ffff:7f00:1`); the WHATWG
  // URL parser writes every IPv6 literal in plain hex first, as the connection will see it.
  if (isIP(bare) === 6) {
    // A zone index (`fe80::1%eth0`) names an interface: link-local, never public.
    if (bare.includes('%')) return 'private';
    bare = normalizeHost(new URL(`http://[${bare}]/`).hostname);
  }
  if (!ipaddr.isValid(bare)) return 'private';
  let parsed: ipaddr.IPv4 | ipaddr.IPv6 = ipaddr.parse(bare);
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address();
    else if (v6.parts.slice(0, 6).every((part) => part === 0))
      return v6.range() === 'loopback' ? 'loopback' : 'private';
  }
  const range = parsed.range();
  if (range === 'loopback') return 'loopback';
  return range === 'unicast' ? 'public' : 'private';
}

function isLoopbackName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

function isAllowedHost(host: string, policy: OutboundPolicy): boolean {
  return (policy.allowHosts ?? []).some((allowed) => normalizeHost(allowed) === host);
}

/** Whether a connection to `address` (already resolved, or a literal) may be made for `host`. */
export function addressAllowed(address: string, host: string, policy: OutboundPolicy): boolean {
  if (isAllowedHost(normalizeHost(host), policy)) return true;
  const kind = classifyAddress(address);
  return kind === 'public' || (kind === 'loopback' && policy.allowLoopback === true);
}

/**
 * Checks what a URL itself shows (scheme, credentials, a literal or loopback host) and returns it
 * parsed, without its fragment. Names are checked again, on their resolved addresses, when the
 * connection is made. Throws {@link OutboundRefusedError}.
 */
export function checkOutboundUrl(raw: string, policy: OutboundPolicy = {}): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundRefusedError('malformed', 'refused: not an absolute URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new OutboundRefusedError('not_https', 'refused: only https URLs are accepted');
  if (url.username || url.password)
    throw new OutboundRefusedError('credentials', 'refused: the URL carries a user name or password');
  const host = normalizeHost(url.hostname);
  const allowedHost = isAllowedHost(host, policy);
  const loopback = isLoopbackName(host) || (isIP(host) !== 0 && classifyAddress(host) === 'loopback');
  if (!allowedHost) {
    if (loopback && !policy.allowLoopback) throw new OutboundRefusedError('private_address');
    if (isIP(host) !== 0 && classifyAddress(host) === 'private') throw new OutboundRefusedError('private_address');
    // `localhost.` and `x.localhost` resolve to loopback on most resolvers whatever DNS says.
  }
  if (url.protocol === 'http:' && !loopback && !allowedHost)
    throw new OutboundRefusedError('not_https', 'refused: only https URLs are accepted');
  url.hash = '';
  return url;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for `net.connect` / `tls.connect` that resolves with `inner` and refuses the
 * connection unless every address it returns is allowed for that host. A refused connection
 * fails with {@link OutboundRefusedError} and no socket is opened.
 */
export function guardedLookup(
  policy: OutboundPolicy,
  inner: LookupFunction = dnsLookup as unknown as LookupFunction,
): LookupFunction {
  return ((hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback) => {
    (inner as unknown as (h: string, o: unknown, cb: LookupCallback) => void)(
      hostname,
      options,
      (error, address, family) => {
        if (error) {
          callback(error, '');
          return;
        }
        const addresses = Array.isArray(address) ? address.map((entry) => entry.address) : [address];
        if (addresses.length === 0 || !addresses.every((candidate) => addressAllowed(candidate, hostname, policy))) {
          callback(new OutboundRefusedError('private_address') as NodeJS.ErrnoException, '');
          return;
        }
        callback(null, address, family);
      },
    );
  }) as unknown as LookupFunction;
}
