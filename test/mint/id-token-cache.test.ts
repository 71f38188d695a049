/**
 * The guarantees of access tokens, held for ID tokens, with the clock in the test's
 * hand: the cache hands a token out only while at least five minutes of it remain and
 * refreshes it after (counted in upstream mints); `expires_in` never exceeds Google's
 * hour, however far Google's clock runs ahead; the per-client rate limit applies on
 * the generateIdToken route as on the others.
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
import {testClock} from '../support/oidc.ts';

const RUN = 'https://reports-abc123-ew.a.run.app';
const INVOKER = 'invoker@tvm-local.iam.gserviceaccount.com';
const POLICY = `
version: 1
service_accounts:
  invoker: {email: ${INVOKER}}
clients:
  app:
    api_keys: [{sha256: "{{KEY:app}}"}]
    allow:
      - service_account: invoker
        id_token:
          audiences: ["${RUN}"]
`;
const keys = {app: newKey()};
const handedOut: string[] = [];
const stacks: Stack[] = [];

after(async () => {
  for (const s of stacks) await s.close();
  assertNoSecretsLogged([keys.app, ...handedOut]);
});

async function idToken(s: Stack) {
  const r = await postForm(
    `${s.url}/token`,
    {
      grant_type: 'client_credentials',
      requested_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      audience: 'invoker',
      resource: RUN,
    },
    {authorization: basic('app', keys.app)},
  );
  assert.equal(r.status, 200, JSON.stringify(r.body));
  handedOut.push(r.body.access_token as string);
  const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
  return {
    token: r.body.access_token as string,
    expiresIn: r.body.expires_in as number,
    cached: audit.cached,
  };
}

void describe('the cache invariant, for ID tokens', () => {
  const clock = testClock();
  let s: Stack;
  before(async () => {
    s = await startStack({policy: POLICY, keys, clock});
    stacks.push(s);
  });
  const mints = () => s.emulator.stats.count('iam.generateIdToken');

  void test('served while five minutes or more remain, minted anew after; expires_in is the truth', async () => {
    const t0 = clock.t;
    const first = await idToken(s);
    assert.equal(first.expiresIn, 3600);
    assert.equal(first.cached, false);
    assert.equal(mints(), 1);

    clock.set(t0 + 54 * 60_000); // six minutes left
    const hit = await idToken(s);
    assert.equal(hit.token, first.token);
    assert.equal(hit.expiresIn, 360);
    assert.equal(hit.cached, true);
    assert.equal(mints(), 1);

    clock.set(t0 + 55 * 60_000); // exactly five minutes left: still good
    assert.equal((await idToken(s)).token, first.token);
    assert.equal(mints(), 1);

    clock.set(t0 + 56 * 60_000); // four minutes left: never handed out
    const fresh = await idToken(s);
    assert.notEqual(fresh.token, first.token);
    assert.equal(fresh.expiresIn, 3600);
    assert.equal(fresh.cached, false);
    assert.equal(mints(), 2);
  });
});

void describe("Google's clock ahead of tvm's", () => {
  const clock = testClock();
  let s: Stack;
  before(async () => {
    // Google stamps exp ten minutes later than tvm's clock would.
    s = await startStack({
      policy: POLICY,
      keys,
      clock,
      emulatorNow: () => clock.now() + 10 * 60_000,
    });
    stacks.push(s);
  });

  void test('expires_in is never more than the hour Google grants, from when tvm asked', async () => {
    const r = await idToken(s);
    assert.equal(r.expiresIn, 3600);
    const exp = JSON.parse(
      Buffer.from(r.token.split('.')[1]!, 'base64url').toString(),
    ) as {exp: number};
    assert.equal(exp.exp * 1000 - clock.now(), 70 * 60_000);
  });
});

void describe('the per-client rate limit on generateIdToken', () => {
  let s: Stack;
  before(async () => {
    s = await startStack({
      policy: POLICY,
      keys,
      env: {TVM_RATE_LIMIT_PER_CLIENT: '3'},
    });
    stacks.push(s);
  });

  void test("the fourth request in a minute: 429 in Google's shape, audited, no mint", async () => {
    const call = () =>
      fetch(
        `${s.url}/v1/projects/-/serviceAccounts/${INVOKER}:generateIdToken`,
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            authorization: `Bearer ${keys.app}`,
          },
          body: JSON.stringify({audience: RUN}),
        },
      );
    for (let i = 0; i < 3; i++) {
      const ok = await call();
      assert.equal(ok.status, 200);
      handedOut.push(((await ok.json()) as {token: string}).token);
    }
    const before = s.emulator.stats.count('iam.generateIdToken');
    const limited = await call();
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    const body = (await limited.json()) as {
      error: {code: number; status: string};
    };
    assert.equal(body.error.code, 429);
    assert.equal(body.error.status, 'RESOURCE_EXHAUSTED');
    assert.equal(s.emulator.stats.count('iam.generateIdToken'), before);
    const audit = s.audits().at(-1)!.audit as Record<string, unknown>;
    assert.equal(audit.reason, 'ERR_RATE_LIMITED');
    assert.equal(audit.grantType, 'iamcredentials.generateIdToken');
    assert.equal(audit.client, 'app');
  });
});
