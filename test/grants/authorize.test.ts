/**
 * The policy decision (src/grants/authorize.ts) as a table: default deny; a request is
 * allowed only when one grant of the client covers the account, every scope and the
 * lifetime. Each refusal asserts its code, its caller-facing message and its detail.
 */
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {TvmError, type TvmErrorCode} from '../../src/errors.ts';
import {authorize, type AccessRequest} from '../../src/grants/authorize.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {basePolicy, toYaml} from '../policy/helpers.ts';

const data = basePolicy();
data.service_accounts.unused = {
  email: 'unused@my-proj.iam.gserviceaccount.com',
};
data.service_accounts.backup = {
  email: 'backup-job@my-proj.iam.gserviceaccount.com',
};
data.clients['nightly-export']!.allow.push({
  service_account: 'backup',
  scopes: ['bigquery.readonly'],
});
data.clients['nightly-export']!.allow.push({
  service_account: 'legacy-etl',
  scopes: ['cloud-platform'],
  default_scopes: ['cloud-platform'],
  max_lifetime: '1h',
});
const policy = parsePolicy(toYaml(data));
const client = policy.clients.get('nightly-export')!;

const BQ = 'https://www.googleapis.com/auth/bigquery.readonly';
const CP = 'https://www.googleapis.com/auth/cloud-platform';

const ask = (over: Partial<AccessRequest>): AccessRequest => ({
  audience: 'reporting',
  scope: 'bigquery.readonly',
  lifetimeSeconds: undefined,
  ...over,
});

void describe('authorize: allowed', () => {
  const cases: {
    name: string;
    input: AccessRequest;
    want: {email: string; scopes: string[]; lifetimeSeconds: number};
  }[] = [
    {
      name: 'alias, short scope, default lifetime = max_lifetime',
      input: ask({}),
      want: {
        email: 'reporting@my-proj.iam.gserviceaccount.com',
        scopes: [BQ],
        lifetimeSeconds: 900,
      },
    },
    {
      name: 'email in any ASCII case, full scope URL, repeated scope once',
      input: ask({
        audience: 'Reporting@My-Proj.iam.gserviceaccount.com',
        scope: `${BQ}  bigquery.readonly`,
        lifetimeSeconds: 60,
      }),
      want: {
        email: 'reporting@my-proj.iam.gserviceaccount.com',
        scopes: [BQ],
        lifetimeSeconds: 60,
      },
    },
    {
      name: 'an email in ASCII capitals names the account, as Google compares them',
      input: ask({audience: 'BACKUP-JOB@MY-PROJ.IAM.GSERVICEACCOUNT.COM'}),
      want: {
        email: 'backup-job@my-proj.iam.gserviceaccount.com',
        scopes: [BQ],
        lifetimeSeconds: 3600,
      },
    },
    {
      name: 'no scope: the grant default_scopes',
      input: ask({audience: 'legacy-etl', scope: undefined}),
      want: {
        email: 'etl@other-proj.iam.gserviceaccount.com',
        scopes: [CP],
        lifetimeSeconds: 3600,
      },
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      const d = authorize(policy, client, c.input);
      assert.deepEqual(
        {
          email: d.serviceAccount.email,
          scopes: [...d.scopes],
          lifetimeSeconds: d.lifetimeSeconds,
        },
        c.want,
      );
    });
  }
});

void describe('authorize: refused', () => {
  const cases: {
    name: string;
    input: AccessRequest;
    code: TvmErrorCode;
    message: string | RegExp;
    detail?: string;
  }[] = [
    {
      name: 'an account the policy does not name',
      input: ask({audience: 'nobody@my-proj.iam.gserviceaccount.com'}),
      code: 'ERR_INVALID_TARGET',
      message: 'this client is not granted the requested service account',
      detail: 'audience names no service account in the policy',
    },
    {
      name: 'an account named for someone else: the same answer',
      input: ask({audience: 'unused'}),
      code: 'ERR_INVALID_TARGET',
      message: 'this client is not granted the requested service account',
      detail: 'no grant for unused',
    },
    ...[
      [
        'U+212A KELVIN SIGN for k',
        'bac\u212aup-job@my-proj.iam.gserviceaccount.com',
      ],
      ['U+212A KELVIN SIGN in the alias', 'bac\u212aup'],
      ['dotless i for i', 'backup-job@my-proj.\u0131am.gserviceaccount.com'],
      [
        'dotted capital I for i',
        'backup-job@my-proj.\u0130am.gserviceaccount.com',
      ],
      ['a fullwidth letter', 'backup-job@my-proj.iam.gserviceaccount.co\uff4d'],
    ].map(([what, audience]) => ({
      name: `${what}: no Unicode folding, the account is not named`,
      input: ask({audience: audience!}),
      code: 'ERR_INVALID_TARGET' as const,
      message: 'this client is not granted the requested service account',
      detail: 'audience names no service account in the policy',
    })),
    {
      name: 'a scope beyond the grant',
      input: ask({scope: 'bigquery.readonly cloud-platform'}),
      code: 'ERR_INVALID_SCOPE',
      message: `scope not granted for this service account: ${CP}`,
      detail: 'scopes beyond the grant: 1',
    },
    {
      name: 'no scope and no default_scopes',
      input: ask({scope: undefined}),
      code: 'ERR_INVALID_REQUEST',
      message: 'scope is required for this service account',
    },
    {
      name: 'only spaces as scope',
      input: ask({scope: '   '}),
      code: 'ERR_INVALID_REQUEST',
      message: 'scope must list 1 to 32 space-separated scopes',
    },
    {
      name: '33 scopes',
      input: ask({
        scope: Array.from({length: 33}, (_, i) => `s${i}`).join(' '),
      }),
      code: 'ERR_INVALID_REQUEST',
      message: 'scope must list 1 to 32 space-separated scopes',
    },
    {
      name: 'lifetime under 60 s',
      input: ask({lifetimeSeconds: 59}),
      code: 'ERR_INVALID_REQUEST',
      message: 'lifetime must be between 60 and 900 seconds for this grant',
    },
    {
      name: 'lifetime over max_lifetime',
      input: ask({lifetimeSeconds: 901}),
      code: 'ERR_INVALID_REQUEST',
      message: 'lifetime must be between 60 and 900 seconds for this grant',
    },
    {
      name: 'a key-minted account: shorter than Google issues',
      input: ask({
        audience: 'legacy-etl',
        scope: undefined,
        lifetimeSeconds: 600,
      }),
      code: 'ERR_INVALID_REQUEST',
      message: /^tokens for this service account live 3600 seconds/,
    },
  ];
  for (const c of cases) {
    void test(c.name, () => {
      assert.throws(
        () => authorize(policy, client, c.input),
        (e: unknown) => {
          assert.ok(e instanceof TvmError);
          assert.equal(e.code, c.code);
          if (typeof c.message === 'string') assert.equal(e.message, c.message);
          else assert.match(e.message, c.message);
          if (c.detail !== undefined) assert.equal(e.detail, c.detail);
          return true;
        },
      );
    });
  }
});
