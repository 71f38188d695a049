/**
 * What `npm start` (scripts/start.ts) checks before it prints, builds or writes
 * anything: the configuration it will hand the function, and that its port is free.
 * A second `npm start` on a taken port must fail in one line without touching the
 * first one's files; a bad value must read as tvm's, not as the framework's "syntax
 * error" from a module that failed to load.
 */
import {createServer} from 'node:net';
import {parseConfig, type Config} from '../config.ts';
import {ConfigError} from '../errors.ts';
import type {CompiledPolicy} from '../policy/types.ts';
import {emulatorEnvironment} from './environment.ts';

/** Stands in for the emulator scripts/start.ts has not started yet. */
const PLACEHOLDER_EMULATOR = {
  url: 'http://127.0.0.1:1',
  metadataHost: '127.0.0.1:1',
  tokenUrl: 'http://127.0.0.1:1/token',
  secretManagerEndpoint: 'http://127.0.0.1:1',
  state: {projectId: 'tvm-local'},
};

/** A reason `npm start` stops, said in one line (no stack). */
export class LocalStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The configuration the local function will read, checked now: the user's variables
 * with the ones scripts/start.ts sets for the emulator (emulatorEnvironment) stood in
 * for by loopback placeholders. Throws LocalStartError under tvm's heading.
 */
export function checkLocalConfig(env: Env): Config {
  try {
    return parseConfig({
      ...env,
      ...emulatorEnvironment(PLACEHOLDER_EMULATOR),
      TVM_ISSUER: 'http://127.0.0.1',
    });
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new LocalStartError(`tvm: configuration error: ${e.message}`);
    }
    throw e;
  }
}

/** Throws LocalStartError when `host`:`port` cannot be listened on. */
export async function assertPortFree(
  host: string,
  port: number,
): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (e: NodeJS.ErrnoException) => {
      reject(
        new LocalStartError(
          e.code === 'EADDRINUSE'
            ? `tvm: port ${port} on ${host} is already in use (another npm start?); stop it or set PORT to a free port`
            : `tvm: cannot listen on ${host}:${port} (${e.code ?? e.message})`,
        ),
      );
    });
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

/**
 * The banner's curl for the first API-key client's first grant, with a scope that grant
 * allows (a grant may have no default scopes: the request then needs one). `key`
 * stands in for the API key when local mode does not know it.
 */
export function bannerCurl(
  policy: CompiledPolicy,
  url: string,
  key: string,
): string | undefined {
  // A client that can use an API key at all (some have only OIDC or assertion trust).
  const client = [...policy.clients.values()].find(
    c => c.apiKeys.length > 0 && c.grants.length > 0,
  );
  const grant = client?.grants[0];
  if (!client || !grant) return undefined;
  const scope = [...grant.scopes][0];
  const short = scope?.replace('https://www.googleapis.com/auth/', '');
  return [
    `curl -s -u '${client.id}:${key}'`,
    '-d grant_type=client_credentials',
    `-d audience=${grant.serviceAccount.alias}`,
    ...(short ? [`-d scope=${short}`] : []),
    `${url}/token`,
  ].join(' ');
}
