/**
 * What every surface handler gets: the parsed request, the instance's state, clock and
 * keys, and the fault (if any) armed for this request. Nothing here is global; one
 * Context belongs to one emulator instance.
 */
import type {IncomingHttpHeaders} from 'node:http';
import type {Fault} from './faults.ts';
import type {SigningKey} from './keys.ts';
import type {Reply} from './reply.ts';
import type {State} from './state.ts';

/** The emulator instance's dependencies, shared by all surfaces. */
export interface Context {
  readonly state: State;
  readonly now: () => number;
  /** The emulator's "Google" key: signs ID tokens, published at /oauth2/v3/certs. */
  readonly googleKey: SigningKey;
  readonly url: string;
  readonly tokenUrl: string;
}

/** An HTTP request, read and size-checked by http.ts. */
export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A surface handler: answers one request, honouring `expiredToken` when armed. */
export type Handler = (
  req: HttpRequest,
  ctx: Context,
  fault: Fault | undefined,
) => Promise<Reply>;

/** The lifetime of a token minted under the `expiredToken` fault: expired a minute ago. */
export const EXPIRED_LIFETIME_S = -60;
