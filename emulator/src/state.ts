/**
 * The emulated Google: service accounts and their keys, IAM bindings, projects with their
 * secrets and versions, and the tokens issued so far. Tests and the local mode provision
 * it through the typed `EmulatorState` API; the surfaces read it through the internal
 * methods. Misuse of the provisioning API (unknown account, bad name) throws TypeError.
 *
 * Secrets live in projects, as at Google. The emulator's own project (options) is the
 * default; any other project id named by the provisioning API is created on first use
 * with a stable project number derived from its id.
 */
import {createHash, randomBytes, randomInt} from 'node:crypto';
import {
  generateSigningKeySync,
  keyFile,
  type ServiceAccountKeyFile,
  type SigningKey,
} from './keys.ts';
import {TokenStore} from './tokens.ts';
import {Users, type UserConsents} from './users.ts';

/** States a secret version can be in (google.cloud.secretmanager.v1.SecretVersion.State). */
export type SecretVersionState = 'ENABLED' | 'DISABLED' | 'DESTROYED';

/** The provisioning API of the emulator. */
export interface EmulatorState {
  /**
   * A random id of this emulator instance, answered at GET /emulator/v1/instance (not
   * a Google route): local mode writes it beside the emulator's address, so a command
   * can tell the running emulator from whatever holds its old port now.
   */
  readonly instanceId: string;
  /** The default project (metadata server, key files of unknown-domain accounts). */
  readonly projectId: string;
  readonly projectNumber: string;
  /**
   * The project with this id (created on first use) or number (must exist):
   * `'other-proj'` or `'projects/other-proj'` → `{projectId, projectNumber}`.
   */
  project(project: string): {projectId: string; projectNumber: string};
  createServiceAccount(opts: {email: string; lifetimeExtension?: boolean}): {
    email: string;
    uniqueId: string;
  };
  disableServiceAccount(email: string): void;
  /**
   * Domain-wide delegation, as a Workspace super admin grants it (Admin console,
   * Security, API controls, Domain-wide delegation): the account's client ID may
   * act for the users of the Workspace with these OAuth scopes (full URLs). Replaces
   * the scopes authorized before; an empty list withdraws the authorization.
   */
  authorizeDelegation(email: string, scopes: readonly string[]): void;
  /** Adds a user to the emulated Workspace (a subject for domain-wide delegation). */
  createUser(email: string): {email: string; uniqueId: string};
  /**
   * Makes every address of `domain` a user of the emulated Workspace (local mode's
   * stand-in for a directory it does not keep).
   */
  createWorkspaceDomain(domain: string): void;
  createKey(email: string): ServiceAccountKeyFile;
  deleteKey(email: string, keyId: string): void;
  setDefaultIdentity(email: string): void;
  grantTokenCreator(member: string, targetEmail: string): void;
  revokeTokenCreator(member: string, targetEmail: string): void;
  createSecret(secretName: string): void;
  addSecretVersion(secretName: string, data: string | Uint8Array): string;
  setSecretVersionState(versionName: string, state: SecretVersionState): void;
  grantSecretAccessor(member: string, secretName: string): void;
  grantSecretAdmin(member: string, project?: string): void;
  tokenInfo(accessToken: string): TokenInfo | undefined;
  /** Users, OAuth clients and consents (refresh tokens): emulator/src/users.ts. */
  readonly users: UserConsents;
}

/** What the emulator knows of an access token it issued. */
export interface TokenInfo {
  /** The principal the token acts as: a service account, or the delegated user. */
  email: string;
  scopes: string[];
  expiresAt: number;
  /** Domain-wide delegation: the service account that acts for `email`. */
  delegatedBy?: string;
  /** A downscoped token: the Credential Access Boundary STS applied, as sent. */
  accessBoundary?: unknown;
}

/** A user of the emulated Workspace. */
export interface WorkspaceUser {
  readonly email: string;
  readonly uniqueId: string;
}

