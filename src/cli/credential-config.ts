/**
 * `tvm credential-config`: writes a Google credential configuration of type
 * `external_account` whose token_url is tvm's /token, as `gcloud iam
 * workload-identity-pools create-cred-config` does for Workload Identity Federation.
 * Google's client libraries (GOOGLE_APPLICATION_CREDENTIALS=FILE) then exchange the
 * caller's OIDC token at tvm (RFC 8693) and refresh by themselves.
 *
 * The client secret (an API key) is read from an environment variable, never from the
 * command line (shell history, process listings); a file holding it is written 0600.
 */

import {randomBytes} from 'node:crypto';
import {rename, rm, writeFile} from 'node:fs/promises';
import {isLoopbackUrl} from '../loopback.ts';
import {TOKEN_TYPE_TVM_API_KEY} from '../token-types.ts';
import {existsSync} from 'node:fs';
import {parseArgs} from 'node:util';
import {fileURLToPath} from 'node:url';
import {CliError} from './errors.ts';
import {loadConfig, selectProfile} from './profiles.ts';
import {TOKEN_TYPE_ID_TOKEN, TOKEN_TYPE_JWT, isOidc} from './subject-token.ts';
import {envOf} from './token.ts';
import {
  EXIT_FAILED,
  EXIT_OK,
  EXIT_USAGE,
  println,
  type CliIo,
  type Command,
} from './io.ts';

const TYPES: Readonly<Record<string, string>> = {
  jwt: TOKEN_TYPE_JWT,
  id_token: TOKEN_TYPE_ID_TOKEN,
  // The credential source holds a tvm API key (keep that file 0600).
  'api-key': TOKEN_TYPE_TVM_API_KEY,
};

export const credentialConfig: Command = {
  name: 'credential-config',
  args: '(--token-url URL --audience SA (--credential-source-file PATH | --credential-source-url URL) [--subject-token-type jwt|id_token|api-key] [--client-id ID --client-secret-env VAR] | --executable [--profile NAME] [--audience SA] [--config FILE]) [--output FILE]',
  summary:
    'write an external_account credential configuration for Google client libraries',
  run: runCredentialConfig,
};

