/**
 * `source_ranges`: CIDR blocks compiled once into matchers. Parsing and matching are
 * ipaddr.js's; what is written here is the strictness a security policy wants: only
 * canonical dotted-quad IPv4, no host bits set, and IPv4 callers matched whether the
 * socket reports them as `1.2.3.4` or as IPv4-mapped IPv6 `::ffff:1.2.3.4` (a
 * dual-stack listener does the latter).
 */

import ipaddr from 'ipaddr.js';
import type {SourceRange} from './types.ts';
import {fail, ok, type Parsed} from './result.ts';
import {printable} from '../text.ts';

/** Compiles one CIDR block, e.g. `203.0.113.0/24` or `2001:db8::/32`. */
export function compileSourceRange(cidr: string): Parsed<SourceRange> {
  const shown = printable(cidr);
  if (cidr.includes('%')) {
    return fail(`"${shown}": zone indices are not allowed in a source range`);
  }
  if (!cidr.includes('/') && ipaddr.isValid(cidr)) {
    const host = ipaddr.IPv4.isValid(cidr) ? 32 : 128;
    return fail(
      `"${shown}" is an address, not a CIDR block: write ${shown}/${host} for this one address`,
    );
  }
  let network: ipaddr.IPv4 | ipaddr.IPv6;
  let bits: number;
  if (ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr)) {
    [network, bits] = ipaddr.IPv4.parseCIDR(cidr);
  } else if (ipaddr.IPv6.isValidCIDR(cidr)) {
    [network, bits] = ipaddr.IPv6.parseCIDR(cidr);
    if (network.isIPv4MappedAddress()) {
      return fail(
        `"${shown}" is an IPv4-mapped (or IPv4-compatible) IPv6 range: write the IPv4 range instead`,
      );
    }
  } else {
    return fail(`"${shown}" is not a valid CIDR block`);
  }
  const base = networkOf(network, bits);
  const canonical = `${base.toString()}/${bits}`;
  if (base.toByteArray().join() !== network.toByteArray().join()) {
    // 203.0.113.7/24 is almost always a typo for a host or for the network; say which.
    return fail(`"${shown}" has host bits set: did you mean ${canonical}?`);
  }
  const range: [ipaddr.IPv4 | ipaddr.IPv6, number] = [network, bits];
  const kind = network.kind();
  return ok(
    Object.freeze({
      cidr: canonical,
      contains(address: string): boolean {
        const addr = parseAddress(address);
        return addr !== undefined && addr.kind() === kind && addr.match(range);
      },
    }),
  );
}

/** Parses a peer address; IPv4-mapped IPv6 becomes IPv4. Undefined when not an address. */
function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(address)) {
    return ipaddr.IPv4.parse(address);
  }
  if (ipaddr.IPv6.isValid(address)) {
    const v6 = ipaddr.IPv6.parse(address);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  }
  return undefined;
}

function networkOf(
  addr: ipaddr.IPv4 | ipaddr.IPv6,
  bits: number,
): ipaddr.IPv4 | ipaddr.IPv6 {
  const bytes = addr.toByteArray();
  const out = bytes.map((b, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    return b & ((0xff << (8 - keep)) & 0xff);
  });
  return ipaddr.fromByteArray(out);
}
