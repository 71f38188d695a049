/**
 * `tvm subject-token`: the program behind an executable-sourced credential
 * configuration (`tvm credential-config --executable`). Google's client libraries run
 * it (with GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1) and read, on stdout, Google's
 * executable response: version 1, success, token_type, id_token and expiration_time;
 * or, with a non-zero exit code, success false with a code and a message. Nothing is
 * written on stderr on success: some libraries read both streams as one.
 *
 * When the configuration names an output_file, the library passes it in
 * GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE and reads it before running the program again;
 * the response is written there too (0600), so the token is reused until it expires.
 */

import {parseArgs} from 'node:util';
import {decodeJwt} from 'jose';
import {CliError} from './errors.ts';
import {EXIT_FAILED, EXIT_OK, println, type CliIo, type Command} from './io.ts';
import {loadConfig, selectProfile, writeAtomic} from './profiles.ts';
import {
  TOKEN_TYPE_ID_TOKEN,
  TOKEN_TYPE_JWT,
  isOidc,
  readOidcToken,
} from './subject-token.ts';
import {envOf} from './token.ts';

export const subjectToken: Command = {
  name: 'subject-token',
  args: '[--profile NAME] [--config FILE]',
  summary:
    "print a profile's OIDC token as Google's executable-sourced credential response",
  run: runSubjectToken,
};

/** Google's executable response (version 1). */
export type ExecutableResponse =
  | {
      version: 1;
      success: true;
      token_type: string;
      id_token: string;
      expiration_time?: number;
    }
  | {version: 1; success: false; code: string; message: string};

async function runSubjectToken(args: string[], io: CliIo): Promise<number> {
  let response: ExecutableResponse;
  let env: Readonly<Record<string, string | undefined>> = io.env ?? process.env;
  try {
    const {values} = parseArgs({
      args,
      options: {profile: {type: 'string'}, config: {type: 'string'}},
      strict: true,
      allowPositionals: false,
    });
    env = envOf(io, values);
    const profile = selectProfile(await loadConfig(env), values.profile, env);
    if (!isOidc(profile)) {
      throw new CliError(
        'ERR_USAGE',
        `profile ${profile.name} has no OIDC token source; an API-key client uses a file source: tvm credential-config --subject-token-type api-key --credential-source-file KEYFILE`,
      );
    }
    const token = await readOidcToken(profile);
    const exp = expOf(token);
    response = {
      version: 1,
      success: true,
      token_type:
        profile.oidcTokenType === 'id_token'
          ? TOKEN_TYPE_ID_TOKEN
          : TOKEN_TYPE_JWT,
      id_token: token,
      ...(exp !== undefined ? {expiration_time: exp} : {}),
    };
  } catch (e) {
    response = {
      version: 1,
      success: false,
      code: e instanceof CliError ? e.code : 'ERR_UNEXPECTED',
      message: e instanceof Error ? e.message : String(e),
    };
  }
  const text = JSON.stringify(response);
  const outputFile = env.GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE;
  if (response.success && outputFile) {
    try {
      await writeAtomic(outputFile, text);
    } catch {
      // The library runs the program again next time; the response below still counts.
    }
  }
  println(io.stdout, text);
  return response.success ? EXIT_OK : EXIT_FAILED;
}

function expOf(token: string): number | undefined {
  try {
    const {exp} = decodeJwt(token);
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}
