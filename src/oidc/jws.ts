/**
 * The shape of a JWT before any key is touched (RFC 7515 §7.1 compact serialization,
 * RFC 8725 §3): bounded size, exactly three base64url segments, a JSON-object header
 * and payload, an `alg` that is never `none` in any casing, no `crit`, no unencoded
 * payload (`b64`), no nested JWT (`cty: JWT`), a sane `kid`. Header members that name
 * keys (`jku`, `x5u`, `jwk`, `x5c`) are never read: keys come only from the trust in
 * the policy. Nothing here is trusted; it only decides which keys to verify with.
 */

import {asciiLower} from '../text.ts';
import {JwtRejected} from '../errors.ts';

/** Longest JWT accepted, in characters (real OIDC tokens are 1 to 4 KB). */
export const MAX_JWT_CHARS = 8192;
const B64URL = /^[A-Za-z0-9_-]+$/;
const KID = /^[\x20-\x7e]{1,256}$/;
/** Stateless when not streaming, so one serves every call. */
const UTF8 = new TextDecoder('utf-8', {fatal: true});

/** A JWT split and decoded, not verified. */
export interface UnverifiedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * A JWT as received, with its header and payload read once: the audit notes its
 * claims and verification chooses its trust from the same reading, which is handed
 * along with the token rather than made again.
 */
export interface InspectedJwt extends UnverifiedJwt {
  readonly token: string;
}

/** Checks the shape of `token` and decodes it without verifying anything. */
export function inspectJwt(token: string): InspectedJwt {
  if (token.length > MAX_JWT_CHARS) {
    throw new JwtRejected(
      'too_large',
      `the JWT is longer than ${MAX_JWT_CHARS} characters`,
    );
  }
  if (token.trimStart().startsWith('{')) {
    throw new JwtRejected(
      'json_serialization',
      'a JWT in compact serialization is expected, not JWS/JWE JSON',
    );
  }
  const parts = token.split('.');
  if (parts.length === 5) {
    throw new JwtRejected(
      'jwe',
      'an encrypted JWT (JWE) is not accepted: send the signed JWT',
    );
  }
  if (parts.length !== 3) {
    throw new JwtRejected(
      'malformed',
      'not a JWT: expected three dot-separated base64url segments',
    );
  }
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p)) {
    throw new JwtRejected('malformed', 'the JWT is not valid base64url');
  }
  const header = decodeObject(h, 'header');
  checkHeader(header);
  if (s === '') {
    throw new JwtRejected('unsigned', 'the JWT has no signature');
  }
  if (!B64URL.test(s)) {
    throw new JwtRejected('malformed', 'the JWT is not valid base64url');
  }
  const payload = decodeObject(p, 'payload');
  return {token, header, payload};
}

function checkHeader(header: Record<string, unknown>): void {
  const alg = header.alg;
  if (typeof alg !== 'string' || alg === '') {
    throw new JwtRejected('malformed', 'the JWT header has no alg');
  }
  // Only a four-letter alg can be `none` in some casing: most are spared the lowering.
  if (alg.length === 4 && asciiLower(alg) === 'none') {
    throw new JwtRejected('alg_none', 'unsigned JWTs (alg none) are refused');
  }
  if (header.crit !== undefined) {
    throw new JwtRejected(
      'crit',
      'JWTs with critical header parameters (crit) are not accepted',
    );
  }
  if (header.b64 !== undefined) {
    throw new JwtRejected(
      'b64',
      'JWTs with an unencoded payload (b64) are not accepted',
    );
  }
  if (
    typeof header.cty === 'string' &&
    /^(application\/)?jwt$/i.test(header.cty)
  ) {
    throw new JwtRejected('nested', 'nested JWTs are not accepted');
  }
  if (
    header.kid !== undefined &&
    (typeof header.kid !== 'string' || !KID.test(header.kid))
  ) {
    throw new JwtRejected(
      'bad_kid',
      'the JWT kid must be 1 to 256 printable ASCII characters',
    );
  }
}

function decodeObject(segment: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    const text = UTF8.decode(Buffer.from(segment, 'base64url'));
    value = JSON.parse(text);
  } catch {
    throw new JwtRejected('malformed', `the JWT ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwtRejected('malformed', `the JWT ${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}
