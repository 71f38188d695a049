/**
 * Local mode: makes the emulated project match a policy, so any policy can be tried
 * without Google Cloud. The function's own identity becomes a runtime service account;
 * every service account the policy names is created with exactly the access the
 * Terraform module grants in production: token-creator on impersonated accounts, a key
 * in a Secret Manager secret (readable by the runtime account only) for key-minted ones;
 * and what a Workspace admin grants for domain-wide delegation. Each user (`mint:
 * user`) consents to its `consented_scopes` for an OAuth client of its own, and its
 * authorized_user credential goes into its secret the same way.
 */
import type {EmulatorState} from '../../emulator/src/index.ts';
import {parseSecretVersionName} from '../google/secret-version.ts';
import type {CompiledPolicy} from '../policy/types.ts';

/** The runtime identity of the function in local mode. */
export const LOCAL_RUNTIME_ACCOUNT =
  'tvm-runtime@tvm-local.iam.gserviceaccount.com';

/** Provisions `policy` into the emulator. Idempotent for accounts it already made. */
export function provisionForPolicy(
  state: EmulatorState,
  policy: CompiledPolicy,
  runtimeEmail: string = LOCAL_RUNTIME_ACCOUNT,
): void {
  const runtime = `serviceAccount:${runtimeEmail}`;
  ensureAccount(state, runtimeEmail, false);
  state.setDefaultIdentity(runtimeEmail);
  for (const sa of policy.serviceAccounts.values()) {
    if (sa.mint === 'user') continue; // below, once Workspace users exist
    ensureAccount(state, sa.email, sa.lifetimeExtension);
    if (sa.mint === 'impersonate') {
      state.grantTokenCreator(runtime, sa.email);
      continue;
    }
    storeSecret(
      state,
      sa.keySecret!,
      JSON.stringify(state.createKey(sa.email), null, 2),
      runtime,
    );
  }
  provisionDelegation(state, policy);
  for (const sa of policy.serviceAccounts.values()) {
    if (sa.mint !== 'user') continue;
    // A user of the emulated Google (the Workspace user, when the policy made one)
    // consents to the scopes the policy says, for an OAuth client of its own; the
    // authorized_user file goes where the policy says.
    const file = state.users.grantConsent({
      email: sa.email,
      scopes: [...sa.user!.consentedScopes],
    });
    storeSecret(
      state,
      sa.user!.credentialSecret,
      JSON.stringify(file, null, 2),
      runtime,
    );
  }
}

/**
 * Domain-wide delegation as a Workspace admin would grant it for the policy: each
 * account authorized for every scope some grant may delegate with it, and the
 * subjects the grants name made users of the emulated Workspace (a whole domain for
 * `*@domain`).
 */
function provisionDelegation(
  state: EmulatorState,
  policy: CompiledPolicy,
): void {
  const scopes = new Map<string, Set<string>>();
  for (const client of policy.clients.values()) {
    for (const grant of client.grants) {
      const d = grant.delegation;
      if (d === undefined) continue;
      const email = grant.serviceAccount.email;
      const set = scopes.get(email) ?? new Set<string>();
      for (const s of d.scopes) set.add(s);
      scopes.set(email, set);
      for (const m of d.subjects) {
        try {
          if (m.kind === 'domain') state.createWorkspaceDomain(m.domain);
          else state.createUser(m.email);
        } catch {
          // Exists already.
        }
      }
    }
  }
  for (const [email, set] of scopes) {
    state.authorizeDelegation(email, [...set].sort());
  }
}

/**
 * Makes the secret version `versionName` exist and hold `data` (every version added up
 * to it holds it too), readable by `runtime` only.
 */
function storeSecret(
  state: EmulatorState,
  versionName: string,
  data: string,
  runtime: string,
): void {
  const {secret, version, number} = parseSecretVersionName(versionName)!;
  const wanted = version === 'latest' ? 0 : number;
  if (wanted === undefined) {
    throw new Error(
      `local mode cannot provision ${versionName}: name a version number or latest, not an alias`,
    );
  }
  try {
    state.createSecret(secret);
  } catch {
    // Already there; versions are added after the ones it has.
  }
  // The version the policy names must exist and hold the data: add versions up to it
  // (a new secret's first version is 1), each with the data.
  let made = 0;
  do {
    made = parseSecretVersionName(
      state.addSecretVersion(secret, data),
    )!.number!;
  } while (made < wanted);
  state.grantSecretAccessor(runtime, secret);
}

/**
 * Puts `text` (a policy) in a new secret `name` that the runtime account may read;
 * the name of its version.
 */
export function provisionPolicySecret(
  state: EmulatorState,
  name: string,
  text: string,
  runtimeEmail: string = LOCAL_RUNTIME_ACCOUNT,
): string {
  state.createSecret(name);
  const version = state.addSecretVersion(name, text);
  state.grantSecretAccessor(`serviceAccount:${runtimeEmail}`, name);
  return version;
}

function ensureAccount(
  state: EmulatorState,
  email: string,
  lifetimeExtension: boolean,
): void {
  try {
    state.createServiceAccount({email, lifetimeExtension});
  } catch {
    // Exists already.
  }
}
