/**
 * Static JSON Web Key Sets in the policy (RFC 7517): an issuer's keys pinned for an
 * air-gapped cluster or a private issuer, or a partner's keys for private_key_jwt.
 * Only public asymmetric keys are accepted: a private member (`d`, ...) would be a leak
 * of the partner's key into the policy, and a symmetric (`oct`) key would be a shared
 * secret in the clear. Keys are imported with node:crypto at load so a broken key fails
 * the policy check, not a request.
 */

import {createPublicKey} from 'node:crypto';
import {createLocalJWKSet, type JSONWebKeySet, type JWK} from 'jose';
import type {Issues} from './issues.ts';
import type {KeySource} from './types.ts';

/** Most keys in one static set. */
export const MAX_STATIC_KEYS = 20;
/** Smallest RSA modulus accepted (RFC 8725 §3.5 points at NIST: 2048 bits). */
export const MIN_RSA_BITS = 2048;

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const KTYS = new Set(['RSA', 'EC', 'OKP']);

/** Compiles a static JWKS into a frozen key source; undefined after recording issues. */
export function compileStaticJwks(
  raw: unknown,
  issues: Issues,
): KeySource | undefined {
  const before = issues.count;
  if (!isPlainObject(raw) || !Array.isArray(raw.keys)) {
    issues.add([], 'must be a JWK Set: a mapping with a list of keys');
    return undefined;
  }
  const unknown = Object.keys(raw).filter(k => k !== 'keys');
  for (const k of unknown) issues.add([k], 'unknown key');
  const keys: readonly unknown[] = raw.keys;
  if (keys.length === 0 || keys.length > MAX_STATIC_KEYS) {
    issues.add(['keys'], `must list 1 to ${MAX_STATIC_KEYS} keys`);
    return undefined;
  }
  const kids = new Map<string, number>();
  const out: JWK[] = [];
  for (const [i, key] of keys.entries()) {
    const at = issues.at('keys', i);
    const jwk = checkKey(key, at);
    if (!jwk) continue;
    if (jwk.kid !== undefined) {
      const first = kids.get(jwk.kid);
      if (first !== undefined) at.add(['kid'], `same kid as keys[${first}]`);
      else kids.set(jwk.kid, i);
    } else if (keys.length > 1) {
      at.add(['kid'], 'required when the set has more than one key');
    }
    out.push(jwk);
  }
  if (issues.count > before) return undefined;
  const jwks: JSONWebKeySet = deepFreeze({keys: out});
  return Object.freeze({
    kind: 'static' as const,
    jwks,
    getKey: createLocalJWKSet(jwks),
  });
}

/**
 * The key source of a trust block: `jwks` (pinned) or `jwks_uri`; with neither,
 * discovery when `discovery` allows it (an `oidc` issuer), else an issue.
 */
export function compileKeySource(
  raw: {jwks?: unknown; jwks_uri?: string | undefined},
  issues: Issues,
  discovery: boolean,
): KeySource | undefined {
  if (raw.jwks !== undefined && raw.jwks_uri !== undefined) {
    issues.add(
      [],
      'jwks and jwks_uri exclude each other: pin keys or fetch them',
    );
    return undefined;
  }
  if (raw.jwks !== undefined)
    return compileStaticJwks(raw.jwks, issues.at('jwks'));
  if (raw.jwks_uri !== undefined) {
    return Object.freeze({kind: 'jwks_uri' as const, jwksUri: raw.jwks_uri});
  }
  if (discovery) return Object.freeze({kind: 'discovery' as const});
  issues.add([], 'one of jwks (the public keys) or jwks_uri is required');
  return undefined;
}

function checkKey(key: unknown, issues: Issues): JWK | undefined {
  if (!isPlainObject(key)) {
    issues.add([], 'must be a JWK (a mapping)');
    return undefined;
  }
  const before = issues.count;
  for (const m of PRIVATE_MEMBERS) {
    if (m in key) {
      issues.add(
        [m],
        m === 'k'
          ? 'symmetric keys are refused: only public asymmetric keys belong here'
          : 'a private key member: only the public key belongs in the policy (and this one has leaked; replace it)',
      );
    }
  }
  if (typeof key.kty !== 'string' || !KTYS.has(key.kty)) {
    issues.add(['kty'], 'must be RSA, EC or OKP');
  }
  if (
    key.kid !== undefined &&
    (typeof key.kid !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(key.kid))
  ) {
    issues.add(['kid'], 'must be 1 to 128 printable ASCII characters');
  }
  if (key.use !== undefined && key.use !== 'sig') {
    issues.add(['use'], 'must be sig');
  }
  if (issues.count > before) return undefined;
  try {
    const k = createPublicKey({key: key as never, format: 'jwk'});
    const bits = k.asymmetricKeyDetails?.modulusLength;
    if (key.kty === 'RSA' && (bits === undefined || bits < MIN_RSA_BITS)) {
      issues.add([], `RSA keys must have at least ${MIN_RSA_BITS} bits`);
      return undefined;
    }
  } catch {
    issues.add([], 'not a valid public key');
    return undefined;
  }
  return {...(key as JWK)};
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
