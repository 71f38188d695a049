/**
 * Fuzzed, not only enumerated (issue 10, item 9): fast-check generates form bodies, JSON
 * bodies, headers, paths, JWTs and policies. The HTTP surfaces drive the running service
 * as a black box over real sockets (functions-framework's server, as test/support/
 * stack.ts starts it, behind src/request-guard.ts as src/main.ts installs it); every
 * answer must be a documented status with the documented body shape (README, Errors:
 * `{error, error_description}`, Google's `{error:{code,message,status}}` on the IAM
 * route), no 5xx but 502/503, no unhandled rejection, no crash, no secret in a log.
 * Policies go through the policy parser: each compiles or throws PolicyError.
 *
 * `npm test` runs TVM_FUZZ_RUNS (default 500) cases per surface; `npm run fuzz` runs
 * 100,000 per surface and prints the counts.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {Agent, request} from 'node:http';
import fc from 'fast-check';
import {generateKeyPair, SignJWT} from 'jose';
import {GENERATE_ACCESS_TOKEN_PATH as IAM_PATH} from '../../src/http/iam-endpoint.ts';
import {GENERATE_ID_TOKEN_PATH as IAM_ID_PATH} from '../../src/http/iam-id-token-endpoint.ts';
import {PolicyError, parsePolicy} from '../../src/policy/index.ts';
import {
  fakeDns,
  startIssuer,
  startOidcStack,
  type TestIssuer,
} from '../support/oidc.ts';
import {assertNoSecretsLogged, newKey, type Stack} from '../support/stack.ts';

const RUNS = Number(process.env.TVM_FUZZ_RUNS ?? 500);
const SEED = process.env.TVM_FUZZ_SEED
  ? Number(process.env.TVM_FUZZ_SEED)
  : undefined;
const AUD = 'https://tvm.example.test';
const ACCOUNT = 'reporting@tvm-local.iam.gserviceaccount.com';
const RUN = 'https://run.example.test';
const DOCUMENTED = new Set([
  200, 400, 401, 403, 404, 405, 413, 415, 429, 502, 503,
]);

const key = newKey();
const secrets: string[] = [key];
const unhandled: unknown[] = [];
const counts: Record<
  string,
  {cases: number; statuses: Record<number, number>}
> = {};
let s: Stack;
let issuer: TestIssuer;
const agent = new Agent({keepAlive: true, maxSockets: 8});

process.on('unhandledRejection', e => unhandled.push(e));

before(async () => {
  issuer = await startIssuer('https://idp.test');
  s = await startOidcStack({
    fetch: fakeDns({[issuer.origin]: issuer.loopback}),
    keys: {fuzz: key},
    env: {
      TVM_RATE_LIMIT_PER_IP: '1000000',
      TVM_RATE_LIMIT_PER_CLIENT: '1000000',
      TVM_ISSUER: AUD,
    },
    policy: `
version: 1
service_accounts:
  reporting:
    email: ${ACCOUNT}
clients:
  fuzz:
    api_keys:
      - sha256: "{{KEY:fuzz}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly, cloud-platform]
        max_lifetime: 15m
        id_token:
          audiences: ["${RUN}", "https://*.internal.example.test"]
  ci:
    oidc:
      issuer: https://idp.test
      audiences: ["${AUD}"]
      claims: {sub: {equals: job}}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
  });
});

after(async () => {
  agent.destroy();
  await s?.close();
  await issuer?.close();
  for (const [surface, c] of Object.entries(counts)) {
    if (surface === 'policies') continue; // printed by its test
    const line = `fuzz ${surface}: ${c.cases} cases, statuses ${JSON.stringify(c.statuses)}`;
    if (RUNS > 1000) console.log(line);
  }
});

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string | Buffer;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

function send(r: Sent): Promise<Answer> {
  const u = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: u.hostname,
        port: u.port,
        method: r.method,
        path: r.path,
        headers:
          r.body === undefined
            ? r.headers
            : {
                ...r.headers,
                'content-length': String(Buffer.byteLength(r.body)),
              },
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

function record(surface: string, status: number): void {
  const c = (counts[surface] ??= {cases: 0, statuses: {}});
  c.cases++;
  c.statuses[status] = (c.statuses[status] ?? 0) + 1;
}

/** The contract's answer shapes (the README's Errors section; src/http/errors.ts). */
function checkAnswer(r: Sent, a: Answer): void {
  const where = `${r.method} ${r.path} -> ${a.status} ${a.text.slice(0, 300)}`;
  assert.ok(DOCUMENTED.has(a.status), `undocumented status: ${where}`);
  // A refusal never carries a key or a token the request did not (a caller's own
  // value may come back in a description; a 200 carries the token it hands out).
  const raw = String(r.body ?? '');
  const sentText = [
    r.path,
    JSON.stringify(r.headers),
    raw,
    ...new URLSearchParams(raw).values(),
  ].join(' ');
  for (const v of a.status === 200 ? [] : secrets) {
    if (sentText.includes(v)) continue;
    assert.ok(
      !a.text.includes(v),
      `a secret in an answer: ${r.method} ${r.path}`,
    );
  }
  if (r.method === 'HEAD') return;
  const path = r.path.split('?')[0]!;
  assert.match(String(a.headers['content-type']), /^application\/json/, where);
  const body = JSON.parse(a.text) as Record<string, unknown>;
  const google = IAM_PATH.test(path) || IAM_ID_PATH.test(path);
  if (a.status === 200) {
    if (IAM_ID_PATH.test(path)) {
      assert.equal(typeof body.token, 'string', where);
      secrets.push(body.token as string);
    } else if (google) {
      assert.equal(typeof body.accessToken, 'string', where);
      secrets.push(body.accessToken as string);
    } else if (typeof body.access_token === 'string') {
      assert.equal(
        body.token_type,
        body.issued_token_type === 'urn:ietf:params:oauth:token-type:id_token'
          ? 'N_A'
          : 'Bearer',
        where,
      );
      secrets.push(body.access_token);
    } else {
      assert.deepEqual(body, {status: 'ok'}, where);
    }
    return;
  }
  if (google) {
    const e = body.error as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['error'], where);
    assert.deepEqual(
      Object.keys(e).sort(),
      ['code', 'message', 'status'],
      where,
    );
    assert.equal(e.code, a.status, where);
    assert.equal(typeof e.message, 'string', where);
    assert.equal(typeof e.status, 'string', where);
    return;
  }
  if (body.status === 'unavailable') {
    assert.equal(a.status, 503, where);
    return;
  }
  assert.deepEqual(
    Object.keys(body).sort(),
    ['error', 'error_description'],
    where,
  );
  assert.equal(typeof body.error, 'string', where);
  assert.equal(typeof body.error_description, 'string', where);
}

