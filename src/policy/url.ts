/**
 * HTTPS URLs in the policy (`oidc.issuer`, `jwks_uri`). An issuer is compared with the
 * token's `iss` as an exact string (RFC 8414 §3.3, OpenID Connect Discovery §4.3), so
 * it must be written the one way URL parsing would write it: no userinfo, query or
 * fragment, no default port, no `.`/`..` segments, a lower-case ASCII host (non-ASCII
 * hosts in punycode), no control characters. Plain http is refused: keys fetched over
 * it could be replaced by anyone on the path.
 */

import {fail, ok, type Parsed} from './result.ts';
import {printable} from '../text.ts';

/** Checks an https URL written in canonical form; `allowQuery` for JWKS URLs. */
export function parseHttpsUrl(
  input: string,
  allowQuery = false,
): Parsed<string> {
  const shown = printable(input);
  if (!/^[\x21-\x7e]+$/.test(input) || input.length > 512) {
    return fail(
      `"${shown}": must be printable ASCII without spaces, at most 512 characters (write a non-ASCII host in punycode)`,
    );
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return fail(`"${shown}" is not a URL`);
  }
  if (url.protocol !== 'https:') {
    return fail(`"${shown}": must be an https:// URL`);
  }
  if (url.username || url.password || input.includes('@')) {
    return fail(`"${shown}": must not carry userinfo`);
  }
  if (input.includes('#') || (!allowQuery && input.includes('?'))) {
    return fail(
      `"${shown}": must not carry a ${allowQuery ? '' : 'query or '}fragment`,
    );
  }
  const canonical = url.href;
  const matches =
    input === canonical || (url.pathname === '/' && `${input}/` === canonical);
  if (!matches) {
    const want =
      url.pathname === '/' && !input.endsWith('/')
        ? canonical.slice(0, -1)
        : canonical;
    return fail(
      `"${shown}" is not in canonical form (tokens must carry exactly this string): write ${printable(want)}`,
    );
  }
  return ok(input);
}
