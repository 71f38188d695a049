/**
 * Compile: a schema-valid `RawPolicy` becomes the immutable `CompiledPolicy` the request
 * path uses. Here live the rules that relate parts of the document to each other, and
 * the refusals of what cannot be honoured at request time (better a failed deploy than
 * a grant that silently does less than it says).
 */

import {
  DEFAULT_ALGORITHMS,
  ID_TOKEN_LIFETIME_SECONDS,
  DELEGATED_LIFETIME_SECONDS,
  IAM_DEFAULT_MAX_LIFETIME_SECONDS,
  IAM_EXTENDED_MAX_LIFETIME_SECONDS,
  KEY_MINTED_LIFETIME_SECONDS,
  type ApiKey,
  type AssertionTrust,
  type Client,
  type CompiledPolicy,
  type Grant,
  type ServiceAccount,
} from './types.ts';
import {formatPath, type Issues} from './issues.ts';
import {FrozenMap, FrozenSet} from './frozen.ts';
import type {
  RawClient,
  RawGrant,
  RawPolicy,
  RawPrivateKeyJwt,
  RawServiceAccount,
} from './schema.ts';
import {compileKeySource} from './jwks.ts';
import {compileIssuers, compileOidc, type ClientWithOidc} from './issuers.ts';
import {compileIdToken} from './id-token.ts';
import {compileDelegation, compileGrantBoundary} from './delegation.ts';
import {checkUserGrant, compileUserAccount} from './users.ts';

/**
 * A grant's lifetime when `max_lifetime` is omitted: one hour, IAM's default ceiling and
 * the life of a key-minted token, so it is valid for every account.
 */
export const DEFAULT_MAX_LIFETIME_SECONDS = 3600;

/** Compiles; undefined (with issues recorded) when a rule is broken. */
export function compilePolicy(
  raw: RawPolicy,
  digest: string,
  issues: Issues,
): CompiledPolicy | undefined {
  const before = issues.count;
  const serviceAccounts = compileServiceAccounts(
    raw.serviceAccounts,
    issues.at('service_accounts'),
  );
  const seenKeys = new Map<string, string>(); // sha256 hex -> path of first use
  // The kill switch (docs/incident.md): what is disabled is checked like the rest,
  // then left out of what the request path sees.
  const off: KillSwitch = {
    accounts: new Set(
      raw.serviceAccounts.filter(([, sa]) => sa.disabled).map(([a]) => a),
    ),
    ceiling: raw.emergencyMaxLifetime,
  };
  const compiled: ClientWithOidc[] = [];
  for (const [id, rawClient] of raw.clients) {
    const c = compileClient(
      id,
      rawClient,
      serviceAccounts,
      seenKeys,
      issues.at('clients', id),
      off,
    );
    if (!rawClient.disabled) compiled.push(c);
  }
  const issuers = compileIssuers(compiled, issues.at('clients'));
  if (issues.count > before) return undefined;
  const clients = compiled.map(({client}) => [client.id, client] as const);
  const byAlias = new FrozenMap(serviceAccounts);
  const byKey: Array<readonly [string, Client]> = [];
  for (const [, c] of clients) {
    for (const k of c.apiKeys) byKey.push([k.sha256.toString('hex'), c]);
  }
  return Object.freeze({
    version: 1,
    serviceAccounts: byAlias,
    serviceAccountsByEmail: new FrozenMap(
      [...byAlias.values()].map(sa => [sa.email, sa] as const),
    ),
    clients: new FrozenMap(clients),
    issuers,
    clientsByApiKey: new FrozenMap(byKey),
    digest,
  });
}

/** What the policy switched off, applied while compiling clients. */
interface KillSwitch {
  /** Aliases of disabled service accounts: their grants are dropped. */
  readonly accounts: ReadonlySet<string>;
  /** `emergency_max_lifetime`: every grant's ceiling is cut to it. */
  readonly ceiling: number | undefined;
}

function compileServiceAccounts(
  raw: RawPolicy['serviceAccounts'],
  issues: Issues,
): Map<string, ServiceAccount> {
  const out = new Map<string, ServiceAccount>();
  const byEmail = new Map<string, string>();
  // secret -> the alias whose key or credential it holds
  const bySecret = new Map<string, {alias: string; what: string}>();
  for (const [alias, sa] of raw) {
    const at = issues.at(alias);
    const first = byEmail.get(sa.email);
    if (first !== undefined) {
      // Two aliases for one account would make audit records disagree about its name.
      at.add(['email'], `${sa.email} is already service_accounts.${first}`);
    } else {
      byEmail.set(sa.email, alias);
    }
    const [field, named] =
      sa.mint === 'user'
        ? (['credential_secret', sa.credential_secret] as const)
        : (['key_secret', sa.key_secret] as const);
    if (named !== undefined) {
      // One secret holds one account's key (or one user's credential): two entries
      // naming the same secret means one of them would be minted with the other's.
      const secret = named.replace(/\/versions\/[^/]+$/, '');
      const owner = bySecret.get(secret);
      if (owner !== undefined) {
        at.add(
          [field],
          `the secret is already the ${owner.what} of service_accounts.${owner.alias}`,
        );
      } else {
        bySecret.set(secret, {
          alias,
          what: sa.mint === 'user' ? 'credential' : 'key',
        });
      }
    }
    if (sa.mint === 'user') {
      out.set(alias, compileUserAccount(alias, sa, at));
      continue;
    }
    checkMintOptions(sa, at);
    out.set(alias, compileServiceAccount(alias, sa));
  }
  return out;
}

