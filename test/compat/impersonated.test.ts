/**
 * Drop-in 2: the IAM Credentials API shape. google-auth-library's `Impersonated`,
 * unmodified, with its `endpoint` option pointed at tvm; its source client presents an
 * API key (or an OIDC token) as the bearer. The vended token then calls a Google API.
 * Google's request body, response and error envelope, checked on the wire too.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {Impersonated, OAuth2Client} from 'google-auth-library';
import {assertNoSecretsLogged, newKey, type Stack} from '../support/stack.ts';
import {
  fakeDns,
  lastAudit,
  startFakeGoogleApi,
  startIssuer,
  startOidcStack,
  type TestIssuer,
} from '../support/oidc.ts';

const SA = 'reporting@tvm-local.iam.gserviceaccount.com';
const READONLY = 'https://www.googleapis.com/auth/bigquery.readonly';
const AUD = 'https://tvm.example.test';
const keys = {nightly: newKey(), expired: newKey()};
const handedOut: string[] = [];
let s: Stack;
let idp: TestIssuer;
let api: Awaited<ReturnType<typeof startFakeGoogleApi>>;

before(async () => {
  idp = await startIssuer('https://k8s-issuer.test');
  s = await startOidcStack({
    fetch: fakeDns({[idp.origin]: idp.loopback}),
    keys,
    policy: `
version: 1
service_accounts:
  reporting:
    email: ${SA}
  other:
    email: other@tvm-local.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: "{{KEY:nightly}}"
      - sha256: "{{KEY:expired}}"
        expires: 2020-01-01
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
  cluster-job:
    oidc:
      issuer: ${idp.origin}
      audiences: ["${AUD}"]
      claims:
        sub: {equals: "system:serviceaccount:jobs:export"}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`,
  });
  api = await startFakeGoogleApi(`${s.emulator.url}/tokeninfo`);
});

after(async () => {
  await api.close();
  await s.close();
  await idp.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** A source client whose "access token" is the caller's own credential. */
function source(bearer: string): OAuth2Client {
  const c = new OAuth2Client();
  c.setCredentials({access_token: bearer, expiry_date: Date.now() + 3_600_000});
  return c;
}

function impersonated(bearer: string, targetPrincipal = SA): Impersonated {
  return new Impersonated({
    sourceClient: source(bearer),
    targetPrincipal,
    targetScopes: [READONLY],
    lifetime: 600,
    delegates: [],
    endpoint: s.url,
  });
}

async function post(
  path: string,
  body: unknown,
  bearer: string | null = keys.nightly,
) {
  const res = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(bearer ? {authorization: `Bearer ${bearer}`} : {}),
    },
    // A string is sent as it is: JSON that JSON.stringify could not produce.
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

const PATH = `/v1/projects/-/serviceAccounts/${SA}:generateAccessToken`;

void describe('Impersonated pointed at tvm', () => {
  void test('API key as the bearer: a token that calls a Google API', async () => {
    const client = impersonated(keys.nightly);
    const res = await client.request<{email: string; scope: string}>({
      url: `${api.url}/v1/whoami`,
    });
    assert.equal(res.status, 200);
    assert.equal(res.data.email, SA);
    assert.equal(res.data.scope, READONLY);
    const {token} = await client.getAccessToken();
    handedOut.push(token!);
    const audit = lastAudit(s);
    assert.equal(audit.decision, 'allow');
    assert.equal(audit.client, 'nightly');
    assert.equal(audit.authMethod, 'bearer_api_key');
    assert.equal(audit.grantType, 'iamcredentials.generateAccessToken');
    assert.equal(audit.lifetimeSeconds, 600);
  });

  void test('an OIDC token as the bearer', async () => {
    const t = Math.floor(Date.now() / 1000);
    const oidc = await idp.sign({
      sub: 'system:serviceaccount:jobs:export',
      aud: AUD,
      iat: t,
      exp: t + 600,
    });
    const client = impersonated(oidc);
    const res = await client.request<{email: string}>({
      url: `${api.url}/v1/whoami`,
    });
    assert.equal(res.data.email, SA);
    handedOut.push((await client.getAccessToken()).token!);
    const audit = lastAudit(s);
    assert.equal(audit.client, 'cluster-job');
    assert.equal(audit.authMethod, 'bearer_subject_token');
    assert.equal(audit.subject, 'system:serviceaccount:jobs:export');
  });

  void test("a wrong key: the library reports Google's UNAUTHENTICATED", async () => {
    await assert.rejects(
      impersonated(newKey()).getAccessToken(),
      (e: Error) => {
        assert.match(e.message, /^UNAUTHENTICATED: unable to impersonate: /);
        return true;
      },
    );
  });

  void test('an account not granted: PERMISSION_DENIED', async () => {
    await assert.rejects(
      impersonated(
        keys.nightly,
        'other@tvm-local.iam.gserviceaccount.com',
      ).getAccessToken(),
      (e: Error) => {
        assert.match(e.message, /^PERMISSION_DENIED: unable to impersonate/);
        return true;
      },
    );
  });
});

