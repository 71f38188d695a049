/**
 * Caching and faults: the cache invariant under an injected clock, one mint per
 * stampede, and Google's failures (docs/security.md, "Upstream faults") turned into the
 * right 502/503, never a token that should not be handed out.
 */
import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {writeFileSync} from 'node:fs';
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
  etl:
    email: etl@tvm-local.iam.gserviceaccount.com
    mint: key
    key_secret: projects/tvm-local/secrets/etl-key/versions/latest
clients:
  c1:
    api_keys:
      - sha256: "{{KEY:c1}}"
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly, cloud-platform]
        max_lifetime: 30m
      - service_account: etl
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
`;

/** A clock the test moves; starts at the real time so library-made tokens agree. */
class TestClock {
  #t = Date.now();
  now() {
    return this.#t;
  }
  advance(seconds: number) {
    this.#t += seconds * 1000;
  }
}

const keys = {c1: newKey()};
const handedOut: string[] = [];
const clock = new TestClock();
let s: Stack;

before(async () => {
  s = await startStack({
    policy: POLICY,
    keys,
    clock,
    // Room for a first key mint (the Secret Manager client loads then) on a busy
    // machine; the hang tests wait this long.
    mintDeadlineMs: 6000,
    env: {TVM_RATE_LIMIT_PER_IP: '100000', TVM_RATE_LIMIT_PER_CLIENT: '100000'},
  });
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});
beforeEach(() => {
  s.emulator.faults.clear();
  s.service.tokenCache.clear();
  s.emulator.stats.reset();
});

const auth = {authorization: basic('c1', keys.c1)};
async function vend(extra: Record<string, string>) {
  const r = await postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', ...extra},
    auth,
  );
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r;
}
const reporting = (lifetime: string) => ({
  audience: 'reporting',
  scope: 'bigquery.readonly',
  lifetime,
});
const lastAudit = () => s.audits().at(-1)!.audit as Record<string, unknown>;

void describe('token cache', () => {
  void test('a cached token is reused with its true remaining lifetime, then re-minted before it is too short', async () => {
    const first = await vend(reporting('1200'));
    assert.equal(first.status, 200);
    assert.equal(lastAudit().cached, false);
    assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 1);

    clock.advance(600);
    const second = await vend(reporting('1200'));
    assert.equal(second.body.access_token, first.body.access_token);
    assert.equal(lastAudit().cached, true);
    const left = second.body.expires_in as number;
    assert.ok(
      left <= 600 && left > 590,
      `expires_in ${left} must be what the token has left`,
    );
    assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 1);

    clock.advance(301); // 299 s left: below the useful remainder of 300 s
    const third = await vend(reporting('1200'));
    assert.notEqual(third.body.access_token, first.body.access_token);
    assert.equal(lastAudit().cached, false);
    assert.ok((third.body.expires_in as number) > 1190);
    assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 2);
  });

  void test('a token never outlives the grant asked for: a shorter lifetime is a different token', async () => {
    const long = await vend(reporting('1800'));
    const short = await vend(reporting('600'));
    assert.equal(short.status, 200);
    assert.notEqual(short.body.access_token, long.body.access_token);
    assert.ok((short.body.expires_in as number) <= 600);
  });

  void test('different scopes are never served from one another', async () => {
    const a = await vend(reporting('900'));
    const b = await vend({
      audience: 'reporting',
      scope: 'cloud-platform',
      lifetime: '900',
    });
    assert.notEqual(a.body.access_token, b.body.access_token);
    assert.equal(
      b.body.scope,
      'https://www.googleapis.com/auth/cloud-platform',
    );
  });

  void test('a stampede of identical requests causes exactly one mint', async () => {
    s.emulator.faults.set(
      'iam.generateAccessToken',
      {kind: 'delay', ms: 200},
      {times: 1},
    );
    const results = await Promise.all(
      Array.from({length: 100}, () => vend(reporting('900'))),
    );
    assert.ok(results.every(r => r.status === 200));
    assert.equal(new Set(results.map(r => r.body.access_token)).size, 1);
    assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 1);
  });

  void test('key-minted tokens are cached too; the key is read once', async () => {
    const a = await vend({audience: 'etl'});
    const b = await vend({audience: 'etl'});
    assert.equal(a.status, 200);
    assert.equal(a.body.access_token, b.body.access_token);
    assert.equal(s.emulator.stats.count('oauth2.token'), 1);
    assert.equal(s.emulator.stats.count('secretmanager.access'), 1);
  });
});

void describe('hard deadlines and key checks', () => {
  void test('the metadata server hangs on a cold start: 503 within the deadline, never a hang', async () => {
    const cold = await startStack({policy: POLICY, keys, mintDeadlineMs: 800});
    try {
      cold.emulator.faults.set('metadata.token', {kind: 'hang'});
      const res = await fetch(`${cold.url}/token`, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded', ...auth},
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          ...reporting('900'),
        }).toString(),
        // Only so that a regression fails here rather than at the runner's timeout.
        signal: AbortSignal.timeout(20_000),
      });
      const body = (await res.json()) as Record<string, unknown>;
      assert.equal(res.status, 503);
      assert.equal(body.error, 'temporarily_unavailable');
      assert.match(res.headers.get('retry-after') ?? '', /^\d+$/);
    } finally {
      await cold.close();
    }
  });

  void test('a key read for one account is never used for another, even across a policy reload', async () => {
    const s2 = await startStack({policy: POLICY, keys});
    try {
      const first = await postForm(
        `${s2.url}/token`,
        {grant_type: 'client_credentials', audience: 'etl'},
        auth,
      );
      assert.equal(first.status, 200);
      handedOut.push(first.body.access_token as string);
      // The alias now names another account; the secret still holds etl's key.
      s2.emulator.state.createServiceAccount({
        email: 'other-etl@tvm-local.iam.gserviceaccount.com',
      });
      writeFileSync(
        s2.policyPath,
        renderPolicy(POLICY.replace('email: etl@', 'email: other-etl@'), keys),
      );
      await s2.service.policies.refresh();
      const after = await postForm(
        `${s2.url}/token`,
        {grant_type: 'client_credentials', audience: 'etl'},
        auth,
      );
      assert.equal(after.status, 502, JSON.stringify(after.body));
      assert.equal(after.body.access_token, undefined);
      assert.match(
        String(
          s2.audits().at(-1)!.audit &&
            (s2.audits().at(-1)!.audit as {detail?: string}).detail,
        ),
        /key for another account/,
      );
    } finally {
      await s2.close();
    }
  });
});

void describe('clock skew', () => {
  void test("Google's clock 30 s ahead: expires_in still never exceeds the lifetime asked", async () => {
    const skewed = await startStack({
      policy: POLICY,
      keys,
      emulatorNow: () => Date.now() + 30_000,
    });
    try {
      const r = await postForm(
        `${skewed.url}/token`,
        {grant_type: 'client_credentials', ...reporting('600')},
        auth,
      );
      assert.equal(r.status, 200);
      handedOut.push(r.body.access_token as string);
      assert.ok(
        (r.body.expires_in as number) <= 600,
        `expires_in ${r.body.expires_in}`,
      );
      assert.ok((r.body.expires_in as number) >= 598);
    } finally {
      await skewed.close();
    }
  });
});

void describe('faults', () => {
  void test('Google 503 then success: retried inside the deadline, the caller gets a token', async () => {
    s.emulator.faults.set(
      'iam.generateAccessToken',
      {kind: 'status', status: 503},
      {times: 2},
    );
    const r = await vend(reporting('900'));
    assert.equal(r.status, 200);
    assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 3);
  });

  void test('Google 503 throughout: 503 temporarily_unavailable with Retry-After', async () => {
    s.emulator.faults.set('iam.generateAccessToken', {
      kind: 'status',
      status: 503,
    });
    const r = await vend(reporting('900'));
    assert.equal(r.status, 503);
    assert.equal(r.body.error, 'temporarily_unavailable');
    assert.match(r.headers.get('retry-after') ?? '', /^\d+$/);
    assert.ok(s.emulator.stats.count('iam.generateAccessToken') >= 2);
  });

  void test('Google 403 (permission missing): no retry, 502', async () => {
    s.emulator.state.revokeTokenCreator(
      'serviceAccount:tvm-runtime@tvm-local.iam.gserviceaccount.com',
      'reporting@tvm-local.iam.gserviceaccount.com',
    );
    try {
      const r = await vend(reporting('900'));
      assert.equal(r.status, 502);
      assert.equal(r.body.error, 'temporarily_unavailable');
      assert.equal(s.emulator.stats.count('iam.generateAccessToken'), 1);
      assert.match(String(lastAudit().detail), /403 \(PERMISSION_DENIED\)/);
    } finally {
      s.emulator.state.grantTokenCreator(
        'serviceAccount:tvm-runtime@tvm-local.iam.gserviceaccount.com',
        'reporting@tvm-local.iam.gserviceaccount.com',
      );
    }
  });

  void test('Google hangs: the caller gets 503 within the deadline', async () => {
    s.emulator.faults.set('iam.generateAccessToken', {kind: 'hang'});
    const r = await vend(reporting('900'));
    assert.equal(r.status, 503);
    assert.equal(r.body.error, 'temporarily_unavailable');
  });

  for (const kind of ['malformed', 'expiredToken'] as const) {
    void test(`Google answers 200 with a ${kind} body: 502, nothing cached`, async () => {
      s.emulator.faults.set('iam.generateAccessToken', {kind}, {times: 1});
      const r = await vend(reporting('900'));
      assert.equal(r.status, 502);
      assert.equal(r.body.access_token, undefined);
      assert.equal(s.service.tokenCache.size, 0);
      const next = await vend(reporting('900'));
      assert.equal(next.status, 200);
    });
  }

  void test('key secret disabled: 502 and an operator log line; re-enabled: served again', async () => {
    const version = 'projects/tvm-local/secrets/etl-key/versions/1';
    assert.equal((await vend({audience: 'etl'})).status, 200);
    s.service.tokenCache.clear();
    s.emulator.state.setSecretVersionState(version, 'DISABLED');
    clock.advance(301); // the key in hand must be re-read now
    try {
      const r = await vend({audience: 'etl'});
      assert.equal(r.status, 502);
      assert.match(String(lastAudit().detail), /FAILED_PRECONDITION/);
      const operator = s.logs.filter(l => l.severity === 'ERROR').at(-1)!;
      assert.match(JSON.stringify(operator), /FAILED_PRECONDITION/);
    } finally {
      s.emulator.state.setSecretVersionState(version, 'ENABLED');
    }
    const ok = await vend({audience: 'etl'});
    assert.equal(ok.status, 200);
  });

  void test('a key payload that fails its CRC-32C is never used: retried, then 503', async () => {
    // A stack of its own: no key in hand that could cover the bad payload.
    const fresh = await startStack({
      policy: POLICY,
      keys,
      mintDeadlineMs: 1500,
    });
    try {
      fresh.emulator.faults.set('secretmanager.access', {kind: 'malformed'});
      const r = await postForm(
        `${fresh.url}/token`,
        {grant_type: 'client_credentials', audience: 'etl'},
        auth,
      );
      assert.equal(r.status, 503);
      assert.equal(r.body.access_token, undefined);
      const audit = fresh.audits().at(-1)!.audit as {detail?: string};
      assert.match(String(audit.detail), /CRC-32C/);
      assert.equal(
        fresh.emulator.stats.count('oauth2.token'),
        0,
        'no assertion was ever signed with it',
      );
    } finally {
      await fresh.close();
    }
  });

  void test('Secret Manager down with a key in hand: the cached key keeps serving', async () => {
    assert.equal((await vend({audience: 'etl'})).status, 200);
    s.service.tokenCache.clear();
    clock.advance(400); // past the key's re-read interval
    s.emulator.faults.set('secretmanager.access', {
      kind: 'status',
      status: 503,
    });
    const r = await vend({audience: 'etl'});
    assert.equal(r.status, 200);
  });
});
