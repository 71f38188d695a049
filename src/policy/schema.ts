/**
 * The raw form of a version 1 policy: what may be written, checked strictly with zod
 * (unknown keys are errors at their path). Values that have one right reading (scopes,
 * durations, CIDR blocks, expiry dates) are normalised here; rules that relate one part
 * of the document to another live in `compile.ts`.
 */

import * as z from '../zod.ts';
import {parseGrantLifetime} from './duration.ts';
import {parseExpiry} from './expiry.ts';
import {compileSourceRange} from './cidr.ts';
import {normalizeScope} from './scope.ts';
import {asciiLower, printable} from '../text.ts';
import {parseHttpsUrl} from './url.ts';
import {MAX_CONDITION_CHARS} from './pattern.ts';
import {MAX_AUDIENCE_CHARS} from './audience.ts';
import {SECRET_VERSION_PATTERN} from '../google/secret-version.ts';
import {ASYMMETRIC_ALGORITHMS} from './types.ts';
import {compileSubject} from './subject.ts';
import {
  MAX_BOUNDARY_RULES,
  MAX_CONDITION_TEXT_CHARS,
  MAX_RULE_PERMISSIONS,
  parseExpression,
  parsePermission,
  parseResource,
} from './access-boundary.ts';
import type {Parsed} from './result.ts';

/** A service-account alias, usable as `audience`: a DNS-label-like name. */
export const ALIAS_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** A client id, as sent in `client_id` (RFC 6749 §2.2). */
export const CLIENT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** SHA-256 of an API key as written in the policy: 64 lowercase hex digits. */
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;
/**
 * A service-account email (after lower-casing): user-managed
 * (`name@project.iam.gserviceaccount.com`) and Google-managed defaults
 * (`...@developer.gserviceaccount.com`, `...@appspot.gserviceaccount.com`).
 */
export const SERVICE_ACCOUNT_EMAIL_PATTERN =
  /^[a-z0-9][a-z0-9-]{0,62}@(?:[a-z0-9-]{1,63}\.)+gserviceaccount\.com$/;

/** Size caps: generous for real use, bounded for a hostile or broken document. */
export const LIMITS = Object.freeze({
  descriptionChars: 1000,
  apiKeysPerClient: 20,
  sourceRangesPerClient: 100,
  grantsPerClient: 100,
  scopesPerGrant: 50,
  audiencesPerTrust: 10,
  conditionsPerTrust: 20,
  audiencesPerIdToken: 50,
  subjectsPerGrant: 100,
});

/**
 * A claim name usable in a condition: a top-level claim. It starts with a letter, so
 * `__proto__` and friends are refused rather than silently dropped.
 */
export const CLAIM_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
/** Claims tvm checks itself; a condition on them would be ignored or contradictory. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set([
  'iss',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
]);

/** Turns a `Parsed` helper into a zod transform that reports at the value's path. */
function parsedBy<I, O>(parse: (input: I) => Parsed<O>) {
  return z.transform((input: I, ctx): O => {
    const r = parse(input);
    if (r.ok) return r.value;
    ctx.issues.push({code: 'custom', message: r.message, input});
    return z.NEVER;
  });
}

/** A string read by a `Parsed` helper. */
function stringBy<O>(parse: (input: string) => Parsed<O>) {
  return z.pipe(z.string(), parsedBy(parse));
}

const scope = stringBy(normalizeScope);

const lifetime = z.pipe(
  z.union([z.number(), z.string()], {
    error: 'must be a duration such as 15m, 1h30m or 900 (seconds)',
  }),
  parsedBy(parseGrantLifetime),
);

export const serviceAccountSchema = z.strictObject({
  // ASCII lowering only: Unicode folding would let a look-alike name an account.
  email: z.string().check(
    z.overwrite(asciiLower),
    z.regex(SERVICE_ACCOUNT_EMAIL_PATTERN, {
      error:
        'must be a service-account email, e.g. name@project.iam.gserviceaccount.com',
    }),
  ),
  mint: z._default(z.enum(['impersonate', 'key']), 'impersonate'),
  key_secret: z.optional(
    z.string().check(
      z.regex(SECRET_VERSION_PATTERN, {
        error:
          'must be a Secret Manager version name: projects/PROJECT/secrets/SECRET/versions/VERSION',
      }),
    ),
  ),
  lifetime_extension: z._default(z.boolean(), false),
  // Kill switch (docs/incident.md): no grant of this account is honoured.
  disabled: z._default(z.boolean(), false),
});

