/**
 * Every refusal is audited, on every spelling of every path, and no audit field ever
 * carries a credential — not even one a caller sent where an identifier belongs.
 * Refusals on tvm's routes are decisions (WARNING); probes of paths tvm does not
 * serve are audited at a lower severity (INFO), so scanners do not drown decisions.
 */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  startStack,
  type Stack,
} from '../support/stack.ts';

const POLICY = `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  nightly:
    api_keys:
      - sha256: "{{KEY:nightly}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
`;
const keys = {nightly: newKey()};
/** A JWT-shaped value, as a careless caller might paste one anywhere. */
const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJyZXBvOm9yZy9hcHAiLCJhdWQiOiJ0dm0ifQ.c2lnbmF0dXJlLW9mLXNvbWUtbGVuZ3Ro';
let s: Stack;

before(async () => {
  s = await startStack({policy: POLICY, keys});
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), JWT]);
});

/** Sends a request and returns its status, request id, and the audit line for it. */
async function send(
  path: string,
  init: RequestInit,
): Promise<{
  status: number;
  body: Record<string, unknown>;
  line: Record<string, unknown>;
}> {
  const before = s.audits().length;
  const res = await fetch(`${s.url}${path}`, init);
  const body = (await res.json()) as Record<string, unknown>;
  const id = res.headers.get('x-request-id');
  assert.ok(id, `${path}: an X-Request-Id names the audit record`);
  const lines = s.audits().slice(before);
  const line = lines.find(
    l => (l.audit as Record<string, unknown>).requestId === id,
  );
  assert.ok(line, `${path}: an audit line for request ${id}`);
  return {status: res.status, body, line};
}

const form = (body: Record<string, string>, headers = {}) => ({
  method: 'POST',
  headers: {'content-type': 'application/x-www-form-urlencoded', ...headers},
  body: new URLSearchParams(body).toString(),
});

void describe('every refusal is audited, on every path variant', () => {
  const cases: {
    name: string;
    path: string;
    init: () => RequestInit;
    status: number;
    reason: string;
    severity: 'WARNING' | 'INFO';
    client?: string;
    requestedAccount?: string;
  }[] = [];
  for (const path of ['/token', '/token/', '/TOKEN', '/Token/']) {
    cases.push(
      {
        name: `GET ${path}`,
        path,
        init: () => ({method: 'GET'}),
        status: 405,
        reason: 'ERR_METHOD_NOT_ALLOWED',
        severity: 'WARNING',
      },
      {
        name: `${path} without grant_type, Basic client named`,
        path,
        init: () =>
          form(
            {audience: 'reporting'},
            {authorization: basic('nightly', keys.nightly)},
          ),
        status: 400,
        reason: 'ERR_INVALID_REQUEST',
        severity: 'WARNING',
        client: 'nightly',
        requestedAccount: 'reporting',
      },
      {
        name: `${path} with a text body`,
        path,
        init: () => ({
          method: 'POST',
          headers: {
            'content-type': 'text/plain',
            authorization: basic('nightly', keys.nightly),
          },
          body: 'grant_type=client_credentials',
        }),
        status: 415,
        reason: 'ERR_UNSUPPORTED_MEDIA_TYPE',
        severity: 'WARNING',
        client: 'nightly',
      },
      {
        name: `${path} with a body over 16 KiB`,
        path,
        init: () =>
          form({grant_type: 'client_credentials', pad: 'x'.repeat(20_000)}),
        status: 413,
        reason: 'ERR_PAYLOAD_TOO_LARGE',
        severity: 'WARNING',
      },
    );
  }
  for (const path of ['//token', '/%74oken', '/nope', '/.env', '/token/x']) {
    cases.push({
      name: `a probe of ${path}`,
      path,
      init: () => form({grant_type: 'client_credentials'}),
      status: 404,
      reason: 'ERR_NOT_FOUND',
      severity: 'INFO',
    });
  }
  cases.push(
    {
      name: 'POST /healthz',
      path: '/healthz',
      init: () => ({method: 'POST'}),
      status: 405,
      reason: 'ERR_METHOD_NOT_ALLOWED',
      severity: 'INFO',
    },
    {
      name: 'GET on the IAM-shaped route, the account noted',
      path: '/v1/projects/-/serviceAccounts/reporting@tvm-local.iam.gserviceaccount.com:generateAccessToken',
      init: () => ({method: 'GET'}),
      status: 405,
      reason: 'ERR_METHOD_NOT_ALLOWED',
      severity: 'WARNING',
      requestedAccount: 'reporting@tvm-local.iam.gserviceaccount.com',
    },
  );

  for (const c of cases) {
    void test(`${c.name}: ${c.status}, audited as ${c.severity}`, async () => {
      const r = await send(c.path, c.init());
      assert.equal(r.status, c.status, JSON.stringify(r.body));
      const audit = r.line.audit as Record<string, unknown>;
      assert.equal(audit.decision, 'deny');
      assert.equal(audit.reason, c.reason);
      assert.equal(r.line.severity, c.severity);
      assert.equal(audit.client, c.client);
      assert.equal(audit.requestedAccount, c.requestedAccount);
      const http = r.line.httpRequest as Record<string, unknown>;
      assert.equal(http.status, c.status);
    });
  }
});

void describe('no credential reaches an audit field, wherever a caller puts it', () => {
  const planted: {name: string; init: () => RequestInit; path?: string}[] = [
    {
      name: 'an API key as the client_id',
      init: () =>
        form({
          grant_type: 'client_credentials',
          client_id: keys.nightly,
          client_secret: 'x',
        }),
    },
    {
      name: 'a JWT as the grant_type and the audience',
      init: () => form({grant_type: JWT, audience: JWT}),
    },
    {
      name: 'an API key in the User-Agent',
      init: () =>
        form({grant_type: 'client_credentials'}, {'user-agent': keys.nightly}),
    },
    {
      name: 'a JWT as the Basic client id',
      init: () =>
        form(
          {grant_type: 'client_credentials', audience: 'reporting'},
          {authorization: basic(JWT, 'x')},
        ),
    },
    {
      name: 'a JWT in the path of the IAM-shaped route',
      path: `/v1/projects/-/serviceAccounts/${JWT}:generateAccessToken`,
      init: () => ({
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer x',
        },
        body: '{}',
      }),
    },
    {
      name: 'an API key as a probed path',
      path: `/${keys.nightly}`,
      init: () => ({method: 'GET'}),
    },
  ];
  for (const c of planted) {
    void test(c.name, async () => {
      const r = await send(c.path ?? '/token', c.init());
      assert.ok(r.status >= 400);
      const line = JSON.stringify(r.line);
      assert.ok(!line.includes(keys.nightly), 'the key is not logged');
      assert.ok(!line.includes(JWT.split('.')[1]!), 'the JWT is not logged');
      assert.match(line, /\[redacted\]/);
    });
  }
});
