/**
 * The emulated project: service accounts and their keys, IAM bindings, secrets and
 * versions, and the tokens issued so far. Tests and the local mode provision it through
 * the typed `EmulatorState` API; the surfaces read it through the internal methods.
 * Misuse of the provisioning API (unknown account, bad name) throws TypeError.
 */
import {randomInt} from 'node:crypto';
import {
  generateSigningKeySync,
  keyFile,
  type ServiceAccountKeyFile,
  type SigningKey,
} from './keys.ts';
import {TokenStore} from './tokens.ts';

/** States a secret version can be in (google.cloud.secretmanager.v1.SecretVersion.State). */
export type SecretVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

/** The provisioning API of the emulated project. */
export interface EmulatorState {
  readonly projectId: string;
  readonly projectNumber: string;
  createServiceAccount(opts: {
    email: string;
    lifetimeExtension?: boolean;
    domainWideDelegation?: boolean;
  }): {email: string; uniqueId: string};
  disableServiceAccount(email: string): void;
  createKey(email: string): ServiceAccountKeyFile;
  deleteKey(email: string, keyId: string): void;
  setDefaultIdentity(email: string): void;
  grantTokenCreator(member: string, targetEmail: string): void;
  revokeTokenCreator(member: string, targetEmail: string): void;
  createSecret(secretName: string): void;
  addSecretVersion(secretName: string, data: string | Uint8Array): string;
  setSecretVersionState(versionName: string, state: SecretVersionState): void;
  grantSecretAccessor(member: string, secretName: string): void;
  grantSecretAdmin(member: string): void;
  tokenInfo(
    accessToken: string,
  ): {email: string; scopes: string[]; expiresAt: number} | undefined;
}

/** An emulated service account. */
export interface ServiceAccount {
  readonly email: string;
  readonly uniqueId: string;
  readonly lifetimeExtension: boolean;
  readonly domainWideDelegation: boolean;
  disabled: boolean;
  /** User-managed keys by key id: only public halves are kept, as at Google. */
  readonly keys: Map<
    string,
    {publicKey: SigningKey['publicKey']; deleted: boolean}
  >;
  /** The Google-managed key that signJwt uses, made on first use. */
  systemKey: SigningKey | undefined;
}

/** One version of a secret. */
export interface SecretVersion {
  readonly number: number;
  readonly createTime: number;
  state: SecretVersionState;
  data: Uint8Array | undefined;
}

/** A secret and its versions (numbered from 1, in creation order). */
export interface Secret {
  readonly id: string;
  readonly createTime: number;
  readonly versions: SecretVersion[];
  readonly accessors: Set<string>;
}

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
const EMAIL = /^[^@\s/]+@[^@\s/]+$/;
const MEMBER = /^(serviceAccount|user|group|domain):[^\s]+$/;

/** Parsed `projects/<p>/secrets/<s>[/versions/<v>]`. */
export interface ParsedSecretName {
  readonly project: string;
  readonly secret: string;
  readonly version: string | undefined;
}

/** Parses a secret or version resource name; undefined when it has another shape. */
export function parseSecretName(name: string): ParsedSecretName | undefined {
  const m =
    /^projects\/([^/]+)\/secrets\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name);
  if (m === null) return undefined;
  const [, project, secret, version] = m;
  if (
    project === undefined ||
    secret === undefined ||
    !SECRET_ID.test(secret)
  ) {
    return undefined;
  }
  return {project, secret, version};
}

/** The state of one emulator instance. */
export class State implements EmulatorState {
  readonly projectId: string;
  readonly projectNumber: string;
  readonly tokens: TokenStore;
  readonly #now: () => number;
  readonly #tokenUrl: string;
  readonly #accounts = new Map<string, ServiceAccount>();
  readonly #tokenCreators = new Map<string, Set<string>>();
  readonly #secrets = new Map<string, Secret>();
  /** Members holding secretAccessor on the whole project. */
  readonly #projectAccessors = new Set<string>();
  /** Members holding secretmanager.admin on the project (gRPC provisioning). */
  readonly #secretAdmins = new Set<string>();
  #defaultIdentity: string | undefined;