/**
 * A user's email, for `mint: user` entries (after ASCII lower-casing): a plain
 * `local@domain.tld`; a service account's email is refused (it has a mint of its own).
 */
export const USER_EMAIL_PATTERN =
  /^[a-z0-9._%+'-]{1,64}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** Scopes a user may have consented to besides Google API scopes (OpenID Connect). */
export const OPENID_SCOPES: ReadonlySet<string> = new Set([
  'openid',
  'email',
  'profile',
]);

/** A consented scope: a Google API scope (normalised), or an OpenID scope as written. */
const consentedScope = stringBy((s: string) =>
  OPENID_SCOPES.has(s) ? {ok: true as const, value: s} : normalizeScope(s),
);

/**
 * `mint: user`: a user's consent (an authorized_user credential, the file
 * `gcloud auth application-default login` writes) held in Secret Manager. Its own
 * shape: the options of service accounts (`key_secret`, `lifetime_extension`) do not
 * apply and are unknown keys here.
 */
export const userAccountSchema = z.strictObject({
  email: z.string().check(
    z.overwrite(asciiLower),
    z.regex(USER_EMAIL_PATTERN, {
      error: "must be the user's email, e.g. alice@example.com",
    }),
    z.refine((e: string) => !SERVICE_ACCOUNT_EMAIL_PATTERN.test(e), {
      error:
        'is a service account: use mint: impersonate or mint: key for service accounts',
    }),
  ),
  mint: z.literal('user'),
  credential_secret: z.string().check(
    z.regex(SECRET_VERSION_PATTERN, {
      error:
        'must be a Secret Manager version name: projects/PROJECT/secrets/SECRET/versions/VERSION (tvm import-user prints it)',
    }),
  ),
  consented_scopes: z
    .array(consentedScope)
    .check(z.minLength(1), z.maxLength(LIMITS.scopesPerGrant)),
  // Kill switch (docs/incident.md): no grant of this user is honoured.
  disabled: z._default(z.boolean(), false),
});

/**
 * A `service_accounts` entry: a user's (`mint: user`) or a service account's, each
 * checked against its own schema so that every problem is reported at its path.
 */
export const accountSchema = z.pipe(
  z.unknown(),
  z.transform((value, ctx): RawServiceAccount | RawUserAccount => {
    const user =
      typeof value === 'object' &&
      value !== null &&
      (value as {mint?: unknown}).mint === 'user';
    const r = (user ? userAccountSchema : serviceAccountSchema).safeParse(
      value,
      {reportInput: true},
    );
    if (r.success) return r.data;
    for (const iss of r.error.issues) {
      if (!user || iss.code !== 'unrecognized_keys' || iss.path.length > 0) {
        ctx.issues.push(iss as never);
        continue;
      }
      // A service account's option on a user entry: say why, not only "unknown key".
      const unknown = iss.keys.filter(k => !NOT_FOR_USERS.has(k));
      if (unknown.length > 0) ctx.issues.push({...iss, keys: unknown} as never);
      for (const k of iss.keys.filter(k => NOT_FOR_USERS.has(k))) {
        ctx.issues.push({
          code: 'custom',
          message: NOT_FOR_USERS.get(k)!,
          path: [k],
          input: (value as Record<string, unknown>)[k],
        });
      }
    }
    return z.NEVER;
  }),
);

/** Service-account options a user entry may not have, and why. */
const NOT_FOR_USERS: ReadonlyMap<string, string> = new Map([
  [
    'key_secret',
    'not for mint: user: the Secret Manager version of the credential is credential_secret',
  ],
  [
    'lifetime_extension',
    "not for mint: user: Google's refresh-token grant always issues 1h tokens",
  ],
]);

export const apiKeySchema = z.strictObject({
  sha256: z.string().check(
    z.regex(SHA256_HEX_PATTERN, {
      error:
        'must be the SHA-256 of the key as 64 lowercase hex digits (tvm keygen prints it)',
    }),
  ),
  expires: z.optional(stringBy(parseExpiry)),
  // Kill switch (docs/incident.md): the key is refused like an unknown one.
  disabled: z._default(z.boolean(), false),
});

/**
 * `id_token`: the audiences a grant allows ID tokens for (exact values, or https URL
 * patterns with `*`: src/policy/audience.ts) and whether they may carry the email.
 */
export const idTokenSchema = z.strictObject({
  audiences: z
    .array(z.string().check(z.minLength(1), z.maxLength(MAX_AUDIENCE_CHARS)))
    .check(
      z.minLength(1, {error: 'must not be empty: list the audiences allowed'}),
      z.maxLength(LIMITS.audiencesPerIdToken),
    ),
  include_email: z._default(z.boolean(), true),
});

/** Domain-wide delegation of a grant (docs/policy.md): whom it may act for, with which scopes. */
export const delegationSchema = z.strictObject({
  subjects: z
    .array(stringBy(compileSubject))
    .check(z.minLength(1), z.maxLength(LIMITS.subjectsPerGrant)),
  scopes: z
    .array(scope)
    .check(z.minLength(1), z.maxLength(LIMITS.scopesPerGrant)),
});

/** One rule of a grant's Credential Access Boundary, in the policy's words. */
export const boundaryRuleSchema = z.strictObject({
  resource: stringBy(parseResource),
  permissions: z
    .array(stringBy(parsePermission))
    .check(z.minLength(1), z.maxLength(MAX_RULE_PERMISSIONS)),
  condition: z.optional(
    z.strictObject({
      expression: stringBy(parseExpression),
      title: z.optional(
        z.string().check(z.minLength(1), z.maxLength(MAX_CONDITION_TEXT_CHARS)),
      ),
      description: z.optional(
        z.string().check(z.minLength(1), z.maxLength(MAX_CONDITION_TEXT_CHARS)),
      ),
    }),
  ),
});

/** The Credential Access Boundary a grant forces on its tokens, or lets callers ask for. */
export const accessBoundarySchema = z.strictObject({
  mode: z.enum(['force', 'allow']),
  rules: z
    .array(boundaryRuleSchema)
    .check(z.minLength(1), z.maxLength(MAX_BOUNDARY_RULES)),
});

export const grantSchema = z.strictObject({
  service_account: z.string(),
  // Optional only for a grant of ID tokens alone (compile.ts checks one is there).
  scopes: z.optional(
    z.array(scope).check(z.minLength(1), z.maxLength(LIMITS.scopesPerGrant)),
  ),
  default_scopes: z.optional(
    z.array(scope).check(z.minLength(1), z.maxLength(LIMITS.scopesPerGrant)),
  ),
  max_lifetime: z.optional(lifetime),
  id_token: z.optional(idTokenSchema),
  delegation: z.optional(delegationSchema),
  access_boundary: z.optional(accessBoundarySchema),
});

const httpsUrl = stringBy(s => parseHttpsUrl(s));
const jwksUri = stringBy(s => parseHttpsUrl(s, true));

const algorithms = z
  .array(
    z.enum(ASYMMETRIC_ALGORITHMS, {
      error: `must be one of: ${ASYMMETRIC_ALGORITHMS.join(', ')} (none and HS* are never allowed)`,
    }),
  )
  .check(z.minLength(1), z.maxLength(ASYMMETRIC_ALGORITHMS.length));

export const claimConditionSchema = z.strictObject({
  equals: z.optional(
    z.string().check(z.minLength(1), z.maxLength(MAX_CONDITION_CHARS)),
  ),
  pattern: z.optional(
    z.string().check(z.minLength(1), z.maxLength(MAX_CONDITION_CHARS)),
  ),
});

/**
 * `claims`: claim name → condition. Read key by key (not with z.record, which drops a
 * `__proto__` key silently: a condition must never vanish without a word).
 */
const claimsSchema = z.pipe(
  z.unknown(),
  z.transform((value, ctx) => {
    const out: Array<readonly [string, z.output<typeof claimConditionSchema>]> =
      [];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      ctx.issues.push({
        code: 'custom',
        message: 'must be a mapping of claim name to {equals} or {pattern}',
        input: value,
      });
      return z.NEVER;
    }
    const keys = Object.keys(value);
    if (keys.length === 0 || keys.length > LIMITS.conditionsPerTrust) {
      ctx.issues.push({
        code: 'custom',
        message: `must have 1 to ${LIMITS.conditionsPerTrust} conditions, one on sub at least`,
        input: value,
      });
    }
    for (const key of keys) {
      if (!CLAIM_NAME_PATTERN.test(key)) {
        ctx.issues.push({
          code: 'custom',
          message: `"${printable(key)}": a claim name must match ${CLAIM_NAME_PATTERN.source}`,
          path: [key],
          input: key,
        });
        continue;
      }
      const r = claimConditionSchema.safeParse(
        (value as Record<string, unknown>)[key],
        {reportInput: true},
      );
      if (r.success) out.push([key, r.data]);
      else {
        for (const iss of r.error.issues) {
          ctx.issues.push({...iss, path: [key, ...iss.path]} as never);
        }
      }
    }
    return out;
  }),
);