async function runCredentialConfig(args: string[], io: CliIo): Promise<number> {
  const {values, positionals} = parseArgs({
    args,
    options: {
      'token-url': {type: 'string'},
      audience: {type: 'string'},
      'credential-source-file': {type: 'string'},
      'credential-source-url': {type: 'string'},
      'subject-token-type': {type: 'string', default: 'jwt'},
      'client-id': {type: 'string'},
      'client-secret-env': {type: 'string'},
      output: {type: 'string'},
      executable: {type: 'boolean'},
      profile: {type: 'string'},
      config: {type: 'string'},
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.executable) {
    const other = Object.keys(values).filter(
      k =>
        ![
          'executable',
          'profile',
          'config',
          'audience',
          'output',
          'subject-token-type',
        ].includes(k),
    );
    if (other.length > 0 || positionals.length > 0) {
      throw new CliError(
        'ERR_USAGE',
        `--executable takes its token URL and source from the profile; drop ${other.map(k => `--${k}`).join(', ') || 'the positional arguments'}`,
      );
    }
    return emit(await executableConfig(values, io), values.output, false, io);
  }
  const problems: string[] = [];
  const tokenUrl = values['token-url'];
  if (positionals.length > 0) problems.push('no positional arguments expected');
  if (!tokenUrl || !tokenUrlOk(tokenUrl)) {
    problems.push(
      "--token-url must be tvm's token endpoint, an https URL (http only for loopback), e.g. https://tvm.example.com/token",
    );
  }
  if (!values.audience) {
    problems.push('--audience is required: the service account alias or email');
  }
  const file = values['credential-source-file'];
  const url = values['credential-source-url'];
  if ((file === undefined) === (url === undefined)) {
    problems.push(
      'exactly one of --credential-source-file or --credential-source-url',
    );
  }
  const type = TYPES[values['subject-token-type']];
  if (!type) {
    problems.push('--subject-token-type must be jwt, id_token or api-key');
  }
  const clientId = values['client-id'];
  const secretEnv = values['client-secret-env'];
  if ((clientId === undefined) !== (secretEnv === undefined)) {
    problems.push('--client-id and --client-secret-env go together');
  }
  if (problems.length > 0) {
    for (const p of problems) println(io.stderr, `tvm credential-config: ${p}`);
    return EXIT_USAGE;
  }
  let secret: string | undefined;
  if (secretEnv !== undefined) {
    secret = (io.env ?? process.env)[secretEnv];
    if (!secret) {
      println(
        io.stderr,
        `tvm credential-config: environment variable ${secretEnv} is empty or unset`,
      );
      return EXIT_USAGE;
    }
  }
  const config = {
    type: 'external_account',
    audience: values.audience,
    subject_token_type: type,
    token_url: tokenUrl,
    credential_source:
      file !== undefined
        ? {file, format: {type: 'text'}}
        : {url, format: {type: 'text'}},
    ...(clientId !== undefined
      ? {client_id: clientId, client_secret: secret}
      : {}),
    universe_domain: 'googleapis.com',
  };
  return emit(config, values.output, secret !== undefined, io);
}

/** Prints the configuration, or writes it to `output` (0600). */
async function emit(
  config: object,
  output: string | undefined,
  holdsSecret: boolean,
  io: CliIo,
): Promise<number> {
  const text = `${JSON.stringify(config, null, 2)}\n`;
  if (output === undefined) {
    io.stdout.write(text);
    return EXIT_OK;
  }
  try {
    await (io.writeFile ?? writeUtf8)(output, text, 0o600);
  } catch (e) {
    println(
      io.stderr,
      `tvm credential-config: cannot write ${output}: ${e instanceof Error ? e.message : String(e)}`,
    );
    return EXIT_FAILED;
  }
  println(
    io.stderr,
    `wrote ${output}${holdsSecret ? ' (mode 0600: it holds the client secret)' : ''}; use it with GOOGLE_APPLICATION_CREDENTIALS=${output}`,
  );
  return EXIT_OK;
}

/**
 * An external_account configuration whose credential_source.executable runs `tvm
 * subject-token` for the profile (Google's executable-sourced credentials). The
 * command names node, bin/tvm.js and the configuration file by absolute path, as the
 * libraries require and so that it works from cron's bare environment. Google's
 * libraries split the command on spaces (Python's does not honour quotes), so a path
 * with a space is refused rather than written broken.
 */
async function executableConfig(
  values: {
    profile?: string;
    config?: string;
    audience?: string;
    'subject-token-type'?: string;
  },
  io: CliIo,
): Promise<object> {
  const env = envOf(io, values);
  const config = await loadConfig(env);
  const profile = selectProfile(config, values.profile, env);
  if (!isOidc(profile)) {
    throw new CliError(
      'ERR_USAGE',
      `profile ${profile.name} has no OIDC token source, and Google's executable interface carries only OIDC or SAML tokens; for an API key use --subject-token-type api-key --credential-source-file KEYFILE`,
    );
  }
  const audience = values.audience ?? profile.audience;
  if (audience === undefined) {
    throw new CliError(
      'ERR_USAGE',
      `no service account: pass --audience, or set audience in profile ${profile.name}`,
    );
  }
  const words = [process.execPath, tvmScript(), 'subject-token'];
  words.push('--config', config.path, '--profile', profile.name);
  const spaced = words.find(w => /\s|"/.test(w));
  if (spaced !== undefined) {
    throw new CliError(
      'ERR_USAGE',
      `${spaced} contains a space or quote, which Google's libraries cannot pass to an executable; use paths without spaces`,
    );
  }
  return {
    type: 'external_account',
    audience,
    subject_token_type:
      profile.oidcTokenType === 'id_token'
        ? TOKEN_TYPE_ID_TOKEN
        : TOKEN_TYPE_JWT,
    token_url: `${profile.url}/token`,
    credential_source: {
      executable: {command: words.join(' '), timeout_millis: 30000},
    },
    universe_domain: 'googleapis.com',
  };
}

/** bin/tvm.js of this installation (from src/cli or build/src/cli). */
function tvmScript(): string {
  for (const rel of ['../../bin/tvm.js', '../../../bin/tvm.js']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new CliError(
    'ERR_USAGE',
    'cannot find bin/tvm.js of this installation',
  );
}

function tokenUrlOk(s: string): boolean {
  try {
    const u = new URL(s);
    return (
      (u.protocol === 'https:' ||
        (u.protocol === 'http:' && isLoopbackUrl(u))) &&
      !u.username &&
      !u.password &&
      !u.hash
    );
  } catch {
    return false;
  }
}

/**
 * Writes `text` to `path` with `mode`, even over an existing file: a fresh file made
 * with that mode (exclusively, so nothing else holds it open) is renamed over `path`.
 * Writing in place would keep an existing file's looser mode with the secret inside.
 */
async function writeUtf8(
  path: string,
  text: string,
  mode: number,
): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, {encoding: 'utf8', mode, flag: 'wx'});
    await rename(temp, path);
  } catch (e) {
    await rm(temp, {force: true});
    throw e;
  }
}