async function drive(surface: string, arb: fc.Arbitrary<Sent>): Promise<void> {
  await fc.assert(
    fc.asyncProperty(arb, async r => {
      const a = await send(r);
      record(surface, a.status);
      checkAnswer(r, a);
    }),
    {numRuns: RUNS, seed: SEED, endOnFailure: true},
  );
}

// ---- generators -------------------------------------------------------------

const PARAMS = [
  'grant_type',
  'client_id',
  'client_secret',
  'audience',
  'scope',
  'lifetime',
  'subject_token',
  'subject_token_type',
  'requested_token_type',
  'client_assertion',
  'client_assertion_type',
  'resource',
  'include_email',
  '__proto__',
  'constructor',
];
const VALUES = [
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:id_token',
  'urn:ietf:params:oauth:token-type:access_token',
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
  'fuzz',
  'ci',
  'reporting',
  ACCOUNT,
  'bigquery.readonly',
  'cloud-platform',
  'https://www.googleapis.com/auth/bigquery.readonly',
  RUN,
  'https://billing.internal.example.test',
  'true',
  '900',
  '3600',
  '-1',
  '1e3',
  '',
  ' ',
  'K\u212a', // KELVIN SIGN
  'ı', // dotless i
];
const text = fc.string({maxLength: 40, unit: 'binary'});
const value = fc.oneof(
  {weight: 3, arbitrary: fc.constantFrom(...VALUES)},
  {weight: 1, arbitrary: fc.constant(key)},
  {weight: 2, arbitrary: text},
);
const name = fc.oneof(
  {weight: 4, arbitrary: fc.constantFrom(...PARAMS)},
  {weight: 1, arbitrary: fc.string({maxLength: 12})},
);
const pairs = fc.array(fc.tuple(name, value), {maxLength: 10});

