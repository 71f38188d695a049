/**
 * Secret Manager's AccessSecretVersion over gRPC, through Google's own client. The
 * client (all of google-gax and gRPC, ~150 ms to load) is imported only when a key or
 * a Secret-Manager-held policy is actually needed. Payloads are checked against their
 * CRC-32C, which the Node client does not do.
 */
import type {AuthClient} from 'google-auth-library';
import type {SecretManagerServiceClient} from '@google-cloud/secret-manager';
import {crc32c} from './crc32c.ts';
import {UpstreamError} from './upstream.ts';

/** gRPC status codes after which a retry may help. */
const RETRYABLE_GRPC = new Set([1, 2, 4, 8, 10, 13, 14]);
const GRPC_NAMES: Record<number, string> = {
  3: 'INVALID_ARGUMENT',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  9: 'FAILED_PRECONDITION',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

/** Reads secret versions; one per service instance, created lazily. */
export interface SecretReader {
  /** The payload of `versionName`, verified against its CRC-32C. */
  access(versionName: string, timeoutMs: number): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * A SecretReader for `endpoint` (an https origin, or http:// for plaintext gRPC on
 * loopback) authenticating as `identity`.
 */
export function createSecretReader(
  endpoint: string,
  getIdentity: () => Promise<AuthClient>,
): SecretReader {
  const url = new URL(endpoint);
  const plaintext = url.protocol === 'http:';
  let client: Promise<SecretManagerServiceClient> | undefined;

  const getClient = () =>
    (client ??= (async () => {
      const {SecretManagerServiceClient} =
        await import('@google-cloud/secret-manager');
      const port = url.port ? Number(url.port) : 443;
      if (!plaintext) {
        return new SecretManagerServiceClient({
          apiEndpoint: url.hostname,
          port,
          authClient: await getIdentity(),
        });
      }
      const grpc = await import('@grpc/grpc-js');
      return new SecretManagerServiceClient({
        apiEndpoint: url.hostname,
        port,
        sslCreds: grpc.credentials.createInsecure(),
        universeDomain: 'googleapis.com',
      });
    })());

  return {
    async access(versionName, timeoutMs) {
      const c = await getClient();
      // grpc-js cannot attach call credentials to an insecure channel, so on
      // plaintext loopback the bearer token travels as call metadata instead.
      const headers = plaintext
        ? await (await getIdentity()).getRequestHeaders()
        : undefined;
      let response;
      try {
        [response] = await c.accessSecretVersion(
          {name: versionName},
          {
            timeout: timeoutMs,
            maxRetries: 0,
            ...(headers
              ? {
                  otherArgs: {
                    headers: {
                      authorization: headers.get('authorization') ?? '',
                    },
                  },
                }
              : {}),
          },
        );
      } catch (e) {
        throw classifyGrpc(e, versionName);
      }
      const data = response.payload?.data;
      if (!data || typeof data === 'string') {
        throw new UpstreamError(
          `Secret Manager answered no payload for ${versionName}`,
          false,
        );
      }
      const bytes = Buffer.from(data);
      const expected = response.payload?.dataCrc32c;
      if (expected !== undefined && expected !== null) {
        if (BigInt(String(expected)) !== BigInt(crc32c(bytes))) {
          throw new UpstreamError(
            `Secret Manager payload of ${versionName} failed its CRC-32C check`,
            true,
          );
        }
      }
      return bytes;
    },
    async close() {
      if (client) await (await client).close();
    },
  };
}

function classifyGrpc(e: unknown, versionName: string): UpstreamError {
  const code = (e as {code?: unknown})?.code;
  if (typeof code === 'number') {
    const name = GRPC_NAMES[code] ?? `gRPC status ${code}`;
    return new UpstreamError(
      `Secret Manager AccessSecretVersion ${versionName}: ${name}`,
      RETRYABLE_GRPC.has(code),
    );
  }
  const name = (e as {name?: unknown})?.name;
  return new UpstreamError(
    `Secret Manager AccessSecretVersion ${versionName}: ${typeof name === 'string' ? name : 'failed'}`,
    true,
  );
}
