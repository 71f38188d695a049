/**
 * The policy: which clients may have which service accounts, scopes and lifetimes.
 * One parser serves the running service and `tvm policy check`, so they cannot disagree.
 */

import {PolicyError} from '../errors.ts';
import {Issues} from './issues.ts';
import {policyDigest} from './digest.ts';
import {readYaml} from './yaml.ts';
import {parseRawPolicy} from './parse.ts';
import {compilePolicy} from './compile.ts';
import type {CompiledPolicy} from './types.ts';

export type {
  ApiKey,
  Client,
  CompiledPolicy,
  Grant,
  MintMethod,
  ServiceAccount,
  SourceRange,
} from './types.ts';
export {
  IAM_DEFAULT_MAX_LIFETIME_SECONDS,
  IAM_EXTENDED_MAX_LIFETIME_SECONDS,
  KEY_MINTED_LIFETIME_SECONDS,
  expandScope,
} from './types.ts';
export {PolicyError, type PolicyIssue} from '../errors.ts';
export {MAX_POLICY_BYTES, MAX_ALIAS_COUNT} from './yaml.ts';
export {policyDigest} from './digest.ts';
export {DEFAULT_MAX_LIFETIME_SECONDS} from './compile.ts';
export {
  MIN_GRANT_LIFETIME_SECONDS,
  MAX_GRANT_LIFETIME_SECONDS,
  parseDuration,
} from './duration.ts';
export {parseExpiry} from './expiry.ts';
export {CLIENT_ID_PATTERN, ALIAS_PATTERN, LIMITS} from './schema.ts';

/**
 * Parses, validates and compiles a policy document (YAML, version 1).
 *
 * @param text the document as read from a file or a Secret Manager version
 * @param source where it came from, for the error message (a path or a version name)
 * @returns the frozen compiled policy; `digest` is the SHA-256 hex of `text`
 * @throws PolicyError listing every problem found, each with its path in the document
 */
export function parsePolicy(text: string, source?: string): CompiledPolicy {
  if (typeof text !== 'string') {
    throw new TypeError('parsePolicy: text must be a string');
  }
  const issues = new Issues();
  const data = readYaml(text, issues);
  const raw = issues.count === 0 ? parseRawPolicy(data, issues) : undefined;
  const digest = policyDigest(text);
  const policy = raw ? compilePolicy(raw, digest, issues) : undefined;
  if (!policy || issues.count > 0) throw new PolicyError(issues.list(), source);
  return policy;
}
