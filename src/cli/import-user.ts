/**
 * `tvm import-user FILE`: stores a user's `authorized_user` credential (the file
 * `gcloud auth application-default login` writes) in Secret Manager, as a new version
 * of a secret, for a `mint: user` entry of the policy; prints that entry. The file is
 * checked strictly first (the parser tvm itself reads the credential back with), and
 * nothing secret is ever printed: the OAuth client's id and a fingerprint of the
 * refresh token say which credential it was.
 *
 * `--local`: into the emulator of a running `npm start` (found through
 * `.tvm-local/<PORT>/emulator.json`), whose token endpoint is also told of the consent
 * (email and scopes), so local mode can vend tokens from it.
 */

import {readFile} from 'node:fs/promises';
import {parseArgs} from 'node:util';
import {GoogleAuth, JWT, type AuthClient} from 'google-auth-library';
import {CONFIG_SETTINGS} from '../config.ts';
import {ConfigError, TvmError} from '../errors.ts';
import {fingerprint} from '../fingerprint.ts';
import {
  MAX_AUTHORIZED_USER_BYTES,
  authorizedUserJson,
  parseAuthorizedUser,
  type AuthorizedUser,
} from '../google/authorized-user.ts';
import {createSecretWriter} from '../google/secret-manager.ts';
import {UpstreamError} from '../google/upstream.ts';
import {
  isRunning,
  localStateDir,
  readEmulatorFile,
  UnsafeEmulatorFile,
  type LocalEmulator,
} from '../local/emulator-file.ts';
import {isLoopbackAddress} from '../loopback.ts';
import {ALIAS_PATTERN} from '../policy/index.ts';
import {
  OPENID_SCOPES,
  SERVICE_ACCOUNT_EMAIL_PATTERN,
  USER_EMAIL_PATTERN,
} from '../policy/schema.ts';
import {normalizeScope} from '../policy/scope.ts';
import {asciiLower} from '../text.ts';
import {CliError, fsReason} from './errors.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  println,
  readAtMost,
  type CliIo,
  type Command,
} from './io.ts';

export const importUser: Command = {
  name: 'import-user',
  args: 'FILE (--secret projects/P/secrets/S | --local [--secret ...]) [--email EMAIL] [--scopes SCOPES]... [--alias NAME]',
  summary:
    "store a user's authorized_user credential in Secret Manager (or local mode's emulator) for a mint: user entry; print the entry",
  run: runImportUser,
};

/** A secret (without a version): `projects/PROJECT/secrets/SECRET`. */
const SECRET_NAME =
  /^projects\/([a-z][a-z0-9-]{4,28}[a-z0-9])\/secrets\/([A-Za-z0-9_-]{1,255})$/;
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
/** Each Secret Manager call (and the emulator's) may take this long. */
const CALL_TIMEOUT_MS = 30_000;

