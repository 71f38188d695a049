/**
 * Client authentication on the token endpoint (RFC 6749 §2.3, RFC 7523 §2.2): which
 * method the caller used, exactly one of HTTP Basic, body parameters, or a signed
 * client assertion.
 */
import {TvmError} from '../errors.ts';
import {trimAsciiWhitespace} from '../text.ts';

export const CLIENT_ASSERTION_TYPE_JWT =
  'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export type ClientCredentials =
  | {
      readonly method: 'basic' | 'body';
      readonly clientId: string;
      readonly secret: string;
    }
  | {
      readonly method: 'assertion';
      readonly clientId: string | undefined;
      readonly assertion: string;
    };

/** Longest client id or secret accepted; anything longer is not ours. */
const MAX_CREDENTIAL_LENGTH = 512;

/**
 * Reads the client's credentials from the Authorization header and the body
 * parameters. Two methods at once: invalid_request (RFC 6749 §2.3). None: invalid_client.
 */
export function readClientCredentials(
  authorization: string | undefined,
  params: ReadonlyMap<string, string>,
): ClientCredentials {
  const basic =
    authorization !== undefined ? parseBasic(authorization) : undefined;
  const bodySecret = params.get('client_secret');
  const assertion = params.get('client_assertion');
  const assertionType = params.get('client_assertion_type');
  const methods = [basic, bodySecret, assertion ?? assertionType].filter(
    m => m !== undefined,
  );
  if (methods.length > 1) {
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'use exactly one client authentication method',
    );
  }
  if (basic) {
    const bodyId = params.get('client_id');
    if (bodyId !== undefined && bodyId !== basic.clientId) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'client_id in the body differs from the Basic credentials',
      );
    }
    return basic;
  }
  if (bodySecret !== undefined) {
    const clientId = params.get('client_id');
    if (clientId === undefined) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        'client_id is required with client_secret',
      );
    }
    return {
      method: 'body',
      clientId: bounded(clientId),
      secret: bounded(trimAsciiWhitespace(bodySecret)),
    };
  }
  if (assertion !== undefined || assertionType !== undefined) {
    if (
      assertionType !== CLIENT_ASSERTION_TYPE_JWT ||
      assertion === undefined
    ) {
      throw new TvmError(
        'ERR_INVALID_REQUEST',
        `client_assertion requires client_assertion_type=${CLIENT_ASSERTION_TYPE_JWT}`,
      );
    }
    return {
      method: 'assertion',
      clientId: params.get('client_id'),
      assertion: trimAsciiWhitespace(assertion),
    };
  }
  throw new TvmError('ERR_INVALID_CLIENT', 'client authentication is required');
}

/**
 * HTTP Basic per RFC 6749 §2.3.1: id and secret are form-urlencoded, then joined by
 * ':' and base64-encoded.
 */
function parseBasic(header: string): ClientCredentials & {method: 'basic'} {
  const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!m) {
    if (/^Basic\b/i.test(header)) {
      throw new TvmError('ERR_INVALID_CLIENT', 'malformed Basic credentials');
    }
    throw new TvmError(
      'ERR_INVALID_REQUEST',
      'unsupported Authorization scheme on the token endpoint',
    );
  }
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) {
    throw new TvmError('ERR_INVALID_CLIENT', 'malformed Basic credentials');
  }
  try {
    return {
      method: 'basic',
      clientId: bounded(formDecode(decoded.slice(0, colon))),
      secret: bounded(
        trimAsciiWhitespace(formDecode(decoded.slice(colon + 1))),
      ),
    };
  } catch (e) {
    if (e instanceof TvmError) throw e;
    throw new TvmError('ERR_INVALID_CLIENT', 'malformed Basic credentials');
  }
}

/**
 * The client id an HTTP Basic header claims, for the audit of a request refused
 * before its credentials are read (a 413, a 429); undefined when there is none or it
 * cannot be read. Never a proof of anything.
 */
export function basicClientId(
  authorization: string | undefined,
): string | undefined {
  const m = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(authorization ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    return formDecode(decoded.slice(0, colon));
  } catch {
    return undefined;
  }
}

function formDecode(s: string): string {
  return decodeURIComponent(s.replace(/\+/g, ' '));
}

function bounded(s: string): string {
  if (s.length === 0 || s.length > MAX_CREDENTIAL_LENGTH) {
    throw new TvmError('ERR_INVALID_CLIENT', 'client authentication failed');
  }
  return s;
}
