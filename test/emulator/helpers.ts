/**
 * Shared set-up for the emulator tests: an empty HOME (no stray gcloud credentials), no
 * metadata-server autodetection, and google-auth-library clients redirected to the
 * emulator the way emulator/README.md describes (a Gaxios transporter whose request
 * interceptor rewrites Google's hard-coded token URL to the emulator's).
 */
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {
  DownscopedClient,
  gaxios,
  JWT,
  type AuthClient,
  type CredentialAccessBoundary,
} from 'google-auth-library';
import type {
  Emulator,
  ServiceAccountKeyFile,
} from '../../emulator/src/index.ts';

process.env.HOME = mkdtempSync(join(tmpdir(), 'tvm-emulator-home-'));
delete process.env.GOOGLE_APPLICATION_CREDENTIALS;
delete process.env.GOOGLE_CLOUD_PROJECT;
process.env.METADATA_SERVER_DETECTION = 'none';

export const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
/** The STS URL google-auth-library's DownscopedClient hard-codes. */
export const GOOGLE_STS_URL = 'https://sts.googleapis.com/v1/token';

/** An email in the emulated project. */
export function sa(name: string): string {
  return `${name}@tvm-local.iam.gserviceaccount.com`;
}

/** A Gaxios transporter that sends Google's token URL to the emulator instead. */
export function redirectingTransporter(emulator: Emulator): gaxios.Gaxios {
  const transporter = new gaxios.Gaxios();
  transporter.interceptors.request.add({
    resolved: async config => {
      const url = String(config.url);
      if (url === GOOGLE_TOKEN_URL) config.url = new URL(emulator.tokenUrl);
      return config;
    },
  });
  return transporter;
}

/** A google-auth-library JWT client for `key`, redirected to the emulator. */
export function jwtClient(
  emulator: Emulator,
  key: Pick<
    ServiceAccountKeyFile,
    'client_email' | 'private_key' | 'private_key_id'
  >,
  options: {scopes?: string[]; subject?: string} = {},
): JWT {
  return new JWT({
    email: key.client_email,
    key: key.private_key,
    keyId: key.private_key_id,
    ...(options.scopes === undefined ? {} : {scopes: options.scopes}),
    ...(options.subject === undefined ? {} : {subject: options.subject}),
    transporter: redirectingTransporter(emulator),
  });
}

/** The JSON body of a GaxiosError, for asserting Google's error shape. */
export function errorBody(err: unknown): unknown {
  if (err instanceof gaxios.GaxiosError) return err.response?.data;
  throw err;
}

/** The HTTP status of a GaxiosError. */
export function errorStatus(err: unknown): number | undefined {
  if (err instanceof gaxios.GaxiosError) return err.response?.status;
  throw err;
}

/** Awaits `promise`, expecting it to reject; returns the rejection. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/**
 * google-auth-library's DownscopedClient for `authClient` and `boundary`, its STS
 * requests sent to the emulator. The client builds its STS client itself, with a
 * fresh transporter and Google's URL (`https://sts.googleapis.com/v1/token`) and no
 * option to change either; its transporter is the one place to redirect it.
 */
export function downscopedClient(
  emulator: Emulator,
  authClient: AuthClient,
  boundary: CredentialAccessBoundary,
): DownscopedClient {
  const client = new DownscopedClient({
    authClient,
    credentialAccessBoundary: boundary,
  });
  const transporter = new gaxios.Gaxios();
  transporter.interceptors.request.add({
    resolved: async config => {
      if (String(config.url) === GOOGLE_STS_URL) {
        config.url = new URL(`${emulator.url}/v1/token`);
      }
      return config;
    },
  });
  (
    client as unknown as {stsCredential: {transporter: gaxios.Gaxios}}
  ).stsCredential.transporter = transporter;
  return client;
}
