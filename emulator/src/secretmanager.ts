/**
 * Secret Manager v1 over plaintext gRPC, built from the protos that ship with
 * @google-cloud/secret-manager. AccessSecretVersion is complete (numbered versions,
 * `latest`, states, permissions, CRC-32C); CreateSecret, AddSecretVersion,
 * GetSecretVersion and Enable/Disable/DestroySecretVersion provision; every other method
 * answers UNIMPLEMENTED.
 *
 * The caller's credential is read from the `authorization` call metadata: on a
 * plaintext channel grpc-js cannot attach call credentials, so clients send
 * `authorization: Bearer <token>` per call (see emulator/README.md).
 */
import {readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {
  loadPackageDefinition,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type GrpcObject,
  type handleUnaryCall,
  type Metadata,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import {fromJSON} from '@grpc/proto-loader';
import type {Context} from './context.ts';
import {crc32c} from './crc32c.ts';
import {grpcCodeForHttp, grpcError, type GrpcError} from './errors.ts';
import type {Faults} from './faults.ts';
import type {Lifecycle} from './lifecycle.ts';
import {CLOUD_PLATFORM} from './metadata.ts';
import {authenticate, hasScope, type Principal} from './principal.ts';
import {
  parseSecretName,
  type Project,
  type Secret,
  type SecretVersion,
  type State,
} from './state.ts';

const SECRET_MANAGER_AUDIENCE = 'https://secretmanager.googleapis.com/';

type Unary = handleUnaryCall<Record<string, unknown>, Record<string, unknown>>;
type Outcome = Record<string, unknown> | GrpcError;

/** Loads the SecretManagerService definition from the shipped protos.json. */
function loadService(): ServiceDefinition {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(
    require.resolve('@google-cloud/secret-manager/package.json'),
  );
  const json = JSON.parse(
    readFileSync(join(pkgDir, 'build', 'protos', 'protos.json'), 'utf8'),
  ) as Parameters<typeof fromJSON>[0];
  const definition = fromJSON(json, {
    longs: String,
    enums: String,
    defaults: false,
  });
  const root = loadPackageDefinition(definition);
  const service = lookup(
    root,
    'google.cloud.secretmanager.v1.SecretManagerService',
  );
  return (service as {service: ServiceDefinition}).service;
}

function lookup(root: GrpcObject, path: string): unknown {
  let node: unknown = root;
  for (const part of path.split('.'))
    node = (node as Record<string, unknown>)[part];
  return node;
}

/** Starts the gRPC server on host:port (0 = ephemeral) and returns it with its port. */
export async function startSecretManager(deps: {
  ctx: Context;
  faults: Faults;
  lifecycle: Lifecycle;
  host: string;
  port: number;
}): Promise<{server: Server; port: number}> {
  const service = loadService();
  const impl = new SecretManagerImpl(deps);
  const handlers: UntypedServiceImplementation = {};
  for (const name of Object.keys(service)) {
    handlers[name] = impl.handler(name);
  }
  const server = new Server();
  server.addService(service, handlers);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      `${deps.host}:${deps.port}`,
      ServerCredentials.createInsecure(),
      (err, bound) => (err === null ? resolve(bound) : reject(err)),
    );
  });
  return {server, port};
}

class SecretManagerImpl {
  readonly #ctx: Context;
  readonly #faults: Faults;
  readonly #lifecycle: Lifecycle;

  constructor(deps: {ctx: Context; faults: Faults; lifecycle: Lifecycle}) {
    this.#ctx = deps.ctx;
    this.#faults = deps.faults;
    this.#lifecycle = deps.lifecycle;
  }

