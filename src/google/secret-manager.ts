/**
 * Secret Manager over gRPC, through Google's own client: AccessSecretVersion for tvm,
 * CreateSecret and AddSecretVersion for `tvm import-user`. The client (all of
 * google-gax and gRPC, the largest load of a cold start) is imported only when a key,
 * a credential or a Secret-Manager-held policy is actually needed; the build bundles it
 * into chunks of its own, loaded then. Payloads are checked against their CRC-32C,
 * which the Node client does not do, and sent with it.
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
  /**
   * Loads the client library now, without a call or any I/O, so that the first read
   * does not pay for it. Readers with nothing to load need not have it.
   */
  prepare?(): Promise<void>;
  close(): Promise<void>;
}

/** Secret Manager's audience, for a self-signed JWT on a plaintext channel. */
const SECRET_MANAGER_AUDIENCE = 'https://secretmanager.googleapis.com/';

/** A lazily made Secret Manager client and the per-call options it needs. */
interface Connection {
  client(): Promise<SecretManagerServiceClient>;
  /** Call options carrying the credential when grpc-js cannot (plaintext loopback). */
  callOptions(timeoutMs: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/**
 * Google's client library: the v1 client alone (the package's index also loads v1beta2
 * and a class for every message of the API, which tvm never uses) and grpc-js. Both
 * imports take the CommonJS module's exports as `default`, as Node and the bundle both
 * give it; the module system loads each once.
 */
async function loadLibrary() {
  const {SecretManagerServiceClient} = (
    await import('@google-cloud/secret-manager/build/src/v1/index.js')
  ).default;
  const grpc = (await import('@grpc/grpc-js')).default;
  return {SecretManagerServiceClient, grpc};
}

/**
 * The client for `endpoint` (an https origin, or http:// for plaintext gRPC on
 * loopback) authenticating as `identity`; the client library is imported on first use.
 */
function connect(
  endpoint: string,
  getIdentity: () => Promise<AuthClient>,
): Connection {
  const url = new URL(endpoint);
  const plaintext = url.protocol === 'http:';
  let client: Promise<SecretManagerServiceClient> | undefined;
  const getClient = () =>
    (client ??= (async () => {
      const {SecretManagerServiceClient, grpc} = await loadLibrary();
      const port = url.port ? Number(url.port) : 443;
      if (!plaintext) {
        return new SecretManagerServiceClient({
          apiEndpoint: url.hostname,
          port,
          authClient: await getIdentity(),
        });
      }
      return new SecretManagerServiceClient({
        apiEndpoint: url.hostname,
        port,
        sslCreds: grpc.credentials.createInsecure(),
        universeDomain: 'googleapis.com',
      });
    })());
  return {
    client: getClient,
    async callOptions(timeoutMs) {
      // grpc-js cannot attach call credentials to an insecure channel, so on
      // plaintext loopback the bearer token travels as call metadata instead.
      const headers = plaintext
        ? await (await getIdentity()).getRequestHeaders(SECRET_MANAGER_AUDIENCE)
        : undefined;
      return {
        timeout: timeoutMs,
        maxRetries: 0,
        ...(headers
          ? {
              otherArgs: {
                headers: {authorization: headers.get('authorization') ?? ''},
              },
            }
          : {}),
      };
    },
    async close() {
      if (client) await (await client).close();
    },
  };
}

/**
 * A SecretReader for `endpoint` (an https origin, or http:// for plaintext gRPC on
 * loopback) authenticating as `identity`.
 */
export function createSecretReader(
  endpoint: string,
  getIdentity: () => Promise<AuthClient>,
): SecretReader {
  const connection = connect(endpoint, getIdentity);
  return {
    async access(versionName, timeoutMs) {
      // The credential first: its request to the metadata server is on its way while
      // the client library loads (the first read of a cold start), not after.
      const [options, c] = await Promise.all([
        connection.callOptions(timeoutMs),
        connection.client(),
      ]);
      let response;
      try {
        [response] = await c.accessSecretVersion({name: versionName}, options);
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
    // The library only: the client itself needs the function's identity, which is
    // resolved on first use.
    prepare: async () => {
      await loadLibrary();
    },
    close: () => connection.close(),
  };
}

/** Adds secret versions (`tvm import-user`); one per command run. */
export interface SecretWriter {
  /**
   * Adds a version holding `data` to `secret` (`projects/P/secrets/S`), creating the
   * secret (automatic replication) when it does not exist. Resolves to the new
   * version's number and whether the secret was created. The payload goes with its
   * CRC-32C, which Secret Manager checks.
   */
  addVersion(
    secret: string,
    data: Buffer,
    timeoutMs: number,
  ): Promise<{version: number; created: boolean}>;
  close(): Promise<void>;
}

/** gRPC statuses NOT_FOUND and ALREADY_EXISTS. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/** A SecretWriter for `endpoint`, authenticating as `identity`. */
export function createSecretWriter(
  endpoint: string,
  getIdentity: () => Promise<AuthClient>,
): SecretWriter {
  const connection = connect(endpoint, getIdentity);
  return {
    async addVersion(secret, data, timeoutMs) {
      const m = /^(projects\/[^/]+)\/secrets\/([^/]+)$/.exec(secret);
      if (!m) throw new TypeError(`not a secret name: ${secret}`);
      const c = await connection.client();
      const add = async () => {
        const [version] = await c.addSecretVersion(
          {parent: secret, payload: {data, dataCrc32c: crc32c(data)}},
          await connection.callOptions(timeoutMs),
        );
        const number = /\/versions\/([0-9]+)$/.exec(version.name ?? '')?.[1];
        if (number === undefined) {
          throw new UpstreamError(
            `Secret Manager answered no version name for ${secret}`,
            false,
          );
        }
        return Number(number);
      };
      // The version first: adding to an existing secret needs only
      // roles/secretmanager.secretVersionAdder on it. A missing secret is made, then.
      try {
        return {version: await add(), created: false};
      } catch (e) {
        if ((e as {code?: unknown})?.code !== NOT_FOUND) {
          throw classifyGrpc(e, secret, 'AddSecretVersion');
        }
      }
      try {
        await c.createSecret(
          {
            parent: m[1],
            secretId: m[2],
            secret: {replication: {automatic: {}}},
          },
          await connection.callOptions(timeoutMs),
        );
      } catch (e) {
        // Made meanwhile by someone else: add to it all the same.
        if ((e as {code?: unknown})?.code !== ALREADY_EXISTS) {
          throw classifyGrpc(e, secret, 'CreateSecret');
        }
      }
      try {
        return {version: await add(), created: true};
      } catch (e) {
        throw classifyGrpc(e, secret, 'AddSecretVersion');
      }
    },
    close: () => connection.close(),
  };
}

function classifyGrpc(
  e: unknown,
  versionName: string,
  method = 'AccessSecretVersion',
): UpstreamError {
  const code = (e as {code?: unknown})?.code;
  if (typeof code === 'number') {
    const name = GRPC_NAMES[code] ?? `gRPC status ${code}`;
    return new UpstreamError(
      `Secret Manager ${method} ${versionName}: ${name}`,
      RETRYABLE_GRPC.has(code),
    );
  }
  const name = (e as {name?: unknown})?.name;
  return new UpstreamError(
    `Secret Manager ${method} ${versionName}: ${typeof name === 'string' ? name : 'failed'}`,
    true,
  );
}
