/**
 * The one loopback test. Plain http, and local mode's "never leave the machine", are
 * allowed only towards these hosts: the endpoints tvm talks to carry bearer tokens.
 * The list is exact on purpose (no 127.0.0.0/8 ranges, no *.localhost): what it
 * accepts is what the emulator and the tests use.
 */

/** Host names that are this machine, as `URL.hostname` spells them (IPv6 bracketed). */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set([
  '127.0.0.1',
  'localhost',
  '[::1]',
]);

/** True when `url`'s host is loopback. */
export function isLoopbackUrl(url: URL): boolean {
  return LOOPBACK_HOSTS.has(url.hostname);
}

/**
 * True when `address` — a URL, or a bare `host[:port]` such as GCE_METADATA_HOST —
 * names a loopback host and carries nothing but a port and a path after it.
 */
export function isLoopbackAddress(address: string): boolean {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(address)
    ? address
    : `http://${address}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return (
    (url.protocol === 'http:' || url.protocol === 'https:') &&
    !url.username &&
    !url.password &&
    isLoopbackUrl(url)
  );
}