  constructor(options: {
    projectId: string;
    projectNumber: string;
    now: () => number;
    tokenUrl: string;
  }) {
    this.projectId = options.projectId;
    this.projectNumber = options.projectNumber;
    this.#now = options.now;
    this.#tokenUrl = options.tokenUrl;
    this.tokens = new TokenStore(options.now);
  }

  /** Creates a service account; its unique id is a random 21-digit number. */
  createServiceAccount(opts: {
    email: string;
    lifetimeExtension?: boolean;
    domainWideDelegation?: boolean;
  }): {email: string; uniqueId: string} {
    if (!EMAIL.test(opts.email))
      throw new TypeError('invalid service account email');
    if (this.#accounts.has(opts.email)) {
      throw new TypeError(`service account already exists: ${opts.email}`);
    }
    const uniqueId = `1${Array.from({length: 20}, () => randomInt(10)).join('')}`;
    this.#accounts.set(opts.email, {
      email: opts.email,
      uniqueId,
      lifetimeExtension: opts.lifetimeExtension ?? false,
      domainWideDelegation: opts.domainWideDelegation ?? false,
      disabled: false,
      keys: new Map(),
      systemKey: undefined,
    });
    return {email: opts.email, uniqueId};
  }

  /** Disables an account: it can no longer mint or be impersonated. */
  disableServiceAccount(email: string): void {
    this.#mustGetAccount(email).disabled = true;
  }

  /** Makes a real RSA-2048 key for the account and returns Google's key-file JSON. */
  createKey(email: string): ServiceAccountKeyFile {
    const account = this.#mustGetAccount(email);
    const key = generateSigningKeySync();
    account.keys.set(key.kid, {publicKey: key.publicKey, deleted: false});
    return keyFile(
      key,
      {email, uniqueId: account.uniqueId, projectId: this.projectId},
      this.#tokenUrl,
    );
  }

  /** Deletes a key: assertions signed with it are refused from now on. */
  deleteKey(email: string, keyId: string): void {
    const key = this.#mustGetAccount(email).keys.get(keyId);
    if (key === undefined)
      throw new TypeError(`unknown key ${keyId} for ${email}`);
    key.deleted = true;
  }

  /** Sets the service account the metadata server answers for. */
  setDefaultIdentity(email: string): void {
    this.#mustGetAccount(email);
    this.#defaultIdentity = email;
  }

  /** Grants roles/iam.serviceAccountTokenCreator on `targetEmail` to `member`. */
  grantTokenCreator(member: string, targetEmail: string): void {
    assertMember(member);
    this.#mustGetAccount(targetEmail);
    let members = this.#tokenCreators.get(targetEmail);
    if (members === undefined) {
      members = new Set();
      this.#tokenCreators.set(targetEmail, members);
    }
    members.add(member);
  }

  /** Removes that binding again. */
  revokeTokenCreator(member: string, targetEmail: string): void {
    this.#tokenCreators.get(targetEmail)?.delete(member);
  }

  /** Creates an empty secret `projects/<id or number>/secrets/<s>`. */
  createSecret(secretName: string): void {
    const parsed = this.#mustParse(secretName, false);
    if (this.#secrets.has(parsed.secret)) {
      throw new TypeError(`secret already exists: ${secretName}`);
    }
    this.#secrets.set(parsed.secret, {
      id: parsed.secret,
      createTime: this.#now(),
      versions: [],
      accessors: new Set(),
    });
  }

  /**
   * Adds an ENABLED version and returns its name, written with the project the caller
   * used (`projects/<id>/…` in, `projects/<id>/…` out).
   */
  addSecretVersion(secretName: string, data: string | Uint8Array): string {
    const parsed = this.#mustParse(secretName, false);
    const secret = this.#mustGetSecret(parsed.secret);
    const bytes =
      typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const version = this.appendVersion(secret, bytes);
    return `projects/${parsed.project}/secrets/${secret.id}/versions/${version.number}`;
  }

  /** Moves a version to ENABLED, DISABLED or DESTROYED (destroying drops the data). */
  setSecretVersionState(versionName: string, state: SecretVersionState): void {
    const parsed = this.#mustParse(versionName, true);
    const secret = this.#mustGetSecret(parsed.secret);
    const version = secret.versions.find(
      v => String(v.number) === parsed.version,
    );
    if (version === undefined)
      throw new TypeError(`unknown version: ${versionName}`);
    if (version.state === 'DESTROYED' && state !== 'DESTROYED') {
      throw new TypeError('a destroyed version cannot be re-enabled');
    }
    version.state = state;
    if (state === 'DESTROYED') version.data = undefined;
  }

  /**
   * Grants roles/secretmanager.secretAccessor to `member` on one secret, or on every
   * secret of the project when `secretName` is `projects/<id or number>`.
   */
  grantSecretAccessor(member: string, secretName: string): void {
    assertMember(member);
    if (this.isThisProject(/^projects\/([^/]+)$/.exec(secretName)?.[1])) {
      this.#projectAccessors.add(member);
      return;
    }
    const parsed = this.#mustParse(secretName, false);
    this.#mustGetSecret(parsed.secret).accessors.add(member);
  }

  /**
   * Grants roles/secretmanager.admin on the project to `member`: every Secret Manager
   * permission (create secrets, add versions, change states, and access), as at Google.
   */
  grantSecretAdmin(member: string): void {
    assertMember(member);
    this.#secretAdmins.add(member);
  }

  /** What the emulator knows of an access token it issued (also when expired). */
  tokenInfo(
    accessToken: string,
  ): {email: string; scopes: string[]; expiresAt: number} | undefined {
    const record = this.tokens.get(accessToken);
    if (record === undefined) return undefined;
    return {
      email: record.email,
      scopes: [...record.scopes],
      expiresAt: record.expiresAt,
    };
  }

  // ---- internal reads used by the surfaces ----

  /** The account, if it exists (disabled or not). */
  account(email: string): ServiceAccount | undefined {
    return this.#accounts.get(email);
  }

  /** The metadata server's account, if one was set. */
  defaultIdentity(): ServiceAccount | undefined {
    return this.#defaultIdentity === undefined
      ? undefined
      : this.#accounts.get(this.#defaultIdentity);
  }

  /** Whether `member` holds token-creator on `targetEmail`. */
  isTokenCreator(member: string, targetEmail: string): boolean {
    return this.#tokenCreators.get(targetEmail)?.has(member) ?? false;
  }

  /** Whether `member` may access versions of `secret`. */
  isSecretAccessor(member: string, secret: Secret | undefined): boolean {
    return (
      this.#projectAccessors.has(member) ||
      (secret?.accessors.has(member) ?? false)
    );
  }

  /** Whether `member` holds secretmanager.admin on the project. */
  isSecretAdmin(member: string): boolean {
    return this.#secretAdmins.has(member);
  }

  /** True for this project's id or number. */
  isThisProject(project: string | undefined): boolean {
    return project === this.projectId || project === this.projectNumber;
  }

  /** The secret with that id, if any. */
  secret(id: string): Secret | undefined {
    return this.#secrets.get(id);
  }

  /** Adds a version holding `data` to `secret`. */
  appendVersion(secret: Secret, data: Uint8Array): SecretVersion {
    const version: SecretVersion = {
      number: secret.versions.length + 1,
      createTime: this.#now(),
      state: 'ENABLED',
      data: new Uint8Array(data),
    };
    secret.versions.push(version);
    return version;
  }

  /** The account's Google-managed signing key (for signJwt), made on first use. */
  systemKey(account: ServiceAccount): SigningKey {
    account.systemKey ??= generateSigningKeySync();
    return account.systemKey;
  }

  #mustGetAccount(email: string): ServiceAccount {
    const account = this.#accounts.get(email);
    if (account === undefined)
      throw new TypeError(`unknown service account: ${email}`);
    return account;
  }

  #mustGetSecret(id: string): Secret {
    const secret = this.#secrets.get(id);
    if (secret === undefined) throw new TypeError(`unknown secret: ${id}`);
    return secret;
  }

  #mustParse(name: string, withVersion: boolean): ParsedSecretName {
    const parsed = parseSecretName(name);
    if (
      parsed === undefined ||
      !this.isThisProject(parsed.project) ||
      (parsed.version !== undefined) !== withVersion
    ) {
      throw new TypeError(
        `expected projects/${this.projectId}/secrets/<id>${withVersion ? '/versions/<n>' : ''}: ${name}`,
      );
    }
    return parsed;
  }
}

function assertMember(member: string): void {
  if (!MEMBER.test(member)) {
    throw new TypeError(
      `member must look like serviceAccount:<email>: ${member}`,
    );
  }
}
