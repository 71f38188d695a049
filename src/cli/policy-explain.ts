/**
 * `tvm policy explain`: the decision the service would take for a caller, and why,
 * offline, with the same parser, matcher and authorize() as the service. For a token,
 * the signature is verified only when the issuer's keys are pinned in the policy;
 * otherwise the output says it was not (the keys are fetched at request time).
 */

import {readFile} from 'node:fs/promises';
import {parseArgs} from 'node:util';
import {decodeJwt} from 'jose';
import {authorize} from '../grants/authorize.ts';
import {TvmError} from '../errors.ts';
import {createKeyResolver} from '../oidc/keys.ts';
import {JwtRejected, KeysUnavailable} from '../errors.ts';
import {inspectJwt} from '../oidc/jws.ts';
import {checkSubjectTokenRules, selectClient} from '../oidc/subject-token.ts';
import {LEEWAY_SECONDS, verifyJwt} from '../oidc/verify.ts';
import {describeCondition} from '../policy/explain.ts';
import {PolicyError, parsePolicy} from '../policy/index.ts';
import type {Client, CompiledPolicy} from '../policy/types.ts';
import {shown} from '../text.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  println,
  type CliIo,
  type Command,
} from './io.ts';

export const policyExplain: Command = {
  name: 'policy explain',
  args: '--policy FILE (--token JWT | --token-file PATH | --client ID) --audience SA [--scope S]... [--lifetime N]',
  summary: 'show the decision for a caller and why, offline',
  run: runPolicyExplain,
};

async function runPolicyExplain(args: string[], io: CliIo): Promise<number> {
  const {values} = parseArgs({
    args,
    options: {
      policy: {type: 'string'},
      token: {type: 'string'},
      'token-file': {type: 'string'},
      client: {type: 'string'},
      audience: {type: 'string'},
      // Repeatable, and each may list several (space-separated), as `scope` does.
      scope: {type: 'string', multiple: true},
      lifetime: {type: 'string'},
    },
    strict: true,
  });
  const callers = [values.token, values['token-file'], values.client].filter(
    v => v !== undefined,
  );
  if (!values.policy || !values.audience || callers.length !== 1) {
    println(
      io.stderr,
      `usage: tvm ${policyExplain.name} ${policyExplain.args}`,
    );
    return EXIT_USAGE;
  }
  if (values.lifetime !== undefined && !/^[0-9]{1,6}$/.test(values.lifetime)) {
    println(io.stderr, 'tvm policy explain: --lifetime is whole seconds');
    return EXIT_USAGE;
  }
  const read = io.readFile ?? ((p: string) => readFile(p, 'utf8'));
  let policy: CompiledPolicy;
  try {
    policy = parsePolicy(await read(values.policy), values.policy);
  } catch (e) {
    if (e instanceof PolicyError) {
      for (const i of e.issues) {
        println(io.stderr, `${i.path || '(root)'}: ${i.message}`);
      }
      println(io.stderr, `tvm: ${values.policy} is not a valid policy`);
      return EXIT_FAILED;
    }
    println(io.stderr, `tvm: cannot read ${values.policy}`);
    return EXIT_USAGE;
  }
  const out = (line: string) => println(io.stdout, line);
  out(`policy: ${values.policy} (digest ${policy.digest.slice(0, 12)})`);
  let client: Client | undefined;
  if (values.client !== undefined) {
    client = policy.clients.get(values.client);
    out(
      `caller: client ${values.client} (its credentials are not checked offline)`,
    );
    if (!client)
      return deny(out, `no client ${shown(values.client)} in the policy`);
  } else {
    let token = values.token;
    if (token === undefined) {
      try {
        token = (await read(values['token-file']!)).trim();
      } catch {
        println(io.stderr, `tvm: cannot read ${values['token-file']}`);
        return EXIT_USAGE;
      }
    }
    const now = (io.now ?? Date.now)();
    const r = await clientOfToken(policy, token, now, out);
    if (typeof r === 'string') return deny(out, r);
    client = r;
  }
  try {
    const d = authorize(policy, client, {
      audience: values.audience,
      scope: values.scope?.join(' '),
      lifetimeSeconds:
        values.lifetime === undefined ? undefined : Number(values.lifetime),
    });
    out(
      `decision: ALLOW ${d.serviceAccount.email} (${d.serviceAccount.alias}), mint ${d.serviceAccount.mint}`,
    );
    out(`  scopes: ${d.scopes.join(' ')}`);
    out(
      `  lifetime: ${d.lifetimeSeconds}s (grant max_lifetime ${d.grant.maxLifetimeSeconds}s)`,
    );
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof TvmError)) throw e;
    return deny(
      out,
      `${e.code}: ${e.message}${e.detail ? ` (${e.detail})` : ''}`,
    );
  }
}

