/**
 * `npm start` behaves on a shared machine (issue 10, item 7): it listens on loopback
 * only; a second start on a taken port fails in one line, before any banner, without
 * touching the first one's files; the banner's curl for a policy of one's own names a
 * scope that policy allows; a bad setting reads as tvm's configuration error.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import {freePort} from '../support/net.ts';

const root = join(import.meta.dirname, '../..');
const startScript = join(root, 'scripts/start.ts');

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: mkdtempSync(join(tmpdir(), 'tvm-home-')),
    ...extra,
  };
  delete e.TVM_LOCAL_HOST;
  return e;
}

interface Started {
  readonly child: ChildProcess;
  readonly out: () => string;
}

async function start(extra: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [startScript], {
    cwd: root,
    env: env(extra),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', d => (out += String(d)));
  child.stderr!.on('data', d => (out += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`npm start did not come up:\n${out}`)),
      90_000,
    );
    child.stdout!.on('data', () => {
      if (out.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code}:\n${out}`));
    });
  });
  return {child, out: () => out};
}

async function stop(s: Started): Promise<void> {
  const exited = new Promise(r => s.child.once('exit', r));
  s.child.kill('SIGINT');
  await exited;
}

/** Runs `npm start` to its end (it is expected to fail fast). */
function startFailing(extra: Record<string, string>) {
  const r = spawnSync(process.execPath, [startScript], {
    cwd: root,
    env: env(extra),
    encoding: 'utf8',
    timeout: 30_000,
  });
  return {status: r.status, out: r.stdout + r.stderr, stdout: r.stdout};
}

/** Addresses listening on `port`, from /proc/net/tcp and tcp6 (hex, as the kernel shows them). */
function listeners(port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const found: string[] = [];
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(f)) continue;
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hexPort}`)) {
        found.push(local.split(':')[0]!);
      }
    }
  }
  return found;
}

function vend(port: number, id: string, key: string, form: string) {
  return fetch(`http://127.0.0.1:${port}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form,
  });
}

void test('a second npm start on a taken port fails in one line, before any banner, leaving the first alone', async () => {
  const port = await freePort();
  const first = await start({PORT: String(port), TVM_POLICY: ''});
  try {
    const policyFile = join(root, '.tvm-local', String(port), 'policy.yaml');
    const before = readFileSync(policyFile, 'utf8');
    const mtime = statSync(policyFile).mtimeMs;
    const key = /^\s+(tvm_[A-Za-z0-9_-]{43})$/m.exec(first.out())![1]!;

    const second = startFailing({PORT: String(port), TVM_POLICY: ''});
    assert.equal(second.status, 1);
    const lines = second.out.trim().split('\n');
    assert.equal(lines.length, 1, second.out);
    assert.match(
      lines[0]!,
      new RegExp(`^tvm: port ${port} on 127\\.0\\.0\\.1 is already in use`),
    );
    assert.equal(second.stdout, '', 'no banner, no build line');

    assert.equal(readFileSync(policyFile, 'utf8'), before);
    assert.equal(statSync(policyFile).mtimeMs, mtime);
    const res = await vend(
      port,
      'demo',
      key,
      'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
    );
    assert.equal(res.status, 200, 'the first instance still honours its key');
  } finally {
    await stop(first);
  }
});

void test("npm start listens on 127.0.0.1 only, and the curl for a policy of one's own names an allowed scope", async () => {
  const key = generateApiKey();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-local-policy-'));
  const policyPath = join(dir, 'mine.yaml');
  // No default scopes: a request without a scope is refused, so the curl needs one.
  writeFileSync(
    policyPath,
    `version: 1
service_accounts:
  lake:
    email: lake@tvm-local.iam.gserviceaccount.com
clients:
  mine:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: lake
        scopes: [devstorage.read_only]
        max_lifetime: 10m
`,
  );
  const port = await freePort();
  const s = await start({PORT: String(port), TVM_POLICY: policyPath});
  try {
    assert.deepEqual(listeners(port), ['0100007F'], 'bound to 127.0.0.1 only');
    const curl = s
      .out()
      .split('\n')
      .find(l => l.includes('curl -s -u'));
    assert.ok(curl, s.out());
    const m =
      /curl -s -u 'mine:<api key>' ((?:-d \S+ )+)(http:\/\/127\.0\.0\.1:\d+\/token)$/.exec(
        curl.trim(),
      );
    assert.ok(m, curl);
    assert.match(m[1]!, /-d scope=devstorage\.read_only /);
    const form = [...m[1]!.matchAll(/-d (\S+)/g)].map(x => x[1]).join('&');
    const res = await vend(port, 'mine', key, form);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(res.status, 200, JSON.stringify(body));
  } finally {
    await stop(s);
  }
});

const badSettings: {env: Record<string, string>; message: RegExp}[] = [
  {
    env: {TVM_RATE_LIMIT_PER_IP: 'lots'},
    message:
      /^tvm: configuration error: TVM_RATE_LIMIT_PER_IP: must be a whole number from 1 to 1000000, not "lots"$/,
  },
  {
    env: {PORT: 'eighty'},
    message:
      /^tvm: configuration error: PORT: must be a whole number from 0 to 65535, not "eighty"$/,
  },
  {
    env: {TVM_LOG_LEVEL: 'loud'},
    message: /^tvm: configuration error: TVM_LOG_LEVEL: expected one of /,
  },
];

for (const c of badSettings) {
  void test(`a bad setting stops npm start under tvm's heading: ${Object.keys(c.env)[0]}`, () => {
    const r = startFailing({PORT: '0', ...c.env});
    assert.equal(r.status, 1);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, r.out);
    assert.match(lines[0]!, c.message);
    assert.doesNotMatch(r.out, /syntax error|at \w+ \(/);
  });
}