function checkMintOptions(sa: RawServiceAccount, issues: Issues): void {
  if (sa.mint === 'key') {
    if (sa.key_secret === undefined) {
      issues.add(
        ['key_secret'],
        'required with mint: key (the Secret Manager version holding the key JSON)',
      );
    }
    if (sa.lifetime_extension) {
      issues.add(
        ['lifetime_extension'],
        'only applies to mint: impersonate; key-minted tokens always live 1h',
      );
    }
  } else if (sa.key_secret !== undefined) {
    issues.add(
      ['key_secret'],
      'only allowed with mint: key; impersonation needs no key',
    );
  }
}

function compileServiceAccount(
  alias: string,
  sa: RawServiceAccount,
): ServiceAccount {
  const ceiling =
    sa.mint === 'key'
      ? KEY_MINTED_LIFETIME_SECONDS
      : sa.lifetime_extension
        ? IAM_EXTENDED_MAX_LIFETIME_SECONDS
        : IAM_DEFAULT_MAX_LIFETIME_SECONDS;
  return Object.freeze({
    alias,
    email: sa.email,
    mint: sa.mint,
    keySecret: sa.mint === 'key' ? sa.key_secret : undefined,
    lifetimeExtension: sa.mint === 'impersonate' && sa.lifetime_extension,
    iamMaxLifetimeSeconds: ceiling,
  });
}

function compileClient(
  id: string,
  raw: RawClient,
  serviceAccounts: ReadonlyMap<string, ServiceAccount>,
  seenKeys: Map<string, string>,
  issues: Issues,
  off: KillSwitch,
): ClientWithOidc {
  if (
    raw.api_keys === undefined &&
    raw.oidc === undefined &&
    raw.private_key_jwt === undefined
  ) {
    issues.add(
      [],
      'no credentials: add api_keys (tvm keygen makes a key and its sha256 line), oidc or private_key_jwt',
    );
  }
  const oidc = raw.oidc && compileOidc(raw.oidc, issues.at('oidc'));
  const privateKeyJwt =
    raw.private_key_jwt &&
    compilePrivateKeyJwt(raw.private_key_jwt, issues.at('private_key_jwt'));
  const apiKeys: ApiKey[] = [];
  for (const [i, key] of (raw.api_keys ?? []).entries()) {
    const path = formatPath(['clients', id, 'api_keys', i, 'sha256']);
    const first = seenKeys.get(key.sha256);
    if (first !== undefined) {
      // One key for two clients would make the caller's identity ambiguous.
      issues.add(['api_keys', i, 'sha256'], `same key as ${first}`);
      continue;
    }
    seenKeys.set(key.sha256, path);
    if (key.disabled) continue;
    apiKeys.push(
      Object.freeze({
        sha256: Buffer.from(key.sha256, 'hex'),
        expiresAt: key.expires,
      }),
    );
  }
  const grants: Grant[] = [];
  const granted = new Map<string, number>(); // alias -> index of its allow entry
  for (const [i, rawGrant] of raw.allow.entries()) {
    const at = issues.at('allow', i);
    const sa = serviceAccounts.get(rawGrant.service_account);
    if (sa === undefined) {
      at.add(
        ['service_account'],
        `unknown service account "${rawGrant.service_account}": define it under service_accounts`,
      );
      continue;
    }
    const dup = granted.get(sa.alias);
    if (dup !== undefined) {
      // Two entries for one account: which scopes and lifetime apply would be a guess.
      at.add(
        ['service_account'],
        `${sa.alias} is already granted by allow[${dup}]: merge the two entries`,
      );
      continue;
    }
    granted.set(sa.alias, i);
    const grant = compileGrant(rawGrant, sa, at);
    if (grant && !off.accounts.has(sa.alias)) {
      const capped = underCeiling(grant, off.ceiling);
      if (capped) grants.push(capped);
    }
  }
  const client: Client = Object.freeze({
    id,
    description: raw.description,
    apiKeys: Object.freeze(apiKeys),
    privateKeyJwt,
    sourceRanges: Object.freeze([...(raw.source_ranges ?? [])]),
    grants: Object.freeze(grants),
  });
  return {client, oidc};
}