/** An emulated service account. */
export interface ServiceAccount {
  readonly email: string;
  readonly uniqueId: string;
  readonly lifetimeExtension: boolean;
  /** Scopes authorized for domain-wide delegation; empty: none. */
  delegationScopes: ReadonlySet<string>;
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
  /** The project the secret lives in. */
  readonly project: Project;
  readonly createTime: number;
  readonly versions: SecretVersion[];
  readonly accessors: Set<string>;
}

/** A project: its secrets and its project-level Secret Manager bindings. */
export interface Project {
  readonly id: string;
  /** 12 digits; Google's answers name the project by number. */
  readonly number: string;
  readonly secrets: Map<string, Secret>;
  /** Members holding secretAccessor on the whole project. */
  readonly accessors: Set<string>;
  /** Members holding secretmanager.admin on the project (gRPC provisioning). */
  readonly admins: Set<string>;
}

const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/;
/** A project id: starts with a letter, so it never reads as a number (Google: 6-30). */
const PROJECT_ID = /^[a-z](?:[a-z0-9.:-]{0,98}[a-z0-9])?$/;
const PROJECT_NUMBER = /^[0-9]+$/;
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
  readonly instanceId = randomBytes(16).toString('hex');
  readonly projectId: string;
  readonly projectNumber: string;
  readonly tokens: TokenStore;
  readonly users: Users;
  readonly #now: () => number;
  readonly #tokenUrl: string;
  readonly #accounts = new Map<string, ServiceAccount>();
  readonly #tokenCreators = new Map<string, Set<string>>();
  readonly #users = new Map<string, WorkspaceUser>();
  readonly #userDomains = new Set<string>();
  /** Projects by id. */
  readonly #projects = new Map<string, Project>();
  /** Project ids by number. */
  readonly #projectIds = new Map<string, string>();
  readonly #defaultProject: Project;
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
    this.users = new Users(options.now, email => this.user(email)?.uniqueId);
    this.#defaultProject = this.#addProject(
      options.projectId,
      options.projectNumber,
    );
  }

  /**
   * The project `project` (`<id>`, `<number>`, `projects/<id>` or `projects/<number>`)
   * names; an unknown id creates the project, an unknown number throws.
   */
  project(project: string): {projectId: string; projectNumber: string} {
    const p = this.#mustGetProject(project.replace(/^projects\//, ''));
    return {projectId: p.id, projectNumber: p.number};
  }

  /** Creates a service account; its unique id is a random 21-digit number. */
  createServiceAccount(opts: {email: string; lifetimeExtension?: boolean}): {
    email: string;
    uniqueId: string;
  } {
    if (!EMAIL.test(opts.email))
      throw new TypeError('invalid service account email');
    if (this.#accounts.has(opts.email)) {
      throw new TypeError(`service account already exists: ${opts.email}`);
    }
    const uniqueId = newUniqueId();
    this.#accounts.set(opts.email, {
      email: opts.email,
      uniqueId,
      lifetimeExtension: opts.lifetimeExtension ?? false,
      delegationScopes: new Set(),
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

  /** Authorizes (or, with no scopes, withdraws) domain-wide delegation for the account. */
  authorizeDelegation(email: string, scopes: readonly string[]): void {
    this.#mustGetAccount(email).delegationScopes = new Set(scopes);
  }

  /** Adds a Workspace user; its unique id is a random 21-digit number. */
  createUser(email: string): WorkspaceUser {
    if (!EMAIL.test(email)) throw new TypeError('invalid user email');
    const key = email.toLowerCase();
    if (this.#users.has(key) || this.#accounts.has(email)) {
      throw new TypeError(`user already exists: ${email}`);
    }
    const user = Object.freeze({email: key, uniqueId: newUniqueId()});
    this.#users.set(key, user);
    return user;
  }

  /** Every address of `domain` becomes a Workspace user. */
  createWorkspaceDomain(domain: string): void {
    if (!/^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/i.test(domain)) {
      throw new TypeError('invalid domain');
    }
    this.#userDomains.add(domain.toLowerCase());
  }

  /** Makes a real RSA-2048 key for the account and returns Google's key-file JSON. */
  createKey(email: string): ServiceAccountKeyFile {
    const account = this.#mustGetAccount(email);
    const key = generateSigningKeySync();
    account.keys.set(key.kid, {publicKey: key.publicKey, deleted: false});
    // As at Google, the key file names the account's own project.
    const own = /@([^@.]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1];
    return keyFile(
      key,
      {email, uniqueId: account.uniqueId, projectId: own ?? this.projectId},
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

  /**
   * Creates an empty secret `projects/<id or number>/secrets/<s>` (an unknown project id
   * creates the project).
   */
  createSecret(secretName: string): void {
    const parsed = this.#mustParse(secretName, false);
    const project = this.#mustGetProject(parsed.project);
    if (project.secrets.has(parsed.secret)) {
      throw new TypeError(`secret already exists: ${secretName}`);
    }
    project.secrets.set(parsed.secret, {
      id: parsed.secret,
      project,
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
    const secret = this.#mustGetSecret(parsed);
    const bytes =
      typeof data === 'string' ? new TextEncoder().encode(data) : data;
    const version = this.appendVersion(secret, bytes);
    return `projects/${parsed.project}/secrets/${secret.id}/versions/${version.number}`;
  }

  /** Moves a version to ENABLED, DISABLED or DESTROYED (destroying drops the data). */
  setSecretVersionState(versionName: string, state: SecretVersionState): void {
    const parsed = this.#mustParse(versionName, true);
    const secret = this.#mustGetSecret(parsed);
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
   * secret of a project when `secretName` is `projects/<id or number>` (an unknown
   * project id creates the project). Project grants hold in that project only.
   */
  grantSecretAccessor(member: string, secretName: string): void {
    assertMember(member);
    const project = /^projects\/([^/]+)$/.exec(secretName)?.[1];
    if (project !== undefined) {
      this.#mustGetProject(project).accessors.add(member);
      return;
    }
    const parsed = this.#mustParse(secretName, false);
    this.#mustGetSecret(parsed).accessors.add(member);
  }

  /**
   * Grants roles/secretmanager.admin on a project (default: the emulator's own;
   * otherwise `projects/<id or number>` or the bare id/number) to `member`: every Secret
   * Manager permission in that project (create secrets, add versions, change states, and
   * access), as at Google.
   */
  grantSecretAdmin(member: string, project?: string): void {
    assertMember(member);
    const target =
      project === undefined
        ? this.#defaultProject
        : this.#mustGetProject(project.replace(/^projects\//, ''));
    target.admins.add(member);
  }

  /** What the emulator knows of an access token it issued (also when expired). */
  tokenInfo(accessToken: string): TokenInfo | undefined {
    const record = this.tokens.get(accessToken);
    if (record === undefined) return undefined;
    return {
      email: record.email,
      scopes: [...record.scopes],
      expiresAt: record.expiresAt,
      ...(record.delegatedBy === undefined
        ? {}
        : {delegatedBy: record.delegatedBy}),
      ...(record.accessBoundary === undefined
        ? {}
        : {accessBoundary: structuredClone(record.accessBoundary)}),
    };
  }

  // ---- internal reads used by the surfaces ----

  /** The account, if it exists (disabled or not). */
  account(email: string): ServiceAccount | undefined {
    return this.#accounts.get(email);
  }

  /**
   * The Workspace user `email` names (case-insensitively), if there is one: created
   * one by one, or any address of a domain made whole.
   */
  user(email: string): WorkspaceUser | undefined {
    const key = email.toLowerCase();
    const known = this.#users.get(key);
    if (known !== undefined) return known;
    const at = key.lastIndexOf('@');
    if (at <= 0 || !EMAIL.test(key)) return undefined;
    if (!this.#userDomains.has(key.slice(at + 1))) return undefined;
    // A stable id for a user of a whole domain: derived from the address.
    const digest = createHash('sha256').update(key).digest();
    const id =
      100_000_000_000_000_000_000n +
      (digest.readBigUInt64BE(0) % 900_000_000_000_000_000_000n);
    return Object.freeze({email: key, uniqueId: String(id)});
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

  /**
   * Whether `member` may access versions of `secret`, or (for a missing secret) of any
   * secret of `project` (default: the secret's project, else the default project).
   */
  isSecretAccessor(
    member: string,
    secret: Secret | undefined,
    project: Project = secret?.project ?? this.#defaultProject,
  ): boolean {
    return (
      project.accessors.has(member) || (secret?.accessors.has(member) ?? false)
    );
  }

  /** Whether `member` holds secretmanager.admin on `project` (default: the default one). */
  isSecretAdmin(
    member: string,
    project: Project = this.#defaultProject,
  ): boolean {
    return project.admins.has(member);
  }

  /** True for the default project's id or number. */
  isThisProject(project: string | undefined): boolean {
    return project === this.projectId || project === this.projectNumber;
  }

  /** The existing project with that id or number (never creates one). */
  findProject(project: string | undefined): Project | undefined {
    if (project === undefined) return undefined;
    const id = this.#projectIds.get(project) ?? project;
    return this.#projects.get(id);
  }

  /** The secret with that id in `project` (id or number; default project if omitted). */
  secret(id: string, project?: string): Secret | undefined {
    const p =
      project === undefined ? this.#defaultProject : this.findProject(project);
    return p?.secrets.get(id);
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

  #mustGetSecret(parsed: ParsedSecretName): Secret {
    const secret = this.#mustGetProject(parsed.project).secrets.get(
      parsed.secret,
    );
    if (secret === undefined) {
      throw new TypeError(
        `unknown secret: projects/${parsed.project}/secrets/${parsed.secret}`,
      );
    }
    return secret;
  }

  /** The project with that id or number; an unknown id creates it. */
  #mustGetProject(project: string): Project {
    const found = this.findProject(project);
    if (found !== undefined) return found;
    if (PROJECT_NUMBER.test(project)) {
      throw new TypeError(
        `unknown project number: ${project} (name a new project by its id)`,
      );
    }
    if (!PROJECT_ID.test(project)) {
      throw new TypeError(`invalid project id: ${project}`);
    }
    return this.#addProject(project, this.#numberFor(project));
  }

  #addProject(id: string, number: string): Project {
    const project: Project = {
      id,
      number,
      secrets: new Map(),
      accessors: new Set(),
      admins: new Set(),
    };
    this.#projects.set(id, project);
    this.#projectIds.set(number, id);
    return project;
  }

  /**
   * A stable 12-digit project number for `id` (no leading zero), derived from its
   * SHA-256 and distinct from every number already in use.
   */
  #numberFor(id: string): string {
    for (let attempt = 0; ; attempt++) {
      const digest = createHash('sha256')
        .update(attempt === 0 ? id : `${id}#${attempt}`)
        .digest();
      const n =
        100_000_000_000n + (digest.readBigUInt64BE(0) % 900_000_000_000n);
      const number = String(n);
      if (!this.#projectIds.has(number) && !this.#projects.has(number)) {
        return number;
      }
    }
  }

  #mustParse(name: string, withVersion: boolean): ParsedSecretName {
    const parsed = parseSecretName(name);
    if (
      parsed === undefined ||
      (parsed.version !== undefined) !== withVersion
    ) {
      throw new TypeError(
        `expected projects/<project id or number>/secrets/<id>${withVersion ? '/versions/<n>' : ''}: ${name}`,
      );
    }
    return parsed;
  }
}

/** A unique id like Google's: 21 digits, the first a 1. */
function newUniqueId(): string {
  return `1${Array.from({length: 20}, () => randomInt(10)).join('')}`;
}

function assertMember(member: string): void {
  if (!MEMBER.test(member)) {
    throw new TypeError(
      `member must look like serviceAccount:<email>: ${member}`,
    );
  }
}
