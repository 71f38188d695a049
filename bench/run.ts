/**
 * `npm run bench`: tvm against a bare functions-framework handler, side by side in one
 * run, on loopback, with the local Google emulator upstream. Prints absolute figures and
 * ratios against the baseline measured in the same run (roadmap targets: warm vend
 * ≥ 0.85× the bare handler's throughput, cold start within 1.5×, one upstream mint per
 * stampede). Not a test: nothing here fails on time.
 */
import {spawn} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import type {Server} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {http as registerHttp} from '@google-cloud/functions-framework';
import {getTestServer} from '@google-cloud/functions-framework/testing';
import {startEmulator} from '../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../src/apikey.ts';
import {parseConfig} from '../src/config.ts';
import {provisionForPolicy} from '../src/local/provision.ts';
import {createLogger} from '../src/log.ts';
import {parsePolicy} from '../src/policy/index.ts';
import {createService} from '../src/service.ts';

const root = join(import.meta.dirname, '..');
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const CONCURRENCY = 16;
process.env.HOME = mkdtempSync(join(tmpdir(), 'tvm-bench-home-'));
process.env.NODE_ENV = 'production';

const key = generateApiKey();
const POLICY = `version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  bench:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;
const FORM =
  'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly';
const HEADERS = {
  'content-type': 'application/x-www-form-urlencoded',
  authorization: `Basic ${Buffer.from(`bench:${key}`).toString('base64')}`,
};

async function listen(server: Server): Promise<string> {
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closed-loop load: CONCURRENCY workers for DURATION_MS; throughput and p99. */
async function load(
  url: string,
): Promise<{rps: number; p50: number; p99: number; errors: number}> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + DURATION_MS;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const res = await fetch(url, {
        method: 'POST',
        headers: HEADERS,
        body: FORM,
      });
      await res.arrayBuffer();
      if (res.status !== 200) errors++;
      latencies.push(performance.now() - t);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({length: CONCURRENCY}, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[
      Math.min(latencies.length - 1, Math.floor(p * latencies.length))
    ]!;
  return {rps: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), errors};
}

/** Time from process spawn to the first 200 from `path`. */
async function coldStart(
  args: string[],
  env: Record<string, string>,
  port: number,
  init: RequestInit,
): Promise<number> {
  const t = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {...process.env, ...env, PORT: String(port)},
    stdio: 'ignore',
  });
  try {
    for (;;) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/token`, init);
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t;
      } catch {
        // not up yet
      }
      await new Promise(r => setTimeout(r, 5));
    }
  } finally {
    child.kill();
  }
}

async function main() {
  const emulator = await startEmulator();
  const policyDir = mkdtempSync(join(tmpdir(), 'tvm-bench-'));
  const policyPath = join(policyDir, 'policy.yaml');
  writeFileSync(policyPath, POLICY);
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  const env = {
    TVM_POLICY: policyPath,
    TVM_LOCAL: '1',
    GCE_METADATA_HOST: emulator.metadataHost,
    TVM_IAM_CREDENTIALS_ENDPOINT: emulator.url,
    TVM_OAUTH2_TOKEN_URL: emulator.tokenUrl,
    TVM_SECRET_MANAGER_ENDPOINT: emulator.secretManagerEndpoint,
    TVM_RATE_LIMIT_PER_IP: '1000000',
    TVM_RATE_LIMIT_PER_CLIENT: '1000000',
  };
  process.env.GCE_METADATA_HOST = emulator.metadataHost;

  // The baseline: a bare handler answering a token-shaped JSON body.
  const body = {
    access_token: 'x'.repeat(64),
    token_type: 'Bearer',
    expires_in: 899,
    scope: 'https://www.googleapis.com/auth/bigquery.readonly',
  };
  registerHttp('bare', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(body);
  });
  const bareUrl = `${await listen(getTestServer('bare'))}/token`;

  // tvm, logging as in production (serialised, then dropped).
  const sink = new Writable({write: (_c, _e, cb) => cb()});
  const service = createService(parseConfig(env), {
    logger: createLogger('info', sink),
  });
  registerHttp('tvm-bench', service.app);
  const tvmUrl = `${await listen(getTestServer('tvm-bench'))}/token`;
  await service.policies.ready();

  // Stampede on a cold cache: how many upstream mints?
  emulator.stats.reset();
  const stampede = await Promise.all(
    Array.from({length: 500}, () =>
      fetch(tvmUrl, {method: 'POST', headers: HEADERS, body: FORM}).then(
        r => r.status,
      ),
    ),
  );
  const mints = emulator.stats.count('iam.generateAccessToken');

  // Warm vend: alternate rounds so both see the same machine state.
  await load(bareUrl);
  await load(tvmUrl);
  const bare = await load(bareUrl);
  const tvm = await load(tvmUrl);

  const memBefore = process.memoryUsage().heapUsed;

  // Cold start: spawn to first 200, built tvm vs a bare function, each through the
  // functions-framework CLI exactly as Cloud Functions starts it.
  const barePath = join(policyDir, 'bare.mjs');
  writeFileSync(
    barePath,
    `import {http} from '${join(root, 'node_modules/@google-cloud/functions-framework/build/src/index.js')}';\nhttp('bare', (req, res) => res.json({ok: true}));\n`,
  );
  const ff = join(
    root,
    'node_modules/@google-cloud/functions-framework/build/src/main.js',
  );
  const init = {method: 'POST', headers: HEADERS, body: FORM};
  const coldBare = await coldStart(
    [ff, '--target=bare', `--source=${barePath}`],
    {},
    18391,
    init,
  );
  const coldTvm = await coldStart([ff, '--target=tvm'], env, 18392, init);

  const f = (n: number) => n.toFixed(1);
  const lines = [
    `warm vend, ${CONCURRENCY} concurrent, ${DURATION_MS / 1000}s each (loopback, same process as the client):`,
    `  bare handler   ${f(bare.rps)} req/s   p50 ${f(bare.p50)} ms   p99 ${f(bare.p99)} ms`,
    `  tvm            ${f(tvm.rps)} req/s   p50 ${f(tvm.p50)} ms   p99 ${f(tvm.p99)} ms   errors ${tvm.errors}`,
    `  ratio          throughput ${(tvm.rps / bare.rps).toFixed(2)}x (target >= 0.85x)   p99 ${(tvm.p99 / bare.p99).toFixed(2)}x`,
    'cold start to first 200 (functions-framework CLI, built code):',
    `  bare ${f(coldBare)} ms   tvm ${f(coldTvm)} ms   ratio ${(coldTvm / coldBare).toFixed(2)}x (target <= 1.5x)`,
    `stampede: 500 concurrent identical requests on a cold cache -> ${stampede.filter(s => s === 200).length} x 200, ${mints} upstream mint(s) (target 1)`,
    `heap used after the run: ${(memBefore / 1048576).toFixed(1)} MiB`,
  ];
  process.stdout.write(lines.join('\n') + '\n');
  await service.close();
  await emulator.close();
  process.exit(0);
}

void main();
