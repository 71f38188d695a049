/**
 * POST /token with grant_type=token-exchange (RFC 8693), end to end: fake OIDC issuers
 * on loopback (keys generated here), tvm served by functions-framework, the emulator
 * minting. Every refusal of a subject token listed in docs/security.md ("JWTs":
 * signature and algorithm, claims and time, issuers and keys), each with its status,
 * OAuth error and description; the success paths checked through tokeninfo; the audit
 * lines.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {generateKeyPair, SignJWT, exportJWK, type JWTPayload} from 'jose';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  type Stack,
} from '../support/stack.ts';
import {
  fakeDns,
  hmacWithPublicKey,
  lastAudit,
  startIssuer,
  startOidcStack,
  testClock,
  unsignedJwt,
  withHeader,
  withSignature,
  type TestIssuer,
} from '../support/oidc.ts';

const AUD = 'https://tvm.example.test';
const MAIN = 'repo:org/app:ref:refs/heads/main';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';

const clock = testClock();
const keys = {both: newKey()};
const handedOut: string[] = [];
let a: TestIssuer;
let b: TestIssuer;
let s: Stack;
let dns: ReturnType<typeof fakeDns>;
let pinnedKey: CryptoKey;

const now = () => Math.floor(clock.now() / 1000);
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  sub: MAIN,
  aud: AUD,
  iat: now(),
  exp: now() + 300,
  ...extra,
});

before(async () => {
  a = await startIssuer('https://issuer-a.test');
  b = await startIssuer('https://issuer-b.test');
  await a.addKey('ES256', 'a-es256');
  await b.addKey('ES256', 'b-es256');
  const pinned = await generateKeyPair('ES256', {extractable: true});
  pinnedKey = pinned.privateKey;
  const pinnedJwk = {...(await exportJWK(pinned.publicKey)), kid: 'p1'};
  dns = fakeDns({[a.origin]: a.loopback, [b.origin]: b.loopback});
  s = await startOidcStack({
    clock,
    fetch: dns,
    keys,
    policy: `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
  other:
    email: other@tvm-local.iam.gserviceaccount.com
clients:
  gha-main:
    oidc:
      issuer: ${a.origin}
      audiences: ["${AUD}"]
      algorithms: [RS256]
      claims:
        sub: {equals: "${MAIN}"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly, cloud-platform]
        max_lifetime: 10m
  gha-prod:
    oidc:
      issuer: ${a.origin}
      audiences: ["${AUD}"]
      algorithms: [RS256]
      claims:
        sub: {pattern: "repo:org/*:environment:prod"}
        repository_owner: {equals: org}
    allow:
      - service_account: other
        scopes: [cloud-platform]
  both:
    api_keys:
      - sha256: "{{KEY:both}}"
    oidc:
      issuer: ${a.origin}
      audiences: [tvm-basic]
      algorithms: [RS256]
      claims:
        sub: {pattern: "repo:org/*:ref:refs/heads/main"}
    allow:
      - service_account: other
        scopes: [cloud-platform]
  b-svc:
    oidc:
      issuer: ${b.origin}
      audiences: ["${AUD}"]
      claims:
        sub: {equals: svc}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
  pinned:
    oidc:
      issuer: https://pinned.test
      audiences: ["${AUD}"]
      algorithms: [ES256]
      jwks: {"keys": [${JSON.stringify(pinnedJwk)}]}
      claims:
        sub: {equals: "system:serviceaccount:jobs:export"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`,
  });
});

after(async () => {
  await s.close();
  await a.close();
  await b.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

function exchange(
  subjectToken: string,
  extra: Record<string, string> = {},
  headers: Record<string, string> = {},
) {
  return postForm(
    `${s.url}/token`,
    {
      grant_type: EXCHANGE,
      subject_token: subjectToken,
      subject_token_type: JWT_TYPE,
      audience: 'reporting',
      scope: 'bigquery.readonly',
      ...extra,
    },
    headers,
  );
}

async function tokenInfo(accessToken: string) {
  const r = await fetch(`${s.emulator.url}/tokeninfo`, {
    headers: {authorization: `Bearer ${accessToken}`},
  });
  return (await r.json()) as Record<string, string>;
}

async function expectGranted(
  r: Awaited<ReturnType<typeof exchange>>,
  email = 'reporting@tvm-local.iam.gserviceaccount.com',
) {
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.headers.get('cache-control'), 'no-store');
  assert.equal(
    r.body.issued_token_type,
    'urn:ietf:params:oauth:token-type:access_token',
  );
  assert.equal(r.body.token_type, 'Bearer');
  handedOut.push(r.body.access_token as string);
  assert.equal((await tokenInfo(r.body.access_token as string)).email, email);
}

void describe('token exchange: success', () => {
  void test('a GitHub-shaped token of the trusted repository gets the granted account', async () => {
    const r = await exchange(await a.sign(claims()), {lifetime: '300'});
    await expectGranted(r);
    assert.ok((r.body.expires_in as number) <= 300);
    const audit = lastAudit(s);
    assert.equal(audit.decision, 'allow');
    assert.equal(audit.client, 'gha-main');
    assert.equal(audit.issuer, a.origin);
    assert.equal(audit.subject, MAIN);
    assert.equal(audit.authMethod, 'subject_token');
    assert.equal(audit.grantType, EXCHANGE);
  });

  void test('subject_token_type id_token and requested_token_type access_token are accepted', async () => {
    await expectGranted(
      await exchange(await a.sign(claims()), {
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      }),
    );
  });

  void test('a pattern condition selects the other client of the same issuer', async () => {
    const r = await exchange(
      await a.sign(
        claims({sub: 'repo:org/api:environment:prod', repository_owner: 'org'}),
      ),
      {audience: 'other', scope: 'cloud-platform'},
    );
    await expectGranted(r, 'other@tvm-local.iam.gserviceaccount.com');
    assert.equal(lastAudit(s).client, 'gha-prod');
  });

  void test('a pinned JWKS verifies without any fetch', async () => {
    const before = dns.asked.length;
    const token = await new SignJWT(
      claims({sub: 'system:serviceaccount:jobs:export'}),
    )
      .setProtectedHeader({alg: 'ES256', kid: 'p1'})
      .setIssuer('https://pinned.test')
      .sign(pinnedKey);
    await expectGranted(await exchange(token));
    assert.equal(dns.asked.length, before);
  });

  void test('a one-element aud array counts as one audience', async () => {
    await expectGranted(await exchange(await a.sign(claims({aud: [AUD]}))));
  });

  void test('jku, x5u and an embedded jwk are never followed nor trusted', async () => {
    const attacker = await generateKeyPair('RS256');
    const token = await a.sign(claims(), {
      header: {
        jku: 'https://attacker.test/jwks',
        x5u: 'https://attacker.test/cert',
        jwk: await exportJWK(attacker.publicKey),
      },
    });
    await expectGranted(await exchange(token));
    assert.ok(!dns.asked.some(u => u.includes('attacker.test')));
  });

  void test('Basic client authentication that agrees with the subject token', async () => {
    const r = await exchange(
      await a.sign(claims({aud: 'tvm-basic'})),
      {audience: 'other', scope: 'cloud-platform'},
      {authorization: basic('both', keys.both)},
    );
    await expectGranted(r, 'other@tvm-local.iam.gserviceaccount.com');
    assert.equal(lastAudit(s).authMethod, 'subject_token+basic');
    assert.equal(lastAudit(s).client, 'both');
  });

  void test('time boundaries: exp, nbf and iat exactly at the 30 s leeway', async () => {
    for (const c of [{exp: now() - 29}, {nbf: now() + 30}, {iat: now() + 30}]) {
      const r = await exchange(await a.sign(claims(c)));
      assert.equal(
        r.status,
        200,
        `${JSON.stringify(c)}: ${JSON.stringify(r.body)}`,
      );
      handedOut.push(r.body.access_token as string);
    }
  });
});

interface Case {
  name: string;
  token: () => Promise<string>;
  form?: Record<string, string>;
  headers?: () => Record<string, string>;
  status?: number;
  error?: string;
  describe: RegExp;
  /** Expected start of the audit detail. */
  detail?: RegExp;
}

