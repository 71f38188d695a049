/**
 * `npm run bench`: tvm against a bare functions-framework handler, side by side in one
 * run, on loopback. Each server runs in its own process, started exactly as Cloud
 * Functions starts it (the functions-framework CLI on the built code); the load client
 * and the local Google emulator (tvm's upstream) run here. Prints absolute figures and
 * ratios against the baseline measured in the same run (roadmap targets: warm vend
 * ≥ 0.85× the bare handler's throughput, cold start within 1.5×, one upstream mint per
 * stampede). Not a test: nothing here fails on time.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator} from '../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../src/auth/api-key.ts';
import {emulatorEnvironment} from '../src/local/environment.ts';
import {provisionForPolicy} from '../src/local/provision.ts';
import {parsePolicy} from '../src/policy/index.ts';

const root = join(import.meta.dirname, '..');
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 5) * 1000;
const CONCURRENCY = 16;
const ROUNDS = 2;
const framework = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);

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
const REQUEST: RequestInit = {
  method: 'POST',
  headers: {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`bench:${key}`).toString('base64')}`,
  },
  body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
};

interface Load {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as {port: number}).port;
  await new Promise(r => srv.close(r));
  return port;
}

/** Closed-loop load: CONCURRENCY workers for `ms`; throughput and latency quantiles. */
async function load(url: string, ms: number): Promise<Load> {
  const latencies: number[] = [];
  let errors = 0;
  const end = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      const res = await fetch(url, REQUEST);
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

/**
 * A server process, and the time from spawn until it is ready: its first 200 on
 * /token (`ready: 'token'`, the cold start to a first token), or on /healthz
 * (`ready: 'health'`, up but nothing minted yet).
 */
async function serve(
  args: string[],
  env: Record<string, string>,
  ready: 'token' | 'health' = 'token',
): Promise<{child: ChildProcess; url: string; coldMs: number}> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const t = performance.now();
  const child = spawn(
    process.execPath,
    [framework, ...args, `--port=${port}`],
    {
      cwd: root,
      env: {...process.env, ...env, NODE_ENV: 'production'},
      stdio: 'ignore',
    },
  );
  let exited = false;
  child.once('exit', () => (exited = true));
  for (;;) {
    if (exited)
      throw new Error(`server exited before answering: ${args.join(' ')}`);
    try {
      const res =
        ready === 'token'
          ? await fetch(`${base}/token`, REQUEST)
          : await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200)
        return {child, url: `${base}/token`, coldMs: performance.now() - t};
    } catch {
      // not up yet
    }
    await new Promise(r => setTimeout(r, 5));
  }
}

async function main() {
  process.env.HOME = mkdtempSync(join(tmpdir(), 'tvm-bench-home-'));
  const emulator = await startEmulator();
  const dir = mkdtempSync(join(tmpdir(), 'tvm-bench-'));
  const policyPath = join(dir, 'policy.yaml');
  writeFileSync(policyPath, POLICY);
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  const tvmEnv = {
    TVM_POLICY: policyPath,
    ...emulatorEnvironment(emulator),
    TVM_RATE_LIMIT_PER_IP: '1000000',
    TVM_RATE_LIMIT_PER_CLIENT: '1000000',
    TVM_LOG_LEVEL: 'info',
  };
  // The baseline: a bare handler answering a token-shaped JSON body, no work at all.
  const barePath = join(dir, 'bare.mjs');
  writeFileSync(
    barePath,
    `import {http} from ${JSON.stringify(join(root, 'node_modules/@google-cloud/functions-framework/build/src/index.js'))};
const body = {access_token: 'x'.repeat(64), token_type: 'Bearer', expires_in: 899, scope: 'https://www.googleapis.com/auth/bigquery.readonly'};
http('bare', (req, res) => { res.setHeader('Cache-Control', 'no-store'); res.json(body); });
`,
  );
  const bareArgs = ['--target=bare', `--source=${barePath}`];
  const tvmArgs = [
    '--target=tvm',
    `--source=${join(root, 'build/src/index.js')}`,
  ];

  const bare = await serve(bareArgs, {});
  // tvm's stdout carries its audit lines, as in production; the bench drops them.
  const tvm = await serve(tvmArgs, tvmEnv);
  const results: {bare: Load[]; tvm: Load[]} = {bare: [], tvm: []};
  try {
    await load(bare.url, 1000); // warm up both
    await load(tvm.url, 1000);
    for (let i = 0; i < ROUNDS; i++) {
      results.bare.push(await load(bare.url, DURATION_MS));
      results.tvm.push(await load(tvm.url, DURATION_MS));
    }
  } finally {
    bare.child.kill();
    tvm.child.kill();
  }

  // Stampede on a cold cache: a fresh tvm, 500 identical requests at once.
  emulator.stats.reset();
  const fresh = await serve(tvmArgs, tvmEnv, 'health');
  let stampede: number[];
  try {
    stampede = await Promise.all(
      Array.from({length: 500}, () =>
        fetch(fresh.url, REQUEST).then(
          async r => (await r.arrayBuffer(), r.status),
        ),
      ),
    );
  } finally {
    fresh.child.kill();
  }
  const mints = emulator.stats.count('iam.generateAccessToken');
  await emulator.close();

  const best = (l: Load[]) => l.reduce((a, b) => (b.rps > a.rps ? b : a));
  const b = best(results.bare);
  const t = best(results.tvm);
  const f = (n: number) => n.toFixed(1);
  process.stdout.write(
    [
      `warm vend: ${CONCURRENCY} concurrent, ${ROUNDS} rounds of ${DURATION_MS / 1000}s each, alternating; best round shown (servers in their own processes):`,
      `  bare handler   ${f(b.rps)} req/s   p50 ${f(b.p50)} ms   p99 ${f(b.p99)} ms   (rounds: ${results.bare.map(r => f(r.rps)).join(', ')})`,
      `  tvm            ${f(t.rps)} req/s   p50 ${f(t.p50)} ms   p99 ${f(t.p99)} ms   errors ${t.errors}   (rounds: ${results.tvm.map(r => f(r.rps)).join(', ')})`,
      `  ratio          throughput ${(t.rps / b.rps).toFixed(2)}x (target >= 0.85x)   p99 ${(t.p99 / b.p99).toFixed(2)}x`,
      'cold start, spawn to first 200 (functions-framework CLI, built code; tvm includes its first mint):',
      `  bare ${f(bare.coldMs)} ms   tvm ${f(tvm.coldMs)} ms   ratio ${(tvm.coldMs / bare.coldMs).toFixed(2)}x (target <= 1.5x)`,
      `stampede: 500 concurrent identical requests on a cold cache -> ${stampede.filter(s => s === 200).length} x 200, ${mints} upstream mint(s) (target 1)`,
    ].join('\n') + '\n',
  );
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`bench failed: ${(e as Error).message}\n`);
    process.exit(1);
  },
);
