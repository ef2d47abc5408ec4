// The SSRF guard: a webhook never reaches loopback, link-local (cloud metadata 169.254.169.254),
// private, shared, multicast or reserved addresses, nor the cluster's own ranges, unless an
// operator-level allowlist names them. The name is resolved once per delivery; the connection
// goes to the address that was checked (a pinned lookup), so a second answer cannot rebind it.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

interface Range {
  cidr: string;
  what: string;
}

const BLOCKED: readonly Range[] = [
  { cidr: '0.0.0.0/8', what: '"this network"' },
  { cidr: '10.0.0.0/8', what: 'a private range' },
  { cidr: '100.64.0.0/10', what: 'the shared address space (carrier-grade NAT)' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '169.254.0.0/16', what: 'link-local (cloud metadata)' },
  { cidr: '172.16.0.0/12', what: 'a private range' },
  { cidr: '192.0.0.0/24', what: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', what: 'a documentation range' },
  { cidr: '192.168.0.0/16', what: 'a private range' },
  { cidr: '198.18.0.0/15', what: 'the benchmarking range' },
  { cidr: '198.51.100.0/24', what: 'a documentation range' },
  { cidr: '203.0.113.0/24', what: 'a documentation range' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '240.0.0.0/4', what: 'a reserved range' },
  { cidr: '::/128', what: 'the unspecified address' },
  { cidr: '::1/128', what: 'loopback' },
  { cidr: '64:ff9b::/96', what: 'NAT64 (an embedded IPv4 address)' },
  { cidr: '100::/64', what: 'the discard range' },
  { cidr: '2001:db8::/32', what: 'a documentation range' },
  { cidr: 'fc00::/7', what: 'unique local addresses (private)' },
  { cidr: 'fe80::/10', what: 'link-local' },
  { cidr: 'ff00::/8', what: 'multicast' },
];

type Family = 'ipv4' | 'ipv6';

function parseCidr(cidr: string): { address: string; prefix: number; family: Family } {
  const [address = '', bits] = cidr.split('/');
  const version = isIP(address);
  if (version === 0) throw new Error(`'${cidr.slice(0, 64)}' is not an address range (CIDR such as 10.0.0.0/8)`);
  const max = version === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : /^[0-9]{1,3}$/.test(bits) ? Number(bits) : NaN;
  if (!(prefix >= 0 && prefix <= max)) throw new Error(`'${cidr.slice(0, 64)}' has an invalid prefix length`);
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Validates a CIDR for a flag; throws with a readable message. */
export function validateCidr(cidr: string): string {
  parseCidr(cidr);
  return cidr;
}

function listOf(ranges: readonly Range[]): { list: BlockList; range: Range }[] {
  return ranges.map((range) => {
    const { address, prefix, family } = parseCidr(range.cidr);
    const list = new BlockList();
    list.addSubnet(address, prefix, family);
    return { list, range };
  });
}

/** `::ffff:a.b.c.d` is the IPv4 address a.b.c.d (checked by the IPv4 ranges). */
function normalize(address: string): { address: string; family: Family } {
  const mapped = /^::ffff:([0-9]+\.[0-9]+\.[0-9]+\.[0-9]+)$/i.exec(address);
  if (mapped?.[1]) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export interface GuardOptions {
  /** Ranges a webhook may reach although they are blocked (the operator's allowlist flag). */
  allow?: readonly string[];
  /** More ranges to refuse: the cluster's service and pod ranges when they are not private. */
  deny?: readonly string[];
}

export type AddressVerdict = { allowed: true } | { allowed: false; reason: string };

export class AddressGuard {
  private readonly blocked: { list: BlockList; range: Range }[];
  private readonly allowed: { list: BlockList; range: Range }[];

  constructor(options: GuardOptions = {}) {
    this.blocked = listOf([...BLOCKED, ...(options.deny ?? []).map((cidr) => ({ cidr, what: "the cluster's range" }))]);
    this.allowed = listOf((options.allow ?? []).map((cidr) => ({ cidr, what: 'allowlist' })));
  }

  check(raw: string): AddressVerdict {
    if (isIP(raw) === 0) return { allowed: false, reason: `'${raw.slice(0, 64)}' is not an IP address` };
    const { address, family } = normalize(raw);
    if (this.allowed.some((a) => a.list.check(address, family))) return { allowed: true };
    const hit = this.blocked.find((b) => b.list.check(address, family));
    return hit ? { allowed: false, reason: `${raw} is ${hit.range.what} (${hit.range.cidr})` } : { allowed: true };
  }
}

export type Resolver = (host: string) => Promise<{ address: string; family: number }[]>;

export const systemResolver: Resolver = (host) => dnsLookup(host, { all: true, verbatim: true });

export class BlockedDestinationError extends Error {
  override name = 'BlockedDestinationError';
}

/**
 * Resolves `host` once and checks every answer (one blocked answer refuses the name: a name
 * that also points inside is not a public destination). Returns the address to connect to.
 */
export async function resolveChecked(host: string, guard: AddressGuard, resolve: Resolver): Promise<{ address: string; family: 4 | 6 }> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const literal = isIP(bare);
  const answers = literal ? [{ address: bare, family: literal }] : await resolve(bare);
  if (answers.length === 0) throw new BlockedDestinationError(`${bare} has no address`);
  for (const a of answers) {
    const verdict = guard.check(a.address);
    if (!verdict.allowed) throw new BlockedDestinationError(`destination ${bare} refused: ${verdict.reason}`);
  }
  const first = answers[0] as { address: string; family: number };
  return { address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** A socket lookup that answers only the checked address (no second resolution). */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  }) as unknown as LookupFunction; // node's overloaded LookupFunction type has no single signature to implement
}
