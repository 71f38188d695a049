/**
 * src/google/user-refresh.ts against a token endpoint that answers what a test tells
 * it: only Google's word on the credential (invalid_grant, invalid_client,
 * unauthorized_client) or on the scopes (invalid_scope) is a RefreshRefused, which
 * pauses; anything else is a plain upstream refusal. Scopes granted beyond those asked
 * are refused, except `openid`, which Google may add.
 */
import {after, before, test} from 'node:test';
import assert from 'node:assert/strict';
import {createServer, type Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {UpstreamError} from '../../src/google/upstream.ts';
import {
  RefreshRefused,
  refreshUserToken,
} from '../../src/google/user-refresh.ts';

const G = 'https://www.googleapis.com/auth/';
let server: Server;
let url: string;
let answer: {status: number; type: string; body: string};

before(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(answer.status, {'content-type': answer.type});
      res.end(answer.body);
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});
after(() => new Promise(r => server.close(r)));

const user = {
  clientId: '1-x.apps.googleusercontent.com',
  clientSecret: 'client-secret-value',
  refreshToken: '1//0grefresh-token-value',
  quotaProjectId: undefined,
};
const clock = {now: () => Date.parse('2026-12-02T00:00:00Z')};
const refresh = (scopes: string[]) =>
  refreshUserToken(user, scopes, url, clock, 2000);
const json = (status: number, body: object) => ({
  status,
  type: 'application/json',
  body: JSON.stringify(body),
});

void test('Google refusing the credential: RefreshRefused, credentialRefused', async () => {
  for (const error of [
    'invalid_grant',
    'invalid_client',
    'unauthorized_client',
  ]) {
    answer = json(400, {
      error,
      error_description: 'Token has been expired or revoked.',
    });
    await assert.rejects(
      refresh([`${G}cloud-platform`]),
      (e: unknown) =>
        e instanceof RefreshRefused && e.error === error && e.credentialRefused,
    );
  }
});

void test('Google refusing the scopes: RefreshRefused, the credential not refused', async () => {
  answer = json(400, {
    error: 'invalid_scope',
    error_description: 'Bad Request',
  });
  await assert.rejects(
    refresh([`${G}drive`]),
    (e: unknown) => e instanceof RefreshRefused && !e.credentialRefused,
  );
});

void test('an answer that is not Google’s word on the credential is a plain upstream refusal', async () => {
  for (const a of [
    {status: 404, type: 'text/html', body: '<html>Not Found</html>'},
    json(400, {error: 'invalid_request'}),
    json(403, {message: 'forbidden by a proxy'}),
  ]) {
    answer = a;
    await assert.rejects(
      refresh([`${G}cloud-platform`]),
      (e: unknown) =>
        e instanceof UpstreamError &&
        !(e instanceof RefreshRefused) &&
        !e.retryable &&
        e.message.includes(`HTTP ${a.status}`),
      a.body,
    );
  }
});

void test('openid added to the scopes granted is accepted; any other scope is refused as invalid_scope', async () => {
  answer = json(200, {
    access_token: 'ya29.user-token',
    expires_in: 3599,
    token_type: 'Bearer',
    scope: `${G}userinfo.email openid`,
  });
  const t = await refresh([`${G}userinfo.email`]);
  assert.equal(t.accessToken, 'ya29.user-token');
  assert.equal(t.expiresAt, clock.now() + 3599_000);
  answer = json(200, {
    access_token: 'ya29.user-token',
    expires_in: 3599,
    token_type: 'Bearer',
    scope: `${G}userinfo.email ${G}drive`,
  });
  await assert.rejects(
    refresh([`${G}userinfo.email`]),
    (e: unknown) =>
      e instanceof RefreshRefused &&
      e.error === 'invalid_scope' &&
      !e.credentialRefused,
  );
});
