/**
 * The shared store's parts, in one module that src/service.ts imports only when
 * TVM_REDIS_URL is set: without a shared store, ioredis and its commands table are
 * never loaded, so a cold start does not pay for them.
 */
export {createSharedStore, type SharedStore} from './redis.ts';
export {sharedRateLimitStores} from './rate-limit-store.ts';
export {startPolicySignal} from './policy-signal.ts';
export {createSharedReplayStore} from './replay.ts';
export {createSharedTokenCache} from './token-cache.ts';