export const oidcSchema = z.strictObject({
  issuer: httpsUrl,
  audiences: z
    .array(z.string().check(z.minLength(1), z.maxLength(256)))
    .check(z.minLength(1), z.maxLength(LIMITS.audiencesPerTrust)),
  claims: claimsSchema,
  algorithms: z.optional(algorithms),
  jwks_uri: z.optional(jwksUri),
  jwks: z.optional(z.unknown()),
});

export const privateKeyJwtSchema = z.strictObject({
  jwks_uri: z.optional(jwksUri),
  jwks: z.optional(z.unknown()),
  algorithms: z.optional(algorithms),
});

export const clientSchema = z.strictObject({
  description: z.optional(
    z.string().check(z.maxLength(LIMITS.descriptionChars)),
  ),
  // Kill switch (docs/incident.md): the client cannot authenticate at all.
  disabled: z._default(z.boolean(), false),
  // Client authentication methods; compile.ts requires at least one. `api_keys`: a
  // shared secret; `oidc`: token exchange with an OIDC token (RFC 8693);
  // `private_key_jwt`: signed client assertions (RFC 7523 §2.2).
  oidc: z.optional(oidcSchema),
  private_key_jwt: z.optional(privateKeyJwtSchema),
  api_keys: z.optional(
    z
      .array(apiKeySchema)
      .check(z.minLength(1), z.maxLength(LIMITS.apiKeysPerClient)),
  ),
  source_ranges: z.optional(
    z.array(stringBy(compileSourceRange)).check(
      z.minLength(1, {
        error: 'must not be empty: omit source_ranges to allow any address',
      }),
      z.maxLength(LIMITS.sourceRangesPerClient),
    ),
  ),
  allow: z.array(grantSchema).check(
    z.minLength(1, {
      error:
        'must not be empty: a client allowed nothing is an outage, not a policy',
    }),
    z.maxLength(LIMITS.grantsPerClient),
  ),
});

