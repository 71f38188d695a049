/**
 * Domain-wide delegation at the emulated token endpoint, both ways Google takes it:
 * google-auth-library's JWT client with `subject` (a key), and keyless — an assertion
 * with `sub` signed by IAM Credentials `signJwt` (through the library's own request
 * path) and exchanged at the token endpoint. tokeninfo, read through OAuth2Client,
 * shows the user as the token's `email` and the account's client ID as `azp`.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {OAuth2Client, type AuthClient} from 'google-auth-library';
import {decodeJwt, decodeProtectedHeader} from 'jose';
import {
  startEmulator,
  type Emulator,
  type ServiceAccountKeyFile,
} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  GOOGLE_TOKEN_URL,
  errorBody,
  errorStatus,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

const GMAIL = 'https://www.googleapis.com/auth/gmail.readonly';
const DIRECTORY =
  'https://www.googleapis.com/auth/admin.directory.user.readonly';
const UNAUTHORIZED = {
  error: 'unauthorized_client',
  error_description:
    'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
};
const NO_USER = {
  error: 'invalid_grant',
  error_description: 'Invalid email or User ID',
};

void describe('domain-wide delegation at the token endpoint', () => {
  let emulator: Emulator;
  const runner = sa('runner');
  const robot = sa('robot');
  const plain = sa('plain');
  let robotId: string;
  let robotKey: ServiceAccountKeyFile;
  let plainKey: ServiceAccountKeyFile;
  let source: AuthClient;

  before(async () => {
    emulator = await startEmulator();
    const s = emulator.state;
    s.createServiceAccount({email: runner});
    robotId = s.createServiceAccount({email: robot}).uniqueId;
    s.createServiceAccount({email: plain});
    s.authorizeDelegation(robot, [GMAIL, DIRECTORY]);
    s.createUser('alice@corp.example');
    s.createWorkspaceDomain('ops.example');
    s.grantTokenCreator(`serviceAccount:${runner}`, robot);
    s.grantTokenCreator(`serviceAccount:${runner}`, plain);
    robotKey = s.createKey(robot);
    plainKey = s.createKey(plain);
    source = jwtClient(emulator, s.createKey(runner), {
      scopes: [CLOUD_PLATFORM],
    });
  });
  after(() => emulator.close());

  const tokeninfo = (token: string) =>
    new OAuth2Client({
      endpoints: {tokenInfoUrl: `${emulator.url}/tokeninfo`},
    }).getTokenInfo(token);

  /** signJwt on `account` with `claims`, through the library's request path. */
  async function signJwt(
    account: string,
    claims: Record<string, unknown>,
  ): Promise<{keyId: string; signedJwt: string}> {
    const res = await source.request<{keyId: string; signedJwt: string}>({
      url: `${emulator.url}/v1/projects/-/serviceAccounts/${account}:signJwt`,
      method: 'POST',
      data: {payload: JSON.stringify(claims)},
    });
    return res.data;
  }

  /** A delegation assertion for `account` acting as `sub`, one hour. */
  function claims(account: string, sub: string, scope: string) {
    const iat = Math.floor(Date.now() / 1000);
    return {
      iss: account,
      sub,
      scope,
      aud: GOOGLE_TOKEN_URL,
      iat,
      exp: iat + 3600,
    };
  }

  async function exchange(assertion: string) {
    const res = await fetch(emulator.tokenUrl, {
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }).toString(),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    };
  }

  void test('with a key: the JWT client with subject gets a token that acts as the user', async () => {
    const client = jwtClient(emulator, robotKey, {
      scopes: [GMAIL],
      subject: 'alice@corp.example',
    });
    const {token} = await client.getAccessToken();
    assert.match(token ?? '', /^ya29\./);
    const info = await tokeninfo(token!);
    assert.equal(info.email, 'alice@corp.example');
    assert.equal(info.azp, robotId);
    assert.deepEqual(info.aud, robotId);
    assert.deepEqual(info.scopes, [GMAIL]);
    assert.equal(
      emulator.state.tokenInfo(token!)?.delegatedBy,
      robot,
      'the emulator remembers which account acts for the user',
    );
  });

  void test('keyless: an assertion signed by signJwt with sub is exchanged for a delegated token', async () => {
    const signed = await signJwt(
      robot,
      claims(robot, 'alice@corp.example', `${GMAIL} ${DIRECTORY}`),
    );
    assert.equal(decodeProtectedHeader(signed.signedJwt).kid, signed.keyId);
    assert.equal(decodeJwt(signed.signedJwt).sub, 'alice@corp.example');
    const r = await exchange(signed.signedJwt);
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body).sort(), [
      'access_token',
      'expires_in',
      'token_type',
    ]);
    assert.equal(r.body.expires_in, 3599);
    const info = await tokeninfo(r.body.access_token as string);
    assert.equal(info.email, 'alice@corp.example');
    assert.equal(info.azp, robotId);
    assert.deepEqual(info.scopes, [GMAIL, DIRECTORY]);
  });

  void test('a user of a whole domain is a subject; the address is compared without case', async () => {
    const client = jwtClient(emulator, robotKey, {
      scopes: [GMAIL],
      subject: 'Bob@OPS.example',
    });
    const {token} = await client.getAccessToken();
    assert.equal((await tokeninfo(token!)).email, 'bob@ops.example');
  });

  const refusals: Array<{
    name: string;
    run: () => Promise<{status: number | undefined; body: unknown}>;
    status: number;
    body: unknown;
  }> = [
    {
      name: 'an account not authorized for delegation (key)',
      run: async () => {
        const err = await rejection(
          jwtClient(emulator, plainKey, {
            scopes: [GMAIL],
            subject: 'alice@corp.example',
          }).getAccessToken(),
        );
        return {status: errorStatus(err), body: errorBody(err)};
      },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'an account not authorized for delegation (signJwt)',
      run: async () => {
        const signed = await signJwt(
          plain,
          claims(plain, 'alice@corp.example', GMAIL),
        );
        return exchange(signed.signedJwt);
      },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a scope the account is not authorized for',
      run: async () => {
        const err = await rejection(
          jwtClient(emulator, robotKey, {
            scopes: [GMAIL, CLOUD_PLATFORM],
            subject: 'alice@corp.example',
          }).getAccessToken(),
        );
        return {status: errorStatus(err), body: errorBody(err)};
      },
      status: 401,
      body: UNAUTHORIZED,
    },
    {
      name: 'a subject who is no user of the Workspace',
      run: async () => {
        const signed = await signJwt(
          robot,
          claims(robot, 'mallory@elsewhere.example', GMAIL),
        );
        return exchange(signed.signedJwt);
      },
      status: 400,
      body: NO_USER,
    },
    {
      name: "an assertion for one account signed with another's signJwt key",
      run: async () => {
        const signed = await signJwt(
          plain,
          claims(robot, 'alice@corp.example', GMAIL),
        );
        return exchange(signed.signedJwt);
      },
      status: 400,
      body: {
        error: 'invalid_grant',
        error_description: 'Invalid JWT Signature.',
      },
    },
  ];
  for (const c of refusals) {
    void test(`refuses ${c.name}`, async () => {
      const r = await c.run();
      assert.equal(r.status, c.status);
      assert.deepEqual(r.body, c.body);
    });
  }

  void test('withdrawing the authorization stops delegation at once', async () => {
    const email = sa('withdrawn');
    emulator.state.createServiceAccount({email});
    emulator.state.authorizeDelegation(email, [GMAIL]);
    const key = emulator.state.createKey(email);
    const ok = await jwtClient(emulator, key, {
      scopes: [GMAIL],
      subject: 'alice@corp.example',
    }).getAccessToken();
    assert.match(ok.token ?? '', /^ya29\./);
    emulator.state.authorizeDelegation(email, []);
    const err = await rejection(
      jwtClient(emulator, key, {
        scopes: [GMAIL],
        subject: 'alice@corp.example',
      }).getAccessToken(),
    );
    assert.equal(errorStatus(err), 401);
    assert.deepEqual(errorBody(err), UNAUTHORIZED);
  });

  void test('signJwt refuses an exp in the past', async () => {
    const iat = Math.floor(Date.now() / 1000) - 7200;
    const err = await rejection(
      signJwt(robot, {
        ...claims(robot, 'alice@corp.example', GMAIL),
        iat,
        exp: iat + 3600,
      }),
    );
    assert.equal(errorStatus(err), 400);
    assert.equal(
      (errorBody(err) as {error: {message: string}}).error.message,
      'Expiration cannot be in the past.',
    );
  });
});