/** What a caller learns of any token refused before its signature is verified. */
const UNVERIFIED =
  /^the subject token could not be verified: it must come from a trusted issuer and be signed with one of that issuer's keys; the audit record of this request \(X-Request-Id\) says which check failed$/;

const forged: Case[] = [
  ...['none', 'None', 'NONE', 'nOnE'].map(alg => ({
    name: `alg ${alg}`,
    token: async () => unsignedJwt(alg, {iss: a.origin, ...claims()}),
    describe: /alg none/,
    detail: /^subject_token alg_none/,
  })),
  ...(['jwk', 'n'] as const).map(form => ({
    name: `HS256 with the issuer's RSA public key (${form}) as secret`,
    token: async () =>
      hmacWithPublicKey(
        a.keys[0]!.publicJwk,
        {iss: a.origin, ...claims()},
        form,
      ),
    describe: UNVERIFIED,
    detail: /^subject_token alg_not_allowed: the JWT alg is not allowed/,
  })),
  {
    name: 'ES256 by a key the issuer publishes, but only RS256 allowed for it',
    token: () => a.sign(claims(), {key: a.keys.find(k => k.alg === 'ES256')}),
    describe: UNVERIFIED,
    detail: /^subject_token alg_not_allowed: the JWT alg is not allowed/,
  },
  {
    name: 'empty signature',
    token: async () => withSignature(await a.sign(claims()), ''),
    describe: /no signature/,
  },
  {
    name: 'truncated signature',
    token: async () => {
      const t = await a.sign(claims());
      return t.slice(0, t.length - 20);
    },
    describe: UNVERIFIED,
    detail: /^subject_token bad_signature: the JWT signature does not verify/,
  },
  {
    name: 'all-zero signature',
    token: async () =>
      withSignature(
        await a.sign(claims()),
        Buffer.alloc(256).toString('base64url'),
      ),
    describe: UNVERIFIED,
    detail: /^subject_token bad_signature: the JWT signature does not verify/,
  },
  {
    name: 'ES256 with r = s = 0',
    token: async () =>
      withSignature(
        await b.sign(claims({sub: 'svc'}), {
          key: b.keys.find(k => k.alg === 'ES256'),
        }),
        Buffer.alloc(64).toString('base64url'),
      ),
    describe: UNVERIFIED,
    detail: /^subject_token bad_signature: the JWT signature does not verify/,
  },
  ...[
    ['a path', '../../../../etc/passwd'],
    ['SQL', "' OR 1=1 --"],
    ['a URL', 'https://attacker.test/key'],
  ].map(([what, kid]) => ({
    name: `kid holding ${what}`,
    token: () => a.sign(claims(), {header: {kid}}),
    describe: UNVERIFIED,
    detail: /^subject_token unknown_kid: no key of the issuer matches/,
  })),
  {
    name: 'kid with CR/LF',
    token: () => a.sign(claims(), {header: {kid: 'a\r\nX-Injected: 1'}}),
    describe: /kid must be/,
  },
  {
    name: 'kid of 1 KB',
    token: () => a.sign(claims(), {header: {kid: 'k'.repeat(1024)}}),
    describe: /kid must be/,
  },
  {
    name: 'kid of 10 KB',
    token: () => a.sign(claims(), {header: {kid: 'k'.repeat(10240)}}),
    describe: /longer than 8192/,
  },
  {
    name: 'signed by an attacker key embedded as jwk',
    token: async () => {
      const k = await generateKeyPair('RS256');
      return new SignJWT({iss: a.origin, ...claims()})
        .setProtectedHeader({
          alg: 'RS256',
          kid: a.keys[0]!.kid,
          jwk: await exportJWK(k.publicKey),
        })
        .sign(k.privateKey);
    },
    describe: UNVERIFIED,
    detail: /^subject_token bad_signature: the JWT signature does not verify/,
  },
  {
    name: 'crit header',
    token: async () =>
      withHeader(await a.sign(claims()), {
        alg: 'RS256',
        kid: a.keys[0]!.kid,
        crit: ['exp'],
        exp: 1,
      }),
    describe: /crit/,
  },
  {
    name: 'b64: false',
    token: async () =>
      withHeader(await a.sign(claims()), {
        alg: 'RS256',
        kid: a.keys[0]!.kid,
        b64: false,
      }),
    describe: /b64/,
  },
  {
    name: 'JWE (five segments)',
    token: async () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d',
    describe: /encrypted JWT/,
  },
  {
    name: 'JWS JSON serialization',
    token: async () => {
      const [h, p, sig] = (await a.sign(claims())).split('.');
      return JSON.stringify({payload: p, protected: h, signature: sig});
    },
    describe: /compact serialization/,
  },
  {
    name: 'nested JWT (cty: JWT)',
    token: () => a.sign(claims(), {header: {cty: 'JWT'}}),
    describe: /nested/,
  },
  {
    name: 'two segments',
    token: async () =>
      (await a.sign(claims())).split('.').slice(0, 2).join('.'),
    describe: /not a JWT/,
  },
  {
    name: 'broken base64url',
    token: async () => `${(await a.sign(claims())).slice(0, -3)}%%%`,
    describe: /base64url/,
  },
  {
    name: 'payload not JSON',
    token: async () => {
      const [h, , sig] = (await a.sign(claims())).split('.');
      return `${h}.${Buffer.from('not json').toString('base64url')}.${sig}`;
    },
    describe: /payload is not JSON/,
  },
  {
    name: 'payload a JSON array',
    token: async () => {
      const [h, , sig] = (await a.sign(claims())).split('.');
      return `${h}.${Buffer.from('[1]').toString('base64url')}.${sig}`;
    },
    describe: /must be a JSON object/,
  },
  {
    name: 'exp missing',
    token: () => a.sign({...claims(), exp: undefined}),
    describe: /no exp claim/,
  },
  {
    name: 'exp in the past',
    token: () => a.sign(claims({exp: now() - 3600})),
    describe: /expired/,
  },
  {
    name: 'exp exactly at the leeway (now - 30 s)',
    token: () => a.sign(claims({exp: now() - 30})),
    describe: /expired/,
  },
  {
    name: 'nbf beyond the leeway (now + 31 s)',
    token: () => a.sign(claims({nbf: now() + 31})),
    describe: /not valid yet/,
  },
  {
    name: 'iat beyond the leeway (now + 31 s)',
    token: () => a.sign(claims({iat: now() + 31})),
    describe: /issued in the future/,
  },
  {
    name: 'absurd exp (two days ahead)',
    token: () => a.sign(claims({exp: now() + 2 * 86400})),
    describe: /lives too long/,
  },
  {
    name: 'aud missing',
    token: () => a.sign({...claims(), aud: undefined}),
    describe: /no aud claim/,
  },
  {
    name: 'aud wrong',
    token: () => a.sign(claims({aud: 'https://other.example.test'})),
    describe: /aud "https:\/\/other\.example\.test" is not an audience trusted/,
    detail: /^subject_token audience_not_trusted/,
  },
  {
    name: 'aud an array with the right value among others',
    token: () => a.sign(claims({aud: [AUD, 'https://other.example.test']})),
    describe: /exactly one audience/,
  },
  {
    name: 'sub missing',
    token: () => a.sign({...claims(), sub: undefined}),
    describe: /no sub claim/,
  },
  {
    name: "iss = A, signed by B's key",
    token: () => b.sign({...claims(), iss: a.origin}),
    describe: UNVERIFIED,
    detail: /^subject_token unknown_kid: no key of the issuer matches/,
  },
  {
    name: "iss = B with B's kid, signed by A's key",
    token: async () =>
      withHeader(await a.sign({...claims({sub: 'svc'}), iss: b.origin}), {
        alg: 'RS256',
        kid: b.keys[0]!.kid,
      }),
    describe: UNVERIFIED,
    detail: /^subject_token bad_signature: the JWT signature does not verify/,
  },
  ...[
    ['a trailing slash', 'https://issuer-a.test/'],
    ['http://', 'http://issuer-a.test'],
    ['userinfo', 'https://user@issuer-a.test'],
    ['a query', 'https://issuer-a.test?x=1'],
    ['a fragment', 'https://issuer-a.test#x'],
    ['..', 'https://issuer-a.test/x/..'],
    ['CR/LF', 'https://issuer-a.test\r\n'],
    ['a non-ASCII host', 'https://issuer-ä.test'],
    ['upper case', 'https://ISSUER-A.test'],
  ].map(([what, iss]) => ({
    name: `iss with ${what}`,
    token: () => a.sign({...claims(), iss}),
    describe: UNVERIFIED,
    detail:
      /^subject_token untrusted_issuer: the subject token's issuer .* is not trusted/,
  })),
  {
    name: 'an OAuth access token JWT (typ at+jwt)',
    token: () => a.sign(claims(), {header: {typ: 'at+jwt'}}),
    describe: /access token/,
  },
  {
    name: 'a claim that does not meet the condition: nothing of any client revealed',
    token: () => a.sign(claims({sub: 'repo:org/app:ref:refs/heads/dev'})),
    describe:
      /^no client accepts this subject token \(its issuer, audience and claims\); the audit record of this request \(X-Request-Id\) says which condition failed/,
    detail:
      /^subject_token no_matching_client: gha-main: claim sub .* \(condition: sub equals "repo:org\/app:ref:refs\/heads\/main"\)/,
  },
  {
    name: 'a client named by client_id but not authenticated: the same generic answer',
    token: () =>
      a.sign(
        claims({
          sub: 'repo:other/api:environment:prod',
          repository_owner: 'other',
        }),
      ),
    form: {client_id: 'gha-prod'},
    describe:
      /^no client accepts this subject token \(its issuer, audience and claims\); the audit record of this request \(X-Request-Id\) says which condition failed/,
  },
  {
    name: 'a client id that does not exist: the very same answer (no existence oracle)',
    token: () =>
      a.sign(
        claims({
          sub: 'repo:other/api:environment:prod',
          repository_owner: 'other',
        }),
      ),
    form: {client_id: 'no-such-client'},
    describe:
      /^no client accepts this subject token \(its issuer, audience and claims\); the audit record of this request \(X-Request-Id\) says which condition failed/,
  },
  {
    name: 'authenticated as the client: the failed condition is shown in full',
    token: () =>
      a.sign(
        claims({aud: 'tvm-basic', sub: 'repo:org/app:ref:refs/heads/dev'}),
      ),
    headers: () => ({authorization: basic('both', keys.both)}),
    describe:
      /^the subject token does not meet client "both"'s conditions: claim sub "repo:org\/app:ref:refs\/heads\/dev" does not match \(condition: sub pattern "repo:org\/\*:ref:refs\/heads\/main"\)$/,
  },
  {
    name: 'client_id naming another client than the subject token',
    token: () => a.sign(claims({aud: 'tvm-basic'})),
    form: {client_id: 'gha-main'},
    describe:
      /^the subject token does not authenticate the client named in this request$/,
    detail: /^client gha-main named, subject token is client both$/,
  },
  {
    name: 'Basic authentication of another client than the subject token',
    token: () => a.sign(claims()),
    headers: () => ({authorization: basic('both', keys.both)}),
    describe:
      /^the subject token does not authenticate the client named in this request$/,
  },
  {
    name: 'the client named by client_id, audience not its own',
    token: () => a.sign(claims({sub: 'repo:org/app:ref:refs/heads/dev'})),
    form: {client_id: 'both'},
    describe:
      /^no client accepts this subject token \(its issuer, audience and claims\); the audit record of this request \(X-Request-Id\) says which condition failed/,
  },
  {
    name: 'a wrong API key with a valid subject token',
    token: () => a.sign(claims({aud: 'tvm-basic'})),
    headers: () => ({authorization: basic('both', newKey())}),
    status: 401,
    error: 'invalid_client',
    describe: /client authentication failed/,
  },
];

