/**
 * STS downscoping, driven through google-auth-library: its DownscopedClient (the
 * boundary, the token exchange form, the `options` parameter, the answer it reads)
 * against the emulator, and its StsCredentials for the refusals the client would
 * catch before sending. tokeninfo shows the boundary a downscoped token carries.
 */
import './helpers.ts';
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {
  OAuth2Client,
  type AuthClient,
  type CredentialAccessBoundary,
} from 'google-auth-library';
import {StsCredentials} from 'google-auth-library/build/src/auth/stscredentials.js';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import {
  CLOUD_PLATFORM,
  downscopedClient,
  jwtClient,
  rejection,
  sa,
} from './helpers.ts';

const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-share';
const VIEWER = 'inRole:roles/storage.objectViewer';

const boundary = (...rules: unknown[]): CredentialAccessBoundary =>
  ({accessBoundary: {accessBoundaryRules: rules}}) as CredentialAccessBoundary;

void describe('STS token exchange with a Credential Access Boundary', () => {
  let emulator: Emulator;
  let source: AuthClient;
  const account = sa('broker');

  before(async () => {
    emulator = await startEmulator();
    emulator.state.createServiceAccount({email: account});
    source = jwtClient(emulator, emulator.state.createKey(account), {
      scopes: [CLOUD_PLATFORM],
    });
  });
  after(() => emulator.close());

  const tokeninfo = (token: string) =>
    new OAuth2Client({
      endpoints: {tokenInfoUrl: `${emulator.url}/tokeninfo`},
    }).getTokenInfo(token);

  void test('DownscopedClient gets a token whose boundary the emulator reports, living as long as its source', async () => {
    const cab = boundary(
      {availablePermissions: [VIEWER], availableResource: BUCKET},
      {
        availablePermissions: ['inRole:roles/storage.objectCreator'],
        availableResource: '//storage.googleapis.com/projects/_/buckets/drop',
        availabilityCondition: {
          title: 'incoming only',
          expression:
            "resource.name.startsWith('projects/_/buckets/drop/objects/incoming/')",
        },
      },
    );
    emulator.stats.reset();
    const client = downscopedClient(emulator, source, cab);
    const {token, expirationTime} = await client.getAccessToken();
    assert.equal(emulator.stats.count('sts.token'), 1);
    assert.match(token ?? '', /^ya29\./);
    const sourceToken = (await source.getAccessToken()).token!;
    assert.notEqual(token, sourceToken);
    const info = await tokeninfo(token!);
    assert.equal(info.email, account);
    assert.deepEqual(info.scopes, [CLOUD_PLATFORM]);
    assert.deepEqual(
      JSON.parse(
        (info as unknown as {access_boundary: string}).access_boundary,
      ),
      cab,
    );
    const recorded = emulator.state.tokenInfo(token!);
    const original = emulator.state.tokenInfo(sourceToken);
    assert.deepEqual(recorded?.accessBoundary, cab);
    assert.equal(recorded?.expiresAt, original?.expiresAt);
    assert.ok(
      Math.abs((expirationTime ?? 0) - original!.expiresAt) < 2000,
      'the library takes expires_in as the downscoped token’s life',
    );
    assert.equal(
      ((await tokeninfo(sourceToken)) as unknown as Record<string, unknown>)
        .access_boundary,
      undefined,
      'the source token carries no boundary',
    );
  });

  void test('a delegated (user) token is downscoped too, and STS then sends no expires_in', async () => {
    const robot = sa('robot');
    emulator.state.createServiceAccount({email: robot});
    emulator.state.authorizeDelegation(robot, [CLOUD_PLATFORM]);
    emulator.state.createUser('alice@corp.example');
    const user = jwtClient(emulator, emulator.state.createKey(robot), {
      scopes: [CLOUD_PLATFORM],
      subject: 'alice@corp.example',
    });
    const userToken = (await user.getAccessToken()).token!;
    const sts = new StsCredentials({
      tokenExchangeEndpoint: `${emulator.url}/v1/token`,
    });
    const cab = boundary({
      availablePermissions: [VIEWER],
      availableResource: BUCKET,
    });
    const r = await sts.exchangeToken(
      {
        grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
        requestedTokenType: ACCESS_TOKEN,
        subjectToken: userToken,
        subjectTokenType: ACCESS_TOKEN,
      },
      undefined,
      cab,
    );
    assert.equal(r.expires_in, undefined);
    assert.equal(r.issued_token_type, ACCESS_TOKEN);
    assert.equal(r.token_type, 'Bearer');
    const info = emulator.state.tokenInfo(r.access_token!);
    assert.equal(info?.email, 'alice@corp.example');
    assert.equal(info?.delegatedBy, robot);
    assert.deepEqual(info?.accessBoundary, cab);
  });

  /** Exchanges `subjectToken` with `options` through StsCredentials; the error message. */
  async function refusal(
    options: unknown,
    subjectToken?: string,
  ): Promise<string> {
    const sts = new StsCredentials({
      tokenExchangeEndpoint: `${emulator.url}/v1/token`,
    });
    const err = await rejection(
      sts.exchangeToken(
        {
          grantType: 'urn:ietf:params:oauth:grant-type:token-exchange',
          requestedTokenType: ACCESS_TOKEN,
          subjectToken: subjectToken ?? (await source.getAccessToken()).token!,
          subjectTokenType: ACCESS_TOKEN,
        },
        undefined,
        options as CredentialAccessBoundary,
      ),
    );
    assert.ok(err instanceof Error);
    return err.message;
  }

  const rule = {availablePermissions: [VIEWER], availableResource: BUCKET};
  const cases: Array<{name: string; options: unknown; want: RegExp}> = [
    {
      name: 'more than 10 rules',
      options: boundary(...Array.from({length: 11}, () => rule)),
      want: /^Error code invalid_request: The Credential Access Boundary contains more than 10 access boundary rules\.$/,
    },
    {
      name: 'no rule',
      options: boundary(),
      want: /^Error code invalid_request: The Credential Access Boundary must contain at least one access boundary rule\.$/,
    },
    {
      name: 'a permission that is not inRole:',
      options: boundary({
        ...rule,
        availablePermissions: ['storage.objects.get'],
      }),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: availablePermissions only supports IAM roles/,
    },
    {
      name: 'a resource of a service that does not enforce boundaries',
      options: boundary({
        ...rule,
        availableResource:
          '//bigquery.googleapis.com/projects/p/datasets/d/tables/t',
      }),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: availableResource must be the full resource name of a Cloud Storage bucket/,
    },
    {
      name: 'a resource that is not a full resource name',
      options: boundary({...rule, availableResource: 'partner-share'}),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: availableResource must be the full resource name/,
    },
    {
      name: 'a condition that is not CEL',
      options: boundary({
        ...rule,
        availabilityCondition: {expression: "resource.name.startsWith('x'"},
      }),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: availabilityCondition\.expression is not a valid CEL expression: it leaves a bracket open/,
    },
    {
      name: 'a condition over 2048 characters',
      options: boundary({
        ...rule,
        availabilityCondition: {expression: `a == '${'x'.repeat(2050)}'`},
      }),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: availabilityCondition\.expression must be at most 2048 characters\.$/,
    },
    {
      name: 'an unknown member of a rule',
      options: boundary({...rule, availableResources: [BUCKET]}),
      want: /^Error code invalid_request: accessBoundaryRules\[0\]: unknown field "availableResources"\.$/,
    },
    {
      name: 'options without an access boundary',
      options: {userProject: 'p'},
      want: /^Error code invalid_request: Invalid value for "options.accessBoundary": accessBoundaryRules is required\.$/,
    },
  ];
  for (const c of cases) {
    void test(`refuses ${c.name} with invalid_request`, async () => {
      assert.match(await refusal(c.options), c.want);
    });
  }

  void test('refuses an unknown or expired subject token with invalid_grant', async () => {
    assert.equal(
      await refusal(boundary(rule), 'ya29.not-a-token-of-this-emulator'),
      'Error code invalid_grant: The access token is invalid or has expired.',
    );
  });

  void test('refuses to downscope a downscoped token again', async () => {
    const first = await downscopedClient(
      emulator,
      source,
      boundary(rule),
    ).getAccessToken();
    assert.equal(
      await refusal(boundary(rule), first.token!),
      'Error code invalid_request: The subject token already carries security attributes; another Credential Access Boundary cannot be applied.',
    );
  });

  void test('refuses another grant type, and a missing subject token type', async () => {
    const post = (form: Record<string, string>) =>
      fetch(`${emulator.url}/v1/token`, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded'},
        body: new URLSearchParams(form).toString(),
      }).then(async r => ({status: r.status, body: await r.json()}));
    assert.deepEqual(await post({grant_type: 'client_credentials'}), {
      status: 400,
      body: {
        error: 'unsupported_grant_type',
        error_description: 'Invalid value for "grant_type": client_credentials',
      },
    });
    const r = await post({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      requested_token_type: ACCESS_TOKEN,
      subject_token: 'x',
    });
    assert.equal(r.status, 400);
    assert.equal((r.body as {error: string}).error, 'invalid_request');
  });
});
