import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Proxies whose X-Forwarded-For is believed: exact addresses or CIDR ranges. */
export interface TrustList {
  readonly ranges: readonly Range[];
}

export function parseTrustList(raw: string): TrustList {
  const ranges: Range[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    if (item.includes('/')) {
      if (!ipaddr.isValidCIDR(item)) throw new Error(`"${item}" is not an address or CIDR`);
      ranges.push(ipaddr.parseCIDR(item));
    } else {
      if (!ipaddr.isValid(item)) throw new Error(`"${item}" is not an address or CIDR`);
      const addr = ipaddr.parse(item);
      ranges.push([addr, addr.kind() === 'ipv4' ? 32 : 128]);
    }
  }
  return Object.freeze({ ranges: Object.freeze(ranges) });
}

/**
 * Canonical text of an address; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4. An
 * address already canonical comes back as the same string, not a copy (a session keeps
 * it beside the socket's own).
 */
export function normalizeAddress(raw: string): string {
  if (!ipaddr.isValid(raw)) return raw;
  const text = ipaddr.process(raw).toString();
  return text === raw ? raw : text;
}

function isTrusted(list: TrustList, address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const addr = ipaddr.process(address);
  for (const [net, bits] of list.ranges) {
    const candidate =
      net.kind() === addr.kind()
        ? addr
        : addr.kind() === 'ipv4' && net.kind() === 'ipv6'
          ? (addr as ipaddr.IPv4).toIPv4MappedAddress()
          : undefined;
    if (candidate !== undefined && candidate.match([net, bits] as Range)) return true;
  }
  return false;
}

/**
 * The real client address. X-Forwarded-For is read only when the TCP peer is a trusted
 * proxy; then the rightmost address not itself a trusted proxy wins (what a client
 * prepends is never believed).
 */
export function clientAddress(
  list: TrustList,
  peer: string | undefined,
  forwardedFor: string | string[] | undefined,
): string {
  const remote = normalizeAddress(peer ?? 'unknown');
  if (list.ranges.length === 0 || !isTrusted(list, remote) || forwardedFor === undefined) {
    return remote;
  }
  const header = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
  const hops = header
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i] as string;
    if (!ipaddr.isValid(hop)) return remote;
    const addr = normalizeAddress(hop);
    if (!isTrusted(list, addr)) return addr;
  }
  return remote;
}

/**
 * What a per-address limit counts under: an IPv4 address on its own, an IPv6 address as
 * its /64 (`2001:db8:1:2::/64`). A subscriber is routinely given a whole /64, so a limit
 * on full IPv6 addresses would give one client 2^64 budgets. Anything that is not an IP
 * address (a peer the socket no longer knows) is counted as it is.
 */
export function addressNetwork(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const addr = ipaddr.process(address);
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as ipaddr.IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...parts, 0, 0, 0, 0]).toString()}/64`;
}
