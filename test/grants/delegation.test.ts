/**
 * Domain-wide delegation, end to end: POST /token with `subject`, the emulator and
 * tvm on loopback. Both mint paths (keyless: IAM Credentials signJwt with `sub`, then
 * the token endpoint; with a key: google-auth-library's JWT client with `subject`)
 * checked through tokeninfo (read with OAuth2Client), the upstream calls counted, the
 * cache keyed by the user, every refusal audited, the per-client limit in force and
 * nothing secret logged.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {OAuth2Client} from 'google-auth-library';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  startStack,
  type Stack,
} from '../support/stack.ts';

const ROBOT = 'robot@tvm-local.iam.gserviceaccount.com';
const ROBOT_KEY = 'robot-key@tvm-local.iam.gserviceaccount.com';
const GMAIL = 'https://www.googleapis.com/auth/gmail.readonly';
const DIRECTORY =
  'https://www.googleapis.com/auth/admin.directory.user.readonly';
const CLOUD = 'https://www.googleapis.com/auth/cloud-platform';

const POLICY = `
version: 1
service_accounts:
  robot:
    email: ${ROBOT}
  robot-key:
    email: ${ROBOT_KEY}
    mint: key
    key_secret: projects/tvm-local/secrets/robot-key/versions/latest
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  sync:
    api_keys:
      - sha256: "{{KEY:sync}}"
    allow:
      - service_account: robot
        scopes: [cloud-platform]
        delegation:
          subjects: [alice@corp.example, "*@ops.example"]
          scopes: [gmail.readonly, admin.directory.user.readonly]
        id_token:
          audiences: [https://svc.example.com]
      - service_account: robot-key
        scopes: [cloud-platform]
        delegation:
          subjects: [alice@corp.example]
          scopes: [gmail.readonly]
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;

const keys = {sync: newKey()};
const handedOut: string[] = [];
let s: Stack;

before(async () => {
  s = await startStack({policy: POLICY, keys});
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

const asSync = {authorization: basic('sync', keys.sync)};
async function token(extra: Record<string, string>) {
  const r = await postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', ...extra},
    asSync,
  );
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r;
}
const tokeninfo = (t: string) =>
  new OAuth2Client({
    endpoints: {tokenInfoUrl: `${s.emulator.url}/tokeninfo`},
  }).getTokenInfo(t);
const lastAudit = () =>
  s.audits().at(-1)!.audit as Record<string, unknown> & {detail?: string};
const count = (t: Parameters<Stack['emulator']['stats']['count']>[0]) =>
  s.emulator.stats.count(t);
/** The account's client ID (what tokeninfo's azp shows): its key file's client_id. */
const uniqueId = (email: string) => s.emulator.state.createKey(email).client_id;

