/**
 * POST /token with client_credentials, end to end: the emulator and tvm served by
 * functions-framework on loopback, real HTTP. Every row of the README's error table,
 * both mint paths checked through tokeninfo, the success headers, the audit lines.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  startStack,
  type Stack,
} from '../support/stack.ts';

const POLICY = `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
  long:
    email: long@tvm-local.iam.gserviceaccount.com
    lifetime_extension: true
  etl:
    email: etl@tvm-local.iam.gserviceaccount.com
    mint: key
    key_secret: projects/tvm-local/secrets/etl-key/versions/latest
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
        scopes: [bigquery.readonly, devstorage.read_only]
        max_lifetime: 15m
      - service_account: long
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 8h
      - service_account: etl
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
  partner:
    api_keys:
      - sha256: "{{KEY:partner}}"
    allow:
      - service_account: other
        scopes: [cloud-platform]
        max_lifetime: 10m
`;

const keys = {nightly: newKey(), expired: newKey(), partner: newKey()};
const handedOut: string[] = [];
let s: Stack;

before(async () => {
  s = await startStack({policy: POLICY, keys});
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

const token = (
  form: Record<string, string>,
  headers: Record<string, string> = {},
) => postForm(`${s.url}/token`, form, headers);
const asNightly = {authorization: basic('nightly', keys.nightly)};
const cc = (extra: Record<string, string>) => ({
  grant_type: 'client_credentials',
  ...extra,
});

async function tokenInfo(accessToken: string) {
  const r = await fetch(
    `${s.emulator.url}/tokeninfo?access_token=${encodeURIComponent(accessToken)}`,
  );
  return {status: r.status, body: (await r.json()) as Record<string, string>};
}

void describe('success', () => {
  void test('keyless: a token for the granted account, scopes and lifetime', async () => {
    const r = await token(
      cc({audience: 'reporting', scope: 'bigquery.readonly', lifetime: '600'}),
      asNightly,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.headers.get('pragma'), 'no-cache');
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const requestId = r.headers.get('x-request-id');
    assert.equal(
      requestId,
      (s.audits().at(-1)!.audit as {requestId: string}).requestId,
    );
    const b = r.body;
    assert.equal(b.token_type, 'Bearer');
    assert.equal(b.scope, 'https://www.googleapis.com/auth/bigquery.readonly');
    assert.equal(
      b.issued_token_type,
      'urn:ietf:params:oauth:token-type:access_token',
    );
    assert.ok(
      typeof b.expires_in === 'number' &&
        b.expires_in > 590 &&
        b.expires_in <= 600,
      `expires_in ${b.expires_in}`,
    );
    assert.equal(typeof b.access_token, 'string');
    handedOut.push(b.access_token as string);
    const info = await tokenInfo(b.access_token as string);
    assert.equal(info.status, 200);
    assert.equal(
      info.body.email,
      'reporting@tvm-local.iam.gserviceaccount.com',
    );
    assert.equal(
      info.body.scope,
      'https://www.googleapis.com/auth/bigquery.readonly',
    );
    assert.ok(Number(info.body.expires_in) <= 600);
  });

  void test('body credentials and the email as audience work too; lifetime defaults to max_lifetime', async () => {
    const r = await token(
      cc({
        client_id: 'nightly',
        client_secret: keys.nightly,
        audience: 'REPORTING@tvm-local.iam.gserviceaccount.com',
        scope:
          'https://www.googleapis.com/auth/devstorage.read_only bigquery.readonly',
      }),
    );
    assert.equal(r.status, 200);
    assert.equal(
      r.body.scope,
      'https://www.googleapis.com/auth/bigquery.readonly https://www.googleapis.com/auth/devstorage.read_only',
    );
    assert.ok(
      (r.body.expires_in as number) > 890 &&
        (r.body.expires_in as number) <= 900,
    );
    handedOut.push(r.body.access_token as string);
  });

  void test('JSON bodies carry the same fields', async () => {
    const res = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: {'content-type': 'application/json', ...asNightly},
      body: JSON.stringify({
        grant_type: 'client_credentials',
        audience: 'reporting',
        scope: 'bigquery.readonly',
        lifetime: 300,
      }),
    });
    const b = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200);
    assert.ok((b.expires_in as number) <= 300);
    handedOut.push(b.access_token as string);
  });

  void test('an account under the lifetime extension gets more than an hour; default scopes apply', async () => {
    const r = await token(cc({audience: 'long', lifetime: '28800'}), asNightly);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(
      r.body.scope,
      'https://www.googleapis.com/auth/cloud-platform',
    );
    assert.ok((r.body.expires_in as number) > 28700);
    handedOut.push(r.body.access_token as string);
  });

  void test('key-based: key from Secret Manager, JWT-bearer grant, checked through tokeninfo', async () => {
    const r = await token(cc({audience: 'etl'}), asNightly);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(
      (r.body.expires_in as number) > 3500 &&
        (r.body.expires_in as number) <= 3600,
    );
    handedOut.push(r.body.access_token as string);
    const info = await tokenInfo(r.body.access_token as string);
    assert.equal(info.body.email, 'etl@tvm-local.iam.gserviceaccount.com');
    assert.equal(
      info.body.scope,
      'https://www.googleapis.com/auth/cloud-platform',
    );
  });

  void test('each decision is audited with client, account, scopes and a token fingerprint', async () => {
    const allowed = s
      .audits()
      .filter(a => (a.audit as {decision: string}).decision === 'allow');
    assert.ok(allowed.length >= 4);
    const a = allowed[0]!;
    assert.equal(a.severity, 'INFO');
    assert.match((a.audit as {requestId: string}).requestId, /^[0-9a-f-]{36}$/);
    assert.equal(a.message, 'token granted');
    const audit = a.audit as Record<string, unknown>;
    assert.equal(audit.client, 'nightly');
    assert.equal(
      audit.serviceAccount,
      'reporting@tvm-local.iam.gserviceaccount.com',
    );
    assert.deepEqual(audit.scopes, [
      'https://www.googleapis.com/auth/bigquery.readonly',
    ]);
    assert.equal(audit.lifetimeSeconds, 600);
    assert.match(audit.tokenSha256 as string, /^[0-9a-f]{16}$/);
    const http = a.httpRequest as Record<string, unknown>;
    assert.equal(http.status, 200);
    assert.equal(http.requestUrl, '/token');
    assert.match(http.latency as string, /^\d+\.\d{3}s$/);
  });

  void test('the trace header becomes the Cloud Logging trace field', async () => {
    const trace = '105445aa7843bc8bf206b12000100000';
    await token(cc({audience: 'reporting', scope: 'bigquery.readonly'}), {
      ...asNightly,
      'x-cloud-trace-context': `${trace}/1;o=1`,
    });
    const last = s.audits().at(-1)!;
    assert.equal(
      last['logging.googleapis.com/trace'],
      `projects/tvm-local/traces/${trace}`,
    );
  });

  void test("the trace's project: the configured one (GOOGLE_CLOUD_PROJECT), else the metadata server's", async () => {
    // The emulator's metadata server answers tvm-local; the deployment says otherwise
    // (configured), or nothing (asked: the metadata server's answer).
    for (const [project, expected] of [
      ['tvm-configured', 'tvm-configured'],
      ['', 'tvm-local'],
    ]) {
      // A stack points the process's metadata host at its emulator: put back after.
      const metadataHost = process.env.GCE_METADATA_HOST;
      const other = await startStack({
        policy: POLICY,
        keys,
        env: {GOOGLE_CLOUD_PROJECT: project!},
      });
      try {
        assert.equal(other.config.project, project || undefined);
        const trace = '205445aa7843bc8bf206b12000100000';
        const r = await postForm(
          `${other.url}/token`,
          cc({audience: 'reporting', scope: 'bigquery.readonly'}),
          {...asNightly, 'x-cloud-trace-context': `${trace}/1;o=1`},
        );
        assert.equal(r.status, 200);
        handedOut.push(r.body.access_token as string);
        assert.equal(
          other.audits().at(-1)!['logging.googleapis.com/trace'],
          `projects/${expected}/traces/${trace}`,
        );
      } finally {
        await other.close();
        if (metadataHost === undefined) delete process.env.GCE_METADATA_HOST;
        else process.env.GCE_METADATA_HOST = metadataHost;
      }
    }
  });
});

void describe('contract error rows', () => {
  const cases: {
    name: string;
    form?: Record<string, string>;
    raw?: {body: string; type: string};
    headers?: Record<string, string>;
    path?: string;
    status: number;
    error: string;
    describe?: RegExp;
    /** Refused by functions-framework's own body parser before tvm runs: no JSON body. */
    byFramework?: boolean;
    /** Answered with `WWW-Authenticate: Basic realm="tvm"`. */
    challenge?: boolean;
    /** The audit record's detail. */
    detail?: string;
  }[] = [
    {
      name: 'no grant_type',
      form: {audience: 'reporting'},
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'unknown grant type',
      form: {grant_type: 'password', username: 'a', password: 'b'},
      headers: asNightly,
      status: 400,
      error: 'unsupported_grant_type',
    },
    {
      name: 'no audience',
      form: cc({scope: 'bigquery.readonly'}),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /audience/,
    },
    {
      name: 'scope missing where no default set',
      form: cc({audience: 'reporting'}),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /scope/,
    },
    {
      name: 'lifetime over the grant',
      form: cc({
        audience: 'reporting',
        scope: 'bigquery.readonly',
        lifetime: '901',
      }),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /lifetime/,
    },
    {
      name: 'lifetime not a number',
      form: cc({
        audience: 'reporting',
        scope: 'bigquery.readonly',
        lifetime: '10m',
      }),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'lifetime negative',
      form: cc({
        audience: 'reporting',
        scope: 'bigquery.readonly',
        lifetime: '-5',
      }),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'lifetime under an hour for a key-minted account',
      form: cc({audience: 'etl', lifetime: '600'}),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'repeated parameter',
      raw: {
        body: 'grant_type=client_credentials&audience=reporting&audience=other&scope=bigquery.readonly',
        type: 'application/x-www-form-urlencoded',
      },
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /repeated/,
    },
    {
      name: 'repeated JSON member',
      raw: {
        body: '{"grant_type":"client_credentials","audience":"other","scope":"bigquery.readonly","audience":"reporting"}',
        type: 'application/json',
      },
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /audience is repeated/,
    },
    {
      name: 'repeated JSON member, spelt with an escape, beside a nested one',
      raw: {
        body: '{"grant_type":"client_credentials","audi\\u0065nce":"other","audience":"reporting","scope":"bigquery.readonly","x":{"audience":1}}',
        type: 'application/json',
      },
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      describe: /audience is repeated/,
    },
    {
      name: 'Basic with an empty secret',
      form: cc({audience: 'reporting'}),
      headers: {
        authorization: `Basic ${Buffer.from('nightly:').toString('base64')}`,
      },
      status: 401,
      error: 'invalid_client',
      challenge: true,
    },
    {
      name: "an unknown client presenting the dummy key's own secret (Basic)",
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      headers: {authorization: basic('no-such-client', 'tvm:no-such-client')},
      status: 401,
      error: 'invalid_client',
      describe: /^client authentication failed$/,
      challenge: true,
      detail: 'unknown client',
    },
    {
      name: "an unknown client presenting the dummy key's own secret (body)",
      form: cc({
        client_id: 'no-such-client',
        client_secret: 'tvm:no-such-client',
        audience: 'reporting',
        scope: 'bigquery.readonly',
      }),
      status: 401,
      error: 'invalid_client',
      describe: /^client authentication failed$/,
      detail: 'unknown client',
    },
    {
      name: 'two authentication methods',
      form: cc({
        client_id: 'nightly',
        client_secret: keys.nightly,
        audience: 'reporting',
        scope: 'bigquery.readonly',
      }),
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'secret in the query string',
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      path: `/token?client_secret=${keys.nightly}`,
      status: 400,
      error: 'invalid_request',
      describe: /URL/,
    },
    {
      name: 'invalid JSON',
      raw: {body: '{"grant_type":', type: 'application/json'},
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
      byFramework: true,
    },
    {
      name: 'top-level JSON array',
      raw: {body: '[1,2]', type: 'application/json'},
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'JSON with __proto__',
      raw: {
        body: '{"__proto__":{"x":1},"grant_type":"client_credentials"}',
        type: 'application/json',
      },
      headers: asNightly,
      status: 400,
      error: 'invalid_request',
    },
    {
      name: 'wrong charset',
      raw: {
        body: 'grant_type=client_credentials',
        type: 'application/x-www-form-urlencoded; charset=iso-8859-1',
      },
      headers: asNightly,
      status: 415,
      error: 'invalid_request',
    },
    {
      name: 'wrong content type',
      raw: {body: 'grant_type=client_credentials', type: 'text/plain'},
      headers: asNightly,
      status: 415,
      error: 'invalid_request',
    },
    {
      name: 'body over the limit',
      raw: {
        body: `grant_type=client_credentials&pad=${'a'.repeat(20000)}`,
        type: 'application/x-www-form-urlencoded',
      },
      headers: asNightly,
      status: 413,
      error: 'invalid_request',
    },
    {
      name: 'no client authentication',
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'unknown client (Basic)',
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      headers: {authorization: basic('nobody', keys.nightly)},
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'wrong key (Basic)',
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      headers: {authorization: basic('nightly', keys.partner)},
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'expired key',
      form: cc({audience: 'reporting', scope: 'bigquery.readonly'}),
      headers: {authorization: basic('nightly', keys.expired)},
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'empty secret',
      form: cc({
        client_id: 'nightly',
        client_secret: ' ',
        audience: 'reporting',
        scope: 'bigquery.readonly',
      }),
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'malformed Basic',
      form: cc({audience: 'reporting'}),
      headers: {authorization: 'Basic %%%'},
      status: 401,
      error: 'invalid_client',
    },
    {
      name: 'account not granted to this client',
      form: cc({audience: 'other', scope: 'cloud-platform'}),
      headers: asNightly,
      status: 403,
      error: 'invalid_target',
    },
    {
      name: 'account not in the policy',
      form: cc({
        audience: 'ghost@tvm-local.iam.gserviceaccount.com',
        scope: 'cloud-platform',
      }),
      headers: asNightly,
      status: 403,
      error: 'invalid_target',
    },
    {
      name: 'scope not granted',
      form: cc({
        audience: 'reporting',
        scope: 'bigquery.readonly cloud-platform',
      }),
      headers: asNightly,
      status: 400,
      error: 'invalid_scope',
      describe: /cloud-platform/,
    },
  ];
  for (const c of cases) {
    void test(c.name, async () => {
      const res = await fetch(`${s.url}${c.path ?? '/token'}`, {
        method: 'POST',
        headers: {
          'content-type': c.raw?.type ?? 'application/x-www-form-urlencoded',
          ...c.headers,
        },
        body: c.raw?.body ?? new URLSearchParams(c.form).toString(),
      });
      if (c.byFramework) {
        assert.equal(res.status, c.status);
        const text = await res.text();
        assert.doesNotMatch(text, /SyntaxError|at .*node_modules|\.js:\d+/);
        return;
      }
      const body = (await res.json()) as {
        error: string;
        error_description: string;
      };
      assert.equal(res.status, c.status, JSON.stringify(body));
      assert.equal(body.error, c.error);
      assert.equal(typeof body.error_description, 'string');
      assert.equal(res.headers.get('cache-control'), 'no-store');
      if (c.describe) assert.match(body.error_description, c.describe);
      if (c.challenge) {
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="tvm"');
      }
      if (c.detail) {
        assert.equal(
          (s.audits().at(-1)!.audit as {detail?: string}).detail,
          c.detail,
        );
      }
      assert.equal((body as {access_token?: unknown}).access_token, undefined);
      if (c.challenge)
        assert.equal(res.headers.get('www-authenticate'), 'Basic realm="tvm"');
      assert.doesNotMatch(JSON.stringify(body), /at .*\.ts:\d+|stack/);
    });
  }

  void test('an unknown client and a wrong key are indistinguishable to the caller', async () => {
    const form = cc({audience: 'reporting', scope: 'bigquery.readonly'});
    const unknown = await token(form, {
      authorization: basic('nobody', keys.nightly),
    });
    const wrong = await token(form, {
      authorization: basic('nightly', keys.partner),
    });
    assert.deepEqual(unknown.body, wrong.body);
    assert.equal(unknown.headers.get('www-authenticate'), 'Basic realm="tvm"');
    assert.equal(wrong.headers.get('www-authenticate'), 'Basic realm="tvm"');
    const body = await token({
      ...form,
      client_id: 'nobody',
      client_secret: keys.nightly,
    });
    assert.equal(body.headers.get('www-authenticate'), null);
  });

  void test('denials are audited with the reason, and say which check failed', async () => {
    await token(cc({audience: 'other', scope: 'cloud-platform'}), asNightly);
    const last = s.audits().at(-1)!;
    const audit = last.audit as Record<string, unknown>;
    assert.equal(last.severity, 'WARNING');
    assert.equal(audit.decision, 'deny');
    assert.equal(audit.reason, 'ERR_INVALID_TARGET');
    assert.equal(audit.client, 'nightly');
    assert.equal(audit.detail, 'no grant for other');
  });
});

void describe('other routes', () => {
  void test('GET /token is 405 with Allow', async () => {
    const res = await fetch(`${s.url}/token`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
    assert.equal(
      ((await res.json()) as {error: string}).error,
      'method_not_allowed',
    );
  });
  void test('unknown route is a JSON 404', async () => {
    const res = await fetch(`${s.url}/nope`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as {error: string}).error, 'not_found');
  });
  void test('headers over 16 KiB are refused with 431 before tvm runs', async () => {
    const res = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-padding': 'a'.repeat(17 * 1024),
      },
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 431);
  });
  for (const path of ['/healthz', '/health']) {
    void test(`${path} is ok with a valid policy`, async () => {
      const res = await fetch(`${s.url}${path}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('cache-control'), 'no-store');
      assert.deepEqual(await res.json(), {status: 'ok'});
      const post = await fetch(`${s.url}${path}`, {method: 'POST'});
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
      assert.equal(
        ((await post.json()) as {error: string}).error,
        'method_not_allowed',
      );
    });
  }
});
