/**
 * Plain data (from YAML) to a `RawPolicy`, reporting every schema problem with its path.
 */

import type * as z from '../zod.ts';
import type {Issues, PathSegment} from './issues.ts';
import {
  ALIAS_PATTERN,
  CLIENT_ID_PATTERN,
  accountSchema,
  clientSchema,
  rootSchema,
  type RawPolicy,
} from './schema.ts';
import {printable} from '../text.ts';

/** Checks `data` against the v1 schema; undefined (with issues recorded) when it fails. */
export function parseRawPolicy(
  data: unknown,
  issues: Issues,
): RawPolicy | undefined {
  const before = issues.count;
  if (!isPlainObject(data)) {
    issues.add(
      [],
      'a policy must be a YAML mapping with version, service_accounts and clients',
    );
    return undefined;
  }
  const root = rootSchema.safeParse(data, {reportInput: true});
  if (!root.success) report(root.error, issues);
  const serviceAccounts = parseMap(
    data.service_accounts,
    ALIAS_PATTERN,
    'a service-account alias must match [a-z][a-z0-9-]{0,62}',
    accountSchema,
    issues.at('service_accounts'),
  );
  const clients = parseMap(
    data.clients,
    CLIENT_ID_PATTERN,
    'a client id must match [A-Za-z0-9][A-Za-z0-9._-]{0,127}',
    clientSchema,
    issues.at('clients'),
  );
  if (issues.count > before || !serviceAccounts || !clients) return undefined;
  return {
    version: 1,
    serviceAccounts,
    clients,
    emergencyMaxLifetime: root.data?.emergency_max_lifetime,
  };
}

/**
 * An id-keyed mapping: each key checked against `keyPattern` (so `__proto__` is an
 * error, not a silently dropped entry) and each value against `schema`.
 */
function parseMap<S extends z.ZodMiniType>(
  value: unknown,
  keyPattern: RegExp,
  keyMessage: string,
  schema: S,
  issues: Issues,
): Array<readonly [string, z.output<S>]> | undefined {
  if (value === undefined) return undefined; // rootSchema reported it as required
  if (!isPlainObject(value)) {
    issues.add([], `must be a mapping, got ${typeName(value)}`);
    return undefined;
  }
  const out: Array<readonly [string, z.output<S>]> = [];
  for (const key of Object.keys(value)) {
    if (!keyPattern.test(key)) {
      issues.add([key], `"${printable(key)}": ${keyMessage}`);
      continue;
    }
    const r = schema.safeParse(value[key], {reportInput: true});
    if (r.success) out.push([key, r.data]);
    else report(r.error, issues.at(key));
  }
  if (Object.keys(value).length === 0) {
    issues.add([], 'must not be empty');
  }
  return out;
}

/** Records zod's issues in the policy's words. */
function report(error: z.core.$ZodError, issues: Issues): void {
  for (const iss of error.issues) {
    const path = iss.path.filter(
      (p): p is PathSegment => typeof p !== 'symbol',
    );
    if (iss.code !== 'unrecognized_keys' && iss.input === undefined) {
      issues.add(path, 'required');
      continue;
    }
    switch (iss.code) {
      case 'unrecognized_keys':
        for (const key of iss.keys) {
          issues.add([...path, key], 'unknown key');
        }
        break;
      case 'invalid_type':
        issues.add(
          path,
          `expected ${iss.expected}, got ${typeName(iss.input)}`,
        );
        break;
      case 'invalid_value':
        issues.add(
          path,
          iss.values.length === 1
            ? iss.message
            : `must be one of: ${iss.values.map(String).join(', ')}`,
        );
        break;
      case 'too_small':
        issues.add(
          path,
          !iss.message.startsWith('Too small') // a message of our own
            ? iss.message
            : iss.origin === 'array' && iss.minimum === 1
              ? 'must not be empty'
              : iss.message,
        );
        break;
      case 'too_big':
        issues.add(
          path,
          iss.origin === 'array'
            ? `must have at most ${iss.maximum} entries`
            : iss.origin === 'string'
              ? `must be at most ${iss.maximum} characters`
              : iss.message,
        );
        break;
      default:
        issues.add(path, iss.message);
    }
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${printable(String(v))}`;
}