/**
 * The top level. The two id-keyed maps are checked entry by entry in `parse.ts` (not
 * with z.record, which silently drops a `__proto__` key instead of reporting it).
 */
export const rootSchema = z.strictObject({
  version: z.literal(1, {error: 'must be 1'}),
  service_accounts: z.unknown(),
  clients: z.unknown(),
  // The emergency ceiling (docs/incident.md): every grant's max_lifetime is cut to it.
  emergency_max_lifetime: z.optional(lifetime),
});

export type RawServiceAccount = z.output<typeof serviceAccountSchema>;
export type RawUserAccount = z.output<typeof userAccountSchema>;
export type RawApiKey = z.output<typeof apiKeySchema>;
export type RawGrant = z.output<typeof grantSchema>;
export type RawIdToken = z.output<typeof idTokenSchema>;
export type RawDelegation = z.output<typeof delegationSchema>;
export type RawAccessBoundary = z.output<typeof accessBoundarySchema>;
export type RawClient = z.output<typeof clientSchema>;
export type RawOidc = z.output<typeof oidcSchema>;
export type RawPrivateKeyJwt = z.output<typeof privateKeyJwtSchema>;

/** A policy that passed the schema: maps as entry lists in document order. */
export interface RawPolicy {
  readonly version: 1;
  readonly serviceAccounts: ReadonlyArray<
    readonly [string, RawServiceAccount | RawUserAccount]
  >;
  readonly clients: ReadonlyArray<readonly [string, RawClient]>;
  /** `emergency_max_lifetime`, seconds. */
  readonly emergencyMaxLifetime?: number;
}