void describe('the generateAccessToken wire shape', () => {
  void test("Google's response: accessToken and an RFC 3339 expireTime", async () => {
    const r = await post(PATH, {scope: [READONLY], lifetime: '300s'});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(r.body).sort(), ['accessToken', 'expireTime']);
    assert.match(
      r.body.expireTime as string,
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    );
    const left = Date.parse(r.body.expireTime as string) - Date.now();
    assert.ok(left > 0 && left <= 300_000, `${left}`);
    handedOut.push(r.body.accessToken as string);
  });

  const errors: {
    name: string;
    body: unknown;
    bearer?: string;
    path?: string;
    status: number;
    code: string;
    message: RegExp;
  }[] = [
    {
      name: 'delegates not empty',
      body: {scope: [READONLY], delegates: ['projects/-/serviceAccounts/x@y']},
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /delegates are not supported/,
    },
    {
      name: 'a repeated field (JSON.parse would keep the last one)',
      body: `{"scope":["${READONLY}"],"scope":["https://www.googleapis.com/auth/cloud-platform"]}`,
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /^field scope is repeated$/,
    },
    {
      name: 'a repeated field spelled with an escape',
      body: `{"scope":["${READONLY}"],"sc\\u006fpe":["${READONLY}"]}`,
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /^field scope is repeated$/,
    },
    {
      name: 'no scope',
      body: {lifetime: '300s'},
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /scope/,
    },
    {
      name: 'an unknown field',
      body: {scope: [READONLY], audience: 'x'},
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /unknown field audience/,
    },
    {
      name: 'lifetime over the grant',
      body: {scope: [READONLY], lifetime: '3600s'},
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /lifetime/,
    },
    {
      name: 'a scope not granted',
      body: {scope: ['https://www.googleapis.com/auth/cloud-platform']},
      status: 400,
      code: 'INVALID_ARGUMENT',
      message: /scope not granted/,
    },
    {
      name: 'no bearer',
      body: {scope: [READONLY]},
      bearer: '',
      status: 401,
      code: 'UNAUTHENTICATED',
      message: /missing required authentication credential/,
    },
    {
      name: 'an expired key',
      body: {scope: [READONLY]},
      bearer: keys.expired,
      status: 401,
      code: 'UNAUTHENTICATED',
      message: /not valid/,
    },
    {
      name: 'a bad OIDC token',
      body: {scope: [READONLY]},
      bearer: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
      status: 401,
      code: 'UNAUTHENTICATED',
      message: /alg none/,
    },
    {
      name: 'an account that is not in the policy',
      body: {scope: [READONLY]},
      path: '/v1/projects/-/serviceAccounts/ghost@tvm-local.iam.gserviceaccount.com:generateAccessToken',
      status: 403,
      code: 'PERMISSION_DENIED',
      message: /not granted/,
    },
  ];
  for (const c of errors) {
    void test(`${c.name}: ${c.status} ${c.code}`, async () => {
      const r = await post(
        c.path ?? PATH,
        c.body,
        c.bearer === undefined ? keys.nightly : c.bearer || null,
      );
      assert.equal(r.status, c.status, JSON.stringify(r.body));
      const error = r.body.error as {
        code: number;
        message: string;
        status: string;
      };
      assert.equal(error.code, c.status);
      assert.equal(error.status, c.code);
      assert.match(error.message, c.message);
      assert.equal(r.body.accessToken, undefined);
      assert.equal(lastAudit(s).decision, 'deny');
    });
  }

  for (const delegates of [null, []]) {
    void test(`"delegates": ${JSON.stringify(delegates)} means none, as Google reads it (Python google-auth sends null)`, async () => {
      const r = await post(PATH, {scope: [READONLY], delegates});
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(typeof r.body.accessToken, 'string');
      handedOut.push(r.body.accessToken as string);
      assert.equal(lastAudit(s).decision, 'allow');
    });
  }

  void test('a body over the limit, sent chunked (no Content-Length): 413', async () => {
    const big = JSON.stringify({scope: [READONLY], pad: 'x'.repeat(200_000)});
    const res = await fetch(`${s.url}${PATH}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${keys.nightly}`,
      },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode(big));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(res.status, 413);
    const body = (await res.json()) as {
      error: {code: number};
      accessToken?: string;
    };
    assert.equal(body.error.code, 413);
    assert.equal(body.accessToken, undefined);
  });

  void test('a malformed escape in the account: 400 (from the framework, which decodes the path first), never a 500', async () => {
    const res = await fetch(
      `${s.url}/v1/projects/-/serviceAccounts/%E0:generateAccessToken`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${keys.nightly}`,
        },
        body: JSON.stringify({scope: [READONLY]}),
      },
    );
    assert.equal(res.status, 400);
    assert.doesNotMatch(await res.text(), /URIError|at .*\.js:\d+/);
  });

  void test('GET on the route is 405 in Google shape', async () => {
    const res = await fetch(`${s.url}${PATH}`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    const body = (await res.json()) as {error: {code: number}};
    assert.equal(body.error.code, 405);
  });
});
