/**
 * Downscoped tokens, end to end: a grant forces a Credential Access Boundary or lets
 * the caller ask for one (`access_boundary`, Google's JSON); tvm mints the token as
 * ever, then exchanges it at STS. Checked through tokeninfo (the boundary the emulator
 * reports), upstream counts, the cache (keyed by the boundary, never past its source's
 * refresh point), the IAM-shaped route (a forced boundary holds there too, through
 * google-auth-library's Impersonated), every refusal audited, nothing secret logged.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {Impersonated, OAuth2Client} from 'google-auth-library';
import {
  assertNoSecretsLogged,
  basic,
  newKey,
  postForm,
  rememberSecret,
  startStack,
  type Stack,
} from '../support/stack.ts';

const SHARE = 'share@tvm-local.iam.gserviceaccount.com';
const READ = 'https://www.googleapis.com/auth/devstorage.read_only';
const BUCKET = '//storage.googleapis.com/projects/_/buckets/partner-a';
const DROP = '//storage.googleapis.com/projects/_/buckets/drop';
const VIEWER = 'inRole:roles/storage.objectViewer';
const CREATOR = 'inRole:roles/storage.objectCreator';
const INCOMING =
  "resource.name.startsWith('projects/_/buckets/drop/objects/incoming/')";

const POLICY = `
version: 1
service_accounts:
  share:
    email: ${SHARE}
  drop:
    email: drop@tvm-local.iam.gserviceaccount.com
  robot:
    email: robot@tvm-local.iam.gserviceaccount.com
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  partner:
    api_keys:
      - sha256: "{{KEY:partner}}"
    allow:
      - service_account: share
        scopes: [devstorage.read_only, cloud-platform]
        max_lifetime: 15m
        access_boundary:
          mode: force
          rules:
            - resource: ${BUCKET}
              permissions: [${VIEWER}, "inRole:roles/storage.legacyBucketReader"]
            - resource: ${DROP}
              permissions: [${CREATOR}]
              condition:
                title: incoming only
                expression: "${INCOMING}"
      - service_account: drop
        scopes: [cloud-platform]
        access_boundary:
          mode: allow
          rules:
            - resource: ${DROP}
              permissions: [${CREATOR}, ${VIEWER}]
      - service_account: robot
        scopes: [cloud-platform]
        delegation:
          subjects: ["*@corp.example"]
          scopes: [cloud-platform]
        access_boundary:
          mode: force
          rules:
            - resource: ${BUCKET}
              permissions: [${VIEWER}]
      - service_account: reporting
        scopes: [bigquery.readonly]
`;

const keys = {partner: newKey()};
const handedOut: string[] = [];
const clock = {offset: 0, now: () => Date.now() + clock.offset};
let s: Stack;

before(async () => {
  s = await startStack({policy: POLICY, keys, clock});
});
after(async () => {
  await s.close();
  assertNoSecretsLogged([...Object.values(keys), ...handedOut]);
});

const asPartner = {authorization: basic('partner', keys.partner)};
async function token(extra: Record<string, string>) {
  const r = await postForm(
    `${s.url}/token`,
    {grant_type: 'client_credentials', ...extra},
    asPartner,
  );
  if (typeof r.body.access_token === 'string')
    handedOut.push(r.body.access_token);
  return r;
}
/** tokeninfo through OAuth2Client; the boundary it reports, parsed. */
async function info(
  t: string,
): Promise<{email?: string; scopes: string[]; boundary: unknown}> {
  const i = (await new OAuth2Client({
    endpoints: {tokenInfoUrl: `${s.emulator.url}/tokeninfo`},
  }).getTokenInfo(t)) as unknown as Record<string, unknown> & {
    email?: string;
    scopes: string[];
  };
  return {
    email: i.email,
    scopes: i.scopes,
    boundary:
      typeof i.access_boundary === 'string'
        ? (JSON.parse(i.access_boundary) as unknown)
        : undefined,
  };
}
const cab = (...rules: unknown[]) => ({
  accessBoundary: {accessBoundaryRules: rules},
});
const lastAudit = () =>
  s.audits().at(-1)!.audit as Record<string, unknown> & {detail?: string};
const count = (t: Parameters<Stack['emulator']['stats']['count']>[0]) =>
  s.emulator.stats.count(t);

