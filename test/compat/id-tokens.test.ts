/**
 * ID tokens end to end, through the real libraries: google-auth-library's
 * `Impersonated#fetchIdToken`, unmodified, with its `endpoint` pointed at tvm (API key
 * or OIDC token as the bearer), and the token endpoint with
 * `requested_token_type=…:id_token`; every token verified as its receiver would, with
 * `OAuth2Client#verifyIdToken` against the emulator's certificates. Keyless and
 * key-minted accounts, the cache (counted in upstream mints), every denial with its
 * audit line, and no token in any log line.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {Impersonated, OAuth2Client, gaxios} from 'google-auth-library';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  rememberSecret,
  type Stack,
} from '../support/stack.ts';
import {
  fakeDns,
  lastAudit,
  startIssuer,
  startOidcStack,
  type TestIssuer,
} from '../support/oidc.ts';

const DOMAIN = 'tvm-local.iam.gserviceaccount.com';
const INVOKER = `invoker@${DOMAIN}`;
const QUIET = `quiet@${DOMAIN}`;
const ETL = `etl@${DOMAIN}`;
const RUN = 'https://reports-abc123-ew.a.run.app';
const IAP = '123456789012-abcdef.apps.googleusercontent.com';
const TVM_AUD = 'https://tvm.example.test';
const ID_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:id_token';
const keys = {nightly: newKey(), other: newKey()};
const handedOut: string[] = [];
let s: Stack;
let idp: TestIssuer;
let verifier: OAuth2Client;

before(async () => {
  idp = await startIssuer('https://ci-issuer.test');
  s = await startOidcStack({
    fetch: fakeDns({[idp.origin]: idp.loopback}),
    keys,
    policy: `
version: 1
service_accounts:
  invoker:
    email: ${INVOKER}
  quiet:
    email: ${QUIET}
  etl:
    email: ${ETL}
    mint: key
    key_secret: projects/tvm-local/secrets/etl-key/versions/latest
  reporting:
    email: reporting@${DOMAIN}
clients:
  nightly:
    api_keys:
      - sha256: "{{KEY:nightly}}"
    allow:
      - service_account: invoker
        id_token:
          audiences: ["${RUN}", "${IAP}", "https://*.internal.example.com"]
      - service_account: quiet
        scopes: [cloud-platform]
        id_token:
          audiences: ["https://quiet.example.com"]
          include_email: false
      - service_account: etl
        scopes: [cloud-platform]
        id_token:
          audiences: ["https://etl.example.com"]
      - service_account: reporting
        scopes: [bigquery.readonly]
  other:
    api_keys:
      - sha256: "{{KEY:other}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
  ci-job:
    oidc:
      issuer: ${idp.origin}
      audiences: ["${TVM_AUD}"]
      claims:
        sub: {equals: "repo:acme/reports:ref:refs/heads/main"}
    allow:
      - service_account: invoker
        id_token:
          audiences: ["${RUN}"]
`,
  });
  verifier = new OAuth2Client({
    endpoints: {
      oauth2FederatedSignonPemCertsUrl: `${s.emulator.url}/oauth2/v1/certs`,
    },
  });
});

after(async () => {
  await s.close();
  await idp.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

/** `Impersonated` as a caller writes it, its source client holding `bearer`. */
function impersonated(bearer: string, targetPrincipal = INVOKER): Impersonated {
  const source = new OAuth2Client();
  source.setCredentials({
    access_token: bearer,
    expiry_date: Date.now() + 3_600_000,
  });
  return new Impersonated({
    sourceClient: source,
    targetPrincipal,
    targetScopes: [],
    delegates: [],
    endpoint: s.url,
  });
}

/** The ID token's claims, as its receiver checks them (signature, iss, aud, exp). */
async function verified(idToken: string, audience: string) {
  handedOut.push(idToken);
  rememberSecret(idToken);
  const ticket = await verifier.verifyIdToken({idToken, audience});
  return ticket.getPayload()!;
}

const mints = () => s.emulator.stats.count('iam.generateIdToken');
const idTokenForm = (extra: Record<string, string>) => ({
  grant_type: 'client_credentials',
  requested_token_type: ID_TOKEN_TYPE,
  ...extra,
});
const asNightly = {authorization: basic('nightly', keys.nightly)};

