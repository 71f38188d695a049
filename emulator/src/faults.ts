/**
 * Switchable faults per emulated surface, and a count of the requests each surface saw.
 * A test sets a fault, drives the real client library, and asserts how the caller
 * copes (retries, timeouts, refusing a malformed or already-expired token).
 */

/** Every surface a fault can be set on, named `<service>.<method>`. */
export type FaultTarget =
  | 'metadata.token'
  | 'metadata.identity'
  | 'oauth2.token'
  | 'iam.generateAccessToken'
  | 'iam.generateIdToken'
  | 'iam.signJwt'
  | 'secretmanager.access'
  | 'sts.token'
  | 'tokeninfo';

/** What the surface does instead of (or before) answering normally. */
export type Fault =
  | {kind: 'status'; status: number}
  | {kind: 'delay'; ms: number}
  | {kind: 'hang'}
  | {kind: 'malformed'}
  | {kind: 'expiredToken'};

/** Sets and clears faults; `times` makes a fault clear itself after that many requests. */
export interface FaultInjector {
  set(target: FaultTarget, fault: Fault, options?: {times?: number}): void;
  clear(target?: FaultTarget): void;
}

/** Requests seen per surface (counted whether or not a fault was applied). */
export interface RequestStats {
  count(target: FaultTarget): number;
  reset(): void;
}

const TARGETS: ReadonlySet<string> = new Set<FaultTarget>([
  'metadata.token',
  'metadata.identity',
  'oauth2.token',
  'iam.generateAccessToken',
  'iam.generateIdToken',
  'iam.signJwt',
  'secretmanager.access',
  'sts.token',
  'tokeninfo',
]);

interface Armed {
  fault: Fault;
  remaining: number | undefined;
}

/**
 * The emulator's fault table. `take` is called once per request of a surface: it
 * counts the request and returns the fault to apply, if any.
 */
export class Faults implements FaultInjector, RequestStats {
  readonly #armed = new Map<FaultTarget, Armed>();
  readonly #counts = new Map<FaultTarget, number>();

  /** Arms `fault` on `target`, replacing any fault already there. */
  set(target: FaultTarget, fault: Fault, options: {times?: number} = {}): void {
    assertTarget(target);
    assertFault(fault);
    const times = options.times;
    if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
      throw new TypeError('times must be a positive integer');
    }
    this.#armed.set(target, {fault: {...fault}, remaining: times});
  }

  /** Clears the fault on `target`, or every fault when no target is given. */
  clear(target?: FaultTarget): void {
    if (target === undefined) this.#armed.clear();
    else this.#armed.delete(target);
  }

  /** Counts one request on `target` and returns the fault to apply to it, if any. */
  take(target: FaultTarget): Fault | undefined {
    this.#counts.set(target, (this.#counts.get(target) ?? 0) + 1);
    const armed = this.#armed.get(target);
    if (armed === undefined) return undefined;
    if (armed.remaining !== undefined) {
      armed.remaining -= 1;
      if (armed.remaining <= 0) this.#armed.delete(target);
    }
    return armed.fault;
  }

  /** Requests seen on `target` since start or the last reset. */
  count(target: FaultTarget): number {
    return this.#counts.get(target) ?? 0;
  }

  /** Sets every request count back to zero. */
  reset(): void {
    this.#counts.clear();
  }
}

function assertTarget(target: string): asserts target is FaultTarget {
  if (!TARGETS.has(target))
    throw new TypeError(`unknown fault target: ${target}`);
}

function assertFault(fault: Fault): void {
  switch (fault.kind) {
    case 'status':
      if (
        !Number.isInteger(fault.status) ||
        fault.status < 400 ||
        fault.status > 599
      ) {
        throw new TypeError('status fault needs an HTTP status 400-599');
      }
      return;
    case 'delay':
      if (!Number.isFinite(fault.ms) || fault.ms < 0) {
        throw new TypeError('delay fault needs ms >= 0');
      }
      return;
    case 'hang':
    case 'malformed':
    case 'expiredToken':
      return;
    default:
      throw new TypeError('unknown fault kind');
  }
}
