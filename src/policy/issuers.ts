/**
 * Token exchange trust (RFC 8693), compiled per issuer. Each client's `oidc` block is
 * compiled on its own (`compileOidc`, with its issues at `clients.<id>.oidc`), then the
 * clients are grouped by the exact issuer string into one `IssuerTrust` each
 * (`compileIssuers`). Grouping is where the rules between clients live: clients of one
 * issuer agree on its keys and algorithms, and no token can be two of them.
 */

import {FrozenMap, FrozenSet} from './frozen.ts';
import type {Issues} from './issues.ts';
import {compileKeySource} from './jwks.ts';
import {compileGlob, globsOverlap} from './pattern.ts';
import {RESERVED_CLAIMS, type RawOidc} from './schema.ts';
import {
  DEFAULT_ALGORITHMS,
  type ClaimCondition,
  type Client,
  type IssuerClient,
  type IssuerTrust,
  type JwsAlgorithm,
  type KeySource,
} from './types.ts';

/** One client's `oidc` block, compiled; grouped with its issuer's other clients later. */
export interface ClientOidc {
  readonly issuer: string;
  readonly audiences: ReadonlySet<string>;
  readonly conditions: readonly ClaimCondition[];
  readonly algorithms: readonly JwsAlgorithm[];
  readonly keys: KeySource;
}

/** Compiles one client's `oidc` block; undefined (with issues recorded) when broken. */
export function compileOidc(
  raw: RawOidc,
  issues: Issues,
): ClientOidc | undefined {
  const before = issues.count;
  const conditions: ClaimCondition[] = [];
  for (const [claim, c] of raw.claims) {
    const condition = compileCondition(claim, c, issues.at('claims', claim));
    if (condition) conditions.push(condition);
  }
  if (!raw.claims.some(([claim]) => claim === 'sub')) {
    issues.add(
      ['claims'],
      'a condition on sub is required: without one, every token of the issuer (every repository, project or cluster it serves) would be this client',
    );
  }
  const keys = compileKeySource(raw, issues, true);
  if (issues.count > before || !keys) return undefined;
  const audiences = [...new Set(raw.audiences)];
  if (audiences.length !== raw.audiences.length) {
    issues.add(['audiences'], 'an audience is listed twice');
    return undefined;
  }
  return Object.freeze({
    issuer: raw.issuer,
    audiences: new FrozenSet(audiences),
    conditions: Object.freeze(conditions),
    algorithms: Object.freeze([...(raw.algorithms ?? DEFAULT_ALGORITHMS)]),
    keys,
  });
}

function compileCondition(
  claim: string,
  c: RawOidc['claims'][number][1],
  issues: Issues,
): ClaimCondition | undefined {
  if (RESERVED_CLAIMS.has(claim)) {
    issues.add(
      [],
      `${claim} is checked by tvm itself (issuer, audiences, time): no condition here`,
    );
    return undefined;
  }
  const {equals, pattern} = c;
  if (equals !== undefined && pattern === undefined) {
    return Object.freeze({claim, kind: 'equals', value: equals});
  }
  if (pattern === undefined || equals !== undefined) {
    issues.add([], 'exactly one of equals or pattern');
    return undefined;
  }
  const glob = compileGlob(pattern);
  if (!glob.ok) {
    issues.add(['pattern'], glob.message);
    return undefined;
  }
  return Object.freeze({
    claim,
    kind: 'pattern',
    value: pattern,
    glob: glob.value,
  });
}

/** A compiled client with its compiled `oidc` block, if it has one. */
export interface ClientWithOidc {
  readonly client: Client;
  readonly oidc: ClientOidc | undefined;
}

/**
 * Groups the clients that have an `oidc` block by issuer, in policy order, and checks
 * the rules between them (issues at `clients.<id>.oidc`, `issues` being at `clients`).
 */
