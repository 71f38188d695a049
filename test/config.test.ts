/** Configuration as a function of the environment: defaults, values, refusals by name. */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readdirSync, readFileSync} from 'node:fs';
import {join} from 'node:path';
import {
  CONFIG_SETTINGS,
  CONFIG_VARIABLES,
  parseConfig,
  type Config,
} from '../src/config.ts';
import {CALLER_VARIABLES} from '../src/cli/variables.ts';
import {ConfigError} from '../src/errors.ts';

/** Every Google endpoint on loopback, as local mode needs. */
const LOOPBACK_ENDPOINTS = {
  GCE_METADATA_HOST: '127.0.0.1:8081',
  TVM_IAM_CREDENTIALS_ENDPOINT: 'http://127.0.0.1:8081',
  TVM_OAUTH2_TOKEN_URL: 'http://127.0.0.1:8081/token',
  TVM_SECRET_MANAGER_ENDPOINT: 'http://127.0.0.1:8082',
  TVM_STS_ENDPOINT: 'http://127.0.0.1:8081',
};

void test('defaults point at Google and trust no proxy off the platform', () => {
  const c = parseConfig({});
  assert.equal(c.port, 8080);
  assert.equal(
    c.iamCredentialsEndpoint,
    'https://iamcredentials.googleapis.com',
  );
  assert.equal(c.oauth2TokenUrl, 'https://oauth2.googleapis.com/token');
  assert.equal(c.secretManagerEndpoint, 'https://secretmanager.googleapis.com');
  assert.equal(c.stsEndpoint, 'https://sts.googleapis.com');
  assert.equal(c.trustedProxyHops, 0);
  assert.equal(c.local, false);
  assert.equal(c.policySource, undefined);
  assert.ok(Object.isFrozen(c));
});

void test("on Cloud Functions (K_SERVICE), Google's front end is one trusted hop", () => {
  assert.equal(parseConfig({K_SERVICE: 'tvm'}).trustedProxyHops, 1);
  assert.equal(
    parseConfig({K_SERVICE: 'tvm', TVM_TRUSTED_PROXY_HOPS: '2'})
      .trustedProxyHops,
    2,
  );
});

void test('values are normalised', () => {
  const c = parseConfig({
    TVM_ISSUER: 'https://tvm.example.com/',
    TVM_IAM_CREDENTIALS_ENDPOINT: 'https://private.googleapis.com/',
    TVM_OAUTH2_TOKEN_URL: 'http://127.0.0.1:9000/token',
    PORT: '9090',
  });
  assert.equal(c.issuer, 'https://tvm.example.com');
  assert.equal(c.iamCredentialsEndpoint, 'https://private.googleapis.com');
  assert.equal(c.oauth2TokenUrl, 'http://127.0.0.1:9000/token');
  assert.equal(c.port, 9090);
  // Local mode refuses endpoints off loopback (below), so it is set on its own here.
  const local = parseConfig({...LOOPBACK_ENDPOINTS, TVM_LOCAL: '1'});
  assert.equal(local.local, true);
});

