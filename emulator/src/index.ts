/**
 * A local Google in a box: the metadata server, the OAuth 2.0 token endpoint, IAM
 * Credentials, STS and tokeninfo on one HTTP origin, and Secret Manager on one gRPC port,
 * all on loopback, all state hanging off the returned Emulator instance.
 */
import type {AddressInfo} from 'node:net';
import type {Server as HttpServer} from 'node:http';
import type {Server as GrpcServer} from '@grpc/grpc-js';
import type {Context} from './context.ts';
import {Faults, type FaultInjector, type FaultTarget} from './faults.ts';
import {createHttpServer} from './http.ts';
import {generateSigningKey} from './keys.ts';
import {Lifecycle} from './lifecycle.ts';
import {startSecretManager} from './secretmanager.ts';
import {State, type EmulatorState} from './state.ts';

export type {
  Fault,
  FaultInjector,
  FaultTarget,
  RequestStats,
} from './faults.ts';
export type {ServiceAccountKeyFile} from './keys.ts';
export type {
  EmulatorState,
  SecretVersionState,
  TokenInfo,
  WorkspaceUser,
} from './state.ts';
export type {AuthorizedUserFile, ConsentInfo, UserConsents} from './users.ts';
export {crc32c} from './crc32c.ts';

/** How to start an emulator; every field is optional. */
export interface EmulatorOptions {
  /** Interface to listen on; default '127.0.0.1'. */
  host?: string;
  /** HTTP port; default 0 (ephemeral). */
  httpPort?: number;
  /** gRPC port; default 0 (ephemeral). */
  grpcPort?: number;
  /** Default 'tvm-local'. */
  projectId?: string;
  /** Default '123456789012'. */
  projectNumber?: string;
  /** Injectable clock, epoch ms; default Date.now. */
  now?: () => number;
}

/** A running emulator. */
export interface Emulator {
  /** 'http://127.0.0.1:PORT': one HTTP origin for every HTTP surface. */
  readonly url: string;
  /** '127.0.0.1:PORT': the value for GCE_METADATA_HOST. */
  readonly metadataHost: string;
  /** `${url}/token`. */
  readonly tokenUrl: string;
  /** 'http://127.0.0.1:GRPCPORT' (plaintext gRPC). */
  readonly secretManagerEndpoint: string;
  readonly grpcPort: number;
  readonly state: EmulatorState;
  readonly faults: FaultInjector;
  /** Requests seen per surface. */
  readonly stats: {count(target: FaultTarget): number; reset(): void};
  /** Closes HTTP and gRPC; no handles stay open, hung requests are dropped. */
  close(): Promise<void>;
}

/** Starts an emulator on loopback (ephemeral ports by default). */
export async function startEmulator(
  options: EmulatorOptions = {},
): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const lifecycle = new Lifecycle();
  const faults = new Faults();
  const googleKey = await generateSigningKey();

  // The HTTP port must be known before the state (key files carry the token URL),
  // so the server is created first and given its context once listening.
  const holder: {ctx?: Context} = {};
  const httpServer = createHttpServer({
    get ctx(): Context {
      return holder.ctx as Context;
    },
    faults,
    lifecycle,
  });
  await listen(httpServer, host, options.httpPort ?? 0);
  const httpPort = (httpServer.address() as AddressInfo).port;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostPart}:${httpPort}`;
  const tokenUrl = `${url}/token`;
  const state = new State({
    projectId: options.projectId ?? 'tvm-local',
    projectNumber: options.projectNumber ?? '123456789012',
    now,
    tokenUrl,
  });
  const ctx: Context = {state, now, googleKey, url, tokenUrl};
  holder.ctx = ctx;

  let grpc: {server: GrpcServer; port: number};
  try {
    grpc = await startSecretManager({
      ctx,
      faults,
      lifecycle,
      host,
      port: options.grpcPort ?? 0,
    });
  } catch (err) {
    await closeHttp(httpServer);
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    url,
    metadataHost: `${hostPart}:${httpPort}`,
    tokenUrl,
    secretManagerEndpoint: `http://${hostPart}:${grpc.port}`,
    grpcPort: grpc.port,
    state,
    faults,
    stats: {count: t => faults.count(t), reset: () => faults.reset()},
    close(): Promise<void> {
      closing ??= (async () => {
        lifecycle.close();
        // forceShutdown: hung calls are cancelled instead of waited for.
        grpc.server.forceShutdown();
        await closeHttp(httpServer);
      })();
      return closing;
    },
  };
}

function listen(server: HttpServer, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeHttp(server: HttpServer): Promise<void> {
  return new Promise(resolve => {
    server.close(() => resolve());
    // Hung and keep-alive connections would hold close() open; drop them.
    server.closeAllConnections();
  });
}