  /** The grpc-js handler for one method. */
  handler(method: string): Unary {
    return (call, callback) => {
      this.#dispatch(method, call.request, call.metadata).then(
        outcome => {
          if (outcome === undefined) return; // hang: never answer
          if (isGrpcError(outcome)) callback(outcome);
          else callback(null, outcome);
        },
        () =>
          callback(
            grpcError(GrpcStatus.INTERNAL, 'Internal error encountered.'),
          ),
      );
    };
  }

  async #dispatch(
    method: string,
    request: Record<string, unknown>,
    metadata: Metadata,
  ): Promise<Outcome | undefined> {
    let markMalformed = false;
    if (method === 'AccessSecretVersion') {
      const fault = this.#faults.take('secretmanager.access');
      switch (fault?.kind) {
        case 'status':
          return grpcError(
            grpcCodeForHttp(fault.status),
            `Emulated fault (HTTP ${fault.status}).`,
          );
        case 'hang':
          return undefined;
        case 'delay':
          await this.#lifecycle.sleep(fault.ms);
          break;
        case 'expiredToken':
          // The caller's credential is treated as having just expired.
          return unauthenticated(false);
        case 'malformed':
          markMalformed = true;
          break;
      }
    }
    const auth = metadata.get('authorization')[0];
    const principal = await authenticate(
      this.#ctx.state,
      typeof auth === 'string' ? auth : undefined,
      {nowMs: this.#ctx.now(), audiences: [SECRET_MANAGER_AUDIENCE]},
    );
    if (principal === 'missing' || principal === 'invalid') {
      return unauthenticated(principal === 'missing');
    }
    if (!hasScope(principal, [CLOUD_PLATFORM])) {
      return grpcError(
        GrpcStatus.PERMISSION_DENIED,
        'Request had insufficient authentication scopes.',
      );
    }
    const name = typeof request.name === 'string' ? request.name : '';
    const parent = typeof request.parent === 'string' ? request.parent : '';
    switch (method) {
      case 'AccessSecretVersion': {
        const outcome = this.#access(principal, name);
        return markMalformed && !isGrpcError(outcome)
          ? corrupt(outcome)
          : outcome;
      }
      case 'CreateSecret':
        return this.#createSecret(principal, parent, request.secretId);
      case 'AddSecretVersion':
        return this.#addVersion(principal, parent, request.payload);
      case 'GetSecretVersion':
        return this.#versionOp(principal, name, undefined);
      case 'EnableSecretVersion':
        return this.#versionOp(principal, name, 'ENABLED');
      case 'DisableSecretVersion':
        return this.#versionOp(principal, name, 'DISABLED');
      case 'DestroySecretVersion':
        return this.#versionOp(principal, name, 'DESTROYED');
      default:
        return grpcError(
          GrpcStatus.UNIMPLEMENTED,
          `Method ${method} is not emulated.`,
        );
    }
  }

  #access(principal: Principal, name: string): Outcome {
    const found = this.#findVersion(
      principal,
      name,
      'secretmanager.versions.access',
    );
    if (isGrpcError(found)) return found;
    const {secret, version} = found;
    const canonical = this.#versionName(secret, version);
    if (version.state !== 'ENABLED' || version.data === undefined) {
      return grpcError(
        GrpcStatus.FAILED_PRECONDITION,
        `Secret Version [${canonical}] is in ${version.state} state.`,
      );
    }
    const data = Buffer.from(version.data);
    return {name: canonical, payload: {data, dataCrc32c: String(crc32c(data))}};
  }

  #createSecret(
    principal: Principal,
    parent: string,
    secretId: unknown,
  ): Outcome {
    const project = this.#state.findProject(
      /^projects\/([^/]+)$/.exec(parent)?.[1],
    );
    if (project === undefined || !this.#isAdmin(principal, project)) {
      return denied('secretmanager.secrets.create', parent);
    }
    const id = typeof secretId === 'string' ? secretId : '';
    if (parseSecretName(`projects/p/secrets/${id}`) === undefined) {
      return grpcError(GrpcStatus.INVALID_ARGUMENT, 'Invalid secret_id.');
    }
    const fullName = `projects/${project.number}/secrets/${id}`;
    if (project.secrets.has(id)) {
      return grpcError(
        GrpcStatus.ALREADY_EXISTS,
        `Secret [${fullName}] already exists.`,
      );
    }
    this.#state.createSecret(`projects/${project.id}/secrets/${id}`);
    const secret = project.secrets.get(id) as Secret;
    return {
      name: fullName,
      createTime: timestamp(secret.createTime),
      replication: {automatic: {}},
    };
  }

  #addVersion(principal: Principal, parent: string, payload: unknown): Outcome {
    const parsed = parseSecretName(parent);
    const project = this.#state.findProject(parsed?.project);
    if (
      parsed === undefined ||
      parsed.version !== undefined ||
      project === undefined ||
      !this.#isAdmin(principal, project)
    ) {
      return denied('secretmanager.versions.add', parent);
    }
    const secret = project.secrets.get(parsed.secret);
    if (secret === undefined) {
      return grpcError(GrpcStatus.NOT_FOUND, `Secret [${parent}] not found.`);
    }
    const p = (payload ?? {}) as {data?: Uint8Array; dataCrc32c?: string};
    const data = p.data ?? new Uint8Array();
    if (p.dataCrc32c !== undefined && p.dataCrc32c !== String(crc32c(data))) {
      return grpcError(GrpcStatus.INVALID_ARGUMENT, 'Checksum mismatch.');
    }
    return this.#versionMessage(
      secret,
      this.#state.appendVersion(secret, data),
    );
  }

  #versionOp(
    principal: Principal,
    name: string,
    to: 'ENABLED' | 'DISABLED' | 'DESTROYED' | undefined,
  ): Outcome {
    const permission =
      to === undefined
        ? 'secretmanager.versions.get'
        : 'secretmanager.versions.' +
          {ENABLED: 'enable', DISABLED: 'disable', DESTROYED: 'destroy'}[to];
    // Admin on the named project (on the default one for a malformed name, which then
    // answers INVALID_ARGUMENT); an unknown project is one the caller cannot see.
    const project = this.#state.findProject(
      parseSecretName(name)?.project ?? this.#state.projectId,
    );
    if (project === undefined || !this.#isAdmin(principal, project)) {
      return denied(permission, name);
    }
    const found = this.#findVersion(principal, name, permission);
    if (isGrpcError(found)) return found;
    const {secret, version} = found;
    if (to !== undefined) {
      if (version.state === 'DESTROYED' && to !== 'DESTROYED') {
        return grpcError(
          GrpcStatus.FAILED_PRECONDITION,
          `Secret Version [${this.#versionName(secret, version)}] is in DESTROYED state.`,
        );
      }
      version.state = to;
      if (to === 'DESTROYED') version.data = undefined;
    }
    return this.#versionMessage(secret, version);
  }

  /** Resolves a version name after the permission check (which comes first, as at Google). */
  #findVersion(
    principal: Principal,
    name: string,
    permission: string,
  ): {secret: Secret; version: SecretVersion} | GrpcError {
    const parsed = parseSecretName(name);
    if (parsed === undefined || parsed.version === undefined) {
      return grpcError(
        GrpcStatus.INVALID_ARGUMENT,
        `Invalid resource name [${name}].`,
      );
    }
    // A project the emulator does not know is one the caller cannot see.
    const project = this.#state.findProject(parsed.project);
    if (project === undefined) return denied(permission, name);
    const secret = project.secrets.get(parsed.secret);
    const member = `serviceAccount:${principal.email}`;
    if (
      !this.#state.isSecretAccessor(member, secret, project) &&
      !this.#isAdmin(principal, project)
    ) {
      return denied(permission, name);
    }
    const secretName = `projects/${project.number}/secrets/${parsed.secret}`;
    if (secret === undefined) {
      return grpcError(
        GrpcStatus.NOT_FOUND,
        `Secret [${secretName}] not found or has no versions.`,
      );
    }
    const version =
      parsed.version === 'latest'
        ? secret.versions.at(-1)
        : secret.versions.find(v => String(v.number) === parsed.version);
    if (version === undefined) {
      return grpcError(
        GrpcStatus.NOT_FOUND,
        parsed.version === 'latest'
          ? `Secret [${secretName}] not found or has no versions.`
          : `Secret Version [${secretName}/versions/${parsed.version}] not found.`,
      );
    }
    return {secret, version};
  }

  #versionMessage(
    secret: Secret,
    version: SecretVersion,
  ): Record<string, unknown> {
    return {
      name: this.#versionName(secret, version),
      createTime: timestamp(version.createTime),
      state: version.state,
    };
  }

  #versionName(secret: Secret, version: SecretVersion): string {
    return `projects/${secret.project.number}/secrets/${secret.id}/versions/${version.number}`;
  }

  #isAdmin(principal: Principal, project: Project): boolean {
    return this.#state.isSecretAdmin(
      `serviceAccount:${principal.email}`,
      project,
    );
  }

  get #state(): State {
    return this.#ctx.state;
  }
}

function denied(permission: string, name: string): GrpcError {
  return grpcError(
    GrpcStatus.PERMISSION_DENIED,
    `Permission '${permission}' denied for resource '${name}' (or it may not exist).`,
  );
}

function unauthenticated(missing: boolean): GrpcError {
  return grpcError(
    GrpcStatus.UNAUTHENTICATED,
    missing
      ? 'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.'
      : 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
  );
}

/** The `malformed` fault: a payload whose data_crc32c does not match its data. */
function corrupt(outcome: Record<string, unknown>): Record<string, unknown> {
  const payload = outcome.payload as {data: Buffer; dataCrc32c: string};
  return {
    ...outcome,
    payload: {
      data: payload.data,
      dataCrc32c: String((Number(payload.dataCrc32c) + 1) >>> 0),
    },
  };
}

function timestamp(ms: number): {seconds: string; nanos: number} {
  return {
    seconds: String(Math.floor(ms / 1000)),
    nanos: (ms % 1000) * 1_000_000,
  };
}

function isGrpcError(value: unknown): value is GrpcError {
  return (
    typeof value === 'object' &&
    value !== null &&
    'code' in value &&
    'details' in value
  );
}
