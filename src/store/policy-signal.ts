/**
 * Policy changes spread through the shared store: when an instance's policy in force
 * changes (a new Secret Manager version, a new file), it writes the new digest to
 * `tvm-policy:digest`; every instance looks at that key every `intervalMs` (2 s) and
 * re-reads its policy source when the key changed. So a kill switch reaches every
 * instance within about `intervalMs` plus one read of the first instance seeing it,
 * instead of each instance's own TVM_POLICY_REFRESH_SECONDS.
 *
 * Only changes are published and only changes are acted on, so two instances that
 * read different versions (a rollout in progress) do not make each other re-read in a
 * loop. Without the store, nothing happens: each instance refreshes on its own timer.
 */
import type {Logger} from '../log.ts';
import type {PolicySource} from '../policy-source.ts';
import type {SharedStore} from './redis.ts';

const KEY = 'tvm-policy:digest';

export interface PolicySignal {
  /** One round: publish our change, or follow another instance's. */
  tick(): Promise<void>;
  close(): void;
}

export function startPolicySignal(options: {
  store: SharedStore;
  policies: PolicySource;
  logger: Logger;
  intervalMs?: number;
}): PolicySignal {
  const {store, policies, logger} = options;
  let ours = policies.status().digest;
  let theirs: string | null | undefined;
  let busy = false;

  const tick = async () => {
    if (busy) return;
    const client = store.client();
    if (!client) return;
    busy = true;
    try {
      const now = policies.status().digest;
      if (ours === undefined) {
        // The first policy this instance loaded is no news to the fleet.
        ours = now;
      } else if (now !== undefined && now !== ours) {
        ours = now;
        theirs = now;
        await client.set(KEY, now);
        return;
      }
      const seen = await client.get(KEY);
      if (theirs !== undefined && seen !== theirs && seen !== ours) {
        logger.info(
          {digest: seen?.slice(0, 16)},
          'another instance loaded a new policy: re-reading it now',
        );
        theirs = seen;
        await policies.refresh();
        ours = policies.status().digest;
        return;
      }
      theirs = seen;
    } catch {
      // The store's users log its failures; the periodic refresh still runs.
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), options.intervalMs ?? 2000);
  timer.unref();
  return {tick, close: () => clearInterval(timer)};
}
