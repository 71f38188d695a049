/**
 * Security properties of the token endpoint: rate limits keyed on the address the
 * trusted front end saw (a spoofed X-Forwarded-For moves no one), per-client limits,
 * source ranges, constant-time key comparison, and a 500 that says nothing.
 */
import {after, before, describe, mock, test} from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {createAuditTrail} from '../../src/audit.ts';
import {authenticateApiKey} from '../../src/auth/api-key.ts';
import {createAuthenticate} from '../../src/auth/authenticate.ts';
import {createMemoryReplayStore} from '../../src/auth/replay-store.ts';
import {createRateLimiters} from '../../src/http/rate-limit.ts';
import {createKeyResolver} from '../../src/oidc/keys.ts';
import {parseConfig} from '../../src/config.ts';
import {createApp} from '../../src/http/app.ts';
import {createLogger} from '../../src/log.ts';
import type {PolicySource} from '../../src/policy-source.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {TvmError} from '../../src/errors.ts';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  renderPolicy,
  startStack,
  type Stack,
} from '../support/stack.ts';

const POLICY = `
version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  onprem:
    api_keys:
      - sha256: "{{KEY:onprem}}"
    source_ranges: [198.51.100.0/24, 2001:db8:1::/48]
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
  anywhere:
    api_keys:
      - sha256: "{{KEY:anywhere}}"
      - sha256: "{{KEY:anywhere2}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;
const keys = {onprem: newKey(), anywhere: newKey(), anywhere2: newKey()};
const FORM = {
  grant_type: 'client_credentials',
  audience: 'reporting',
  scope: 'bigquery.readonly',
};
const handedOut: string[] = [];

async function vend(s: Stack, client: keyof typeof keys, xff?: string) {
  const r = await postForm(`${s.url}/token`, FORM, {
    authorization: basic(client.replace(/2$/, ''), keys[client]),
    ...(xff ? {'x-forwarded-for': xff} : {}),
  });
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r;
}

after(() => assertNoSecretsLogged([...Object.values(keys), ...handedOut]));

void describe('per-IP limit behind one trusted proxy hop', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      policy: POLICY,
      keys,
      env: {
        TVM_TRUSTED_PROXY_HOPS: '1',
        TVM_RATE_LIMIT_PER_IP: '3',
        TVM_RATE_LIMIT_PER_CLIENT: '1000',
      },
    });
  });
  after(() => s.close());

  void test('a spoofed leftmost X-Forwarded-For does not move a caller to a new bucket', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await vend(s, 'anywhere', `10.0.0.${i}, 192.0.2.10`);
      assert.equal(r.status, 200);
      assert.match(r.headers.get('ratelimit') ?? '', /"ip"; r=\d+; t=\d+/);
    }
    const limited = await vend(s, 'anywhere', '10.9.9.9, 192.0.2.10');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'slow_down');
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(limited.headers.get('ratelimit') ?? '', /r=0/);
    assert.equal(limited.headers.get('cache-control'), 'no-store');
    // Another real address (what the front end appended) has its own bucket.
    assert.equal(
      (await vend(s, 'anywhere', '10.9.9.9, 192.0.2.11')).status,
      200,
    );
    const audit = s.audits().at(-1)!;
    assert.equal(
      (audit.httpRequest as {remoteIp: string}).remoteIp,
      '192.0.2.11',
    );
  });

  void test('IPv6 addresses rotated inside one /56 share a bucket', async () => {
    for (let i = 1; i <= 3; i++) {
      assert.equal(
        (await vend(s, 'anywhere', `2001:db8:5:${i}::1`)).status,
        200,
      );
    }
    assert.equal((await vend(s, 'anywhere', '2001:db8:5:ff::9')).status, 429);
  });

  void test('source_ranges use the address the front end saw, never one the caller wrote', async () => {
    assert.equal(
      (await vend(s, 'onprem', '1.2.3.4, 198.51.100.20')).status,
      200,
    );
    const spoofed = await vend(s, 'onprem', '198.51.100.20, 203.0.113.5');
    assert.equal(spoofed.status, 401);
    assert.equal(spoofed.body.error, 'invalid_client');
    assert.equal(spoofed.headers.get('www-authenticate'), 'Basic realm="tvm"');
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(
      audit.detail,
      'source address outside the client source_ranges',
    );
    assert.equal((await vend(s, 'onprem', '2001:db8:1:77::5')).status, 200);
  });
});

void describe('per-client limit', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      policy: POLICY,
      keys,
      env: {
        TVM_TRUSTED_PROXY_HOPS: '1',
        TVM_RATE_LIMIT_PER_IP: '1000',
        TVM_RATE_LIMIT_PER_CLIENT: '2',
      },
    });
  });
  after(() => s.close());

  void test('a client is limited across addresses and keys; other clients are not', async () => {
    assert.equal((await vend(s, 'anywhere', '192.0.2.1')).status, 200);
    assert.equal((await vend(s, 'anywhere2', '192.0.2.2')).status, 200);
    const limited = await vend(s, 'anywhere', '192.0.2.3');
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'slow_down');
    assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(limited.headers.get('ratelimit') ?? '', /"client"; r=0/);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.reason, 'ERR_RATE_LIMITED');
    assert.equal(audit.client, 'anywhere');
    assert.equal((await vend(s, 'onprem', '198.51.100.1')).status, 200);
  });
});

void describe('API key comparison', () => {
  const policy = parsePolicy(renderPolicy(POLICY, keys));

  void test('every key is compared with crypto.timingSafeEqual, whatever the outcome', () => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      const calls = (clientId: string, secret: string) => {
        spy.mock.resetCalls();
        try {
          authenticateApiKey(policy, clientId, secret, Date.now());
          return {ok: true, calls: spy.mock.callCount()};
        } catch (e) {
          assert.ok(e instanceof TvmError && e.code === 'ERR_INVALID_CLIENT');
          return {ok: false, calls: spy.mock.callCount()};
        }
      };
      assert.deepEqual(calls('anywhere', keys.anywhere2), {ok: true, calls: 2});
      assert.deepEqual(calls('anywhere', keys.anywhere), {ok: true, calls: 2});
      assert.deepEqual(calls('anywhere', keys.onprem), {ok: false, calls: 2});
      assert.deepEqual(calls('onprem', keys.anywhere), {ok: false, calls: 1});
      assert.deepEqual(calls('no-such-client', keys.anywhere), {
        ok: false,
        calls: 1,
      });
    } finally {
      spy.mock.restore();
    }
  });
});

void describe('unexpected failure', () => {
  void test('is a 500 server_error that says nothing from inside, and is logged by name only', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', {
      write: (l: string) => void lines.push(l),
    });
    const policy = parsePolicy(renderPolicy(POLICY, keys));
    const policies: PolicySource = {
      current: () => policy,
      status: () => ({
        ok: true,
        reason: undefined,
        digest: policy.digest,
        stale: false,
      }),
      refresh: async () => undefined,
      ready: async () => undefined,
      close: () => undefined,
    };
    const clock = {now: () => Date.now()};
    const monotonic = {now: () => performance.now()};
    const config = parseConfig({});
    const app = createApp({
      policies,
      authenticate: createAuthenticate({
        issuer: undefined,
        clock,
        keys: createKeyResolver({fetch: globalThis.fetch, clock}),
        replay: createMemoryReplayStore({clock}),
      }),
      limiters: createRateLimiters({
        perIp: config.rateLimitPerIp,
        perClient: config.rateLimitPerClient,
      }),
      trail: createAuditTrail({logger, monotonic}),
      minter: {
        mint: async () => {
          throw new TypeError(`internal detail ${keys.anywhere}`);
        },
      },
      idTokens: {
        mint: async () => {
          throw new TypeError(`internal detail ${keys.anywhere}`);
        },
      },
      clock,
      monotonic,
      mintDeadlineMs: 15_000,
      trustedProxyHops: config.trustedProxyHops,
    });
    const server = createServer(app).listen(0, '127.0.0.1');
    await new Promise(r => server.once('listening', r));
    try {
      const {port} = server.address() as AddressInfo;
      const r = await postForm(`http://127.0.0.1:${port}/token`, FORM, {
        authorization: basic('anywhere', keys.anywhere),
      });
      assert.equal(r.status, 500);
      assert.deepEqual(r.body, {
        error: 'server_error',
        error_description: 'the server failed to handle the request',
      });
      const all = lines.join('\n');
      assert.match(all, /"name":"TypeError"/);
      assert.doesNotMatch(all, /internal detail/);
      assert.ok(!all.includes(keys.anywhere));
    } finally {
      server.close();
    }
  });
});
