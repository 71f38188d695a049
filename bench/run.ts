/**
 * `npm run bench`: tvm against a bare functions-framework handler, measured in the
 * same run, on loopback; the targets of docs/architecture.md (Speed) as ratios:
 *
 * - P1 warm vend (API key, cache hit): throughput and p99, at 50 and 16 connections (50
 *   only in `--quick`);
 *   beside the bare handler, the `floor` (the same answer served as tvm is served, by a
 *   listener behind the request guard, the framework's app never running), so the cost
 *   of tvm's own work shows apart from what it saves by not running the framework's app.
 *   With Redis (`p1-redis`): two instances sharing one redis-server (started here on
 *   a loopback port, AUTH on), the load split across both, against one instance
 *   without Redis; skipped, saying why, when redis-server is not on PATH.
 * - P2 cold start: process spawn to the first vended token (a cache miss, minted by the
 *   local emulator), the policy in a file and in Secret Manager; the bare handler's
 *   spawn to its first 200.
 * - P3 500 concurrent identical requests on a cold cache: upstream mints (1 expected).
 * - P4 RSS after 50k and 100k requests spread over 1,000 API-key clients (and its peak,
 *   and RSS after 50k more: a leak keeps growing, a heap still sizing itself does not;
 *   and after a pause, when V8 has returned what it pooled; no pause in `--quick`).
 * - P5 vends authenticated by an OIDC subject token (RFC 8693) and by private_key_jwt
 *   (a fresh `jti` per request).
 *
 * Every server runs alone in its own process, started as Cloud Functions starts it
 * (the functions-framework CLI on the built code, NODE_ENV=production); the load comes
 * from autocannon in a process of its own (bench/load.ts); the emulator runs here and
 * is idle during warm rounds. Rounds alternate bare, tvm, bare, tvm...; medians and
 * ranges are printed with the ratios, and written to bench/results.json.
 * `--quick`: shorter rounds, fewer samples, a smaller P4 (under a minute on a quiet
 * machine). `--only=p1,p2`: just those parts (`p1-redis` is a part of its own).
 * Not a test: nothing here fails on time.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  type KeyObject,
} from 'node:crypto';
import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import {createServer} from 'node:net';
import {cpus, tmpdir} from 'node:os';
import {join} from 'node:path';
import {startEmulator, type Emulator} from '../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../src/auth/api-key.ts';
import {CLIENT_ASSERTION_TYPE_JWT} from '../src/auth/client-credentials.ts';
import {emulatorEnvironment} from '../src/local/environment.ts';
import {
  provisionPolicySecret,
  provisionForPolicy,
} from '../src/local/provision.ts';
import {TOKEN_TYPE_JWT} from '../src/oidc/subject-token.ts';
import {parsePolicy} from '../src/policy/index.ts';
import {haveRedis, startRedis} from '../test/support/redis.ts';
import type {LoadJob, LoadResult} from './load.ts';
import {limitMemory} from './memory-limit.ts';

const root = join(import.meta.dirname, '..');
const QUICK = process.argv.includes('--quick');
// --quick: 1 s rounds, and P1 at 50 connections only, to finish within a minute.
const SETTINGS = QUICK
  ? {seconds: 1, warmup: 1, rounds: 3, cold: 3, memory: 20_000, p5: [50]}
  : {seconds: 5, warmup: 2, rounds: 3, cold: 11, memory: 100_000, p5: [50]};
const CONCURRENCY = QUICK ? ([50] as const) : ([50, 16] as const);
/**
 * P4's pause after the load: V8's memory reducer runs some 8 s after a full collection
 * once allocation has slowed, and returns the heap pages V8 pooled for reuse (those of
 * a large policy's parse at start, for one). None in `--quick`.
 */
