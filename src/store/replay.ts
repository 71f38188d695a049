/**
 * The replay guard across instances: a client assertion's `jti` is recorded with an
 * atomic `SET key 1 NX PX <remaining life>`, so one instance accepts it and every
 * other refuses it. When the shared store cannot answer, the assertion is refused
 * with 503 and Retry-After (fail closed): an assertion tvm cannot record is never
 * accepted. Plugged in as the `ReplayStore` of src/auth/replay-store.ts.
 */
import {createHash} from 'node:crypto';
import type {ReplayStore} from '../auth/replay-store.ts';
import type {Clock} from '../clock.ts';
import {TvmError} from '../errors.ts';
import type {Logger} from '../log.ts';
import {degradation, type SharedStore} from './redis.ts';

/** Seconds a caller is asked to wait when the guard cannot record an assertion. */
export const REPLAY_RETRY_AFTER_SECONDS = 2;

export function createSharedReplayStore(options: {
  store: SharedStore;
  clock: Clock;
  logger: Logger;
}): ReplayStore {
  const {store, clock} = options;
  const health = degradation(
    options.logger,
    'replay guard',
    'client assertions are refused (503) until it is back',
  );
  const refuse = (e: unknown): never => {
    health.failed(e);
    throw new TvmError(
      'ERR_UPSTREAM_UNAVAILABLE',
      'the service is temporarily unavailable; retry later',
      {
        detail: 'replay guard: shared store unavailable',
        retryAfterSeconds: REPLAY_RETRY_AFTER_SECONDS,
      },
    );
  };
  return {
    async remember(key, expiresAt) {
      const client = store.client();
      if (!client) return refuse(new Error('not connected'));
      // At least 1 ms: an assertion at the very end of its life is still recorded.
      const ttl = Math.max(1, Math.ceil(expiresAt - clock.now()));
      const id = createHash('sha256').update(key).digest('base64url');
      let reply: unknown;
      try {
        reply = await client.set(`tvm-jti:${id}`, '1', 'PX', ttl, 'NX');
      } catch (e) {
        return refuse(e);
      }
      health.ok();
      return reply === 'OK';
    },
  };
}
