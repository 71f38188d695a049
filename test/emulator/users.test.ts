/**
 * Users' consents: the refresh-token grant driven through google-auth-library's own
 * UserRefreshClient (an authorized_user file, as gcloud writes it), the `scope` subset
 * of RFC 6749 §6, Google's refusals, tokeninfo of a user's token, the revocation
 * endpoint, and local mode's registration of a consent made elsewhere.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {OAuth2Client, UserRefreshClient} from 'google-auth-library';
import {createRemoteJWKSet, jwtVerify} from 'jose';
import {
  startEmulator,
  type AuthorizedUserFile,
  type Emulator,
} from '../../emulator/src/index.ts';
import {CLOUD_PLATFORM, errorBody, errorStatus, rejection} from './helpers.ts';

const EMAIL_SCOPE = 'https://www.googleapis.com/auth/userinfo.email';
const BQ = 'https://www.googleapis.com/auth/bigquery';
const ALICE = 'alice@example.com';

void describe('OAuth 2.0 token endpoint (refresh_token grant) and tokeninfo of user tokens', () => {
  let emulator: Emulator;
  let file: AuthorizedUserFile;

  before(async () => {
    emulator = await startEmulator();
    file = emulator.state.users.grantConsent({
      email: ALICE,
      scopes: ['openid', EMAIL_SCOPE, CLOUD_PLATFORM, BQ],
      quotaProjectId: 'alice-proj',
    });
  });
  after(() => emulator.close());

  const endpoints = () => ({
    oauth2TokenUrl: emulator.tokenUrl,
    tokenInfoUrl: `${emulator.url}/tokeninfo`,
    oauth2RevokeUrl: `${emulator.url}/revoke`,
  });

  /** A UserRefreshClient from an authorized_user file, talking to the emulator. */
  function userClient(f: AuthorizedUserFile): UserRefreshClient {
    const client = new UserRefreshClient({endpoints: endpoints()});
    client.fromJSON(f);
    return client;
  }

  /** POSTs a refresh-token grant as a form and returns status and body. */
  async function refresh(form: Record<string, string>, headers = {}) {
    const res = await fetch(emulator.tokenUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...headers,
      },
      body: new URLSearchParams({grant_type: 'refresh_token', ...form}),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    };
  }
  const creds = (f: AuthorizedUserFile) => ({
    client_id: f.client_id,
    client_secret: f.client_secret,
    refresh_token: f.refresh_token,
  });

  void test('the authorized_user file has gcloud’s fields and shapes', () => {
    assert.deepEqual(Object.keys(file).sort(), [
      'account',
      'client_id',
      'client_secret',
      'quota_project_id',
      'refresh_token',
      'type',
      'universe_domain',
    ]);
    assert.equal(file.type, 'authorized_user');
    assert.match(
      file.client_id,
      /^[0-9]{12}-[a-z0-9]{32}\.apps\.googleusercontent\.com$/,
    );
    assert.match(file.refresh_token, /^1\/\/0e[A-Za-z0-9_-]{90,}$/);
    assert.equal(file.universe_domain, 'googleapis.com');
  });

  void test('UserRefreshClient gets a token for the whole consent; tokeninfo names the client, the user and its scopes', async () => {
    const before = emulator.state.users.consent(file.refresh_token)!;
    const client = userClient(file);
    const {token} = await client.getAccessToken();
    assert.match(token ?? '', /^ya29\./);
    const info = await new OAuth2Client({endpoints: endpoints()}).getTokenInfo(
      token!,
    );
    assert.equal(info.aud, file.client_id);
    assert.equal(info.azp, file.client_id);
    assert.equal(info.sub, before.userId);
    assert.equal(info.email, ALICE);
    assert.equal(info.email_verified, 'true');
    assert.equal(info.access_type, 'offline');
    assert.deepEqual(
      [...info.scopes].sort(),
      ['openid', EMAIL_SCOPE, CLOUD_PLATFORM, BQ].sort(),
    );
    assert.ok(info.expiry_date > Date.now() + 3500_000);
    assert.equal(
      emulator.state.users.consent(file.refresh_token)!.refreshRequests,
      before.refreshRequests + 1,
    );
    // openid was consented: the answer carried an ID token of the user for the client.
    const idToken = client.credentials.id_token!;
    const {payload} = await jwtVerify(
      idToken,
      createRemoteJWKSet(new URL(`${emulator.url}/oauth2/v3/certs`)),
      {issuer: 'https://accounts.google.com', audience: file.client_id},
    );
    assert.equal(payload.sub, before.userId);
    assert.equal(payload.email, ALICE);
  });

  void test('scope asks for a subset (RFC 6749 §6): the token carries exactly it; without an email scope tokeninfo has no email', async () => {
    const r = await refresh({...creds(file), scope: CLOUD_PLATFORM});
    assert.equal(r.status, 200);
    assert.equal(r.body.scope, CLOUD_PLATFORM);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.expires_in, 3599);
    assert.equal(r.body.id_token, undefined);
    const info = await fetch(
      `${emulator.url}/tokeninfo?access_token=${r.body.access_token as string}`,
    ).then(res => res.json() as Promise<Record<string, unknown>>);
    assert.equal(info.scope, CLOUD_PLATFORM);
    assert.equal(
      info.sub,
      emulator.state.users.consent(file.refresh_token)!.userId,
    );
    assert.equal(info.email, undefined);
    assert.equal(info.aud, file.client_id);
    assert.deepEqual(
      emulator.state.tokenInfo(r.body.access_token as string)?.scopes,
      [CLOUD_PLATFORM],
    );
  });

  void test('HTTP Basic client authentication works as the body does', async () => {
    const basic = Buffer.from(
      `${file.client_id}:${file.client_secret}`,
    ).toString('base64');
    const r = await refresh(
      {refresh_token: file.refresh_token, scope: BQ},
      {authorization: `Basic ${basic}`},
    );
    assert.equal(r.status, 200);
    assert.equal(r.body.scope, BQ);
  });

  void describe('Google’s refusals', () => {
    let other: AuthorizedUserFile;
    let revoked: AuthorizedUserFile;
    before(() => {
      other = emulator.state.users.grantConsent({
        email: 'bob@example.com',
        scopes: [CLOUD_PLATFORM],
      });
      revoked = emulator.state.users.grantConsent({
        email: ALICE,
        scopes: [CLOUD_PLATFORM],
        clientId: file.client_id,
      });
      emulator.state.users.revoke(revoked.refresh_token);
    });
    const cases: Array<{
      name: string;
      form: () => Record<string, string>;
      status: number;
      error: string;
      description: string;
    }> = [
      {
        name: 'no client_id',
        form: () => ({refresh_token: file.refresh_token}),
        status: 400,
        error: 'invalid_request',
        description: 'Could not determine client ID from request.',
      },
      {
        name: 'an unknown OAuth client',
        form: () => ({
          ...creds(file),
          client_id:
            '123456789012-unknownunknownunknownunknown12.apps.googleusercontent.com',
        }),
        status: 401,
        error: 'invalid_client',
        description: 'The OAuth client was not found.',
      },
      {
        name: 'no client_secret',
        form: () => ({
          client_id: file.client_id,
          refresh_token: file.refresh_token,
        }),
        status: 400,
        error: 'invalid_request',
        description: 'client_secret is missing.',
      },
      {
        name: 'a wrong client_secret',
        form: () => ({...creds(file), client_secret: 'GOCSPX-wrong'}),
        status: 401,
        error: 'invalid_client',
        description: 'Unauthorized',
      },
      {
        name: 'no refresh_token',
        form: () => ({
          client_id: file.client_id,
          client_secret: file.client_secret,
        }),
        status: 400,
        error: 'invalid_request',
        description: 'Missing required parameter: refresh_token',
      },
      {
        name: 'a refresh token of the wrong shape',
        form: () => ({...creds(file), refresh_token: 'not-a-refresh-token'}),
        status: 400,
        error: 'invalid_grant',
        description: 'Bad Request',
      },
      {
        name: 'a well-formed refresh token Google never issued',
        form: () => ({...creds(file), refresh_token: `1//0e${'A'.repeat(90)}`}),
        status: 400,
        error: 'invalid_grant',
        description: 'Token has been expired or revoked.',
      },
      {
        name: 'a revoked refresh token',
        form: () => creds(revoked),
        status: 400,
        error: 'invalid_grant',
        description: 'Token has been expired or revoked.',
      },
      {
        name: 'another client’s refresh token',
        form: () => ({...creds(file), refresh_token: other.refresh_token}),
        status: 400,
        error: 'unauthorized_client',
        description: 'Unauthorized',
      },
      {
        name: 'a scope beyond the consent',
        form: () => ({
          ...creds(file),
          scope: `${CLOUD_PLATFORM} https://www.googleapis.com/auth/drive`,
        }),
        status: 400,
        error: 'invalid_scope',
        description: 'Bad Request',
      },
    ];
    for (const c of cases) {
      void test(c.name, async () => {
        const r = await refresh(c.form());
        assert.equal(r.status, c.status);
        assert.deepEqual(r.body, {
          error: c.error,
          error_description: c.description,
        });
      });
    }

    void test('UserRefreshClient sees Google’s invalid_grant for a revoked token, and each request is counted', async () => {
      const n = emulator.state.users.consent(
        revoked.refresh_token,
      )!.refreshRequests;
      const err = await rejection(userClient(revoked).getAccessToken());
      assert.equal(errorStatus(err), 400);
      assert.deepEqual(errorBody(err), {
        error: 'invalid_grant',
        error_description: 'Token has been expired or revoked.',
      });
      // A 400 is not retried by the library: one request.
      assert.equal(
        emulator.state.users.consent(revoked.refresh_token)!.refreshRequests,
        n + 1,
      );
    });
  });

  void test('the revocation endpoint ends the consent: its refresh token and its access tokens stop working', async () => {
    const f = emulator.state.users.grantConsent({
      email: ALICE,
      scopes: [CLOUD_PLATFORM],
    });
    const client = userClient(f);
    const {token} = await client.getAccessToken();
    const r = await client.revokeToken(f.refresh_token);
    assert.equal(r.status, 200);
    assert.deepEqual(r.data, {});
    assert.equal(emulator.state.users.consent(f.refresh_token)!.revoked, true);
    const again = await refresh(creds(f));
    assert.deepEqual(again.body, {
      error: 'invalid_grant',
      error_description: 'Token has been expired or revoked.',
    });
    const info = await fetch(
      `${emulator.url}/tokeninfo?access_token=${token!}`,
    );
    assert.equal(info.status, 400);
    assert.deepEqual(await info.json(), {
      error: 'invalid_token',
      error_description: 'Invalid Value',
    });
    const twice = await rejection(client.revokeToken(f.refresh_token));
    assert.equal(errorStatus(twice), 400);
    assert.deepEqual(errorBody(twice), {
      error: 'invalid_token',
      error_description: 'Token expired or revoked',
    });
  });

  void test('under the expiredToken fault the refresh answers a token that has already expired', async () => {
    emulator.faults.set('oauth2.token', {kind: 'expiredToken'}, {times: 1});
    const r = await refresh({...creds(file), scope: CLOUD_PLATFORM});
    assert.equal(r.status, 200);
    assert.equal(r.body.expires_in, -60);
  });

  void test('local mode registers a consent made elsewhere; its credential then refreshes', async () => {
    emulator.state.createServiceAccount({
      email: 'runtime@tvm-local.iam.gserviceaccount.com',
    });
    emulator.state.setDefaultIdentity(
      'runtime@tvm-local.iam.gserviceaccount.com',
    );
    emulator.state.createSecret('projects/tvm-local/secrets/carol');
    const imported = {
      client_id:
        '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
      client_secret: 'd-FL95Q19q7MQmFpd7hHD0Ty',
      refresh_token: `1//0g${'x'.repeat(100)}`,
    };
    const post = (body: unknown) =>
      fetch(`${emulator.url}/emulator/v1/userConsents`, {
        method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify(body),
      });
    const ok = await post({
      ...imported,
      email: 'carol@example.com',
      scopes: [CLOUD_PLATFORM],
      secret: 'projects/tvm-local/secrets/carol',
    });
    assert.equal(ok.status, 200);
    const registered = (await ok.json()) as {email: string; userId: string};
    assert.equal(registered.email, 'carol@example.com');
    assert.match(registered.userId, /^1[0-9]{20}$/);
    const r = await refresh({...imported, scope: CLOUD_PLATFORM});
    assert.equal(r.status, 200);
    // The same consent again is the same consent; the refresh token for another user
    // is refused, and so is a body that is not a consent.
    const again = await post({
      ...imported,
      email: 'carol@example.com',
      scopes: [CLOUD_PLATFORM],
    });
    assert.equal(again.status, 200);
    assert.equal(
      ((await again.json()) as {userId: string}).userId,
      registered.userId,
    );
    const dup = await post({
      ...imported,
      email: 'dave@example.com',
      scopes: [CLOUD_PLATFORM],
    });
    assert.equal(dup.status, 400);
    assert.deepEqual(await dup.json(), {
      error: {
        code: 400,
        message: 'that refresh token is already registered',
        status: 'INVALID_ARGUMENT',
      },
    });
    const bad = await post({
      email: 'carol@example.com',
      scopes: 'cloud-platform',
    });
    assert.equal(bad.status, 400);
  });
});