/** The grant's boundary as STS receives it: rules in canonical order, roles sorted. */
const FORCED = cab(
  {
    availableResource: DROP,
    availablePermissions: [CREATOR],
    availabilityCondition: {expression: INCOMING, title: 'incoming only'},
  },
  {
    availableResource: BUCKET,
    availablePermissions: ['inRole:roles/storage.legacyBucketReader', VIEWER],
  },
);

void describe('a forced boundary', () => {
  void test('a token of the grant carries the grant’s boundary; minted, then downscoped once', async () => {
    s.emulator.stats.reset();
    const r = await token({audience: 'share', scope: 'devstorage.read_only'});
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.body.scope, READ);
    const expiresIn = r.body.expires_in as number;
    assert.ok(expiresIn > 880 && expiresIn <= 900, `expires_in ${expiresIn}`);
    const i = await info(r.body.access_token as string);
    assert.equal(i.email, SHARE);
    assert.deepEqual(i.scopes, [READ]);
    assert.deepEqual(i.boundary, FORCED);
    assert.equal(count('iam.generateAccessToken'), 1);
    assert.equal(count('sts.token'), 1);
    const a = lastAudit();
    assert.equal(a.decision, 'allow');
    assert.deepEqual(a.accessBoundary, {
      sha256: (a.accessBoundary as {sha256: string}).sha256,
      requested: false,
      resources: [DROP, BUCKET],
    });
    assert.match(
      (a.accessBoundary as {sha256: string}).sha256,
      /^[0-9a-f]{16}$/,
    );
    assert.equal(a.cached, false);
  });

  void test('asked again: the cached downscoped token, no upstream call', async () => {
    s.emulator.stats.reset();
    const first = handedOut.at(-1);
    const r = await token({audience: 'share', scope: 'devstorage.read_only'});
    assert.equal(r.body.access_token, first);
    assert.equal(count('iam.generateAccessToken') + count('sts.token'), 0);
    assert.equal(lastAudit().cached, true);
  });

  void test('a narrower boundary: the source token is reused, only STS is asked', async () => {
    s.emulator.stats.reset();
    const asked = cab({
      availablePermissions: [VIEWER],
      availableResource: BUCKET,
    });
    const r = await token({
      audience: 'share',
      scope: 'devstorage.read_only',
      access_boundary: JSON.stringify(asked),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual((await info(r.body.access_token as string)).boundary, {
      accessBoundary: {
        accessBoundaryRules: [
          {availableResource: BUCKET, availablePermissions: [VIEWER]},
        ],
      },
    });
    assert.equal(count('iam.generateAccessToken'), 0);
    assert.equal(count('sts.token'), 1);
    assert.equal(
      (lastAudit().accessBoundary as {requested: boolean}).requested,
      true,
    );
  });

  void test('a conditioned rule may be asked for with the same condition', async () => {
    const asked = cab({
      availableResource: DROP,
      availablePermissions: [CREATOR],
      availabilityCondition: {expression: INCOMING, title: 'mine'},
    });
    const r = await token({
      audience: 'share',
      scope: 'devstorage.read_only',
      access_boundary: JSON.stringify(asked),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(
      (await info(r.body.access_token as string)).boundary,
      asked,
    );
  });

  void test('the IAM-shaped route (Impersonated, unmodified) gets the forced boundary too', async () => {
    const src = new OAuth2Client();
    src.setCredentials({
      access_token: keys.partner,
      expiry_date: Date.now() + 3_600_000,
    });
    const imp = new Impersonated({
      sourceClient: src,
      targetPrincipal: SHARE,
      targetScopes: [READ],
      lifetime: 900,
      delegates: [],
      endpoint: s.url,
    });
    const {token: t} = await imp.getAccessToken();
    rememberSecret(t ?? undefined);
    handedOut.push(t!);
    const i = await info(t!);
    assert.equal(i.email, SHARE);
    assert.deepEqual(i.boundary, FORCED);
    assert.equal(lastAudit().grantType, 'iamcredentials.generateAccessToken');
    assert.equal(
      (lastAudit().accessBoundary as {requested: boolean}).requested,
      false,
    );
  });

  void test('a delegated token downscoped: STS sends no expires_in, the source token’s expiry holds', async () => {
    s.emulator.stats.reset();
    const r = await token({
      audience: 'robot',
      subject: 'alice@corp.example',
      scope: 'cloud-platform',
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const expiresIn = r.body.expires_in as number;
    assert.ok(expiresIn > 3500 && expiresIn <= 3600, `expires_in ${expiresIn}`);
    const i = await info(r.body.access_token as string);
    assert.equal(i.email, 'alice@corp.example');
    assert.deepEqual(
      i.boundary,
      cab({availableResource: BUCKET, availablePermissions: [VIEWER]}),
    );
    assert.equal(count('iam.signJwt'), 1);
    assert.equal(count('oauth2.token'), 1);
    assert.equal(count('sts.token'), 1);
    const a = lastAudit();
    assert.equal(a.delegatedSubject, 'alice@corp.example');
    assert.deepEqual(
      a.accessBoundary && (a.accessBoundary as {resources: string[]}).resources,
      [BUCKET],
    );
  });
});

void describe('an allowed boundary', () => {
  void test('without access_boundary: a plain token, STS not asked', async () => {
    s.emulator.stats.reset();
    const r = await token({audience: 'drop', scope: 'cloud-platform'});
    assert.equal(r.status, 200);
    assert.equal(
      (await info(r.body.access_token as string)).boundary,
      undefined,
    );
    assert.equal(count('sts.token'), 0);
    assert.equal(lastAudit().accessBoundary, undefined);
  });

  void test('with one: downscoped to it', async () => {
    const asked = cab({
      availableResource: DROP,
      availablePermissions: [CREATOR],
    });
    const r = await token({
      audience: 'drop',
      scope: 'cloud-platform',
      access_boundary: JSON.stringify(asked),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(
      (await info(r.body.access_token as string)).boundary,
      asked,
    );
  });
});

void describe('refusals: audited, before any upstream call', () => {
  const rule = {availableResource: BUCKET, availablePermissions: [VIEWER]};
  const cases: Array<{
    name: string;
    form: Record<string, string>;
    status: number;
    body: {error: string; error_description: string | RegExp};
    reason: string;
  }> = [
    {
      name: 'a resource the grant does not allow',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab({
            ...rule,
            availableResource:
              '//storage.googleapis.com/projects/_/buckets/partner-b',
          }),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description:
          'access_boundary is wider than this grant allows: rule 1: resource //storage.googleapis.com/projects/_/buckets/partner-b is not allowed',
      },
      reason: 'ERR_INVALID_SCOPE',
    },
    {
      name: 'a role the grant does not list for the resource',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab({
            ...rule,
            availablePermissions: [VIEWER, 'inRole:roles/storage.objectAdmin'],
          }),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description: `access_boundary is wider than this grant allows: rule 1: on ${BUCKET} only inRole:roles/storage.legacyBucketReader, ${VIEWER} may be asked for`,
      },
      reason: 'ERR_INVALID_SCOPE',
    },
    {
      name: 'dropping the condition the grant sets',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab({availableResource: DROP, availablePermissions: [CREATOR]}),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description: `access_boundary is wider than this grant allows: rule 1: on ${DROP} the grant requires its availability condition, word for word`,
      },
      reason: 'ERR_INVALID_SCOPE',
    },
    {
      name: 'a boundary on a grant without access_boundary',
      form: {
        audience: 'reporting',
        scope: 'bigquery.readonly',
        access_boundary: JSON.stringify(cab(rule)),
      },
      status: 400,
      body: {
        error: 'invalid_scope',
        error_description:
          'access_boundary is not allowed for this service account',
      },
      reason: 'ERR_INVALID_SCOPE',
    },
    {
      name: 'a boundary that is not JSON',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: '{rules',
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: is not JSON',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a boundary over 8192 characters (refused unread)',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: `{"accessBoundary":${' '.repeat(8200)}}`,
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: is longer than 8192 characters',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'eleven rules',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab(...Array.from({length: 11}, () => rule)),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: accessBoundary.accessBoundaryRules: at most 10 entries',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a permission that is not a role',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab({...rule, availablePermissions: ['storage.objects.get']}),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: accessBoundary.accessBoundaryRules[0].availablePermissions[0] must be an IAM role as inRole:roles/ROLE (e.g. inRole:roles/storage.objectViewer); Credential Access Boundaries take roles, not single permissions',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'a condition that is not CEL',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify(
          cab({
            ...rule,
            availabilityCondition: {expression: 'resource.name == "x'},
          }),
        ),
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: accessBoundary.accessBoundaryRules[0].availabilityCondition.expression is not a valid CEL expression: it has an unterminated string at 18',
      },
      reason: 'ERR_INVALID_REQUEST',
    },
    {
      name: 'an unknown member',
      form: {
        audience: 'share',
        scope: 'devstorage.read_only',
        access_boundary: JSON.stringify({...cab(rule), extra: 1}),
      },
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'access_boundary must be a Credential Access Boundary as JSON: (top level): unknown member "extra"',
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
      assert.equal(a.client, 'partner');
      if (c.reason === 'ERR_INVALID_SCOPE') {
        // What the refused boundary asked for, as a granted one is recorded.
        const asked = (
          JSON.parse(c.form.access_boundary!) as {
            accessBoundary: {
              accessBoundaryRules: Array<{availableResource: string}>;
            };
          }
        ).accessBoundary.accessBoundaryRules[0]!.availableResource;
        assert.match(
          a.detail!,
          new RegExp(`; asked sha256 [0-9a-f]{16} for .*${asked}`),
        );
      }
      assert.equal(count('iam.generateAccessToken') + count('sts.token'), 0);
    });
  }
});

void describe('STS failing', () => {
  void test('a 503 is retried inside the deadline; the caller gets its token', async () => {
    s.emulator.stats.reset();
    s.emulator.faults.set(
      'sts.token',
      {kind: 'status', status: 503},
      {times: 1},
    );
    const asked = cab({
      availableResource: BUCKET,
      availablePermissions: ['inRole:roles/storage.legacyBucketReader'],
    });
    const r = await token({
      audience: 'share',
      scope: 'devstorage.read_only',
      access_boundary: JSON.stringify(asked),
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(count('sts.token'), 2);
  });

  void test('a 400 is a 502 at once, not cached, not retried', async () => {
    s.emulator.stats.reset();
    s.emulator.faults.set(
      'sts.token',
      {kind: 'status', status: 400},
      {times: 1},
    );
    const asked = cab({
      availableResource: DROP,
      availablePermissions: [CREATOR],
      availabilityCondition: {expression: INCOMING},
    });
    const form = {
      audience: 'share',
      scope: 'devstorage.read_only',
      access_boundary: JSON.stringify(asked),
    };
    const r = await token(form);
    assert.equal(r.status, 502);
    assert.equal(r.body.error, 'temporarily_unavailable');
    assert.equal(count('sts.token'), 1);
    assert.equal(lastAudit().reason, 'ERR_UPSTREAM_REFUSED');
    assert.equal(
      lastAudit().detail,
      'STS token exchange answered HTTP 400 (invalid_request)',
    );
    const again = await token(form);
    assert.equal(again.status, 200);
    assert.equal(count('sts.token'), 2);
  });
});

void describe('the cache never hands out a downscoped token past its source’s refresh point', () => {
  void test('with 5 minutes or less left, both tokens are minted again', async () => {
    s.emulator.stats.reset();
    const form = {audience: 'share', scope: 'cloud-platform'};
    const first = await token(form);
    assert.equal(first.status, 200);
    assert.equal(count('iam.generateAccessToken'), 1);
    assert.equal(count('sts.token'), 1);
    clock.offset += 500_000; // 400 s of 900 left: still handed out
    const warm = await token(form);
    assert.equal(warm.body.access_token, first.body.access_token);
    const left = warm.body.expires_in as number;
    assert.ok(left > 390 && left <= 400, `expires_in ${left}`);
    clock.offset += 101_000; // 299 s left: below the useful remainder
    const fresh = await token(form);
    assert.notEqual(fresh.body.access_token, first.body.access_token);
    const now = fresh.body.expires_in as number;
    assert.ok(now > 890 && now <= 900, `expires_in ${now}`);
    assert.equal(count('iam.generateAccessToken'), 2);
    assert.equal(count('sts.token'), 2);
    assert.equal(
      (await info(fresh.body.access_token as string)).boundary !== undefined,
      true,
    );
  });
});