const TOKEN_PATHS = ['/token', '/token/', '/TOKEN', '//token', '/%74oken'];
const tokenPath = fc.constantFrom(...TOKEN_PATHS);
const basicAuth = fc
  .tuple(
    fc.constantFrom('fuzz', 'ci', 'nobody', ''),
    fc.oneof(fc.constant(key), text),
  )
  .map(
    ([id, secret]) =>
      `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  );

const VALID_FORM: [string, string][] = [
  ['grant_type', 'client_credentials'],
  ['client_id', 'fuzz'],
  ['client_secret', key],
  ['audience', 'reporting'],
  ['scope', 'bigquery.readonly'],
];
/** A request that would succeed, with a few parameters changed, dropped or repeated. */
const nearValidForm = fc
  .array(
    fc.tuple(
      fc.integer({min: 0, max: VALID_FORM.length - 1}),
      fc.constantFrom('replace', 'drop', 'repeat'),
      value,
    ),
    {maxLength: 2},
  )
  .map(edits => {
    const ps = VALID_FORM.map(p => [...p] as [string, string]);
    for (const [i, how, v] of edits) {
      if (how === 'replace') ps[i]![1] = v;
      else if (how === 'drop') ps[i]![1] = '';
      else ps.push([ps[i]![0], v]);
    }
    return ps.filter(([, v]) => v !== '');
  });

const formSurface: fc.Arbitrary<Sent> = fc
  .tuple(
    fc.oneof(fc.constant('/token'), tokenPath),
    fc.oneof(pairs, nearValidForm),
    fc.option(basicAuth, {nil: undefined}),
  )
  .map(([path, ps, auth]) => ({
    method: 'POST',
    path,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(auth ? {authorization: auth} : {}),
    },
    body: new URLSearchParams(ps).toString(),
  }));

const jsonValue = fc.oneof(
  fc.jsonValue({maxDepth: 3}),
  fc
    .array(fc.tuple(name, fc.oneof(value, fc.jsonValue({maxDepth: 2}))), {
      maxLength: 8,
    })
    .map(ps => Object.fromEntries(ps)),
  fc.record(
    {
      scope: fc.oneof(fc.array(fc.constantFrom(...VALUES)), text),
      lifetime: fc.oneof(fc.constantFrom('900s', '3600s', '1.5s', ''), text),
      delegates: fc.oneof(fc.constant(null), fc.array(text, {maxLength: 2})),
      audience: fc.oneof(fc.constantFrom(...VALUES), text),
      includeEmail: fc.oneof(fc.boolean(), text),
    },
    {requiredKeys: []},
  ),
);
const bearer = fc.oneof(
  fc.constant(`Bearer ${key}`),
  fc.stringMatching(/^[\x21-\x7e]{0,60}$/).map(t => `Bearer ${t}`),
);
const iamPath = fc.oneof(
  fc.constant(`/v1/projects/-/serviceAccounts/${ACCOUNT}:generateAccessToken`),
  fc.constant(`/v1/projects/-/serviceAccounts/${ACCOUNT}:generateIdToken`),
  fc
    .tuple(
      fc.constantFrom(
        'reporting',
        'REPORTING@tvm-local.iam.gserviceaccount.com',
        'x%40y',
        'nobody@x.iam.gserviceaccount.com',
      ),
      fc.constantFrom('generateAccessToken', 'generateIdToken'),
    )
    .map(([a, m]) => `/v1/projects/-/serviceAccounts/${a}:${m}`),
);

const jsonSurface: fc.Arbitrary<Sent> = fc
  .tuple(
    fc.oneof(tokenPath, iamPath),
    jsonValue,
    fc.option(fc.oneof(bearer, basicAuth), {nil: undefined}),
    fc.boolean(),
  )
  .map(([path, v, auth, dup]) => {
    let body = JSON.stringify(v);
    // Repeated members, which JSON.stringify cannot make.
    if (dup && body.startsWith('{') && body.length > 2) {
      body = `{"scope":"a",${body.slice(1)}`;
    }
    return {
      method: 'POST',
      path,
      headers: {
        'content-type': 'application/json',
        ...(auth ? {authorization: auth} : {}),
      },
      body,
    };
  });

const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,60}$/).map(v => v.trim());
const HEADER_NAMES = [
  'content-type',
  'content-encoding',
  'authorization',
  'x-forwarded-for',
  'x-cloud-trace-context',
  'accept',
  'user-agent',
  'expect',
  'cookie',
];
const headerSurface: fc.Arbitrary<Sent> = fc
  .tuple(
    fc.oneof(tokenPath, iamPath, fc.constantFrom('/healthz', '/nowhere')),
    fc.constantFrom('GET', 'POST', 'PUT'),
    fc.dictionary(
      fc.constantFrom(...HEADER_NAMES),
      fc.oneof(
        headerValue,
        fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded; charset=latin1',
          'application/json; charset="utf-8"',
          'text/plain',
          'multipart/form-data; boundary=x',
          'gzip',
          'br',
          'identity',
          `Basic ${key}`,
          `Bearer ${key}`,
          '203.0.113.9, 198.51.100.1',
        ),
      ),
      {maxKeys: 5},
    ),
    pairs,
  )
  .map(([path, method, headers, ps]) => {
    const h = {...headers};
    if (h.expect !== undefined) delete h.expect; // 100-continue needs a client that waits
    return {
      method,
      path,
      headers: h,
      body: method === 'GET' ? undefined : new URLSearchParams(ps).toString(),
    };
  });

const SEGMENTS = [
  'token',
  'TOKEN',
  'healthz',
  'v1',
  'projects',
  '-',
  'serviceAccounts',
  `${ACCOUNT}:generateAccessToken`,
  ':generateAccessToken',
  '..',
  '.',
  '',
  '%2e%2e',
  '%2F',
  '%E0%A4%A',
  '%FF',
  '%00',
  '%',
  '%zz',
  'favicon.ico',
  '~',
  'a;b',
  '*',
];
const pathSurface: fc.Arbitrary<Sent> = fc
  .tuple(
    fc.array(
      fc.oneof(
        fc.constantFrom(...SEGMENTS),
        fc.stringMatching(/^[A-Za-z0-9._~%:@!$&'()*+,;=-]{0,12}$/),
      ),
      {minLength: 1, maxLength: 6},
    ),
    fc.option(fc.stringMatching(/^[A-Za-z0-9=&%_.-]{0,30}$/), {nil: undefined}),
    fc.constantFrom('GET', 'POST', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'),
  )
  .map(([segs, query, method]): Sent => ({
    method,
    path: `/${segs.join('/')}${query === undefined ? '' : `?${query}`}`,
    headers: (method === 'POST'
      ? {'content-type': 'application/x-www-form-urlencoded'}
      : {}) as Record<string, string>,
    body: method === 'POST' ? 'grant_type=client_credentials' : undefined,
  }));

const b64url = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString(
    'base64url',
  );

/** JWTs: random segments, and structurally valid ones that are wrong in one way. */
function jwtArbitrary(otherKey: CryptoKey): fc.Arbitrary<Promise<string>> {
  const randomJwt = fc
    .array(
      fc.oneof(fc.base64String({maxLength: 60}), fc.string({maxLength: 30})),
      {
        minLength: 1,
        maxLength: 6,
      },
    )
    .map(parts => Promise.resolve(parts.join('.')));
  const header = fc.record(
    {
      alg: fc.constantFrom(
        'RS256',
        'ES256',
        'HS256',
        'none',
        'NONE',
        'PS256',
        '',
      ),
      kid: fc.oneof(fc.constant(issuer.keys[0]!.kid), text),
      typ: fc.constantFrom('JWT', 'at+jwt', 'JOSE'),
      crit: fc.constant(['b64']),
      jku: fc.constant('https://evil.test/jwks'),
      cty: fc.constant('JWT'),
    },
    {requiredKeys: ['alg']},
  );
  const now = () => Math.floor(Date.now() / 1000);
  const claims = fc.record(
    {
      iss: fc.constantFrom(
        'https://idp.test',
        'https://idp.test/',
        'https://evil.test',
        '',
      ),
      sub: fc.constantFrom('job', 'JOB', 'job ', 'other'),
      aud: fc.oneof(fc.constant(AUD), fc.constant([AUD, 'x']), text),
      exp: fc.integer({min: -10_000, max: 200_000}).map(d => now() + d),
      iat: fc.integer({min: -10_000, max: 10_000}).map(d => now() + d),
      nbf: fc.integer({min: -100, max: 10_000}).map(d => now() + d),
      jti: text,
    },
    {requiredKeys: []},
  );
  const unsigned = fc
    .tuple(header, claims, fc.base64String({maxLength: 80}))
    .map(([h, c, sig]) =>
      Promise.resolve(`${b64url(h)}.${b64url(c)}.${sig.replace(/=/g, '')}`),
    );
  const signedRight = claims.map(c =>
    issuer.sign(c as Record<string, unknown>),
  );
  const signedWrong = claims.map(c =>
    new SignJWT(c as Record<string, unknown>)
      .setProtectedHeader({alg: 'ES256', kid: issuer.keys[0]!.kid})
      .sign(otherKey),
  );
  return fc.oneof(randomJwt, unsigned, signedRight, signedWrong);
}

// ---- the properties ----------------------------------------------------------

void describe('fuzzed HTTP surfaces: documented statuses and shapes only', () => {
  void test('form bodies on /token', () => drive('form', formSurface));
  void test('JSON bodies on /token and the IAM route', () =>
    drive('json', jsonSurface));
  void test('headers', () => drive('headers', headerSurface));
  void test('paths and methods', () => drive('paths', pathSurface));
  void test('JWTs as subject tokens, client assertions and bearer tokens', async () => {
    const {privateKey} = await generateKeyPair('ES256');
    const jwts = jwtArbitrary(privateKey);
    await fc.assert(
      fc.asyncProperty(
        jwts,
        fc.integer({min: 0, max: 2}),
        fc.constantFrom(...TOKEN_PATHS),
        async (make, how, path) => {
          const jwt = await make;
          const r: Sent =
            how === 0
              ? {
                  method: 'POST',
                  path,
                  headers: {
                    'content-type': 'application/x-www-form-urlencoded',
                  },
                  body: new URLSearchParams({
                    grant_type:
                      'urn:ietf:params:oauth:grant-type:token-exchange',
                    subject_token: jwt,
                    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
                    audience: 'reporting',
                    scope: 'bigquery.readonly',
                  }).toString(),
                }
              : how === 1
                ? {
                    method: 'POST',
                    path,
                    headers: {
                      'content-type': 'application/x-www-form-urlencoded',
                    },
                    body: new URLSearchParams({
                      grant_type: 'client_credentials',
                      client_id: 'fuzz',
                      client_assertion_type:
                        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
                      client_assertion: jwt,
                      audience: 'reporting',
                      scope: 'bigquery.readonly',
                    }).toString(),
                  }
                : {
                    method: 'POST',
                    path: `/v1/projects/-/serviceAccounts/${ACCOUNT}:generateAccessToken`,
                    headers: {
                      'content-type': 'application/json',
                      authorization: `Bearer ${jwt}`,
                    },
                    body: JSON.stringify({
                      scope: [
                        'https://www.googleapis.com/auth/bigquery.readonly',
                      ],
                    }),
                  };
          const a = await send(r);
          record('jwts', a.status);
          checkAnswer(r, a);
        },
      ),
      {numRuns: RUNS, seed: SEED, endOnFailure: true},
    );
  });

  void test('no unhandled rejection', () => {
    assert.deepEqual(unhandled, []);
  });

  void test('nothing secret logged', () => {
    assertNoSecretsLogged(secrets);
  });
});

// ---- policies ------------------------------------------------------------------

const policyValue = fc.oneof(
  fc.constantFrom(
    'reporting',
    'reporting@tvm-local.iam.gserviceaccount.com',
    'impersonate',
    'key',
    'projects/p/secrets/s/versions/1',
    'projects/p/secrets/s/versions/latest',
    'bigquery.readonly',
    'https://www.googleapis.com/auth/cloud-platform',
    '15m',
    '1h',
    '0s',
    '2027-06-30',
    '1999-01-01',
    '203.0.113.0/24',
    '::/0',
    'https://token.actions.githubusercontent.com',
    'https://.*.example.com',
    '0'.repeat(64),
    'K\u212a',
  ),
  fc.string({maxLength: 20}),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);
const leaf = fc.oneof(policyValue, fc.array(policyValue, {maxLength: 3}));
const POLICY_KEYS = [
  'version',
  'service_accounts',
  'clients',
  'email',
  'mint',
  'key_secret',
  'api_keys',
  'sha256',
  'expires',
  'allow',
  'service_account',
  'scopes',
  'default_scopes',
  'max_lifetime',
  'source_ranges',
  'oidc',
  'issuer',
  'audiences',
  'claims',
  'jwks_uri',
  'jwks',
  'private_key_jwt',
  'description',
  'lifetime_extension',
  'id_token',
  'include_email',
];
const policyTree: fc.Arbitrary<unknown> = fc.letrec(tie => ({
  node: fc.oneof(
    {depthSize: 'small', withCrossShrink: true},
    leaf,
    fc.dictionary(
      fc.oneof(fc.constantFrom(...POLICY_KEYS), fc.string({maxLength: 8})),
      tie('node'),
      {
        maxKeys: 5,
      },
    ),
    fc.array(tie('node'), {maxLength: 3}),
  ),
})).node;

const VALID_POLICY = {
  version: 1,
  service_accounts: {reporting: {email: ACCOUNT}},
  clients: {
    c: {
      api_keys: [{sha256: '0'.repeat(64)}],
      allow: [
        {
          service_account: 'reporting',
          scopes: ['bigquery.readonly'],
          max_lifetime: '15m',
        },
      ],
    },
  },
};

/** A valid policy with one value replaced somewhere along a path of its keys. */
const mutatedPolicy = fc
  .tuple(
    fc.array(fc.constantFrom(...POLICY_KEYS, 'reporting', 'c', '0'), {
      minLength: 1,
      maxLength: 4,
    }),
    policyTree,
  )
  .map(([path, v]) => {
    const doc = structuredClone(VALID_POLICY) as Record<string, unknown>;
    let at: Record<string, unknown> = doc;
    for (const k of path.slice(0, -1)) {
      const next = at[k];
      if (typeof next !== 'object' || next === null) break;
      at = next as Record<string, unknown>;
    }
    at[path.at(-1)!] = v;
    return JSON.stringify(doc);
  });

/** A valid policy with a plausible value put somewhere: often still valid. */
const nudgedPolicy = fc
  .tuple(
    fc.constantFrom(
      ['clients', 'c', 'allow', '0', 'scopes'],
      ['clients', 'c', 'allow', '0', 'max_lifetime'],
      ['clients', 'c', 'allow', '0', 'id_token'],
      ['clients', 'c', 'description'],
      ['clients', 'c', 'source_ranges'],
      ['service_accounts', 'reporting', 'mint'],
      ['clients', 'c', 'api_keys', '0', 'expires'],
    ),
    fc.oneof(policyValue, fc.array(policyValue, {maxLength: 2})),
  )
  .map(([path, v]) => {
    const doc = structuredClone(VALID_POLICY) as Record<string, unknown>;
    let at = doc;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    at[path.at(-1)!] = v;
    return JSON.stringify(doc);
  });

const policyText = fc.oneof(
  fc.constant(JSON.stringify(VALID_POLICY)),
  nudgedPolicy,
  mutatedPolicy,
  fc
    .tuple(fc.constant(1), policyTree)
    .map(([version, rest]) =>
      JSON.stringify(
        typeof rest === 'object' && rest !== null && !Array.isArray(rest)
          ? {version, ...rest}
          : rest,
      ),
    ),
  fc.string({maxLength: 200}),
  fc.constantFrom(
    'version: 1\nclients: &a {x: *a}',
    'a: &a [*a, *a, *a]',
    'version: 1\nversion: 1',
    '!!js/function "x"',
    '---\n---',
    '\uFEFFversion: 1',
  ),
);

void describe('fuzzed policies', () => {
  void test('every policy compiles or throws PolicyError, never anything else', () => {
    let compiled = 0;
    let refused = 0;
    fc.assert(
      fc.property(policyText, text => {
        try {
          parsePolicy(text);
          compiled++;
        } catch (e) {
          if (!(e instanceof PolicyError)) {
            throw new Error(
              `not a PolicyError: ${(e as Error)?.name}: ${(e as Error)?.message}`,
            );
          }
          refused++;
        }
      }),
      {numRuns: RUNS, seed: SEED, endOnFailure: true},
    );
    counts.policies = {cases: compiled + refused, statuses: {}};
    if (RUNS > 1000) {
      console.log(
        `fuzz policies: ${compiled + refused} cases, ${compiled} compiled, ${refused} refused with PolicyError`,
      );
    }
    assert.ok(
      compiled > 0,
      'some inputs compile (the generator reaches valid policies)',
    );
  });
});