function deny(out: (l: string) => void, why: string): number {
  out('decision: DENY');
  out(`  because: ${why}`);
  return EXIT_FAILED;
}

/** The client a token selects, printing each step; a string is the denial. */
async function clientOfToken(
  policy: CompiledPolicy,
  token: string,
  now: number,
  out: (l: string) => void,
): Promise<Client | string> {
  let payload: Record<string, unknown>;
  try {
    const jwt = inspectJwt(token);
    payload = jwt.payload;
    checkSubjectTokenRules(jwt, now);
  } catch (e) {
    return e instanceof JwtRejected ? e.message : 'not a JWT';
  }
  const iss = payload.iss;
  out(
    `caller: token of issuer ${shown(iss)}, sub ${shown(payload.sub)}, aud ${shown(payload.aud)}`,
  );
  const trust = typeof iss === 'string' ? policy.issuers.get(iss) : undefined;
  if (!trust)
    return `issuer ${shown(iss)} is trusted by no client (exact match)`;
  if (trust.keys.kind === 'static') {
    const keys = createKeyResolver({fetch, clock: {now: () => now}});
    try {
      await verifyJwt(token, {
        getKey: await keys.keysFor(trust.keys),
        algorithms: trust.algorithms,
        issuer: trust.issuer,
        requiredClaims: ['exp', 'sub'],
        clock: {now: () => now},
      });
      out(
        '  signature: verified with the JWKS pinned in the policy; time checks passed',
      );
    } catch (e) {
      if (e instanceof JwtRejected || e instanceof KeysUnavailable) {
        return `${e.message} (checked with the pinned JWKS)`;
      }
      throw e;
    }
  } else {
    out(
      `  signature: NOT verified (offline: the keys of ${trust.issuer} are fetched at request time)`,
    );
    const timeProblem = offlineTimeCheck(token, now);
    if (timeProblem) return timeProblem;
    out('  time: exp, nbf and iat would pass now');
  }
  try {
    const {client, conditions} = selectClient(trust, payload);
    out(`client: ${client.id}`);
    for (const c of conditions) out(`  met: ${describeCondition(c)}`);
    return client;
  } catch (e) {
    if (e instanceof JwtRejected) {
      return `${e.message}${e.detail ? `\n  per client: ${e.detail}` : ''}`;
    }
    throw e;
  }
}

function offlineTimeCheck(token: string, now: number): string | undefined {
  const c = decodeJwt(token);
  const t = now / 1000;
  if (typeof c.exp !== 'number') return 'the token has no exp claim';
  if (c.exp <= t - LEEWAY_SECONDS) return `the token expired at ${iso(c.exp)}`;
  if (typeof c.nbf === 'number' && c.nbf > t + LEEWAY_SECONDS) {
    return `the token is not valid before ${iso(c.nbf)}`;
  }
  if (typeof c.iat === 'number' && c.iat > t + LEEWAY_SECONDS) {
    return `the token was issued in the future (${iso(c.iat)})`;
  }
  return undefined;
}

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}