/** The Google error a rejected `Impersonated` call carries. */
async function googleError(p: Promise<unknown>) {
  const err = await p.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof gaxios.GaxiosError, String(err));
  return {
    status: err.response?.status,
    body: err.response?.data as {
      error: {code: number; message: string; status: string};
    },
  };
}

void describe('Impersonated#fetchIdToken against tvm', () => {
  void test('an API key as the bearer: an ID token for the audience, with the email (the library asks for it)', async () => {
    const before = mints();
    const idToken = await impersonated(keys.nightly).fetchIdToken(RUN);
    const p = await verified(idToken, RUN);
    assert.equal(p.iss, 'https://accounts.google.com');
    assert.equal(p.aud, RUN);
    assert.equal(p.email, INVOKER);
    assert.equal(p.email_verified, true);
    assert.equal(p.azp, INVOKER);
    assert.match(p.sub, /^\d{21}$/);
    assert.equal(p.exp - p.iat, 3600);
    assert.equal(mints(), before + 1);
    const audit = lastAudit(s);
    assert.equal(audit.decision, 'allow');
    assert.equal(audit.reason, 'granted');
    assert.equal(audit.client, 'nightly');
    assert.equal(audit.authMethod, 'bearer_api_key');
    assert.equal(audit.grantType, 'iamcredentials.generateIdToken');
    assert.equal(audit.requestedAccount, INVOKER);
    assert.equal(audit.serviceAccount, INVOKER);
    assert.equal(audit.targetAudience, RUN);
    assert.equal(audit.includeEmail, true);
    assert.equal(audit.cached, false);
    assert.match(audit.tokenSha256 as string, /^[0-9a-f]{16,64}$/);
    assert.ok((audit.expiresIn as number) > 3500);
    assert.equal(audit.scopes, undefined);
  });

  void test('the same request again is a cache hit: the same token, no upstream mint', async () => {
    const before = mints();
    const a = await impersonated(keys.nightly).fetchIdToken(RUN);
    const b = await impersonated(keys.nightly).fetchIdToken(RUN);
    handedOut.push(a, b);
    assert.equal(a, b);
    assert.equal(mints(), before);
    assert.equal(lastAudit(s).cached, true);
    assert.equal(lastAudit(s).decision, 'allow');
  });

  void test('without the email: another cache entry, a token with no email claim', async () => {
    const before = mints();
    const idToken = await impersonated(keys.nightly).fetchIdToken(RUN, {
      includeEmail: false,
    });
    const p = await verified(idToken, RUN);
    assert.equal(p.email, undefined);
    assert.equal(p.email_verified, undefined);
    assert.equal(p.azp, p.sub);
    assert.equal(mints(), before + 1);
    assert.equal(lastAudit(s).includeEmail, false);
    assert.equal(lastAudit(s).cached, false);
  });

  void test('an audience matched by a pattern, and an IAP client id, each its own entry', async () => {
    const before = mints();
    const host = 'https://billing.internal.example.com';
    const p = await verified(
      await impersonated(keys.nightly).fetchIdToken(host),
      host,
    );
    assert.equal(p.aud, host);
    const q = await verified(
      await impersonated(keys.nightly).fetchIdToken(IAP),
      IAP,
    );
    assert.equal(q.aud, IAP);
    assert.equal(mints(), before + 2);
  });

  void test('the account by alias in the path works as by email', async () => {
    const idToken = await impersonated(keys.nightly, 'invoker').fetchIdToken(
      RUN,
    );
    assert.equal((await verified(idToken, RUN)).email, INVOKER);
    assert.equal(lastAudit(s).serviceAccount, INVOKER);
  });

  void test('an OIDC token as the bearer', async () => {
    const t = Math.floor(Date.now() / 1000);
    const oidc = await idp.sign({
      sub: 'repo:acme/reports:ref:refs/heads/main',
      aud: TVM_AUD,
      iat: t,
      exp: t + 600,
    });
    const p = await verified(
      await impersonated(oidc).fetchIdToken(RUN, {includeEmail: false}),
      RUN,
    );
    assert.equal(p.aud, RUN);
    const audit = lastAudit(s);
    assert.equal(audit.client, 'ci-job');
    assert.equal(audit.authMethod, 'bearer_subject_token');
    assert.equal(audit.decision, 'allow');
  });

  void describe('denials: refused like every other, audited with the audience, no upstream call', () => {
    const cases: Array<{
      name: string;
      bearer: () => string;
      account?: string;
      audience: string;
      includeEmail?: boolean;
      status: number;
      google: string;
      message: RegExp;
      reason: string;
      detail?: RegExp;
    }> = [
      {
        name: 'an audience the grant does not list',
        bearer: () => keys.nightly,
        audience: 'https://evil.example.com',
        status: 403,
        google: 'PERMISSION_DENIED',
        message: /not granted ID tokens for the requested audience/,
        reason: 'ERR_INVALID_TARGET',
        detail: /audience not in the id_token audiences of invoker/,
      },
      {
        name: 'an audience one label deeper than the pattern',
        bearer: () => keys.nightly,
        audience: 'https://a.b.internal.example.com',
        status: 403,
        google: 'PERMISSION_DENIED',
        message: /requested audience/,
        reason: 'ERR_INVALID_TARGET',
      },
      {
        name: 'the email from a grant with include_email: false',
        bearer: () => keys.nightly,
        account: QUIET,
        audience: 'https://quiet.example.com',
        includeEmail: true,
        status: 403,
        google: 'PERMISSION_DENIED',
        message: /carry the service account's email: ask without it/,
        reason: 'ERR_INVALID_TARGET',
        detail: /include_email is false for quiet/,
      },
      {
        name: 'an account whose grant has no id_token',
        bearer: () => keys.nightly,
        account: `reporting@${DOMAIN}`,
        audience: RUN,
        status: 403,
        google: 'PERMISSION_DENIED',
        message: /not granted ID tokens for the requested service account/,
        reason: 'ERR_INVALID_TARGET',
        detail: /has no id_token/,
      },
      {
        name: 'a client granted nothing of the account',
        bearer: () => keys.other,
        audience: RUN,
        status: 403,
        google: 'PERMISSION_DENIED',
        message: /not granted the requested service account/,
        reason: 'ERR_INVALID_TARGET',
      },
      {
        name: 'a bearer that is no client',
        bearer: () => newKey(),
        audience: RUN,
        status: 401,
        google: 'UNAUTHENTICATED',
        message: /./,
        reason: 'ERR_INVALID_CLIENT',
      },
    ];
    for (const c of cases) {
      void test(`${c.name}: ${c.status} ${c.google}`, async () => {
        const before = mints();
        const r = await googleError(
          impersonated(c.bearer(), c.account).fetchIdToken(c.audience, {
            includeEmail: c.includeEmail ?? false,
          }),
        );
        assert.equal(r.status, c.status);
        assert.equal(r.body.error.code, c.status);
        assert.equal(r.body.error.status, c.google);
        assert.match(r.body.error.message, c.message);
        assert.equal(mints(), before, 'no upstream call');
        const audit = lastAudit(s);
        assert.equal(audit.decision, 'deny');
        assert.equal(audit.reason, c.reason);
        assert.equal(audit.grantType, 'iamcredentials.generateIdToken');
        assert.equal(audit.tokenSha256, undefined);
        if (c.reason !== 'ERR_INVALID_CLIENT') {
          assert.equal(audit.targetAudience, c.audience);
        }
        if (c.detail) assert.match(audit.detail as string, c.detail);
      });
    }

    void test('an empty audience, delegates, an unknown field: 400 INVALID_ARGUMENT, before any mint', async () => {
      const path = `/v1/projects/-/serviceAccounts/${INVOKER}:generateIdToken`;
      const rows: Array<[unknown, RegExp]> = [
        [{audience: ''}, /audience is required/],
        [{includeEmail: true}, /audience is required/],
        [{audience: 'https://x y'}, /printable ASCII without spaces/],
        [{audience: `https://${'a'.repeat(600)}`}, /at most 512/],
        [
          {audience: RUN, delegates: [`projects/-/serviceAccounts/${QUIET}`]},
          /delegates are not supported/,
        ],
        [{audience: RUN, lifetime: '60s'}, /unknown field lifetime/],
        [
          {audience: RUN, organizationNumberIncluded: true},
          /organizationNumberIncluded is not supported/,
        ],
      ];
      const before = mints();
      for (const [body, message] of rows) {
        const res = await fetch(`${s.url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${keys.nightly}`,
          },
          body: JSON.stringify(body),
        });
        const b = (await res.json()) as {
          error: {code: number; message: string; status: string};
        };
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(b.error.status, 'INVALID_ARGUMENT');
        assert.match(b.error.message, message);
        assert.equal(lastAudit(s).reason, 'ERR_INVALID_REQUEST');
      }
      assert.equal(mints(), before);
    });

    void test('GET on the route: 405 in Google shape, audited under generateIdToken', async () => {
      const res = await fetch(
        `${s.url}/v1/projects/-/serviceAccounts/${INVOKER}:generateIdToken`,
      );
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'POST');
      const b = (await res.json()) as {error: {status: string}};
      assert.equal(b.error.status, 'INVALID_ARGUMENT');
      assert.equal(lastAudit(s).grantType, 'iamcredentials.generateIdToken');
      assert.equal(lastAudit(s).requestedAccount, INVOKER);
    });
  });

  void test("Google refusing (the runtime lost the permission): 502, Google's status in the operator's detail", async () => {
    const runtime =
      'serviceAccount:tvm-runtime@tvm-local.iam.gserviceaccount.com';
    s.emulator.state.revokeTokenCreator(runtime, INVOKER);
    try {
      // Sent once by hand: the library would retry a 502 by itself.
      const res = await fetch(
        `${s.url}/v1/projects/-/serviceAccounts/${INVOKER}:generateIdToken`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${keys.nightly}`,
          },
          body: JSON.stringify({audience: 'https://new.internal.example.com'}),
        },
      );
      assert.equal(res.status, 502);
      const body = (await res.json()) as {error: {status: string}};
      assert.equal(body.error.status, 'UNAVAILABLE');
      const audit = lastAudit(s);
      assert.equal(audit.reason, 'ERR_UPSTREAM_REFUSED');
      assert.match(audit.detail as string, /PERMISSION_DENIED/);
    } finally {
      s.emulator.state.grantTokenCreator(runtime, INVOKER);
    }
  });
});

void describe('the token endpoint: requested_token_type=…:id_token, the audience in resource', () => {
  void test('client_credentials: an RFC 8693 answer carrying the ID token', async () => {
    const aud = 'https://orders.internal.example.com';
    const r = await postForm(
      `${s.url}/token`,
      idTokenForm({audience: 'invoker', resource: aud}),
      asNightly,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.deepEqual(Object.keys(r.body).sort(), [
      'access_token',
      'expires_in',
      'issued_token_type',
      'token_type',
    ]);
    assert.equal(r.body.issued_token_type, ID_TOKEN_TYPE);
    assert.equal(r.body.token_type, 'N_A');
    assert.ok((r.body.expires_in as number) > 3500);
    assert.ok((r.body.expires_in as number) <= 3600);
    const p = await verified(r.body.access_token as string, aud);
    assert.equal(p.email, undefined, 'no email unless asked');
    const audit = lastAudit(s);
    assert.equal(audit.grantType, 'client_credentials');
    assert.equal(audit.targetAudience, aud);
    assert.equal(audit.includeEmail, false);
    assert.equal(audit.decision, 'allow');
  });

  void test('include_email=true, and the cache shared with the IAM route', async () => {
    const before = mints();
    const r = await postForm(
      `${s.url}/token`,
      idTokenForm({audience: INVOKER, resource: RUN, include_email: 'true'}),
      asNightly,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = await verified(r.body.access_token as string, RUN);
    assert.equal(p.email, INVOKER);
    // The first test minted (invoker, RUN, email): this is that token.
    assert.equal(mints(), before);
    assert.equal(lastAudit(s).cached, true);
  });

  void test('token exchange with an API key as the subject token', async () => {
    const r = await postForm(`${s.url}/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: keys.nightly,
      subject_token_type: 'urn:tvm:params:oauth:token-type:api-key',
      requested_token_type: ID_TOKEN_TYPE,
      audience: 'invoker',
      resource: RUN,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.issued_token_type, ID_TOKEN_TYPE);
    assert.equal((await verified(r.body.access_token as string, RUN)).aud, RUN);
  });

  void test('key-minted: signed with the key from Secret Manager, exchanged at the token endpoint; always with the email; cached', async () => {
    const oauth = () => s.emulator.stats.count('oauth2.token');
    const before = oauth();
    const aud = 'https://etl.example.com';
    const r = await postForm(
      `${s.url}/token`,
      idTokenForm({audience: 'etl', resource: aud}),
      asNightly,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const p = await verified(r.body.access_token as string, aud);
    assert.equal(p.email, ETL, "Google's key-based ID tokens carry the email");
    assert.equal(p.azp, ETL);
    assert.equal(oauth(), before + 1);
    assert.equal(lastAudit(s).includeEmail, true);
    // Asked with or without the email, it is the same token: one entry.
    const again = await impersonated(keys.nightly, ETL).fetchIdToken(aud);
    handedOut.push(again);
    assert.equal(again, r.body.access_token);
    assert.equal(oauth(), before + 1);
    assert.equal(lastAudit(s).cached, true);
  });

  void test('a grant of ID tokens alone refuses an access token', async () => {
    const r = await postForm(
      `${s.url}/token`,
      {
        grant_type: 'client_credentials',
        audience: 'invoker',
        scope: 'cloud-platform',
      },
      asNightly,
    );
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_scope');
    assert.match(r.body.error_description as string, /only ID tokens/);
  });

  void describe('refusals', () => {
    const rows: Array<{
      name: string;
      form: Record<string, string>;
      status: number;
      error: string;
      message: RegExp;
    }> = [
      {
        name: 'no resource',
        form: idTokenForm({audience: 'invoker'}),
        status: 400,
        error: 'invalid_request',
        message: /resource is required/,
      },
      {
        name: 'a scope',
        form: idTokenForm({audience: 'invoker', resource: RUN, scope: 'x'}),
        status: 400,
        error: 'invalid_request',
        message: /scope does not apply to ID tokens/,
      },
      {
        name: 'a lifetime',
        form: idTokenForm({
          audience: 'invoker',
          resource: RUN,
          lifetime: '600',
        }),
        status: 400,
        error: 'invalid_request',
        message: /lifetime does not apply to ID tokens: they live 3600 seconds/,
      },
      {
        name: 'include_email neither true nor false',
        form: idTokenForm({
          audience: 'invoker',
          resource: RUN,
          include_email: 'yes',
        }),
        status: 400,
        error: 'invalid_request',
        message: /include_email must be true or false/,
      },
      {
        name: 'an audience not allowed',
        form: idTokenForm({
          audience: 'invoker',
          resource: 'https://evil.example',
        }),
        status: 403,
        error: 'invalid_target',
        message: /requested audience/,
      },
      {
        name: 'the email where include_email is false',
        form: idTokenForm({
          audience: 'quiet',
          resource: 'https://quiet.example.com',
          include_email: 'true',
        }),
        status: 403,
        error: 'invalid_target',
        message: /email/,
      },
    ];
    for (const row of rows) {
      void test(`${row.name}: ${row.status} ${row.error}`, async () => {
        const before = mints();
        const r = await postForm(`${s.url}/token`, row.form, asNightly);
        assert.equal(r.status, row.status, JSON.stringify(r.body));
        assert.equal(r.body.error, row.error);
        assert.match(r.body.error_description as string, row.message);
        assert.equal(mints(), before);
        const audit = lastAudit(s);
        assert.equal(audit.decision, 'deny');
        assert.equal(audit.client, 'nightly');
        if (row.status === 403) {
          assert.equal(audit.reason, 'ERR_INVALID_TARGET');
          assert.equal(audit.targetAudience, row.form.resource);
        }
      });
    }
  });
});