const IDLE_SECONDS = QUICK ? 0 : 15;
/** `--only=p1,p5`: just those parts (for measuring one lever at a time). */
const ONLY = process.argv
  .find(a => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const want = (part: string) => !ONLY || ONLY.includes(part);
/**
 * `--memory=<MiB>|none`: each server's memory limit, as a function instance has one
 * (bench/memory-limit.ts); 512, the Terraform module's default `available_memory`.
 */
const MEMORY_MIB =
  process.argv
    .find(a => a.startsWith('--memory='))
    ?.slice('--memory='.length) ?? '512';
const LIMIT =
  MEMORY_MIB === 'none'
    ? {reason: '--memory=none'}
    : limitMemory(Number(MEMORY_MIB) * 2 ** 20);
const framework = join(
  root,
  'node_modules/@google-cloud/functions-framework/build/src/main.js',
);
const loader = join(root, 'bench/load.ts');
const dir = mkdtempSync(join(tmpdir(), 'tvm-bench-'));

const SCOPE = 'bigquery.readonly';
const ASK = `audience=reporting&scope=${SCOPE}`;
const FORM = {'content-type': 'application/x-www-form-urlencoded'};

// Callers: an API key, an OIDC issuer's RS256 key (pinned), a client's ES256 key.
const apiKey = generateApiKey();
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
const oidcKey = generateKeyPairSync('rsa', {modulusLength: 2048});
const clientKey = generateKeyPairSync('ec', {namedCurve: 'P-256'});
const OIDC_ISSUER = 'https://issuer.bench.test';
const OIDC_AUDIENCE = 'https://tvm.bench.test';
const pinned = (k: KeyObject, kid: string, alg: string) =>
  JSON.stringify({
    keys: [{...k.export({format: 'jwk'}), kid, alg, use: 'sig'}],
  });

const GRANT = `    allow:
      - service_account: reporting
        scopes: [${SCOPE}]
        max_lifetime: 15m
`;
const SERVICE_ACCOUNTS = `version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
`;
/** API keys only: what P1-P4 run on. */
const POLICY = `${SERVICE_ACCOUNTS}  bench:
    api_keys:
      - sha256: ${apiKeySha256Hex(apiKey)}
${GRANT}`;
/** With an OIDC client and a private_key_jwt client: P5. */
const POLICY_JWT = `${POLICY}  oidc-bench:
    oidc:
      issuer: ${OIDC_ISSUER}
      audiences: [${OIDC_AUDIENCE}]
      claims:
        sub: {equals: bench-subject}
      algorithms: [RS256]
      jwks: ${pinned(oidcKey.publicKey, 'oidc-1', 'RS256')}
${GRANT}  pkjwt-bench:
    private_key_jwt:
      jwks: ${pinned(clientKey.publicKey, 'client-1', 'ES256')}
      algorithms: [ES256]
${GRANT}`;
/** 1,000 API-key clients: P4. */
const memoryKeys = Array.from({length: 1000}, () => generateApiKey());
const POLICY_MANY = `${SERVICE_ACCOUNTS}${memoryKeys
  .map(
    (k, i) => `  c${i}:
    api_keys:
      - sha256: ${apiKeySha256Hex(k)}
${GRANT}`,
  )
  .join('')}`;

const API_KEY_BODY = `grant_type=client_credentials&${ASK}`;

function jwt(
  alg: 'RS256' | 'ES256',
  kid: string,
  key: KeyObject,
  claims: object,
): string {
  const enc = (o: object) =>
    Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({alg, kid, typ: 'JWT'})}.${enc(claims)}`;
  const signature = sign('sha256', Buffer.from(input), {
    key,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

const nowS = () => Math.floor(Date.now() / 1000);
const subjectToken = jwt('RS256', 'oidc-1', oidcKey.privateKey, {
  iss: OIDC_ISSUER,
  aud: OIDC_AUDIENCE,
  sub: 'bench-subject',
  iat: nowS(),
  exp: nowS() + 3600,
});
const OIDC_BODY = new URLSearchParams({
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: subjectToken,
  subject_token_type: TOKEN_TYPE_JWT,
  audience: 'reporting',
  scope: SCOPE,
}).toString();

/** `n` token requests, each with a client assertion of its own `jti`, one a line. */
function assertionBodies(n: number, issuer: string): string {
  const lines: string[] = [];
  const iat = nowS();
  for (let i = 0; i < n; i++) {
    const assertion = jwt('ES256', 'client-1', clientKey.privateKey, {
      iss: 'pkjwt-bench',
      sub: 'pkjwt-bench',
      aud: issuer,
      jti: randomUUID(),
      iat,
      exp: iat + 240,
    });
    lines.push(
      `grant_type=client_credentials&client_assertion_type=${encodeURIComponent(CLIENT_ASSERTION_TYPE_JWT)}&client_assertion=${assertion}&${ASK}`,
    );
  }
  return lines.join('\n');
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>(r => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as {port: number}).port;
  await new Promise(r => srv.close(r));
  return port;
}

/** Runs one load job in its own autocannon process. */
function load(job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [loader, JSON.stringify(job)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', code =>
      code === 0
        ? resolve(JSON.parse(out) as LoadResult)
        : reject(new Error(`load generator exited ${code}`)),
    );
  });
}

interface Server {
  readonly child: ChildProcess;
  readonly base: string;
  readonly url: string;
  /** Spawn to ready, ms. */
  readonly coldMs: number;
  /** CPU the process spent until ready, ms: steadier than `coldMs` on a busy machine. */
  readonly coldCpuMs: number;
  rssMb(): number;
  /** The highest RSS so far (VmHWM), MB: what the load needed at its peak. */
  peakMb(): number;
  /** CPU time the server process has used so far, ms (user + system). */
  cpuMs(): number;
  stop(): Promise<void>;
}

/**
 * `bare`: a handler registered with functions-framework, served through its app (the
 * baseline of every target). `floor`: the same answer from a listener put behind
 * src/request-guard.ts as tvm's is, the framework's app never running: what tvm's own
 * work costs is its distance from here.
 */
type Kind = 'bare' | 'floor' | 'tvm';

interface Target {
  readonly kind: Kind;
  /** Extra environment of the server. */
  readonly env: Record<string, string>;
}

/**
 * Spawns a server and waits until it is ready: its first 200 on /token (`token`:
 * the cold start to a first token, with the API-key request) or on /healthz.
 */
async function serve(
  target: Target,
  ready: 'token' | 'health' = 'token',
): Promise<Server> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args =
    target.kind === 'tvm'
      ? ['--target=tvm', `--source=${join(root, 'build/src/index.mjs')}`]
      : [
          `--target=${target.kind}`,
          `--source=${join(dir, `${target.kind}.mjs`)}`,
        ];
  const command = [
    process.execPath,
    [framework, ...args, `--port=${port}`],
  ] as const;
  const limited = 'wrap' in LIMIT ? LIMIT.wrap(...command) : undefined;
  const t = performance.now();
  const child = spawn(
    limited?.command ?? command[0],
    limited?.args ?? command[1],
    {
      cwd: root,
      env: {
        ...process.env,
        ...target.env,
        TVM_ISSUER: base,
        NODE_ENV: 'production',
      },
      // tvm's stdout carries its audit lines, as in production; the bench drops them.
      stdio: 'ignore',
    },
  );
  let exited = false;
  const gone = new Promise<void>(r =>
    child.once('exit', () => {
      exited = true;
      limited?.release();
      r();
    }),
  );
  for (;;) {
    if (exited) throw new Error(`${target.kind} exited before answering`);
    try {
      const res =
        ready === 'token'
          ? await fetch(`${base}/token`, {
              method: 'POST',
              headers: {...FORM, authorization: basic('bench', apiKey)},
              body: API_KEY_BODY,
            })
          : await fetch(`${base}/healthz`);
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not up yet
    }
    await new Promise(r => setTimeout(r, 2));
  }
  const coldMs = performance.now() - t;
  const cpuMs = () => processCpuMs(child.pid!);
  return {
    child,
    base,
    url: `${base}/token`,
    coldMs,
    coldCpuMs: cpuMs(),
    cpuMs,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    peakMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmHWM:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    async stop() {
      if (!exited) child.kill();
      await gone;
    },
  };
}

/** CPU time process `pid` has used so far, ms (user + system). */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime, fields 14 and 15 of proc_pid_stat(5), in clock ticks (1/100 s).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const range = (xs: readonly number[]) =>
  [Math.min(...xs), Math.max(...xs)] as const;

interface Series {
  readonly median: number;
  readonly range: readonly [number, number];
  readonly samples: readonly number[];
}
const series = (xs: readonly number[]): Series => ({
  median: median(xs),
  range: range(xs),
  samples: xs,
});

const lines: string[] = [];
const say = (s: string) => {
  lines.push(s);
  process.stdout.write(s + '\n');
};
const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const showSeries = (s: Series, unit: string, fmt = f0) =>
  `${fmt(s.median)}${unit ? ` ${unit}` : ''} (${fmt(s.range[0])}–${fmt(s.range[1])})`;

interface LoadSeries {
  readonly rps: Series;
  readonly p99: Series;
  readonly p50: Series;
  /** Server CPU per request, µs: robust where other processes share the CPUs. */
  readonly cpuUs: Series;
  readonly errors: number;
}
type Measured = LoadResult & {cpuUs: number};
const loadSeries = (rs: readonly Measured[]): LoadSeries => ({
  rps: series(rs.map(r => r.rps)),
  cpuUs: series(rs.map(r => r.cpuUs)),
  p50: series(rs.map(r => r.p50)),
  p99: series(rs.map(r => r.p99)),
  errors: rs.reduce((a, r) => a + r.errors, 0),
});

/**
 * Warm rounds: each server started once and warmed up (one marked `fresh`: started and
 * warmed up again before each round), then rounds alternating over `jobs` (one server
 * under load at a time).
 */
async function rounds(
  named: readonly {
    name: string;
    target: Target;
    job: (s: Server, seconds: number) => Promise<LoadJob> | LoadJob;
    /** A server of its own for each round, started and warmed up before it. */
    fresh?: boolean;
  }[],
): Promise<Record<string, LoadSeries>> {
  const servers: Server[] = [];
  try {
    for (const n of named) servers.push(await serve(n.target));
    for (const [i, n] of named.entries()) {
      await load(await n.job(servers[i]!, SETTINGS.warmup));
    }
    const results = named.map(() => [] as Measured[]);
    for (let r = 0; r < SETTINGS.rounds; r++) {
      for (const [i, n] of named.entries()) {
        if (n.fresh && r > 0) {
          await servers[i]!.stop();
          servers[i] = await serve(n.target);
          await load(await n.job(servers[i]!, SETTINGS.warmup));
        }
        const s = servers[i]!;
        const job = await n.job(s, SETTINGS.seconds);
        const cpu = s.cpuMs();
        const result = await load(job);
        const cpuUs = ((s.cpuMs() - cpu) * 1000) / Math.max(1, result.requests);
        results[i]!.push({...result, cpuUs});
      }
    }
    return Object.fromEntries(
      named.map((n, i) => [n.name, loadSeries(results[i]!)]),
    );
  } finally {
    for (const s of servers) await s.stop();
  }
}

async function main() {
  process.env.HOME = mkdtempSync(join(tmpdir(), 'tvm-bench-home-'));
  delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
  const emulator: Emulator = await startEmulator();
  const policyPath = join(dir, 'policy.yaml');
  const policyJwtPath = join(dir, 'policy-jwt.yaml');
  const policyManyPath = join(dir, 'policy-many.yaml');
  writeFileSync(policyPath, POLICY);
  writeFileSync(policyJwtPath, POLICY_JWT);
  writeFileSync(policyManyPath, POLICY_MANY);
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  // The same policy as a Secret Manager version the runtime account may read.
  const policyVersion = provisionPolicySecret(
    emulator.state,
    'projects/tvm-local/secrets/tvm-policy',
    POLICY,
  );
  const common = {
    // With the project, as the Terraform module deploys the function.
    ...emulatorEnvironment(emulator),
    TVM_RATE_LIMIT_PER_IP: '1000000',
    TVM_RATE_LIMIT_PER_CLIENT: '1000000',
    TVM_LOG_LEVEL: 'info',
  };
  const bare: Target = {kind: 'bare', env: {}};
  const tvm: Target = {kind: 'tvm', env: {...common, TVM_POLICY: policyPath}};
  const tvmSecret: Target = {
    kind: 'tvm',
    env: {...common, TVM_POLICY: policyVersion},
  };
  const tvmJwt: Target = {
    kind: 'tvm',
    env: {...common, TVM_POLICY: policyJwtPath},
  };
  const tvmMany: Target = {
    kind: 'tvm',
    env: {...common, TVM_POLICY: policyManyPath},
  };
  // The baseline: a bare handler answering a token-shaped JSON body, no work at all.
  writeFileSync(
    join(dir, 'bare.mjs'),
    `import {http} from ${JSON.stringify(join(root, 'node_modules/@google-cloud/functions-framework/build/src/index.js'))};
const body = {access_token: 'x'.repeat(64), token_type: 'Bearer', expires_in: 899, scope: 'https://www.googleapis.com/auth/bigquery.readonly'};
http('bare', (req, res) => { res.setHeader('Cache-Control', 'no-store'); res.json(body); });
`,
  );
  // The floor: that answer served as tvm is served (P1 only).
  writeFileSync(
    join(dir, 'floor.mjs'),
    `import {http} from ${JSON.stringify(join(root, 'node_modules/@google-cloud/functions-framework/build/src/index.js'))};
import {installRequestGuard} from ${JSON.stringify(join(root, 'build/src/request-guard.js'))};
import {createLogger} from ${JSON.stringify(join(root, 'build/src/log.js'))};
const body = {access_token: 'x'.repeat(64), token_type: 'Bearer', expires_in: 899, scope: 'https://www.googleapis.com/auth/bigquery.readonly'};
const serve = (req, res) => {
  const text = JSON.stringify(body);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
};
installRequestGuard({serve, logger: createLogger('info')});
http('floor', serve);
`,
  );
  const floor: Target = {kind: 'floor', env: {}};

  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    quick: QUICK,
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    settings: SETTINGS,
    memoryLimitMb: 'bytes' in LIMIT ? LIMIT.bytes / 2 ** 20 : null,
  };
  say(
    `tvm bench${QUICK ? ' (quick)' : ''}: Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ` +
      `${SETTINGS.rounds} alternating rounds of ${SETTINGS.seconds}s per server; medians (range)`,
  );
  say(
    'bytes' in LIMIT
      ? `each server limited to ${LIMIT.bytes / 2 ** 20} MiB of memory, as a function instance is (${LIMIT.where})`
      : `servers run without a memory limit (${LIMIT.reason}): V8 sizes their heaps for this machine's memory`,
  );

  // P2: cold start, alternating bare / tvm (file) / tvm (Secret Manager).
  if (want('p2')) {
    const names = ['bare', 'file', 'secret'] as const;
    const cold = {
      bare: {ms: [] as number[], cpu: [] as number[]},
      file: {ms: [] as number[], cpu: [] as number[]},
      secret: {ms: [] as number[], cpu: [] as number[]},
    };
    const targets = {bare, file: tvm, secret: tvmSecret};
    for (let i = 0; i < SETTINGS.cold; i++) {
      for (const name of names) {
        const s = await serve(targets[name]);
        cold[name].ms.push(s.coldMs);
        cold[name].cpu.push(s.coldCpuMs);
        await s.stop();
      }
    }
    const p2 = Object.fromEntries(
      names.map(n => [n, {ms: series(cold[n].ms), cpuMs: series(cold[n].cpu)}]),
    ) as Record<(typeof names)[number], {ms: Series; cpuMs: Series}>;
    // Each round's tvm against the bare handler started just before it: the pairing
    // keeps a ratio true while the machine's speed drifts between rounds, which moves
    // all three medians of a run together (by 15 % from one run to the next here).
    const paired = (n: 'file' | 'secret') =>
      series(cold[n].ms.map((ms, i) => ms / cold.bare.ms[i]!));
    say(
      'P2 cold start, spawn to first token (tvm: a cache miss minted upstream); CPU: the process until then;',
    );
    say(
      "   ratio: the median of each round's tvm / bare (range), then the ratio of the medians:",
    );
    const ratios: Record<string, number> = {};
    for (const [n, label, target] of [
      ['bare', 'bare                 ', undefined],
      ['file', 'tvm, policy in a file', 1.5],
      ['secret', 'tvm, Secret Manager  ', 2],
    ] as const) {
      const r = p2[n];
      let ratio = '';
      if (n !== 'bare') {
        const pairs = paired(n);
        ratios[n] = pairs.median;
        ratios[`${n}OfMedians`] = r.ms.median / p2.bare.ms.median;
        ratios[`${n}Cpu`] = r.cpuMs.median / p2.bare.cpuMs.median;
        ratio =
          `   ratio ${f2(pairs.median)}x (${f2(pairs.range[0])}-${f2(pairs.range[1])}; target <= ${target}x),` +
          ` of medians ${f2(r.ms.median / p2.bare.ms.median)}x, CPU ${f2(r.cpuMs.median / p2.bare.cpuMs.median)}x`;
      }
      say(
        `  ${label}  ${showSeries(r.ms, 'ms')}   CPU ${showSeries(r.cpuMs, 'ms')}${ratio}`,
      );
    }
    results.p2 = {...p2, ratio: ratios};
  }

  // P1: warm vend, API key, cache hit.
  const apiKeyJob =
    (connections: number) =>
    (s: Server, duration: number): LoadJob => ({
      url: s.url,
      connections,
      duration,
      headers: {...FORM, authorization: basic('bench', apiKey)},
      body: API_KEY_BODY,
    });
  const warm: Record<string, Record<string, LoadSeries>> = {};
  for (const c of want('p1') ? CONCURRENCY : []) {
    warm[c] = await rounds([
      {name: 'bare', target: bare, job: apiKeyJob(c)},
      {name: 'floor', target: floor, job: apiKeyJob(c)},
      {name: 'tvm', target: tvm, job: apiKeyJob(c)},
    ]);
    const b = warm[c]!.bare!;
    const fl = warm[c]!.floor!;
    const t = warm[c]!.tvm!;
    say(`P1 warm vend (API key, cache hit), ${c} connections:`);
    say(
      `  bare   ${showSeries(b.rps, 'req/s')}   p50 ${showSeries(b.p50, 'ms', f1)}   p99 ${showSeries(b.p99, 'ms', f1)}`,
    );
    say(
      `  tvm    ${showSeries(t.rps, 'req/s')}   p50 ${showSeries(t.p50, 'ms', f1)}   p99 ${showSeries(t.p99, 'ms', f1)}   errors ${t.errors}`,
    );
    say(
      `  ratio  throughput ${f2(t.rps.median / b.rps.median)}x (target >= 0.85x)   p99 ${f2(t.p99.median / b.p99.median)}x (target <= 1.3x)`,
    );
    say(
      `  server CPU per request: bare ${showSeries(b.cpuUs, 'µs')}   tvm ${showSeries(t.cpuUs, 'µs')}   ratio ${f2(t.cpuUs.median / b.cpuUs.median)}x`,
    );
    say(
      `  floor  ${showSeries(fl.rps, 'req/s')}   CPU ${showSeries(fl.cpuUs, 'µs/req')}   (the same answer served as tvm is, without the framework's app)`,
    );
    say(
      `  tvm vs floor: throughput ${f2(t.rps.median / fl.rps.median)}x   CPU per request ${f2(t.cpuUs.median / fl.cpuUs.median)}x (+${Math.round(t.cpuUs.median - fl.cpuUs.median)} µs: tvm's own work)`,
    );
  }

  // P1 with Redis: two instances sharing one redis-server, the load split across them.
  if (want('p1-redis')) {
    if (haveRedis()) {
      results.p1Redis = await p1Redis(tvm, apiKeyJob);
    } else {
      const why =
        'redis-server is not on PATH (Debian: apt-get install redis-server)';
      say(`P1 with Redis: skipped: ${why}`);
      results.p1Redis = {skipped: why};
    }
  }

  // P5: OIDC subject token, private_key_jwt with a fresh jti per request.
  let batch = 0;
  const p5: Record<string, Record<string, LoadSeries>> = {};
  for (const c of want('p5') ? SETTINGS.p5 : []) {
    p5[c] = await rounds([
      {name: 'bare', target: bare, job: apiKeyJob(c)},
      {
        name: 'oidc',
        target: tvmJwt,
        job: (s, duration) => ({
          url: s.url,
          connections: c,
          duration,
          headers: FORM,
          body: OIDC_BODY,
        }),
      },
      {
        name: 'pkjwt',
        target: tvmJwt,
        // The replay guard holds each jti until its assertion has expired (and 30 s
        // more), at most 100,000 (fail closed when full): at this vend's rate, three
        // rounds would fill it. A server per round keeps each under it.
        fresh: true,
        job: (s, duration) => {
          // More assertions than the round can use (12,000 a second, over twice what
          // this vend reaches on a 2-CPU machine): none is ever sent twice, which tvm
          // would refuse as a replay (counted in errors).
          const file = join(dir, `assertions-${batch++}.txt`);
          writeFileSync(file, assertionBodies(duration * 12_000, s.base));
          return {
            url: s.url,
            connections: c,
            duration,
            headers: FORM,
            bodiesFile: file,
          };
        },
      },
    ]);
    const b = p5[c]!.bare!;
    say(`P5 vend by JWT, ${c} connections (bare: as in P1):`);
    say(
      `  bare                 ${showSeries(b.rps, 'req/s')}   CPU ${showSeries(b.cpuUs, 'µs/req')}`,
    );
    for (const [name, label, target] of [
      ['oidc', 'OIDC subject token ', 0.6],
      ['pkjwt', 'private_key_jwt     ', 0.5],
    ] as const) {
      const t = p5[c]![name]!;
      say(
        `  ${label}  ${showSeries(t.rps, 'req/s')}   p99 ${showSeries(t.p99, 'ms', f1)}   errors ${t.errors}   ratio ${f2(t.rps.median / b.rps.median)}x (target >= ${target}x)   CPU ${showSeries(t.cpuUs, 'µs/req')} (${f2(t.cpuUs.median / b.cpuUs.median)}x)`,
      );
    }
  }

  // P3: stampede on a cold cache.
  if (want('p3')) {
    emulator.stats.reset();
    const fresh = await serve(tvm, 'health');
    let stampede: number[];
    try {
      stampede = await Promise.all(
        Array.from({length: 500}, () =>
          fetch(fresh.url, {
            method: 'POST',
            headers: {...FORM, authorization: basic('bench', apiKey)},
            body: API_KEY_BODY,
          }).then(async r => (await r.arrayBuffer(), r.status)),
        ),
      );
    } finally {
      await fresh.stop();
    }
    const mints = emulator.stats.count('iam.generateAccessToken');
    const ok = stampede.filter(s => s === 200).length;
    say(
      `P3 stampede: 500 concurrent identical requests, cold cache -> ${ok} x 200, ${mints} upstream mint(s) (target 1)`,
    );
    results.p3 = {requests: 500, ok, mints};
  }

  // P4: RSS after the load, 1,000 API-key clients, measured at half and at the end;
  // then after more load, and after a pause (IDLE_SECONDS).
  if (want('p4')) {
    const authorizations = memoryKeys.map((k, i) => basic(`c${i}`, k));
    type Memory = {
      half: number;
      full: number;
      peakHalf: number;
      peakFull: number;
      /** RSS after half as many requests again: still growing, or a plateau. */
      after: number;
      /**
       * RSS after the load has stopped for IDLE_SECONDS: what V8 keeps once its memory
       * reducer has run (it returns pooled pages when allocation slows, not under load).
       */
      idle: number | null;
      errors: number;
    };
    const none = {
      half: 0,
      full: 0,
      peakHalf: 0,
      peakFull: 0,
      after: 0,
      idle: null,
      errors: 0,
    };
    const memory: Record<'bare' | 'tvm', Memory> = {
      bare: {...none},
      tvm: {...none},
    };
    for (const [kind, target] of [
      ['bare', bare],
      ['tvm', tvmMany],
    ] as const) {
      const s = await serve(target, 'health');
      try {
        const job: LoadJob = {
          url: s.url,
          connections: 50,
          amount: SETTINGS.memory / 2,
          headers: FORM,
          body: API_KEY_BODY,
          authorizations,
        };
        const first = await load(job);
        memory[kind].half = s.rssMb();
        memory[kind].peakHalf = s.peakMb();
        const second = await load(job);
        memory[kind].full = s.rssMb();
        memory[kind].peakFull = s.peakMb();
        const third = await load(job);
        memory[kind].after = s.rssMb();
        if (IDLE_SECONDS > 0) {
          await new Promise(r => setTimeout(r, IDLE_SECONDS * 1000));
          memory[kind].idle = s.rssMb();
        }
        memory[kind].errors = first.errors + second.errors + third.errors;
      } finally {
        await s.stop();
      }
    }
    const growth = (m: {half: number; full: number}) => m.full / m.half - 1;
    say(
      `P4 RSS after ${SETTINGS.memory / 1000}k requests over 1,000 API-key clients (at ${SETTINGS.memory / 2000}k -> ${SETTINGS.memory / 1000}k):`,
    );
    for (const kind of ['bare', 'tvm'] as const) {
      const m = memory[kind];
      say(
        `  ${kind.padEnd(5)}  ${f1(m.half)} MB -> ${f1(m.full)} MB   growth ${f1(growth(m) * 100)} %   peak ${f1(m.peakHalf)} MB -> ${f1(m.peakFull)} MB (${f1((m.peakFull / m.peakHalf - 1) * 100)} %)   then ${f1(m.after)} MB after ${(SETTINGS.memory * 1.5) / 1000}k${m.idle === null ? '' : `, ${f1(m.idle)} MB after ${IDLE_SECONDS} s idle`}   errors ${m.errors}`,
      );
    }
    say(
      `  ratio  ${f2(memory.tvm.full / memory.bare.full)}x (target <= 1.5x)   tvm growth ${f1(growth(memory.tvm) * 100)} % (target < 10 %)`,
    );

    results.p4 = {
      requests: SETTINGS.memory,
      ...memory,
      ratio: memory.tvm.full / memory.bare.full,
      growth: growth(memory.tvm),
    };
  }

  await emulator.close();
  Object.assign(results, {
    p1: Object.fromEntries(
      Object.entries(warm).map(([c, r]) => [
        c,
        {
          ...r,
          ratio: {
            throughput: r.tvm!.rps.median / r.bare!.rps.median,
            p99: r.tvm!.p99.median / r.bare!.p99.median,
            cpuPerRequest: r.tvm!.cpuUs.median / r.bare!.cpuUs.median,
            floorThroughput: r.tvm!.rps.median / r.floor!.rps.median,
            floorCpuPerRequest: r.tvm!.cpuUs.median / r.floor!.cpuUs.median,
          },
        },
      ]),
    ),
    p5: Object.fromEntries(
      Object.entries(p5).map(([c, r]) => [
        c,
        {
          ...r,
          ratio: {
            oidc: r.oidc!.rps.median / r.bare!.rps.median,
            privateKeyJwt: r.pkjwt!.rps.median / r.bare!.rps.median,
            oidcCpuPerRequest: r.oidc!.cpuUs.median / r.bare!.cpuUs.median,
            privateKeyJwtCpuPerRequest:
              r.pkjwt!.cpuUs.median / r.bare!.cpuUs.median,
          },
        },
      ]),
    ),
    output: lines,
  });
  writeFileSync(
    join(root, 'bench/results.json'),
    JSON.stringify(results, null, 2) + '\n',
  );
  say('written: bench/results.json');
}

