/**
 * Local mode: makes the emulated project match a policy, so any policy can be tried
 * without Google Cloud. The function's own identity becomes a runtime service account;
 * every service account the policy names is created with exactly the access the
 * Terraform module grants in production: token-creator on impersonated accounts, a key
 * in a Secret Manager secret (readable by the runtime account only) for key-minted ones.
 */
import type {EmulatorState} from '../../emulator/src/index.ts';
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
    ensureAccount(state, sa.email, sa.lifetimeExtension);
    if (sa.mint === 'impersonate') {
      state.grantTokenCreator(runtime, sa.email);
      continue;
    }
    const version = sa.keySecret!;
    const secret = version.replace(/\/versions\/[^/]+$/, '');
    const key = state.createKey(sa.email);
    try {
      state.createSecret(secret);
    } catch {
      // Already there (several accounts may share a secret's history); add a version.
    }
    state.addSecretVersion(secret, JSON.stringify(key, null, 2));
    state.grantSecretAccessor(runtime, secret);
  }
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