void describe('token exchange: refused subject tokens (400 invalid_grant)', () => {
  for (const c of forged) {
    void test(c.name, async () => {
      const r = await exchange(await c.token(), c.form, c.headers?.());
      assert.equal(r.status, c.status ?? 400, JSON.stringify(r.body));
      assert.equal(r.body.error, c.error ?? 'invalid_grant');
      assert.match(r.body.error_description as string, c.describe);
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(r.body.access_token, undefined);
      const audit = lastAudit(s);
      assert.equal(audit.decision, 'deny');
      assert.equal(
        audit.reason,
        c.status === 401 ? 'ERR_INVALID_CLIENT' : 'ERR_INVALID_GRANT',
      );
      if (c.detail) assert.match(audit.detail as string, c.detail);
    });
  }

  void test('before the signature: an untrusted issuer, a wrong key, a wrong alg answer alike', async () => {
    const answers = [
      await exchange(await a.sign({...claims(), iss: 'https://nobody.test'})),
      await exchange(await b.sign({...claims(), iss: a.origin})),
      await exchange(
        await a.sign(claims(), {key: a.keys.find(k => k.alg === 'ES256')}),
      ),
      await exchange(
        withSignature(
          await a.sign(claims()),
          Buffer.alloc(256).toString('base64url'),
        ),
      ),
    ];
    const shape = (r: (typeof answers)[number]) => {
      const headers: string[] = [];
      r.headers.forEach((value, name) => {
        // Per-request values: the request id, the date, the remaining budget.
        if (name === 'x-request-id' || name === 'date') return;
        headers.push(`${name}: ${name.startsWith('ratelimit') ? '' : value}`);
      });
      return {status: r.status, body: r.body, headers: headers.sort()};
    };
    for (const r of answers.slice(1)) {
      assert.deepEqual(shape(r), shape(answers[0]!));
    }
    assert.match(answers[0]!.body.error_description as string, UNVERIFIED);
    // The answer names no issuer, algorithm or key id.
    const said = JSON.stringify(answers.map(r => r.body));
    for (const secretOfTrust of [
      a.origin,
      b.origin,
      'RS256',
      'ES256',
      a.keys[0]!.kid,
    ]) {
      assert.ok(!said.includes(secretOfTrust), secretOfTrust);
    }
  });

  void test('the audit of a refused token says whom it claimed to be, and never holds the token', async () => {
    const refused: [string, string, string][] = [
      [
        'signed by another issuer',
        await b.sign({...claims(), iss: a.origin}),
        a.origin,
      ],
      ['expired', await a.sign(claims({exp: now() - 120})), a.origin],
      [
        'untrusted issuer',
        await a.sign({...claims(), iss: 'https://nobody.test'}),
        'https://nobody.test',
      ],
      [
        'long-lived',
        await a.sign(claims({exp: now() + 3 * 24 * 3600})),
        a.origin,
      ],
    ];
    for (const [name, token, issuer] of refused) {
      const r = await exchange(token);
      assert.equal(r.status, 400, name);
      assert.equal(r.body.error, 'invalid_grant', name);
      const audit = lastAudit(s);
      assert.equal(audit.decision, 'deny', name);
      assert.equal(audit.reason, 'ERR_INVALID_GRANT', name);
      assert.equal(audit.authMethod, 'subject_token', name);
      assert.equal(audit.issuer, issuer, name);
      assert.equal(audit.subject, MAIN, name);
      for (const line of s.logs) {
        assert.ok(!JSON.stringify(line).includes(token), `${name}: logged`);
      }
    }
    // A token that cannot be read names no one.
    const unreadable = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.bm90IGpzb24.c2ln`;
    const r = await exchange(unreadable);
    assert.equal(r.status, 400);
    assert.match(r.body.error_description as string, /payload is not JSON/);
    assert.equal(lastAudit(s).issuer, undefined);
    assert.equal(lastAudit(s).subject, undefined);
  });

  void test('our own output fed back: a tvm-vended access token', async () => {
    const ok = await exchange(await a.sign(claims()));
    handedOut.push(ok.body.access_token as string);
    const r = await exchange(ok.body.access_token as string);
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_grant');
    assert.match(r.body.error_description as string, /not a JWT/);
  });

  void test('an unknown-kid flood costs at most one JWKS refetch per cooldown', async () => {
    const before = a.hits.jwks;
    const results = await Promise.all(
      Array.from({length: 25}, async (_, i) =>
        exchange(await a.sign(claims(), {header: {kid: `flood-${i}`}})),
      ),
    );
    for (const r of results) {
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_grant');
    }
    assert.ok(a.hits.jwks - before <= 1, `${a.hits.jwks - before} refetches`);
  });
});

void describe('token exchange: malformed requests (400 invalid_request)', () => {
  const rows: [string, Record<string, string>, RegExp][] = [
    ['no subject_token', {subject_token: ''}, /subject_token/],
    ['no subject_token_type', {subject_token_type: ''}, /subject_token_type/],
    [
      'an unsupported subject_token_type',
      {subject_token_type: 'urn:ietf:params:oauth:token-type:saml2'},
      /subject_token_type must be/,
    ],
    [
      'a requested_token_type other than an access or ID token',
      {requested_token_type: 'urn:ietf:params:oauth:token-type:saml2'},
      /requested_token_type must be .*access_token or .*id_token/,
    ],
    [
      'an actor_token',
      {actor_token: 'x', actor_token_type: JWT_TYPE},
      /actor_token/,
    ],
  ];
  for (const [name, form, describe] of rows) {
    void test(name, async () => {
      const r = await exchange(await a.sign(claims()), form);
      assert.equal(r.status, 400);
      assert.equal(r.body.error, 'invalid_request');
      assert.match(r.body.error_description as string, describe);
    });
  }

  void test('the grant still goes through authorize(): an account not granted is 403', async () => {
    const r = await exchange(await a.sign(claims()), {
      audience: 'other',
      scope: 'cloud-platform',
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'invalid_target');
    assert.equal(lastAudit(s).client, 'gha-main');
  });
});
