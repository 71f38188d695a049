/**
 * `npm start` as a newcomer runs it: builds if needed, serves the built function with
 * functions-framework against the emulator, prints a curl that works as pasted. Also
 * with TVM_POLICY pointing at a policy of one's own.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {freePort} from '../support/net.ts';

const root = join(import.meta.dirname, '../..');

interface Started {
  child: ChildProcess;
  out: string;
}

async function start(
  env: Record<string, string>,
  args: string[] = [],
): Promise<Started> {
  const child = spawn(
    process.execPath,
    [join(root, 'scripts/start.ts'), ...args],
    {
      cwd: root,
      env: {
        ...process.env,
        HOME: mkdtempSync(join(tmpdir(), 'tvm-home-')),
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, so a start that never comes up is stopped with all it
      // spawned (the emulator, functions-framework) and cannot hold the test run.
      detached: true,
    },
  );
  let out = '';
  child.stdout!.on('data', d => (out += String(d)));
  child.stderr!.on('data', d => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`npm start did not come up:\n${out}`));
    }, 100_000);
    const check = () => {
      if (out.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', code => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out}`));
    });
  });
  return {
    child,
    get out() {
      return out;
    },
  };
}

/** Stops `child` and everything it started. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

async function stop(s: Started): Promise<number | null> {
  const exited = new Promise<number | null>(r =>
    s.child.once('exit', code => r(code)),
  );
  s.child.kill('SIGINT');
  return exited;
}

/** Runs the printed curl's request with fetch: same method, credentials and form. */
function parseCurl(line: string) {
  const m = /curl -s -u '([^:]+):([^']+)' ((?:-d \S+ )+)(\S+)$/.exec(
    line.trim(),
  );
  assert.ok(m, `a curl line: ${line}`);
  const form = new URLSearchParams();
  for (const [, kv] of m[3]!.matchAll(/-d (\S+)/g)) {
    const [k, v] = kv!.split('=');
    form.append(k!, v!);
  }
  return {id: m[1]!, key: m[2]!, form, url: m[4]!};
}

void test('npm start: demo policy, fresh key, the printed curl vends a token that tokeninfo knows', async () => {
  const port = await freePort();
  const s = await start({PORT: String(port), TVM_POLICY: ''});
  try {
    const out = s.out;
    assert.match(out, new RegExp(`function: +http://127\\.0\\.0\\.1:${port}`));
    const emulatorUrl = /emulator: +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    assert.ok(emulatorUrl, 'prints the emulator URL');
    const curl = out.split('\n').find(l => l.includes('curl -s -u'));
    assert.ok(curl);
    const c = parseCurl(curl);
    assert.equal(c.url, `http://127.0.0.1:${port}/token`);
    assert.match(c.key, /^tvm_[A-Za-z0-9_-]{43}$/);

    const res = await fetch(c.url, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${c.id}:${c.key}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: c.form.toString(),
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    const info = await fetch(
      `${emulatorUrl}/tokeninfo?access_token=${body.access_token as string}`,
    );
    const tokenInfo = (await info.json()) as Record<string, string>;
    assert.equal(info.status, 200);
    assert.equal(
      tokenInfo.email,
      'reporting@tvm-local.iam.gserviceaccount.com',
    );
    assert.equal(
      tokenInfo.scope,
      'https://www.googleapis.com/auth/bigquery.readonly',
    );

    // The function's own logs (audit) never carry the key or the token.
    assert.equal(
      s.out.split(c.key).length - 1,
      2,
      'the key appears only where it is printed once (and in the curl)',
    );
    assert.ok(!s.out.includes(body.access_token as string));
    assert.match(s.out, /"message":"token granted"/);
  } finally {
    assert.equal(await stop(s), 0);
  }
});

void test('npm start with a user (mint: user): provisioned; tvm import-user --local stores a credential made elsewhere, and the pasted entry vends', async () => {
  const key = generateApiKey();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-local-users-'));
  const policyPath = join(dir, 'users.yaml');
  const policy = (extra: string) => `version: 1
service_accounts:
  ann:
    mint: user
    email: ann@example.com
    credential_secret: projects/tvm-local/secrets/ann-credential/versions/latest
    consented_scopes: [cloud-platform]
${extra}clients:
  mine:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: ann
        scopes: [cloud-platform]
${extra ? '      - service_account: ben\n        scopes: [cloud-platform]\n' : ''}`;
  writeFileSync(policyPath, policy(''));
  const port = await freePort();
  const s = await start({
    PORT: String(port),
    TVM_POLICY: policyPath,
    TVM_POLICY_REFRESH_SECONDS: '5',
  });
  const vend = async (audience: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'mine',
        client_secret: key,
        audience,
        scope: 'cloud-platform',
      }).toString(),
    });
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
    };
  };
  const emulatorUrl = /emulator: +(http:\/\/127\.0\.0\.1:\d+)/.exec(s.out)?.[1];
  const tokeninfo = async (token: unknown) =>
    (await (
      await fetch(`${emulatorUrl}/tokeninfo?access_token=${String(token)}`)
    ).json()) as Record<string, string>;
  try {
    const ann = await vend('ann');
    assert.equal(ann.status, 200, JSON.stringify(ann.body));
    assert.equal(
      (await tokeninfo(ann.body.access_token)).scope,
      'https://www.googleapis.com/auth/cloud-platform',
    );

    // A credential as gcloud saved it, which the emulator has never seen.
    const file = join(dir, 'adc.json');
    const refreshToken = `1//0g${randomBytes(70).toString('base64url')}`;
    const clientSecret = `d-${randomBytes(16).toString('base64url')}`;
    writeFileSync(
      file,
      JSON.stringify({
        client_id:
          '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
        client_secret: clientSecret,
        refresh_token: refreshToken,
        type: 'authorized_user',
      }),
      {mode: 0o600},
    );
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'bin/tvm.js'),
        'import-user',
        file,
        '--local',
        '--email',
        'ben@example.com',
        '--scopes',
        'cloud-platform',
      ],
      {cwd: root, env: {...process.env, PORT: String(port)}, encoding: 'utf8'},
    );
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!(r.stdout + r.stderr).includes(refreshToken));
    assert.ok(!(r.stdout + r.stderr).includes(clientSecret));
    const entry = r.stdout.slice(
      r.stdout.indexOf('service_accounts:\n') + 'service_accounts:\n'.length,
    );
    assert.match(
      entry,
      /^ {2}ben:\n {4}mint: user\n {4}email: ben@example\.com\n {4}credential_secret: projects\/tvm-local\/secrets\/ben-credential\/versions\/1\n/,
    );
    writeFileSync(policyPath, policy(entry));
    // The policy is re-read within 5 s; then ben's token comes from the imported client.
    let ben = await vend('ben');
    for (let i = 0; i < 40 && ben.status !== 200; i++) {
      await new Promise(res => setTimeout(res, 250));
      ben = await vend('ben');
    }
    assert.equal(ben.status, 200, JSON.stringify(ben.body));
    const info = await tokeninfo(ben.body.access_token);
    assert.equal(
      info.aud,
      '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com',
    );
    assert.ok(!s.out.includes(refreshToken) && !s.out.includes(clientSecret));
  } finally {
    assert.equal(await stop(s), 0);
  }
});