/**
 * P1 with the shared store: one tvm instance without Redis against two instances that
 * share one redis-server (loopback, AUTH on, no persistence), with the same
 * connections in total, split evenly. Rounds alternate one / two. The pair's
 * throughput is the sum of both load generators'; its p99 the slower instance's; its
 * CPU per request counts both instances and redis-server.
 */
async function p1Redis(
  single: Target,
  job: (c: number) => (s: Server, duration: number) => LoadJob,
): Promise<Record<string, unknown>> {
  const c = CONCURRENCY[0];
  const redis = await startRedis();
  const redisPid = redis.pid()!;
  const commands = () =>
    Number(
      /total_commands_processed:(\d+)/.exec(redis.cli('INFO', 'stats'))![1],
    );
  const shared: Target = {
    kind: 'tvm',
    env: {
      ...single.env,
      TVM_REDIS_URL: redis.url,
      TVM_CACHE_KEY: randomBytes(32).toString('base64'),
    },
  };
  const servers: Server[] = [];
  try {
    const one = await serve(single);
    servers.push(one);
    const pair = [await serve(shared), await serve(shared)] as const;
    servers.push(...pair);
    const runPair = (duration: number) =>
      Promise.all(pair.map(s => load(job(c / 2)(s, duration))));
    await load(job(c)(one, SETTINGS.warmup));
    await runPair(SETTINGS.warmup);
    const alone: Measured[] = [];
    const together: (Measured & {redisCommands: number})[] = [];
    for (let r = 0; r < SETTINGS.rounds; r++) {
      const cpu1 = one.cpuMs();
      const r1 = await load(job(c)(one, SETTINGS.seconds));
      alone.push({
        ...r1,
        cpuUs: ((one.cpuMs() - cpu1) * 1000) / Math.max(1, r1.requests),
      });
      const cpuOf = () =>
        pair[0].cpuMs() + pair[1].cpuMs() + processCpuMs(redisPid);
      const cpu2 = cpuOf();
      const cmd2 = commands();
      const [a, b] = await runPair(SETTINGS.seconds);
      const requests = a!.requests + b!.requests;
      together.push({
        requests,
        rps: a!.rps + b!.rps,
        p50: Math.max(a!.p50, b!.p50),
        p99: Math.max(a!.p99, b!.p99),
        errors: a!.errors + b!.errors,
        cpuUs: ((cpuOf() - cpu2) * 1000) / Math.max(1, requests),
        // INFO itself is one command: not counted against the load.
        redisCommands: (commands() - cmd2 - 1) / Math.max(1, requests),
      });
    }
    const o = loadSeries(alone);
    const t = loadSeries(together);
    const perRequest = series(together.map(x => x.redisCommands));
    say(
      `P1 with Redis (API key, cache hit), ${c} connections: one instance without Redis, then two instances sharing one redis-server (${c / 2} connections each):`,
    );
    say(
      `  one, no Redis    ${showSeries(o.rps, 'req/s')}   p99 ${showSeries(o.p99, 'ms', f1)}   errors ${o.errors}`,
    );
    say(
      `  two + Redis      ${showSeries(t.rps, 'req/s')}   p99 ${showSeries(t.p99, 'ms', f1)} (the slower one)   errors ${t.errors}   Redis commands per request ${showSeries(perRequest, '', f2)}`,
    );
    say(
      `  ratio  throughput ${f2(t.rps.median / o.rps.median)}x   p99 ${f2(t.p99.median / o.p99.median)}x   CPU per request ${f2(t.cpuUs.median / o.cpuUs.median)}x (${showSeries(o.cpuUs, 'µs')} -> ${showSeries(t.cpuUs, 'µs')}, both instances and redis-server)`,
    );
    say(
      `  (${cpus().length} CPUs shared by the servers, redis-server and the load generators: the ratio shows what the shared store costs here, not how a fleet scales)`,
    );
    return {
      connections: c,
      one: o,
      two: {...t, redisCommandsPerRequest: perRequest},
      ratio: {
        throughput: t.rps.median / o.rps.median,
        p99: t.p99.median / o.p99.median,
        cpuPerRequest: t.cpuUs.median / o.cpuUs.median,
      },
    };
  } finally {
    for (const s of servers) await s.stop();
    await redis.close();
  }
}

main().then(
  () => process.exit(0),
  e => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