export function compileIssuers(
  clients: readonly ClientWithOidc[],
  issues: Issues,
): FrozenMap<string, IssuerTrust> {
  const byIssuer = new Map<
    string,
    Array<ClientWithOidc & {oidc: ClientOidc}>
  >();
  for (const c of clients) {
    if (!c.oidc) continue;
    const list = byIssuer.get(c.oidc.issuer) ?? [];
    list.push({client: c.client, oidc: c.oidc});
    byIssuer.set(c.oidc.issuer, list);
  }
  const out: Array<readonly [string, IssuerTrust]> = [];
  for (const [issuer, list] of byIssuer) {
    checkAgreement(list, issues);
    checkAmbiguity(list, issues);
    const first = list[0]!.oidc;
    out.push([
      issuer,
      Object.freeze({
        issuer,
        keys: first.keys,
        algorithms: first.algorithms,
        clients: Object.freeze(list.map(issuerClient)),
      }),
    ]);
  }
  return new FrozenMap(out);
}

function issuerClient(c: {client: Client; oidc: ClientOidc}): IssuerClient {
  return Object.freeze({
    client: c.client,
    audiences: c.oidc.audiences,
    conditions: c.oidc.conditions,
  });
}

/**
 * The token names its issuer, not its client: which keys verify it must not depend on
 * a client that is only chosen after verification.
 */
function checkAgreement(
  list: ReadonlyArray<{client: Client; oidc: ClientOidc}>,
  issues: Issues,
): void {
  const first = list[0]!;
  for (const other of list.slice(1)) {
    if (issuerSettings(other.oidc) !== issuerSettings(first.oidc)) {
      issues.add(
        [other.client.id, 'oidc'],
        `clients.${first.client.id} trusts the same issuer with other algorithms, jwks or jwks_uri: clients of one issuer must agree on them`,
      );
    }
  }
}

/**
 * A subject token must authenticate at most one client. Two clients trusting the same
 * issuer must be told apart by the token alone: either their audiences are disjoint
 * (tvm accepts a token with exactly one audience), or some claim that both constrain
 * has conditions no single value satisfies. Otherwise the policy is refused, naming
 * both clients: which one a token meant would be a guess.
 */
function checkAmbiguity(
  list: ReadonlyArray<{client: Client; oidc: ClientOidc}>,
  issues: Issues,
): void {
  for (let i = 0; i < list.length; i++) {
    for (let j = i + 1; j < list.length; j++) {
      const a = list[i]!;
      const b = list[j]!;
      if (canOverlap(a.oidc, b.oidc)) {
        issues.add(
          [b.client.id, 'oidc'],
          `a token of ${a.oidc.issuer} could match both clients.${a.client.id} and this client: ` +
            'give them disjoint audiences, or conditions on a common claim that no value meets both',
        );
      }
    }
  }
}

function issuerSettings(t: ClientOidc): string {
  const keys =
    t.keys.kind === 'static'
      ? JSON.stringify(t.keys.jwks)
      : t.keys.kind === 'jwks_uri'
        ? t.keys.jwksUri
        : '';
  return JSON.stringify([t.algorithms, t.keys.kind, keys]);
}

function canOverlap(a: ClientOidc, b: ClientOidc): boolean {
  if (![...a.audiences].some(x => b.audiences.has(x))) return false;
  for (const ca of a.conditions) {
    for (const cb of b.conditions) {
      if (ca.claim === cb.claim && !conditionsOverlap(ca, cb)) return false;
    }
  }
  return true;
}

function conditionsOverlap(a: ClaimCondition, b: ClaimCondition): boolean {
  if (a.kind === 'equals' && b.kind === 'equals') return a.value === b.value;
  if (a.kind === 'pattern' && b.kind === 'pattern') {
    return globsOverlap(a.glob, b.glob);
  }
  const [p, e] = a.kind === 'pattern' ? [a, b] : [b, a];
  return p.kind === 'pattern' && p.glob.regex.test(e.value);
}