const refusals: [string, Record<string, string>][] = [
  ['PORT', {PORT: '70000'}],
  ['PORT', {PORT: '80a'}],
  ['TVM_LOCAL', {TVM_LOCAL: 'yes'}],
  [
    'TVM_IAM_CREDENTIALS_ENDPOINT',
    {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://x.example/v1'},
  ],
  [
    'TVM_IAM_CREDENTIALS_ENDPOINT',
    {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://user:pw@x.example'},
  ],
  [
    'TVM_OAUTH2_TOKEN_URL',
    {TVM_OAUTH2_TOKEN_URL: 'http://oauth2.example/token'},
  ],
  ['TVM_ISSUER', {TVM_ISSUER: 'http://tvm.example.com'}],
  ['TVM_LOG_LEVEL', {TVM_LOG_LEVEL: 'verbose'}],
  ['TVM_POLICY_REFRESH_SECONDS', {TVM_POLICY_REFRESH_SECONDS: '1'}],
];
for (const [variable, env] of refusals) {
  void test(`refused, naming ${variable}: ${JSON.stringify(env)}`, () => {
    assert.throws(
      () => parseConfig(env),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.variable === variable &&
        e.message.startsWith(`${variable}: `),
    );
  });
}

void test('every variable read is listed in CONFIG_VARIABLES', () => {
  for (const [variable, env] of refusals) {
    assert.ok(variable in CONFIG_VARIABLES, variable);
    assert.ok(Object.keys(env).every(k => k in CONFIG_VARIABLES));
  }
});

// ---------------------------------------------------------------------------------
// Tables: for each variable, values read and values refused (src/config.ts SETTINGS).
// ---------------------------------------------------------------------------------

const accepted: {
  env: Record<string, string>;
  field: keyof Config;
  want: unknown;
}[] = [
  {env: {}, field: 'policySource', want: undefined},
  {env: {TVM_POLICY: '  '}, field: 'policySource', want: undefined},
  {
    env: {TVM_POLICY: 'policy.yaml'},
    field: 'policySource',
    want: {kind: 'file', path: 'policy.yaml'},
  },
  {
    env: {TVM_POLICY: ' /etc/tvm/policy.yaml '},
    field: 'policySource',
    want: {kind: 'file', path: '/etc/tvm/policy.yaml'},
  },
  {
    env: {TVM_POLICY: './projects/p/secrets/s'},
    field: 'policySource',
    want: {kind: 'file', path: './projects/p/secrets/s'},
  },
  {
    env: {TVM_POLICY: 'projects/my-proj/secrets/tvm-policy/versions/latest'},
    field: 'policySource',
    want: {
      kind: 'secret',
      version: {
        name: 'projects/my-proj/secrets/tvm-policy/versions/latest',
        secret: 'projects/my-proj/secrets/tvm-policy',
        version: 'latest',
        number: undefined,
      },
    },
  },
  {
    env: {TVM_POLICY: 'projects/123456789012/secrets/p/versions/7'},
    field: 'policySource',
    want: {
      kind: 'secret',
      version: {
        name: 'projects/123456789012/secrets/p/versions/7',
        secret: 'projects/123456789012/secrets/p',
        version: '7',
        number: 7,
      },
    },
  },
  {env: {}, field: 'port', want: 8080},
  {env: {PORT: '0'}, field: 'port', want: 0},
  {env: {PORT: '65535'}, field: 'port', want: 65535},
  {env: {PORT: ''}, field: 'port', want: 8080},
  {env: {}, field: 'issuer', want: undefined},
  {
    env: {TVM_ISSUER: 'https://tvm.example.com//'},
    field: 'issuer',
    want: 'https://tvm.example.com',
  },
  {
    env: {TVM_ISSUER: 'https://api.example.com/tvm/'},
    field: 'issuer',
    want: 'https://api.example.com/tvm',
  },
  {
    env: {TVM_ISSUER: 'http://localhost:8080'},
    field: 'issuer',
    want: 'http://localhost:8080',
  },
  {
    env: {TVM_ISSUER: 'http://[::1]:8080/'},
    field: 'issuer',
    want: 'http://[::1]:8080',
  },
  {env: {}, field: 'local', want: false},
  {env: {TVM_LOCAL: '0'}, field: 'local', want: false},
  {env: {TVM_LOCAL: 'false'}, field: 'local', want: false},
  {env: {TVM_LOCAL: 'true', ...LOOPBACK_ENDPOINTS}, field: 'local', want: true},
  {env: {}, field: 'onPlatform', want: false},
  {env: {K_SERVICE: 'tvm'}, field: 'onPlatform', want: true},
  {
    env: {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://iam.p.googleapis.com:443/'},
    field: 'iamCredentialsEndpoint',
    want: 'https://iam.p.googleapis.com',
  },
  {
    env: {TVM_OAUTH2_TOKEN_URL: 'https://oauth2.p.googleapis.com/token'},
    field: 'oauth2TokenUrl',
    want: 'https://oauth2.p.googleapis.com/token',
  },
  {
    env: {TVM_SECRET_MANAGER_ENDPOINT: 'http://[::1]:9443'},
    field: 'secretManagerEndpoint',
    want: 'http://[::1]:9443',
  },
  {env: {}, field: 'metadataHost', want: undefined},
  {
    env: {GCE_METADATA_HOST: ' 127.0.0.1:8081 '},
    field: 'metadataHost',
    want: '127.0.0.1:8081',
  },
  {env: {}, field: 'policyRefreshSeconds', want: 60},
  {
    env: {TVM_POLICY_REFRESH_SECONDS: '5'},
    field: 'policyRefreshSeconds',
    want: 5,
  },
  {
    env: {TVM_POLICY_REFRESH_SECONDS: '86400'},
    field: 'policyRefreshSeconds',
    want: 86400,
  },
  {env: {TVM_TRUSTED_PROXY_HOPS: '5'}, field: 'trustedProxyHops', want: 5},
  {
    env: {K_SERVICE: 'tvm', TVM_TRUSTED_PROXY_HOPS: '0'},
    field: 'trustedProxyHops',
    want: 0,
  },
  {env: {}, field: 'rateLimitPerIp', want: 120},
  {env: {TVM_RATE_LIMIT_PER_IP: '1'}, field: 'rateLimitPerIp', want: 1},
  {env: {}, field: 'rateLimitPerClient', want: 600},
  {
    env: {TVM_RATE_LIMIT_PER_CLIENT: '1000000'},
    field: 'rateLimitPerClient',
    want: 1_000_000,
  },
  {env: {}, field: 'logLevel', want: 'info'},
  {env: {TVM_LOG_LEVEL: 'silent'}, field: 'logLevel', want: 'silent'},
  {env: {TVM_LOG_LEVEL: ' debug '}, field: 'logLevel', want: 'debug'},
  {env: {}, field: 'project', want: undefined},
  {
    env: {GOOGLE_CLOUD_PROJECT: 'tvm-prod-42'},
    field: 'project',
    want: 'tvm-prod-42',
  },
  {
    env: {GOOGLE_CLOUD_PROJECT: 'example.com:tvm-prod'},
    field: 'project',
    want: 'example.com:tvm-prod',
  },
];
for (const c of accepted) {
  void test(`read: ${JSON.stringify(c.env)} → ${c.field} = ${JSON.stringify(c.want)}`, () => {
    assert.deepEqual(parseConfig(c.env)[c.field], c.want);
  });
}

const refused: {env: Record<string, string>; variable: string; why: RegExp}[] =
  [
    {
      env: {TVM_POLICY: 'projects/p/secrets/s'},
      variable: 'TVM_POLICY',
      why: /not a Secret Manager version name/,
    },
    {
      env: {TVM_POLICY: 'projects/P_P/secrets/s/versions/1'},
      variable: 'TVM_POLICY',
      why: /not a Secret Manager version name/,
    },
    {
      env: {TVM_POLICY: 'projects/p/secrets/s/versions/0'},
      variable: 'TVM_POLICY',
      why: /not a Secret Manager version name/,
    },
    {
      env: {PORT: '-1'},
      variable: 'PORT',
      why: /must be a whole number from 0 to 65535, not "-1"/,
    },
    {
      env: {PORT: '65536'},
      variable: 'PORT',
      why: /must be a whole number from 0 to 65535, not "65536"/,
    },
    {
      env: {PORT: '1e3'},
      variable: 'PORT',
      why: /must be a whole number from 0 to 65535, not "1e3"/,
    },
    {
      env: {TVM_ISSUER: 'tvm.example.com'},
      variable: 'TVM_ISSUER',
      why: /not a URL/,
    },
    {
      env: {TVM_ISSUER: 'ftp://tvm.example.com'},
      variable: 'TVM_ISSUER',
      why: /https URL/,
    },
    {
      env: {TVM_ISSUER: 'https://tvm.example.com/#x'},
      variable: 'TVM_ISSUER',
      why: /fragment/,
    },
    {
      env: {TVM_ISSUER: 'https://u:p@tvm.example.com'},
      variable: 'TVM_ISSUER',
      why: /credentials/,
    },
    {env: {TVM_LOCAL: '2'}, variable: 'TVM_LOCAL', why: /expected 1 or 0/},
    {
      env: {TVM_IAM_CREDENTIALS_ENDPOINT: 'not a url'},
      variable: 'TVM_IAM_CREDENTIALS_ENDPOINT',
      why: /not a URL/,
    },
    {
      env: {TVM_IAM_CREDENTIALS_ENDPOINT: 'http://localhost.example.com'},
      variable: 'TVM_IAM_CREDENTIALS_ENDPOINT',
      why: /plain http is allowed only for loopback/,
    },
    {
      env: {TVM_OAUTH2_TOKEN_URL: 'https://oauth2.example/token?x=1'},
      variable: 'TVM_OAUTH2_TOKEN_URL',
      why: /query/,
    },
    {
      env: {TVM_SECRET_MANAGER_ENDPOINT: 'https://sm.example/v1'},
      variable: 'TVM_SECRET_MANAGER_ENDPOINT',
      why: /without a path/,
    },
    {
      env: {TVM_SECRET_MANAGER_ENDPOINT: 'grpc://sm.example'},
      variable: 'TVM_SECRET_MANAGER_ENDPOINT',
      why: /http\(s\) URL/,
    },
    {
      env: {TVM_POLICY_REFRESH_SECONDS: '86401'},
      variable: 'TVM_POLICY_REFRESH_SECONDS',
      why: /must be a whole number from 5 to 86400/,
    },
    {
      env: {TVM_TRUSTED_PROXY_HOPS: '6'},
      variable: 'TVM_TRUSTED_PROXY_HOPS',
      why: /must be a whole number from 0 to 5/,
    },
    {
      env: {TVM_TRUSTED_PROXY_HOPS: '1.5'},
      variable: 'TVM_TRUSTED_PROXY_HOPS',
      why: /must be a whole number from/,
    },
    {
      env: {TVM_RATE_LIMIT_PER_IP: '0'},
      variable: 'TVM_RATE_LIMIT_PER_IP',
      why: /must be a whole number from 1 to 1000000/,
    },
    {
      env: {TVM_RATE_LIMIT_PER_CLIENT: '1000001'},
      variable: 'TVM_RATE_LIMIT_PER_CLIENT',
      why: /must be a whole number from 1 to 1000000/,
    },
    {
      env: {TVM_LOG_LEVEL: 'INFO'},
      variable: 'TVM_LOG_LEVEL',
      why: /expected one of debug, info, warn, error, silent/,
    },
    ...[
      'Tvm-Prod',
      'tvm',
      'tvm-prod-',
      '1tvm-prod',
      'tvm prod',
      'a'.repeat(31),
      'Example.com:tvm-prod',
      ':tvm-prod',
      'example.com:tvm',
      'example.com:',
    ].map(project => ({
      env: {GOOGLE_CLOUD_PROJECT: project},
      variable: 'GOOGLE_CLOUD_PROJECT',
      why: /expected a Google Cloud project ID/,
    })),
  ];
for (const c of refused) {
  void test(`refused: ${JSON.stringify(c.env)} names ${c.variable}`, () => {
    assert.throws(
      () => parseConfig(c.env),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.code === 'ERR_CONFIG_INVALID' &&
        e.variable === c.variable &&
        e.message.startsWith(`${c.variable}: `) &&
        c.why.test(e.message),
    );
  });
}

void describe('local mode (TVM_LOCAL=1): every Google endpoint must be loopback', () => {
  void test('all on loopback: accepted as given', () => {
    const c = parseConfig({TVM_LOCAL: '1', ...LOOPBACK_ENDPOINTS});
    assert.equal(c.local, true);
    assert.equal(c.metadataHost, '127.0.0.1:8081');
    assert.equal(c.iamCredentialsEndpoint, 'http://127.0.0.1:8081');
    assert.equal(c.oauth2TokenUrl, 'http://127.0.0.1:8081/token');
    assert.equal(c.secretManagerEndpoint, 'http://127.0.0.1:8082');
  });

  void test('localhost and [::1] count as loopback', () => {
    const c = parseConfig({
      TVM_LOCAL: '1',
      GCE_METADATA_HOST: 'localhost:8081',
      TVM_IAM_CREDENTIALS_ENDPOINT: 'http://[::1]:8081',
      TVM_OAUTH2_TOKEN_URL: 'https://localhost:8081/token',
      TVM_SECRET_MANAGER_ENDPOINT: 'http://localhost:8082',
      TVM_STS_ENDPOINT: 'http://[::1]:8081',
    });
    assert.equal(c.local, true);
  });

  const offLoopback: [string, Record<string, string | undefined>][] = [
    ['GCE_METADATA_HOST', {GCE_METADATA_HOST: undefined}],
    ['GCE_METADATA_HOST', {GCE_METADATA_HOST: 'metadata.google.internal'}],
    ['GCE_METADATA_HOST', {GCE_METADATA_HOST: '127.0.0.1@evil.example:80'}],
    ['GCE_METADATA_HOST', {GCE_METADATA_HOST: 'localhost.evil.example'}],
    ['TVM_IAM_CREDENTIALS_ENDPOINT', {TVM_IAM_CREDENTIALS_ENDPOINT: undefined}],
    [
      'TVM_IAM_CREDENTIALS_ENDPOINT',
      {TVM_IAM_CREDENTIALS_ENDPOINT: 'https://iamcredentials.googleapis.com'},
    ],
    ['TVM_OAUTH2_TOKEN_URL', {TVM_OAUTH2_TOKEN_URL: undefined}],
    ['TVM_OAUTH2_TOKEN_URL', {TVM_OAUTH2_TOKEN_URL: 'https://10.0.0.8/token'}],
    ['TVM_SECRET_MANAGER_ENDPOINT', {TVM_SECRET_MANAGER_ENDPOINT: undefined}],
    [
      'TVM_SECRET_MANAGER_ENDPOINT',
      {TVM_SECRET_MANAGER_ENDPOINT: 'https://127.0.0.2'},
    ],
    ['TVM_STS_ENDPOINT', {TVM_STS_ENDPOINT: undefined}],
    ['TVM_STS_ENDPOINT', {TVM_STS_ENDPOINT: 'https://sts.googleapis.com'}],
  ];
  for (const [variable, change] of offLoopback) {
    void test(`refused, naming ${variable}: ${JSON.stringify(change)}`, () => {
      const env = {TVM_LOCAL: '1', ...LOOPBACK_ENDPOINTS, ...change};
      assert.throws(
        () => parseConfig(env),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.variable === variable &&
          e.message ===
            `${variable}: with TVM_LOCAL=1 it must point at the local emulator (loopback)`,
      );
      // The same values without local mode are fine (or the variable is unset).
      assert.doesNotThrow(() => parseConfig({...env, TVM_LOCAL: '0'}));
    });
  }
});

void describe('parseConfig is a pure function of its input', () => {
  void test('it reads only the env given, never process.env', () => {
    const saved = process.env.TVM_LOG_LEVEL;
    process.env.TVM_LOG_LEVEL = 'verbose';
    try {
      assert.equal(parseConfig({}).logLevel, 'info');
    } finally {
      if (saved === undefined) delete process.env.TVM_LOG_LEVEL;
      else process.env.TVM_LOG_LEVEL = saved;
    }
  });

  void test('the same env gives equal, frozen values and is left as it was', () => {
    const env = Object.freeze({
      TVM_POLICY: 'projects/p/secrets/s/versions/1',
      TVM_ISSUER: 'https://tvm.example.com/',
    });
    const a = parseConfig(env);
    const b = parseConfig(env);
    assert.deepEqual(a, b);
    assert.ok(Object.isFrozen(a.policySource));
    assert.deepEqual(env, {
      TVM_POLICY: 'projects/p/secrets/s/versions/1',
      TVM_ISSUER: 'https://tvm.example.com/',
    });
  });
});

void describe('the declaration (CONFIG_SETTINGS)', () => {
  void test('one entry per Config field and per variable, each with help text', () => {
    const c = parseConfig({});
    assert.deepEqual(
      CONFIG_SETTINGS.map(s => s.field).sort(),
      Object.keys(c).sort(),
    );
    const names = CONFIG_SETTINGS.map(s => s.variable);
    assert.equal(new Set(names).size, names.length);
    for (const s of CONFIG_SETTINGS) {
      assert.ok(s.help.length > 10, s.variable);
      assert.equal(CONFIG_VARIABLES[s.variable], s.help);
    }
  });

  void test('each default shown in the docs is the one applied', () => {
    const c = parseConfig({});
    for (const s of CONFIG_SETTINGS) {
      if (
        s.defaultText === undefined ||
        s.variable === 'TVM_TRUSTED_PROXY_HOPS'
      )
        continue;
      assert.equal(
        s.defaultText.replace(/^`(.*)`$/, '$1'),
        String(c[s.field] === false ? 0 : c[s.field]),
        s.variable,
      );
    }
  });

  void test('every TVM_ variable named anywhere in src/ is declared', () => {
    const src = join(import.meta.dirname, '../src');
    const named = new Set<string>();
    for (const file of readdirSync(src, {recursive: true})) {
      if (!String(file).endsWith('.ts')) continue;
      const text = readFileSync(join(src, String(file)), 'utf8');
      for (const [name] of text.matchAll(/\bTVM_[A-Z0-9_]*[A-Z0-9]\b/g))
        named.add(name);
    }
    assert.ok(named.has('TVM_POLICY'), 'the scan finds names');
    // The caller's CLI declares its own (src/cli/variables.ts): not the function's.
    assert.deepEqual(
      [...named]
        .filter(n => !(n in CONFIG_VARIABLES) && !(n in CALLER_VARIABLES))
        .sort(),
      [],
    );
  });
});