async function runImportUser(args: string[], io: CliIo): Promise<number> {
  const {values, positionals} = parseArgs({
    args,
    options: {
      secret: {type: 'string'},
      local: {type: 'boolean'},
      email: {type: 'string'},
      scopes: {type: 'string', multiple: true},
      alias: {type: 'string'},
    },
    strict: true,
    allowPositionals: true,
  });
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) {
    throw usage('name one authorized_user FILE');
  }
  const local = values.local === true;
  if (!local && values.secret === undefined) {
    throw usage('--secret projects/P/secrets/S is required (or --local)');
  }
  const email =
    values.email === undefined ? undefined : userEmail(values.email);
  const scopes =
    values.scopes === undefined ? undefined : consented(values.scopes);
  if (local && (email === undefined || scopes === undefined)) {
    throw usage(
      '--local needs --email and --scopes: the emulator is told whose consent this is, and to what',
    );
  }
  const alias = values.alias ?? aliasFor(email);
  if (!ALIAS_PATTERN.test(alias)) {
    throw usage('--alias must match [a-z][a-z0-9-]{0,62}');
  }

  const user = await readCredential(file, io);
  if (!user.ok) {
    for (const p of user.problems)
      println(io.stderr, `tvm import-user: ${file}: ${p}`);
    println(
      io.stderr,
      `tvm import-user: ${file} is not an authorized_user credential (${user.problems.length} problem${user.problems.length === 1 ? '' : 's'}); nothing was stored`,
    );
    return EXIT_FAILED;
  }

  const env = io.env ?? process.env;
  const emulator = local ? await localEmulator(env) : undefined;
  const secret =
    values.secret ??
    `projects/${emulator!.projectId}/secrets/${alias}-credential`;
  if (!SECRET_NAME.test(secret)) {
    throw usage(
      '--secret must be projects/PROJECT/secrets/SECRET (no /versions/)',
    );
  }
  const endpoint = emulator
    ? emulator.secretManager
    : secretManagerEndpoint(env);
  const writer = createSecretWriter(
    endpoint,
    identity(endpoint, env, emulator),
  );
  let stored: {version: number; created: boolean};
  try {
    stored = await writer.addVersion(
      secret,
      Buffer.from(authorizedUserJson(user.value), 'utf8'),
      CALL_TIMEOUT_MS,
    );
  } catch (e) {
    throw new CliError(
      'ERR_SECRET_MANAGER',
      `${secret}: ${e instanceof UpstreamError ? e.message : 'the credential could not be stored'}`,
    );
  } finally {
    await writer.close();
  }
  const version = `${secret}/versions/${stored.version}`;
  if (emulator) {
    await registerConsent(emulator, user.value, email!, scopes!, secret);
  }

  const out = (line = '') => println(io.stdout, line);
  out(
    `Stored the authorized_user credential of OAuth client ${user.value.clientId} (refresh token fingerprint ${fingerprint(user.value.refreshToken)}) as ${version}${stored.created ? ' (a new secret)' : ''}.`,
  );
  if (emulator) {
    out(
      `The local emulator now honours it for ${email} with ${scopes!.length} consented scope${scopes!.length === 1 ? '' : 's'}.`,
    );
  } else {
    out(
      "tvm's runtime account needs roles/secretmanager.secretAccessor on the secret.",
    );
  }
  out(
    `Add this to the policy; grants of ${alias} may name only consented scopes, with max_lifetime: 1h:`,
  );
  out();
  out('service_accounts:');
  out(`  ${alias}:`);
  out('    mint: user');
  out(`    email: ${email ?? "<the user's email>"}`);
  out(`    credential_secret: ${version}`);
  out(
    `    consented_scopes: [${scopes ? scopes.join(', ') : '<the scopes the user consented to>'}]`,
  );
  return EXIT_OK;
}

function usage(message: string): CliError {
  return new CliError('ERR_USAGE', message);
}

/** The user's email, lower-cased as the policy has it. */
function userEmail(raw: string): string {
  const email = asciiLower(raw.trim());
  if (
    !USER_EMAIL_PATTERN.test(email) ||
    SERVICE_ACCOUNT_EMAIL_PATTERN.test(email)
  ) {
    throw usage("--email must be the user's email, e.g. alice@example.com");
  }
  return email;
}

/** The scopes, space- or comma-separated across repeats, as the policy writes them. */
function consented(raw: readonly string[]): string[] {
  const out = new Set<string>();
  for (const s of raw.flatMap(r => r.split(/[\s,]+/)).filter(Boolean)) {
    if (OPENID_SCOPES.has(s)) {
      out.add(s);
      continue;
    }
    const r = normalizeScope(s);
    if (!r.ok) throw usage(`--scopes: ${r.message}`);
    out.add(r.value);
  }
  if (out.size === 0) throw usage('--scopes names no scope');
  return [...out];
}

/** An alias from the email's local part, or `user`. */
function aliasFor(email: string | undefined): string {
  const base = (email ?? '')
    .split('@')[0]!
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+|-+$/g, '')
    .slice(0, 63);
  return ALIAS_PATTERN.test(base) ? base : 'user';
}

/** Reads and parses FILE, reading no more of it than the limit allows. */
async function readCredential(file: string, io: CliIo) {
  let text: string;
  try {
    if (io.readFile) {
      text = await io.readFile(file);
    } else {
      // At most one byte over the limit is read, whatever FILE is (a pipe, a
      // device or /proc file reports no size).
      const bytes = await readAtMost(file, MAX_AUTHORIZED_USER_BYTES + 1);
      if (bytes.length > MAX_AUTHORIZED_USER_BYTES) {
        return {
          ok: false as const,
          problems: [`larger than ${MAX_AUTHORIZED_USER_BYTES} bytes`],
        };
      }
      text = bytes.toString('utf8');
    }
  } catch (e) {
    throw new CliError('ERR_USAGE', `cannot read ${file}: ${fsReason(e)}`);
  }
  return parseAuthorizedUser(text);
}

