/** Builders shared by the policy tests. */

import assert from 'node:assert/strict';
import {stringify} from 'yaml';
import {PolicyError, parsePolicy} from '../../src/policy/index.ts';

export const HASH_A = 'a'.repeat(64);
export const HASH_B = 'b'.repeat(64);
export const HASH_C = 'c'.repeat(64);

/** A minimal valid policy as plain data; each call returns a fresh copy. */
export function basePolicy(): Record<string, unknown> & {
  service_accounts: Record<string, Record<string, unknown>>;
  clients: Record<
    string,
    Record<string, unknown> & {allow: Array<Record<string, unknown>>}
  >;
} {
  return {
    version: 1,
    service_accounts: {
      reporting: {email: 'reporting@my-proj.iam.gserviceaccount.com'},
      'legacy-etl': {
        email: 'etl@other-proj.iam.gserviceaccount.com',
        mint: 'key',
        key_secret: 'projects/my-proj/secrets/etl-sa-key/versions/latest',
      },
    },
    clients: {
      'nightly-export': {
        api_keys: [{sha256: HASH_A}],
        allow: [
          {
            service_account: 'reporting',
            scopes: ['bigquery.readonly'],
            max_lifetime: '15m',
          },
        ],
      },
    },
  };
}

/** YAML text of plain data. */
export function toYaml(data: unknown): string {
  return stringify(data);
}

/** Parses and expects a PolicyError; returns it. */
export function expectPolicyError(text: string): PolicyError {
  let caught: unknown;
  try {
    parsePolicy(text);
  } catch (e) {
    caught = e;
  }
  assert.ok(
    caught instanceof PolicyError,
    `expected PolicyError, got ${String(caught)}`,
  );
  assert.equal(caught.code, 'ERR_POLICY_INVALID');
  return caught;
}

/** The paths of a PolicyError's issues. */
export function issuePaths(e: PolicyError): string[] {
  return e.issues.map(i => i.path);
}
