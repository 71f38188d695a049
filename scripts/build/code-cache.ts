/**
 * Makes build/code-cache/tvm.cjs.<cold start>.v8, a V8 code cache of tvm's bundle that
 * the entry loads it with (src/load-bundle.ts). build.ts runs it once per cold start
 * (`file`, `secret`), each in a Node of its own, started as functions-framework's is
 * (no flags: V8 takes a cache only from a V8 with the same flags), after esbuild.
 *
 * It loads the bundle as the entry does, then runs one cold start against the Google
 * emulator on loopback: tvm with its policy in a file, or in Secret Manager, through
 * its request guard to a first token (an impersonated mint: the metadata server's
 * token, then the IAM Credentials API). Then it takes the bundle's cache, which now
 * holds the code of every function that cold start ran, and only those: the file's
 * has none of the Secret Manager client's gRPC stack, which would be read in for
 * nothing. Nothing of this reaches the network but loopback, and nothing of it is
 * shipped but the cache.
 *
 *   node scripts/build/code-cache.ts file|secret     # after the bundle is built
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {createServer, type RequestListener} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {basename, join} from 'node:path';
import {startEmulator} from '../../emulator/src/index.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';
import type {Config} from '../../src/config.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';
import {
  provisionPolicySecret,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {
  codeCacheFile,
  COLD_STARTS,
  loadBundle,
  writeCodeCache,
  type ColdStart,
} from '../../src/load-bundle.ts';
import type {Logger} from '../../src/log.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import type {Service, ServiceOptions} from '../../src/service.ts';

const built = join(import.meta.dirname, '../../build');
const bundle = join(built, 'src/tvm.cjs');
const coldStart = process.argv[2] as ColdStart;
if (!COLD_STARTS.includes(coldStart)) {
  throw new Error(`code cache: which cold start? ${COLD_STARTS.join(' or ')}`);
}
const cacheFile = codeCacheFile(join(built, 'code-cache'), coldStart);

/** What of the bundle the warm-up uses (src/main.ts). */
interface Tvm {
  parseConfig(env: Record<string, string | undefined>): Config;
  createLogger(level: 'silent'): Logger;
  createService(config: Config, options: ServiceOptions): Promise<Service>;
  guardListener(
    listener: RequestListener,
    options: {logger: Logger; trustedProxyHops?: number},
  ): RequestListener;
}

const key = generateApiKey();
const POLICY = `version: 1
service_accounts:
  reporting:
    email: reporting@tvm-local.iam.gserviceaccount.com
clients:
  build:
    api_keys:
      - sha256: ${apiKeySha256Hex(key)}
    allow:
      - service_account: reporting
        scopes: [bigquery.readonly]
        max_lifetime: 15m
`;

const loaded = loadBundle<Tvm>(bundle, undefined);
const tvm = loaded.exports;
const emulator = await startEmulator();
const dir = mkdtempSync(join(tmpdir(), 'tvm-code-cache-'));
try {
  provisionForPolicy(emulator.state, parsePolicy(POLICY));
  const version = provisionPolicySecret(
    emulator.state,
    `projects/${emulator.state.projectId}/secrets/tvm-policy`,
    POLICY,
  );
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, POLICY);
  // google-auth-library finds the metadata server through the process's environment;
  // every call is to the emulator on loopback, never through a proxy the build's
  // environment may name.
  process.env.GCE_METADATA_HOST = emulator.metadataHost;
  for (const name of [
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'http_proxy',
    'https_proxy',
    'grpc_proxy',
  ]) {
    delete process.env[name];
  }
  await firstToken(
    tvm.parseConfig({
      ...emulatorEnvironment(emulator),
      TVM_POLICY: coldStart === 'secret' ? version : policyFile,
    }),
  );
} finally {
  await emulator.close();
  rmSync(dir, {recursive: true, force: true});
}

mkdirSync(join(built, 'code-cache'), {recursive: true});
const size = writeCodeCache(cacheFile, loaded);
console.log(
  `code cache: ${Math.round(size / 1024)} KB in build/code-cache/${basename(cacheFile)}`,
);
// The emulator's gRPC server and the services' timers end with the process.
process.exit(0);

/** tvm with `config`, served on loopback behind its guard, asked for one token. */
async function firstToken(config: Config): Promise<void> {
  const logger = tvm.createLogger('silent');
  const service = await tvm.createService(config, {logger});
  const server = createServer(tvm.guardListener(service.app, {logger}));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  try {
    const {port} = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`build:${key}`).toString('base64')}`,
      },
      body: 'grant_type=client_credentials&audience=reporting&scope=bigquery.readonly',
      // A warm-up that hangs fails the build, rather than hold it.
      signal: AbortSignal.timeout(60_000),
    });
    const body = (await res.json()) as {token_type?: unknown};
    if (res.status !== 200 || body.token_type !== 'Bearer') {
      throw new Error(
        `code cache: the warm-up's token request answered ${res.status}`,
      );
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>(resolve => server.close(() => resolve()));
    await service.close();
  }
}