void describe('delegated tokens', () => {
  void test('keyless: signJwt with sub, then the token endpoint; tokeninfo shows the user', async () => {
    s.emulator.stats.reset();
    const r = await token({
      audience: 'robot',
      subject: 'alice@corp.example',
      scope: 'gmail.readonly admin.directory.user.readonly',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.scope, [DIRECTORY, GMAIL].join(' '));
    const expiresIn = r.body.expires_in as number;
    assert.ok(expiresIn > 3500 && expiresIn <= 3600, `expires_in ${expiresIn}`);
    const info = await tokeninfo(r.body.access_token as string);
    assert.equal(info.email, 'alice@corp.example');
    assert.equal(info.azp, uniqueId(ROBOT));
    assert.deepEqual([...info.scopes].sort(), [DIRECTORY, GMAIL]);
    assert.equal(count('iam.signJwt'), 1);
    assert.equal(count('oauth2.token'), 1);
    assert.equal(count('iam.generateAccessToken'), 0);
    const a = lastAudit();
    assert.equal(a.decision, 'allow');
    assert.equal(a.delegatedSubject, 'alice@corp.example');
    assert.equal(a.serviceAccount, ROBOT);
    assert.equal(a.lifetimeSeconds, 3600);
    assert.equal(a.cached, false);
    assert.match(a.tokenSha256 as string, /^[0-9a-f]{16}$/);
  });

  void test('the same request again is served from the cache, with no upstream call', async () => {
    s.emulator.stats.reset();
    const first = handedOut.at(-1);
    const r = await token({
      audience: 'robot',
      subject: 'ALICE@corp.example',
      scope: 'admin.directory.user.readonly gmail.readonly',
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.access_token, first);
    assert.equal(count('iam.signJwt') + count('oauth2.token'), 0);
    assert.equal(lastAudit().cached, true);
    assert.equal(lastAudit().delegatedSubject, 'alice@corp.example');
  });

  void test('with a key: the JWT client with subject; tokeninfo shows the user', async () => {
    s.emulator.stats.reset();
    const r = await token({
      audience: 'robot-key',
      subject: 'alice@corp.example',
      scope: 'gmail.readonly',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const info = await tokeninfo(r.body.access_token as string);
    assert.equal(info.email, 'alice@corp.example');
    assert.equal(info.azp, uniqueId(ROBOT_KEY));
    assert.deepEqual(info.scopes, [GMAIL]);
    assert.equal(count('secretmanager.access'), 1);
    assert.equal(count('oauth2.token'), 1);
    assert.equal(count('iam.signJwt'), 0);
    assert.equal(lastAudit().delegatedSubject, 'alice@corp.example');
  });

  void test('a whole-domain pattern; each user and the account itself have tokens of their own', async () => {
    const bob = await token({
      audience: 'robot',
      subject: 'bob@ops.example',
      scope: 'gmail.readonly',
    });
    const carol = await token({
      audience: 'robot',
      subject: 'carol@ops.example',
      scope: 'gmail.readonly',
    });
    const own = await token({audience: 'robot', scope: 'cloud-platform'});
    assert.deepEqual([bob.status, carol.status, own.status], [200, 200, 200]);
    assert.equal(
      (await tokeninfo(bob.body.access_token as string)).email,
      'bob@ops.example',
    );
    assert.equal(
      (await tokeninfo(carol.body.access_token as string)).email,
      'carol@ops.example',
    );
    assert.equal(
      (await tokeninfo(own.body.access_token as string)).email,
      ROBOT,
    );
    assert.equal(
      new Set([bob, carol, own].map(r => r.body.access_token)).size,
      3,
    );
    assert.equal(lastAudit().delegatedSubject, undefined);
  });

  void test('token exchange (an external_account caller) takes subject too', async () => {
    const r = await postForm(`${s.url}/token`, {
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token_type: 'urn:tvm:params:oauth:token-type:api-key',
      subject_token: keys.sync,
      client_id: 'sync',
      audience: 'robot',
      subject: 'dave@ops.example',
      scope: 'gmail.readonly',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    handedOut.push(r.body.access_token as string);
    assert.equal(
      (await tokeninfo(r.body.access_token as string)).email,
      'dave@ops.example',
    );
  });
});

void describe('refusals: every one audited, none reaching Google', () => {
  const cases: Array<{
    name: string;
    form: Record<string, string>;
    status: number;
    body: {error: string; error_description: string};
    reason: string;
    detail?: RegExp;
  }> = [
    {
      name: 'a subject the grant does not list',
      form: {
        audience: 'robot',
        subject: 'mallory@corp.example',
        scope: 'gmail.readonly',
      },
      status: 403,
      body: {
        error: 'invalid_target',
        error_description:
          'this client may not act for the requested subject with this service account',
      },
      reason: 'ERR_INVALID_TARGET',
      detail: /^subject not among the 2 of the grant of robot$/,
    },
    {
      name: 'a subject of a look-alike domain',
      form: {
        audience: 'robot',
        subject: 'eve@evil-ops.example',
        scope: 'gmail.readonly',
      },
      status: 403,
      body: {
        error: 'invalid_target',
        error_description:
          'this client may not act for the requested subject with this service account',
      },
      reason: 'ERR_INVALID_TARGET',
    },
    {
      name: 'a subject on a grant without delegation',
      form: {
        audience: 'reporting',
        subject: 'alice@corp.example',
        scope: 'bigquery.readonly',
      },
      status: 403,
      body: {
        error: 'invalid_target',
        error_description:
          'this client may not act for the requested subject with this service account',
      },
      reason: 'ERR_INVALID_TARGET',
      detail: /^the grant of reporting allows no delegation$/,
    },
    {
      name: 'a scope the grant has, but not for delegation',
      form: {
        audience: 'robot',
        subject: 'alice@corp.example',
        scope: 'cloud-platform',
      },
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description: `scope not granted for delegation: ${CLOUD}`,
      },
      reason: 'ERR_INVALID_SCOPE',
    },
    {
      name: 'a subject that is not an email address',
      form: {audience: 'robot', subject: 'alice', scope: 'gmail.readonly'},
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: "subject must be a user's email address",
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a wildcard subject',
      form: {
        audience: 'robot',
        subject: '*@ops.example',
        scope: 'gmail.readonly',
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: "subject must be a user's email address",
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a delegated request without scope',
      form: {audience: 'robot', subject: 'alice@corp.example'},
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: 'scope is required with subject',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a subject on a request for an ID token (never ignored)',
      form: {
        audience: 'robot',
        subject: 'alice@corp.example',
        requested_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        resource: 'https://svc.example.com',
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description: 'subject does not apply to ID tokens: leave it out',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a lifetime shorter than the hour delegated tokens live',
      form: {
        audience: 'robot',
        subject: 'alice@corp.example',
        scope: 'gmail.readonly',
        lifetime: '600',
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'delegated tokens live 3600 seconds; lifetime must be between 3600 and 3600 seconds for this grant',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
  ];
  for (const c of cases) {
    void test(`refuses ${c.name}`, async () => {
      s.emulator.stats.reset();
      const r = await token(c.form);
      assert.equal(r.status, c.status);
      assert.deepEqual(r.body, c.body);
      const a = lastAudit();
      assert.equal(a.decision, 'deny');
      assert.equal(a.reason, c.reason);
      assert.equal(a.client, 'sync');
      assert.equal(a.delegatedSubject, c.form.subject);
      if (c.detail) assert.match(a.detail ?? '', c.detail);
      assert.equal(
        count('iam.signJwt') +
          count('oauth2.token') +
          count('iam.generateAccessToken'),
        0,
      );
    });
  }

  void test('Google refusing delegation (authorization withdrawn) is a 502 at once, its reason for the operator', async () => {
    s.emulator.state.authorizeDelegation(ROBOT, [DIRECTORY]);
    try {
      s.emulator.stats.reset();
      const r = await token({
        audience: 'robot',
        subject: 'erin@ops.example',
        scope: 'gmail.readonly',
      });
      assert.equal(r.status, 502);
      assert.deepEqual(r.body, {
        error: 'temporarily_unavailable',
        error_description:
          'Google refused to issue the token; the operator has been told',
      });
      assert.equal(count('iam.signJwt'), 1);
      assert.equal(count('oauth2.token'), 1, 'a refusal is not retried');
      const a = lastAudit();
      assert.equal(a.reason, 'ERR_UPSTREAM_REFUSED');
      assert.equal(
        a.detail,
        'OAuth 2.0 token endpoint answered HTTP 401 (unauthorized_client)',
      );
      assert.equal(a.delegatedSubject, 'erin@ops.example');
    } finally {
      s.emulator.state.authorizeDelegation(ROBOT, [GMAIL, DIRECTORY]);
    }
  });
});

void describe('the per-client limit applies to delegated requests', () => {
  let limited: Stack;
  before(async () => {
    limited = await startStack({
      policy: POLICY,
      keys,
      env: {TVM_RATE_LIMIT_PER_CLIENT: '2'},
    });
  });
  after(() => limited.close());

  void test('the third request in a minute is refused with 429 slow_down, audited', async () => {
    const form = {
      grant_type: 'client_credentials',
      audience: 'robot',
      subject: 'alice@corp.example',
      scope: 'gmail.readonly',
    };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await postForm(`${limited.url}/token`, form, asSync);
      if (typeof r.body.access_token === 'string')
        handedOut.push(r.body.access_token);
      statuses.push(r.status);
      if (r.status === 429) {
        assert.equal(r.body.error, 'slow_down');
        assert.ok(r.headers.get('retry-after'));
      }
    }
    assert.deepEqual(statuses, [200, 200, 429]);
    const a = limited.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(a.reason, 'ERR_RATE_LIMITED');
    assert.equal(a.delegatedSubject, 'alice@corp.example');
    assert.equal(limited.emulator.stats.count('oauth2.token'), 1);
  });
});
