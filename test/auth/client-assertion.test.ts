/**
 * client_credentials with private_key_jwt (RFC 7523 §2.2, §3): partners sign their own
 * assertions; tvm checks iss = sub = client_id, aud = TVM_ISSUER (or its /token),
 * a short exp, a jti never seen before, and the signature with the keys the policy
 * names (pinned, or a JWKS URL). Every refusal is 401 invalid_client.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {randomUUID} from 'node:crypto';
import {
  exportJWK,
  generateKeyPair,
  SignJWT,
  type CryptoKey,
  type JWTPayload,
} from 'jose';
import {assertNoSecretsLogged, postForm, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  hmacWithPublicKey,
  lastAudit,
  startIssuer,
  startOidcStack,
  testClock,
  unsignedJwt,
  type TestIssuer,
} from '../support/oidc.ts';

const TVM = 'https://tvm.example.test';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const clock = testClock();
const handedOut: string[] = [];
const assertions: string[] = [];
let s: Stack;
let remote: TestIssuer;
let policyText: string;
let dnsFetch: ReturnType<typeof fakeDns>;
let partnerKey: CryptoKey;
let partnerPublic: Record<string, unknown>;
let strangerKey: CryptoKey;

const now = () => Math.floor(clock.now() / 1000);

const POLICY = (jwks: string) => `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  partner:
    private_key_jwt:
      jwks: {"keys": [${jwks}]}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
  remote-partner:
    private_key_jwt:
      jwks_uri: https://partner-keys.test/jwks
      algorithms: [RS256]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`;

before(async () => {
  const k = await generateKeyPair('ES256', {extractable: true});
  partnerKey = k.privateKey;
  partnerPublic = {...(await exportJWK(k.publicKey)), kid: 'partner-1'};
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  remote = await startIssuer('https://partner-keys.test');
  const dns = fakeDns({[remote.origin]: remote.loopback});
  const policy = POLICY(JSON.stringify(partnerPublic));
  s = await startOidcStack({
    clock,
    fetch: dns,
    policy,
    env: {TVM_ISSUER: TVM},
  });
  policyText = policy;
  dnsFetch = dns;
});

after(async () => {
  await s.close();
  await remote.close();
  assertNoSecretsLogged([...handedOut, ...assertions]);
});

function claims(extra: JWTPayload = {}): JWTPayload {
  return {
    iss: 'partner',
    sub: 'partner',
    aud: TVM,
    jti: randomUUID(),
    iat: now(),
    exp: now() + 60,
    ...extra,
  };
}

async function sign(
  c: JWTPayload,
  key: CryptoKey = partnerKey,
  header: Record<string, unknown> = {},
): Promise<string> {
  const jwt = await new SignJWT(c)
    .setProtectedHeader({alg: 'ES256', kid: 'partner-1', ...header})
    .sign(key);
  assertions.push(jwt);
  return jwt;
}

async function token(
  assertion: string,
  extra: Record<string, string> = {},
  on: Stack = s,
) {
  const r = await postForm(`${on.url}/token`, {
    grant_type: 'client_credentials',
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: assertion,
    audience: 'reporting',
    scope: 'bigquery.readonly',
    ...extra,
  });
  if (r.status === 200) handedOut.push(r.body.access_token as string);
  return r;
}

void describe('private_key_jwt: accepted', () => {
  void test('aud = TVM_ISSUER, with and without client_id', async () => {
    const r = await token(await sign(claims()));
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.token_type, 'Bearer');
    const audit = lastAudit(s);
    assert.equal(audit.client, 'partner');
    assert.equal(audit.authMethod, 'private_key_jwt');
    assert.equal(audit.decision, 'allow');
    const r2 = await token(await sign(claims()), {client_id: 'partner'});
    assert.equal(r2.status, 200);
  });

  void test('aud = the token endpoint URL', async () => {
    const r = await token(await sign(claims({aud: `${TVM}/token`})));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  void test('exp exactly 300 s ahead is still short enough', async () => {
    const r = await token(await sign(claims({exp: now() + 300})));
    assert.equal(r.status, 200, JSON.stringify(r.body));
  });

  void test('keys from the partner JWKS URL', async () => {
    const key = remote.keys[0]!;
    const jwt = await new SignJWT(
      claims({iss: 'remote-partner', sub: 'remote-partner'}),
    )
      .setProtectedHeader({alg: 'RS256', kid: key.kid})
      .sign(key.privateKey);
    assertions.push(jwt);
    const r = await token(jwt);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(lastAudit(s).client, 'remote-partner');
  });
});

interface Case {
  name: string;
  assertion: () => Promise<string>;
  form?: Record<string, string>;
  describe: RegExp;
  detail?: RegExp;
}

const FAILED = /^client authentication failed$/;

const cases: Case[] = [
  {
    name: 'no jti',
    assertion: () => sign(claims({jti: undefined})),
    describe: /no jti claim/,
  },
  {
    name: 'no exp',
    assertion: () => sign(claims({exp: undefined})),
    describe: /no exp claim/,
  },
  {
    name: 'exp expired',
    assertion: () => sign(claims({exp: now() - 60})),
    describe: /expired/,
  },
  {
    name: 'exp absurdly far (301 s ahead)',
    assertion: () => sign(claims({exp: now() + 301})),
    describe: /at most 300s ahead/,
  },
  {
    name: 'exp a year ahead',
    assertion: () => sign(claims({exp: now() + 365 * 86400})),
    describe: /lives too long/,
  },
  {
    name: 'sub is not the client_id',
    assertion: () => sign(claims({sub: 'someone-else'})),
    describe: /iss and sub must both be the client_id/,
  },
  {
    name: 'client_id differs from iss',
    assertion: () => sign(claims()),
    form: {client_id: 'remote-partner'},
    describe: /client_id differs/,
  },
  {
    name: 'aud missing',
    assertion: () => sign(claims({aud: undefined})),
    describe: /aud must be the single string "https:\/\/tvm\.example\.test"/,
  },
  {
    name: 'aud another server',
    assertion: () => sign(claims({aud: 'https://other-as.example.test'})),
    describe: /aud must be/,
  },
  {
    name: 'aud an array with the right value among others',
    assertion: () =>
      sign(claims({aud: [TVM, 'https://other-as.example.test']})),
    describe: /aud must be the single string/,
  },
  {
    name: 'alg none',
    assertion: async () => unsignedJwt('none', claims()),
    describe: /alg none/,
  },
  {
    name: 'HS256 with the partner public key as secret (same answer as an unknown client)',
    assertion: async () => hmacWithPublicKey(partnerPublic as never, claims()),
    describe: FAILED,
    detail: /^assertion alg_not_allowed/,
  },
  {
    name: 'an alg the client does not allow, for an unknown client: the same answer',
    assertion: async () =>
      hmacWithPublicKey(
        partnerPublic as never,
        claims({iss: 'nobody', sub: 'nobody'}),
      ),
    describe: FAILED,
    detail: /^assertion unknown_client/,
  },
  {
    name: 'signed by another key (same answer as an unknown client)',
    assertion: () => sign(claims(), strangerKey),
    describe: FAILED,
    detail: /^assertion bad_signature/,
  },
  {
    name: 'unknown client',
    assertion: () => sign(claims({iss: 'nobody', sub: 'nobody'})),
    describe: FAILED,
    detail: /^assertion unknown_client: unknown client/,
  },
  {
    name: 'an assertion-less client (API keys only) does not exist for assertions',
    assertion: () => sign(claims({iss: 'remote', sub: 'remote'})),
    describe: FAILED,
  },
];

void describe('private_key_jwt: refused (401 invalid_client)', () => {
  for (const c of cases) {
    void test(c.name, async () => {
      const r = await token(await c.assertion(), c.form);
      assert.equal(r.status, 401, JSON.stringify(r.body));
      assert.equal(r.body.error, 'invalid_client');
      assert.match(r.body.error_description as string, c.describe);
      assert.equal(r.body.access_token, undefined);
      const audit = lastAudit(s);
      assert.equal(audit.decision, 'deny');
      assert.equal(audit.reason, 'ERR_INVALID_CLIENT');
      if (c.detail) assert.match(audit.detail as string, c.detail);
    });
  }

  void test('the same jti twice: the replay is refused', async () => {
    const jti = randomUUID();
    const first = await token(await sign(claims({jti})));
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const again = await token(await sign(claims({jti})));
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
    assert.match(again.body.error_description as string, /already used/);
    assert.match(lastAudit(s).detail as string, /^assertion replay/);
  });

  void test('the same assertion twice: the replay is refused', async () => {
    const jwt = await sign(claims());
    assert.equal((await token(jwt)).status, 200);
    const again = await token(jwt);
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'invalid_client');
  });

  void test('an unknown client and a bad signature answer the same body', async () => {
    const unknown = await token(
      await sign(claims({iss: 'nobody', sub: 'nobody'})),
    );
    const badSig = await token(await sign(claims(), strangerKey));
    assert.deepEqual(unknown.body, badSig.body);
  });

  void test("a partner whose jwks_uri is down gets a bad assertion's answer; the operator gets the cause", async () => {
    // A fresh service, so no key of the partner is cached yet.
    const fresh = await startOidcStack({
      clock,
      fetch: dnsFetch,
      policy: policyText,
      env: {TVM_ISSUER: TVM},
    });
    remote.mode = 'down';
    try {
      const key = remote.keys[0]!;
      const jwt = await new SignJWT(
        claims({iss: 'remote-partner', sub: 'remote-partner'}),
      )
        .setProtectedHeader({alg: 'RS256', kid: key.kid})
        .sign(key.privateKey);
      assertions.push(jwt);
      const down = await token(jwt, {}, fresh);
      const downAudit = lastAudit(fresh);
      const unknown = await token(
        await sign(claims({iss: 'nobody', sub: 'nobody'})),
        {},
        fresh,
      );
      assert.equal(down.status, 401);
      assert.equal(unknown.status, 401);
      assert.deepEqual(down.body, unknown.body);
      assert.deepEqual(down.body, {
        error: 'invalid_client',
        error_description: 'client authentication failed',
      });
      assert.equal(down.headers.get('retry-after'), null);
      assert.equal(downAudit.reason, 'ERR_INVALID_CLIENT');
      assert.match(downAudit.detail as string, /^assertion keys_unavailable: /);
    } finally {
      remote.mode = 'ok';
      await fresh.close();
      process.env.GCE_METADATA_HOST = s.emulator.metadataHost;
    }
  });

  void test('without TVM_ISSUER, assertions fail closed', async () => {
    // A second stack; the metadata host is process-wide, so it is put back after.
    const noIssuer = await startOidcStack({
      clock,
      fetch: dnsFetch,
      policy: policyText,
    });
    try {
      const r = await token(await sign(claims()), {}, noIssuer);
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'invalid_client');
      assert.match(r.body.error_description as string, /not accepted/);
      assert.match(lastAudit(noIssuer).detail as string, /TVM_ISSUER is unset/);
    } finally {
      await noIssuer.close();
      process.env.GCE_METADATA_HOST = s.emulator.metadataHost;
    }
  });
});
