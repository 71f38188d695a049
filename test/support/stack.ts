/**
 * Test harness: the local Google emulator and tvm served as the deployed function
 * serves it (its listener behind the request guard, src/request-guard.ts, on a Node
 * server; test/hostile/seam.test.ts and the CLI tests cover functions-framework's own
 * server), on loopback, with logs captured so tests can assert on audit lines and scan
 * for secrets.
 */
import {after} from 'node:test';
import {Writable} from 'node:stream';
import {mkdtempSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {AddressInfo} from 'node:net';
import {createServer, type Server} from 'node:http';
import {startEmulator, type Emulator} from '../../emulator/src/index.ts';
import type {Clock} from '../../src/clock.ts';
import {parseConfig, type Config} from '../../src/config.ts';
import {guardParserErrorLogs} from '../../src/framework-guard.ts';
import {createLogger} from '../../src/log.ts';
import {
  LOCAL_RUNTIME_ACCOUNT,
  provisionForPolicy,
} from '../../src/local/provision.ts';
import {emulatorEnvironment} from '../../src/local/environment.ts';
import {parsePolicy} from '../../src/policy/index.ts';
import {guardListener} from '../../src/request-guard.ts';
import {
  createService,
  type Service,
  type ServiceOptions,
} from '../../src/service.ts';
import {apiKeySha256Hex, generateApiKey} from '../../src/auth/api-key.ts';

// No stray credentials or metadata probing from the machine running the tests.
process.env.HOME = mkdtempSync(join(tmpdir(), 'tvm-home-'));
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
// As src/main.ts does for the deployed function (see there).
process.env.NODE_ENV ??= 'production';
guardParserErrorLogs();

/** Every log line written during the whole test process, for the secret scan. */
export const allLogs: string[] = [];

/**
 * Every secret the tests of this process made, sent or received: API keys, tokens
 * handed out, subject tokens, assertions. The scan after all tests checks that none
 * of them reached a log line, whatever the test file remembered to check itself.
 */
const secretsSeen = new Set<string>();

/** Adds `value` to the secrets no log line may ever contain. */
export function rememberSecret(value: string | undefined): void {
  if (value && value.length >= 16) secretsSeen.add(value.trim());
}

// The suite-wide scan: once every test of this process is over.
after(() => {
  if (allLogs.length > 0) assertNoSecretsLogged([...secretsSeen]);
});

export interface Stack {
  readonly emulator: Emulator;
  readonly url: string;
  readonly service: Service;
  readonly config: Config;
  readonly policyPath: string;
  /** Parsed JSON log lines of this stack. */
  readonly logs: Record<string, unknown>[];
  /** Audit lines only. */
  audits(): Record<string, unknown>[];
  close(): Promise<void>;
}

export interface StackOptions {
  /** Policy YAML; `{{KEY:name}}` is replaced by the SHA-256 of key `name` from `keys`. */
  readonly policy: string;
  readonly keys?: Record<string, string>;
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  /** Provision the policy's accounts in the emulator (default true). */
  readonly provision?: boolean;
  readonly mintDeadlineMs?: number;
  /** The emulator's clock, when it must differ from tvm's (default: the same clock). */
  readonly emulatorNow?: () => number;
  /** More of the service's own options (the OIDC fetch, its cache settings). */
  readonly service?: Omit<
    ServiceOptions,
    'clock' | 'logger' | 'mintDeadlineMs'
  >;
}

/** Renders a policy template with key hashes. */
export function renderPolicy(
  policy: string,
  keys: Record<string, string> = {},
): string {
  return policy.replace(/\{\{KEY:([\w-]+)\}\}/g, (_, name: string) => {
    const key = keys[name];
    if (!key) throw new Error(`no key ${name}`);
    return apiKeySha256Hex(key);
  });
}

/** Starts the emulator and tvm; tears both down on close(). */
export async function startStack(options: StackOptions): Promise<Stack> {
  const emulator = await startEmulator({
    now:
      options.emulatorNow ??
      (options.clock ? () => options.clock!.now() : undefined),
  });
  const dir = mkdtempSync(join(tmpdir(), 'tvm-policy-'));
  const policyPath = join(dir, 'policy.yaml');
  const text = renderPolicy(options.policy, options.keys);
  writeFileSync(policyPath, text);
  if (options.provision !== false) {
    provisionForPolicy(
      emulator.state,
      parsePolicy(text),
      LOCAL_RUNTIME_ACCOUNT,
    );
  }
  const config = parseConfig({
    TVM_POLICY: policyPath,
    ...emulatorEnvironment(emulator),
    TVM_POLICY_REFRESH_SECONDS: '3600',
    ...options.env,
  });
  process.env.GCE_METADATA_HOST = emulator.metadataHost;
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        allLogs.push(line);
        logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  const logger = createLogger('debug', sink);
  const service = await createService(config, {
    clock: options.clock,
    logger,
    mintDeadlineMs: options.mintDeadlineMs,
    ...options.service,
  });
  const server: Server = createServer(
    guardListener(service.app, {
      logger,
      trustedProxyHops: config.trustedProxyHops,
    }),
  );
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as AddressInfo;
  await service.policies.ready();
  return {
    emulator,
    url: `http://127.0.0.1:${port}`,
    service,
    config,
    policyPath,
    logs,
    audits: () =>
      logs.filter(l => (l as {audit?: unknown}).audit !== undefined),
    async close() {
      server.closeAllConnections();
      await new Promise<void>(resolve => server.close(() => resolve()));
      await service.close();
      await emulator.close();
    },
  };
}

/** A fresh API key, remembered for the secret scan. */
export function newKey(): string {
  const key = generateApiKey();
  rememberSecret(key);
  return key;
}

/** Form parameters that carry secrets. */
const SECRET_PARAMS = ['client_secret', 'client_assertion', 'subject_token'];

/** POSTs a form to `url` and returns status, headers and parsed JSON body. */
export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{status: number; headers: Headers; body: Record<string, unknown>}> {
  for (const name of SECRET_PARAMS) rememberSecret(form[name]);
  const res = await fetch(url, {
    method: 'POST',
    headers: {'content-type': 'application/x-www-form-urlencoded', ...headers},
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  const answer = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (typeof answer.access_token === 'string')
    rememberSecret(answer.access_token);
  return {
    status: res.status,
    headers: res.headers,
    body: answer,
  };
}

/** The HTTP Basic header for `id`:`secret` (RFC 6749 §2.3.1 form-encoding). */
export function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/** Patterns that must never appear in a log line. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /ya29\./, // Google access tokens
  /tvm_[A-Za-z0-9_-]{43}/, // tvm API keys
  /BEGIN (RSA )?PRIVATE KEY/,
  /Basic [A-Za-z0-9+/=]{8,}/,
  /Bearer [A-Za-z0-9._-]{8,}/,
  /eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, // JWTs
];

/**
 * Asserts that no log line written so far in this process contains a token, key,
 * assertion or Authorization header, nor any of the `values` given (secrets the test
 * handed out or received).
 */
export function assertNoSecretsLogged(values: readonly string[] = []): void {
  if (allLogs.length === 0)
    throw new Error('no logs captured: the scan would prove nothing');
  for (const line of allLogs) {
    for (const p of SECRET_PATTERNS) {
      if (p.test(line))
        throw new Error(`a log line matches ${p}: ${line.slice(0, 200)}`);
    }
    for (const v of values) {
      if (v && line.includes(v))
        throw new Error(
          `a log line contains a secret value: ${line.slice(0, 80)}...`,
        );
    }
  }
}