/**
 * `grant` under the emergency ceiling: its max_lifetime cut to it, or undefined when
 * it cannot be honoured under it (a key-minted account's tokens always live 1h). ID
 * tokens and delegated tokens always live 1h too: under a lower ceiling the grant
 * keeps neither.
 */
function underCeiling(
  grant: Grant,
  ceiling: number | undefined,
): Grant | undefined {
  if (ceiling === undefined) return grant;
  let g =
    grant.idToken && ceiling < ID_TOKEN_LIFETIME_SECONDS
      ? Object.freeze({...grant, idToken: undefined})
      : grant;
  // Delegated tokens always live 1h too: under a lower ceiling, delegation is suspended.
  if (g.delegation && ceiling < DELEGATED_LIFETIME_SECONDS) {
    g = Object.freeze({...g, delegation: undefined});
  }
  if (g.maxLifetimeSeconds <= ceiling) return g;
  // Key-minted and user tokens live 1h, whatever was asked.
  if (g.serviceAccount.mint !== 'impersonate') return undefined;
  return Object.freeze({...g, maxLifetimeSeconds: ceiling});
}

function compilePrivateKeyJwt(
  raw: RawPrivateKeyJwt,
  issues: Issues,
): AssertionTrust | undefined {
  const keys = compileKeySource(raw, issues, false);
  if (!keys || keys.kind === 'discovery') return undefined;
  return Object.freeze({
    algorithms: Object.freeze([...(raw.algorithms ?? DEFAULT_ALGORITHMS)]),
    keys,
  });
}

function compileGrant(
  raw: RawGrant,
  sa: ServiceAccount,
  issues: Issues,
): Grant | undefined {
  const before = issues.count;
  if (raw.scopes === undefined && raw.id_token === undefined) {
    issues.add(
      ['scopes'],
      'required: the scopes this grant allows (a grant of ID tokens alone has an id_token block instead)',
    );
  }
  const scopes = uniqueScopes(raw.scopes ?? [], issues.at('scopes'));
  let defaultScopes: string[] | undefined;
  if (raw.default_scopes !== undefined) {
    const defaults = uniqueScopes(
      raw.default_scopes,
      issues.at('default_scopes'),
    );
    for (const [i, s] of raw.default_scopes.entries()) {
      if (!scopes.has(s)) {
        issues.add(['default_scopes', i], `${s} is not in scopes`);
      }
    }
    defaultScopes = [...defaults].sort();
  }
  const maxLifetime = raw.max_lifetime ?? DEFAULT_MAX_LIFETIME_SECONDS;
  if (sa.mint === 'user') checkUserGrant(raw, sa, maxLifetime, issues);
  else checkLifetime(maxLifetime, sa, issues.at('max_lifetime'));
  const idToken =
    raw.id_token && compileIdToken(raw.id_token, sa, issues.at('id_token'));
  const delegation =
    raw.delegation &&
    compileDelegation(raw.delegation, maxLifetime, issues.at('delegation'));
  const accessBoundary =
    raw.access_boundary && compileGrantBoundary(raw.access_boundary);
  if (issues.count > before) return undefined;
  return Object.freeze({
    serviceAccount: sa,
    scopes: new FrozenSet(scopes),
    defaultScopes:
      defaultScopes === undefined ? undefined : Object.freeze(defaultScopes),
    maxLifetimeSeconds: maxLifetime,
    idToken,
    ...(delegation ? {delegation} : {}),
    ...(accessBoundary ? {accessBoundary} : {}),
  });
}

function uniqueScopes(scopes: readonly string[], issues: Issues): Set<string> {
  const seen = new Map<string, number>();
  for (const [i, s] of scopes.entries()) {
    const first = seen.get(s);
    if (first !== undefined) issues.add([i], `duplicate of [${first}] (${s})`);
    else seen.set(s, i);
  }
  return new Set(seen.keys());
}

function checkLifetime(
  seconds: number,
  sa: ServiceAccount,
  issues: Issues,
): void {
  if (sa.mint === 'key') {
    // Google's JWT-bearer grant (RFC 7523) always issues one-hour tokens; a shorter
    // grant could not be honoured without handing out a token that outlives it.
    if (seconds !== KEY_MINTED_LIFETIME_SECONDS) {
      issues.add(
        [],
        `${sa.alias} is key-minted: its tokens always live 1h, so max_lifetime must be 1h (got ${seconds}s)`,
      );
    }
    return;
  }
  if (seconds > sa.iamMaxLifetimeSeconds) {
    issues.add(
      [],
      sa.lifetimeExtension
        ? `${seconds}s exceeds IAM's ceiling of ${sa.iamMaxLifetimeSeconds}s`
        : `${seconds}s exceeds IAM's ceiling of ${sa.iamMaxLifetimeSeconds}s for ${sa.alias}; ` +
            'set lifetime_extension: true on the service account if it is covered by ' +
            'constraints/iam.allowServiceAccountCredentialLifetimeExtension',
    );
  }
}
