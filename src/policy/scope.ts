/**
 * OAuth scopes in the policy. Only Google API scopes are grantable: a short name
 * (`bigquery.readonly`) or its full URL (`https://www.googleapis.com/auth/...`). The
 * character set is restricted so a scope can never smuggle a space (the scope separator,
 * RFC 6749 §3.3), a quote or a control character into a request or a log line.
 */

import {expandScope} from './types.ts';
import {fail, ok, type Parsed} from './result.ts';
import {printable} from '../text.ts';

const SCOPE_PREFIX = 'https://www.googleapis.com/auth/';
const SCOPE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Checks one scope as written in the policy and returns its full URL. */
export function normalizeScope(scope: string): Parsed<string> {
  const name = scope.startsWith(SCOPE_PREFIX)
    ? scope.slice(SCOPE_PREFIX.length)
    : scope;
  if (!SCOPE_NAME.test(name)) {
    return fail(
      scope.includes(':')
        ? `"${printable(scope)}" is not a Google API scope: full URLs must start with ${SCOPE_PREFIX}`
        : `"${printable(scope)}" is not a scope: use a name such as bigquery.readonly or a full ${SCOPE_PREFIX}... URL`,
    );
  }
  return ok(expandScope(name));
}
