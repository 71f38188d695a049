import {hash} from 'node:crypto';

/**
 * A short SHA-256 fingerprint (16 hex digits) of a secret value, for logs and audit
 * records that must identify a token or key without carrying it.
 */
export function fingerprint(value: string): string {
  return hash('sha256', value, 'hex').slice(0, 16);
}