void test('npm start with TVM_POLICY: any policy is provisioned, key-minted accounts included', async () => {
  const key = generateApiKey();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-local-policy-'));
  const policyPath = join(dir, 'mine.yaml');
  writeFileSync(
    policyPath,
    `version: 1
service_accounts:
  warehouse:
    email: warehouse@other-proj.iam.gserviceaccount.com
    mint: key
    key_secret: projects/other-proj/secrets/warehouse-key/versions/latest
clients:
  mine:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: warehouse
        scopes: [cloud-platform]
        default_scopes: [cloud-platform]
        max_lifetime: 1h
`,
  );
  const port = await freePort();
  const s = await start({PORT: String(port), TVM_POLICY: policyPath});
  try {
    assert.doesNotMatch(s.out, /Demo API key/);
    const res = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: {'content-type': 'application/x-www-form-urlencoded'},
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'mine',
        client_secret: key,
        audience: 'warehouse@other-proj.iam.gserviceaccount.com',
      }).toString(),
    });
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.ok((body.expires_in as number) > 3500);
  } finally {
    assert.equal(await stop(s), 0);
  }
});

void test(
  'npm start -- --redis: a private Redis, the shared store connected, a token vended',
  {
    skip:
      spawnSync('redis-server', ['--version']).status === 0
        ? false
        : 'redis-server is not installed',
  },
  async () => {
    const port = await freePort();
    const s = await start({PORT: String(port), TVM_POLICY: ''}, ['--redis']);
    try {
      assert.match(s.out, /redis: +redis:\/\/127\.0\.0\.1:\d+ /);
      const curl = s.out.split('\n').find(l => l.includes('curl -s -u'));
      assert.ok(curl);
      const c = parseCurl(curl);
      const res = await fetch(c.url, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${c.id}:${c.key}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: c.form.toString(),
      });
      assert.equal(res.status, 200);
      assert.match(s.out, /shared store connected/);
      assert.doesNotMatch(s.out, /redis:\/\/:[^@\s]+@/, 'no password printed');
    } finally {
      assert.equal(await stop(s), 0);
    }
  },
);
