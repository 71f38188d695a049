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
import {authorizeIdToken, checkAudience} from '../grants/id-token.ts';
import {audienceMatch} from '../policy/id-token.ts';
import {TvmError} from '../errors.ts';
import {createKeyResolver} from '../oidc/keys.ts';
import {JwtRejected, KeysUnavailable} from '../errors.ts';
import {inspectJwt, type InspectedJwt} from '../oidc/jws.ts';
import {checkSubjectTokenRules, selectClient} from '../oidc/subject-token.ts';
import {LEEWAY_SECONDS, verifyJwt} from '../oidc/verify.ts';
import {describeCondition, policyOverview} from '../policy/explain.ts';
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
import {suggestion} from './errors.ts';
import {
  OVERVIEW_FORMATS,
  renderDot,
  renderJson,
  renderTable,
  type OverviewFormat,
} from './policy-overview.ts';

export const policyExplain: Command = {
  name: 'policy explain',
  args: '(FILE | --policy FILE) [--client ID] [--format table|json|dot]  |  (FILE | --policy FILE) (--client ID | --token JWT | --token-file PATH) (--audience SA [--scope S]... [--lifetime N] [--subject EMAIL] [--access-boundary JSON | --access-boundary-file PATH] | --id-token --audience URL --service-account SA [--include-email])',
  summary:
    'without --audience: who may become whom (clients, how they authenticate, accounts, scopes, lifetimes) as a table, JSON or a Graphviz graph; with --audience: the decision for one caller and why; offline',
  run: runPolicyExplain,
};

async function runPolicyExplain(args: string[], io: CliIo): Promise<number> {
  const {values, positionals} = parseArgs({
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
      format: {type: 'string'},
      // An ID token: --audience is then the token's audience, and the account is
      // --service-account (as for `tvm token --id-token`).
      'id-token': {type: 'boolean', default: false},
      'service-account': {type: 'string'},
      'include-email': {type: 'boolean', default: false},
      // Domain-wide delegation and downscoping (access tokens only).
      subject: {type: 'string'},
      'access-boundary': {type: 'string'},
      'access-boundary-file': {type: 'string'},
    },
    strict: true,
    allowPositionals: true,
  });
  const usage = () => {
    println(
      io.stderr,
      `usage: tvm ${policyExplain.name} ${policyExplain.args}`,
    );
    return EXIT_USAGE;
  };
  const file = values.policy ?? positionals[0];
  if (
    file === undefined ||
    positionals.length > (values.policy === undefined ? 1 : 0)
  ) {
    return usage();
  }
  // A question names an account (and a caller); without one, the whole policy.
  const question =
    values.audience !== undefined ||
    values.token !== undefined ||
    values['token-file'] !== undefined ||
    values.scope !== undefined ||
    values.lifetime !== undefined ||
    values['id-token'] ||
    values['service-account'] !== undefined ||
    values['include-email'] ||
    values.subject !== undefined ||
    values['access-boundary'] !== undefined ||
    values['access-boundary-file'] !== undefined;
  if (!question) {
    const format = values.format ?? 'table';
    if (!(OVERVIEW_FORMATS as readonly string[]).includes(format)) {
      println(
        io.stderr,
        `tvm policy explain: --format is one of ${OVERVIEW_FORMATS.join(', ')}`,
      );
      return EXIT_USAGE;
    }
    return overview(file, values.client, format as OverviewFormat, io);
  }
  const callers = [values.token, values['token-file'], values.client].filter(
    v => v !== undefined,
  );
  const idToken = values['id-token'];
  const account = idToken
    ? values['service-account']
    : (values['service-account'] ?? values.audience);
  const narrowing =
    values.subject !== undefined ||
    values['access-boundary'] !== undefined ||
    values['access-boundary-file'] !== undefined;
  const misuse = idToken
    ? values.scope !== undefined || values.lifetime !== undefined
      ? 'with --id-token, --scope and --lifetime do not apply (ID tokens live 1h)'
      : narrowing
        ? 'with --id-token, --subject and --access-boundary do not apply (access tokens only)'
        : values.audience === undefined || account === undefined
          ? 'with --id-token, name the token audience (--audience URL) and the account (--service-account SA)'
          : undefined
    : values['include-email']
      ? '--include-email applies to --id-token only'
      : values['service-account'] !== undefined && values.audience !== undefined
        ? 'name the account once: --audience SA or --service-account SA'
        : values['access-boundary'] !== undefined &&
            values['access-boundary-file'] !== undefined
          ? '--access-boundary or --access-boundary-file, not both'
          : undefined;
  if (misuse) {
    println(io.stderr, `tvm policy explain: ${misuse}`);
    return EXIT_USAGE;
  }
  if (account === undefined || callers.length !== 1) return usage();
  if (values.format !== undefined) {
    println(
      io.stderr,
      'tvm policy explain: --format draws the policy (leave out --audience); a decision prints as text',
    );
    return EXIT_USAGE;
  }
  if (values.lifetime !== undefined && !/^[0-9]{1,6}$/.test(values.lifetime)) {
    println(io.stderr, 'tvm policy explain: --lifetime is whole seconds');
    return EXIT_USAGE;
  }
  let accessBoundary = values['access-boundary'];
  if (values['access-boundary-file'] !== undefined) {
    try {
      const read = io.readFile ?? ((p: string) => readFile(p, 'utf8'));
      accessBoundary = await read(values['access-boundary-file']);
    } catch {
      println(io.stderr, `tvm: cannot read ${values['access-boundary-file']}`);
      return EXIT_USAGE;
    }
  }
  const policy = await loadPolicy(file, io);
  if (typeof policy === 'number') return policy;
  const out = (line: string) => println(io.stdout, line);
  out(`policy: ${file} (digest ${policy.digest.slice(0, 12)})`);
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
        const read = io.readFile ?? ((p: string) => readFile(p, 'utf8'));
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
  if (idToken) {
    return explainIdToken(out, policy, client, {
      account,
      audience: values.audience!,
      includeEmail: values['include-email'],
    });
  }
  try {
    const d = authorize(policy, client, {
      audience: account,
      scope: values.scope?.join(' '),
      lifetimeSeconds:
        values.lifetime === undefined ? undefined : Number(values.lifetime),
      subject: values.subject,
      accessBoundary,
    });
    out(
      `decision: ALLOW ${d.serviceAccount.email} (${d.serviceAccount.alias}), mint ${d.serviceAccount.mint}`,
    );
    if (d.delegation) {
      const m = d.delegation.matched;
      out(
        `  subject: ${d.delegation.subject}, by domain-wide delegation (${m.kind === 'domain' ? 'every user of' : 'the address'} ${m.source} in the grant's delegation.subjects)`,
      );
    }
    out(`  scopes: ${d.scopes.join(' ')}`);
    out(
      `  lifetime: ${d.lifetimeSeconds}s (grant max_lifetime ${d.grant.maxLifetimeSeconds}s${d.delegation ? '; delegated tokens always live 1h' : ''})`,
    );
    const user = d.serviceAccount.user;
    if (user) {
      // A user's token: what tvm will ask Google for, and from which credential.
      out(
        `  user: refreshed from the authorized_user credential in ${user.credentialSecret}, asking Google for exactly these scopes`,
      );
      out(`  consented: ${[...user.consentedScopes].join(' ')}`);
    }
    if (d.boundary) {
      const b = d.boundary.boundary;
      out(
        `  access boundary: ${d.boundary.requested ? 'as asked, within the grant' : "the grant's (access_boundary.mode: force)"}; downscoped at STS, sha256 ${b.sha256.slice(0, 16)}`,
      );
      for (const r of b.rules) {
        out(
          `    ${r.resource}: ${r.permissions.join(', ')}${r.condition ? ` if ${shown(r.condition.expression)}` : ''}`,
        );
      }
    } else if (d.grant.accessBoundary?.mode === 'allow') {
      out(
        '  access boundary: none asked for (access_boundary.mode: allow); a plain token',
      );
    }
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof TvmError)) throw e;
    return deny(
      out,
      `${e.code}: ${e.message}${e.detail ? ` (${e.detail})` : ''}`,
    );
  }
}