/** TVM_SECRET_MANAGER_ENDPOINT as tvm reads it (loopback only with TVM_LOCAL=1). */
function secretManagerEndpoint(
  env: Readonly<Record<string, string | undefined>>,
): string {
  const read = (field: string) =>
    CONFIG_SETTINGS.find(s => s.field === field)!.read(env);
  try {
    const endpoint = read('secretManagerEndpoint') as string;
    if (read('local') === true && !isLoopbackAddress(endpoint)) {
      throw new ConfigError(
        'TVM_SECRET_MANAGER_ENDPOINT',
        'with TVM_LOCAL=1 it must point at the local emulator (loopback)',
      );
    }
    return endpoint;
  } catch (e) {
    if (e instanceof TvmError) throw new CliError('ERR_CONFIG', e.message);
    throw e;
  }
}

/**
 * Who writes to Secret Manager: the local admin's key for --local; otherwise the
 * service-account key GOOGLE_APPLICATION_CREDENTIALS names, or else the caller's
 * Application Default Credentials (gcloud's). On a plaintext (loopback) channel a key
 * signs its own JWT, as the emulator accepts.
 */
function identity(
  endpoint: string,
  env: Readonly<Record<string, string | undefined>>,
  emulator: LocalEmulator | undefined,
): () => Promise<AuthClient> {
  const scopes = endpoint.startsWith('http:') ? undefined : [CLOUD_PLATFORM];
  return async () => {
    const path = emulator?.credentials ?? env.GOOGLE_APPLICATION_CREDENTIALS;
    if (path) {
      let key: Record<string, unknown> | undefined;
      try {
        key = JSON.parse(await readFile(path, 'utf8')) as Record<
          string,
          unknown
        >;
      } catch (e) {
        throw new CliError(
          'ERR_CONFIG',
          `cannot read the credentials ${path}: ${e instanceof SyntaxError ? 'not JSON' : fsReason(e)}`,
        );
      }
      if (key.type === 'service_account') {
        return new JWT({
          email: String(key.client_email),
          key: String(key.private_key),
          keyId: String(key.private_key_id),
          scopes,
        });
      }
    }
    // Anything else (a user's or an external account's credentials): Google's own
    // resolution of Application Default Credentials.
    return new GoogleAuth({scopes: [CLOUD_PLATFORM]}).getClient();
  };
}

/** The emulator of the local mode on PORT (default 8080), from its emulator.json. */
async function localEmulator(
  env: Readonly<Record<string, string | undefined>>,
): Promise<LocalEmulator> {
  const port = Number(env.PORT?.trim() || '8080');
  const dir = localStateDir(process.cwd(), port);
  let found: LocalEmulator | undefined;
  try {
    found = Number.isInteger(port) ? await readEmulatorFile(dir) : undefined;
  } catch (e) {
    if (!(e instanceof UnsafeEmulatorFile)) throw e;
    throw new CliError(
      'ERR_CONFIG',
      `${e.message}: refused, the credential goes only to this machine's local mode`,
    );
  }
  if (!found) {
    throw new CliError(
      'ERR_CONFIG',
      `no local mode found in ${dir}: start one with npm start (PORT=${env.PORT ?? '8080'}) and run this from the same directory`,
    );
  }
  if (!(await isRunning(found))) {
    throw new CliError(
      'ERR_CONFIG',
      `the local mode of ${dir} is not running (its emulator does not answer as the one that wrote the file): start it with npm start (PORT=${env.PORT ?? '8080'})`,
    );
  }
  return found;
}

/** Tells the local emulator's token endpoint of the consent (not a Google API). */
async function registerConsent(
  emulator: LocalEmulator,
  user: AuthorizedUser,
  email: string,
  scopes: readonly string[],
  secret: string,
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${emulator.url}/emulator/v1/userConsents`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({
        email,
        scopes,
        client_id: user.clientId,
        client_secret: user.clientSecret,
        refresh_token: user.refreshToken,
        quota_project_id: user.quotaProjectId,
        secret,
      }),
      redirect: 'manual',
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  } catch {
    throw new CliError(
      'ERR_SECRET_MANAGER',
      `the local emulator at ${emulator.url} could not be reached`,
    );
  }
  if (res.status !== 200) {
    const body = (await res.json().catch(() => ({}))) as {
      error?: {message?: unknown};
    };
    const why = body.error?.message;
    throw new CliError(
      'ERR_SECRET_MANAGER',
      `the local emulator refused the consent${typeof why === 'string' && /^[\x20-\x7e]{1,120}$/.test(why) ? `: ${why}` : ''}`,
    );
  }
}
