/**
 * Where the policy in force comes from: a file, or a Secret Manager version read
 * through the Secret Manager API. Re-read periodically so a new version takes effect
 * without a redeploy. A new text that fails validation is refused and the last good
 * policy stays in force; with none good, the service answers 503 and /healthz says why.
 */
import {readFile} from 'node:fs';
import type {Clock} from './clock.ts';
import type {PolicyLocation} from './config.ts';
import {PolicyError, TvmError} from './errors.ts';
import type {SecretReader} from './google/secret-manager.ts';
import type {Logger} from './log.ts';
import {policyDigest} from './policy/digest.ts';
import type {CompiledPolicy} from './policy/types.ts';

export interface PolicyStatus {
  readonly ok: boolean;
  /** Why there is no policy in force (never a secret; policy paths and messages). */
  readonly reason: string | undefined;
  readonly digest: string | undefined;
  /** The last refresh failed and an older good policy is still in force. */
  readonly stale: boolean;
}

export interface PolicySource {
  /** The policy in force, or undefined when none good was ever loaded. */
  current(): CompiledPolicy | undefined;
  status(): PolicyStatus;
  /** Reads the source again now; resolves when done (never rejects). */
  refresh(): Promise<void>;
  /** Resolves after the first load attempt finished. */
  ready(): Promise<void>;
  /** Stops periodic refresh. */
  close(): void;
}

export interface PolicySourceDeps {
  /** A file or a Secret Manager version, as parsed from TVM_POLICY (src/config.ts). */
  readonly source: PolicyLocation | undefined;
  /** Parses a text; the policy's `digest` must be `policyDigest(text)`. */
  readonly parse: (text: string, source?: string) => CompiledPolicy;
  /**
   * The Secret Manager reader: the policy's own when it lives there, and the one the
   * keys and users' credentials it names are read through.
   */
  readonly secrets: () => SecretReader;
  readonly clock: Clock;
  readonly logger: Logger;
  /** 0: no periodic refresh. */
  readonly refreshSeconds: number;
}

/** Creates a PolicySource and starts its first load (and periodic refresh). */
export function createPolicySource(deps: PolicySourceDeps): PolicySource {
  const {source, logger} = deps;
  let policy: CompiledPolicy | undefined;
  let failure: string | undefined = source
    ? 'policy not loaded yet'
    : 'TVM_POLICY is not set';
  let stale = false;

  const read = async (from: PolicyLocation): Promise<string> => {
    if (from.kind === 'secret') {
      const bytes = await deps.secrets().access(from.version.name, 10_000);
      return bytes.toString('utf8');
    }
    // fs's callback form: node:fs/promises would load its FileHandle, streams and
    // readline with it, a few ms of every cold start.
    return new Promise((resolve, reject) => {
      readFile(from.path, 'utf8', (e, text) => (e ? reject(e) : resolve(text)));
    });
  };

  // A policy whose accounts mint with keys or users' credentials has its requests read
  // Secret Manager: the client library (the largest load of a cold start) is loaded
  // with the policy, not on the first such request. A failure to load shows on that
  // request, as it would have.
  const prepareFor = (next: CompiledPolicy): void => {
    if (!readsSecretManager(next)) return;
    try {
      void deps
        .secrets()
        .prepare?.()
        .catch(() => undefined);
    } catch {
      // reported by the first read, likewise
    }
  };

  const refresh = async (): Promise<void> => {
    if (!source) return;
    try {
      const text = await read(source);
      // The text in force, read again: nothing to parse (for a policy of a thousand
      // clients, a parse is some 100 ms of CPU and 100 MB of short-lived allocation).
      if (policy && policyDigest(text) === policy.digest) {
        failure = undefined;
        stale = false;
        return;
      }
      const next = deps.parse(
        text,
        source.kind === 'secret' ? source.version.name : source.path,
      );
      if (next.digest !== policy?.digest) {
        logger.info(
          {
            policy: {
              digest: next.digest.slice(0, 16),
              clients: next.clients.size,
            },
          },
          'policy loaded',
        );
      }
      if (next.digest !== policy?.digest) prepareFor(next);
      policy = next;
      failure = undefined;
      stale = false;
    } catch (e) {
      const why =
        e instanceof PolicyError
          ? e.message
          : `policy could not be read: ${(e as {code?: unknown})?.code ?? (e as Error)?.name ?? 'error'}`;
      if (policy) {
        stale = true;
        logger.error(
          {policy: {error: why}},
          'policy update refused; the last good policy stays in force',
        );
      } else {
        failure = why;
        logger.error(
          {policy: {error: why}},
          'no valid policy; refusing all token requests',
        );
      }
    }
  };

  const first = refresh();
  const timer =
    source && deps.refreshSeconds > 0
      ? setInterval(() => void refresh(), deps.refreshSeconds * 1000).unref()
      : undefined;

  return {
    current: () => policy,
    status: () => ({
      ok: policy !== undefined,
      reason: policy ? undefined : failure,
      digest: policy?.digest,
      stale,
    }),
    refresh,
    ready: () => first,
    close: () => {
      if (timer) clearInterval(timer);
    },
  };
}

/** Whether requests under `policy` read Secret Manager: keys and users' credentials. */
export function readsSecretManager(policy: CompiledPolicy): boolean {
  for (const account of policy.serviceAccounts.values()) {
    if (account.mint === 'key' || account.mint === 'user') return true;
  }
  return false;
}

/** The policy in force, waiting for the first load; TvmError 503 when there is none. */
export async function policyInForce(
  policies: PolicySource,
): Promise<CompiledPolicy> {
  await policies.ready();
  const policy = policies.current();
  if (!policy) {
    throw new TvmError(
      'ERR_POLICY_UNAVAILABLE',
      'the service has no valid policy; retry later',
      {
        retryAfterSeconds: 30,
        detail: policies.status().reason,
      },
    );
  }
  return policy;
}