/** The policy in `file`, or the exit code after saying why it cannot be used. */
async function loadPolicy(
  file: string,
  io: CliIo,
): Promise<CompiledPolicy | number> {
  const read = io.readFile ?? ((p: string) => readFile(p, 'utf8'));
  let text: string;
  try {
    text = await read(file);
  } catch {
    println(io.stderr, `tvm: cannot read ${file}`);
    return EXIT_USAGE;
  }
  try {
    return parsePolicy(text, file);
  } catch (e) {
    if (!(e instanceof PolicyError)) throw e;
    for (const i of e.issues) {
      println(io.stderr, `${i.path || '(root)'}: ${i.message}`);
    }
    println(io.stderr, `tvm: ${file} is not a valid policy`);
    return EXIT_FAILED;
  }
}

/** The whole policy (or one client's part of it) as a table, JSON or DOT. */
async function overview(
  file: string,
  client: string | undefined,
  format: OverviewFormat,
  io: CliIo,
): Promise<number> {
  const policy = await loadPolicy(file, io);
  if (typeof policy === 'number') return policy;
  const o = policyOverview(policy, client);
  if (!o) {
    println(
      io.stderr,
      `tvm policy explain: no client ${shown(client)} in ${file}${suggestion(client!, policy.clients.keys())}`,
    );
    return EXIT_FAILED;
  }
  io.stdout.write(
    format === 'json'
      ? renderJson(o, file)
      : format === 'dot'
        ? renderDot(o)
        : renderTable(o, file),
  );
  return EXIT_OK;
}

/** The decision on an ID token for `client`, as the service takes it. */
function explainIdToken(
  out: (l: string) => void,
  policy: CompiledPolicy,
  client: Client,
  ask: {account: string; audience: string; includeEmail: boolean},
): number {
  try {
    checkAudience(ask.audience, '--audience');
    const d = authorizeIdToken(policy, client, ask);
    const sa = d.serviceAccount;
    const how = audienceMatch(d.grant.idToken!, d.audience)!;
    out(
      `decision: ALLOW an ID token of ${sa.email} (${sa.alias}), mint ${sa.mint}`,
    );
    out(
      `  audience: ${d.audience} (${how === 'exact' ? 'listed in id_token.audiences' : `matches the pattern ${how.pattern}`})`,
    );
    out(
      `  email: ${d.includeEmail ? (ask.includeEmail ? 'included, as asked' : 'included (key-based ID tokens always carry it)') : `not included${d.grant.idToken!.includeEmail ? ' (--include-email asks for it)' : ' (include_email: false)'}`}`,
    );
    out("  lifetime: 3600s (Google's ID tokens always live 1h)");
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
  let jwt: InspectedJwt;
  try {
    jwt = inspectJwt(token);
    checkSubjectTokenRules(jwt, now);
  } catch (e) {
    return e instanceof JwtRejected ? e.message : 'not a JWT';
  }
  const payload = jwt.payload;
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
      await verifyJwt(jwt, {
        key: await keys.keyFor(trust.keys, jwt),
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
