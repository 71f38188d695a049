/**
 * The metadata server, driven through GoogleAuth/Compute on "GCE" via GCE_METADATA_HOST.
 * gcp-metadata reads GCE_METADATA_HOST on every call, so setting it after import works;
 * METADATA_SERVER_DETECTION=assume-present skips the detection ping entirely.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {
  Compute,
  GoogleAuth,
  Impersonated,
  OAuth2Client,
  gaxios,
} from 'google-auth-library';
import {createRemoteJWKSet, jwtVerify} from 'jose';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  errorBody,
  errorStatus,
  rejection,
  sa,
} from './helpers.ts';

const runtime = sa('tvm-runtime');
const target = sa('target');

void describe('metadata server', () => {
  let emulator: Emulator;
  let uniqueId: string;

  before(async () => {
    emulator = await startEmulator();
    uniqueId = emulator.state.createServiceAccount({email: runtime}).uniqueId;
    emulator.state.createServiceAccount({email: target});
    emulator.state.setDefaultIdentity(runtime);
    emulator.state.grantTokenCreator(`serviceAccount:${runtime}`, target);
    process.env.GCE_METADATA_HOST = emulator.metadataHost;
    process.env.METADATA_SERVER_DETECTION = 'assume-present';
  });
  after(async () => {
    delete process.env.GCE_METADATA_HOST;
    process.env.METADATA_SERVER_DETECTION = 'none';
    await emulator.close();
  });

  void test('GoogleAuth on GCE gets a token, the email and the project id', async () => {
    const auth = new GoogleAuth({scopes: [CLOUD_PLATFORM]});
    const client = await auth.getClient();
    assert.ok(client instanceof Compute);
    const token = await auth.getAccessToken();
    assert.match(token ?? '', /^ya29\./);
    assert.equal(emulator.state.tokenInfo(token ?? '')?.email, runtime);
    assert.equal((await auth.getCredentials()).client_email, runtime);
    assert.equal(await auth.getProjectId(), 'tvm-local');
  });

  void test('honours ?scopes= on the token path', async () => {
    const scopes = [
      'https://www.googleapis.com/auth/iam',
      'https://www.googleapis.com/auth/pubsub',
    ];
    const {token} = await new Compute({scopes}).getAccessToken();
    assert.deepEqual(emulator.state.tokenInfo(token ?? '')?.scopes, scopes);
  });

  void test('identity?format=full is an RS256 ID token verifiable against the JWKS', async () => {
    const auth = new GoogleAuth();
    const idClient = await auth.getIdTokenClient('https://tvm.example.com');
    const headers = await idClient.getRequestHeaders();
    const jwt = (headers.get('authorization') ?? '').replace(/^Bearer /, '');
    const jwks = createRemoteJWKSet(new URL(`${emulator.url}/oauth2/v3/certs`));
    const {payload} = await jwtVerify(jwt, jwks, {
      issuer: 'https://accounts.google.com',
      audience: 'https://tvm.example.com',
    });
    assert.equal(payload.sub, uniqueId);
    assert.equal(payload.email, runtime);
    assert.equal(payload.email_verified, true);
  });

  void test('a metadata token can impersonate through IAM Credentials', async () => {
    const client = new Impersonated({
      sourceClient: new Compute({scopes: [CLOUD_PLATFORM]}),
      targetPrincipal: target,
      targetScopes: [CLOUD_PLATFORM],
      endpoint: emulator.url,
    });
    const {token} = await client.getAccessToken();
    assert.equal(emulator.state.tokenInfo(token ?? '')?.email, target);
  });

  void test('tokeninfo describes a metadata token like Google does', async () => {
    const {token} = await new Compute({
      scopes: [CLOUD_PLATFORM],
    }).getAccessToken();
    const info = await new OAuth2Client({
      endpoints: {tokenInfoUrl: `${emulator.url}/tokeninfo`},
    }).getTokenInfo(token ?? '');
    assert.equal(info.email, runtime);
    assert.deepEqual(info.scopes, [CLOUD_PLATFORM]);
    assert.equal(info.aud, uniqueId);
    assert.ok(info.expiry_date > Date.now() + 3500_000);
  });

  void test('refuses a request without Metadata-Flavor and always answers with it', async () => {
    const g = new gaxios.Gaxios();
    const url = `${emulator.url}/computeMetadata/v1/project/project-id`;
    const err = await rejection(g.request({url, retry: false}));
    assert.equal(errorStatus(err), 403);
    assert.equal(
      (err as gaxios.GaxiosError).response?.headers.get('metadata-flavor'),
      'Google',
    );
    const ok = await g.request<string>({
      url,
      headers: {'Metadata-Flavor': 'Google'},
      responseType: 'text',
    });
    assert.equal(ok.data, 'tvm-local');
    assert.equal(ok.headers.get('metadata-flavor'), 'Google');
    const num = await g.request<string>({
      url: `${emulator.url}/computeMetadata/v1/project/numeric-project-id`,
      headers: {'Metadata-Flavor': 'Google'},
      responseType: 'text',
    });
    assert.equal(num.data, '123456789012');
    const universe = await g.request<string>({
      url: `${emulator.url}/computeMetadata/v1/universe/universe-domain`,
      headers: {'Metadata-Flavor': 'Google'},
      responseType: 'text',
    });
    assert.equal(universe.data, 'googleapis.com');
    assert.deepEqual(
      errorBody(err),
      'Missing required header "Metadata-Flavor": "Google"\n',
    );
  });
});
