import {createHash} from 'node:crypto';

/**
 * A short SHA-256 fingerprint (16 hex digits) of a secret value, for logs and audit
 * records that must identify a token or key without carrying it.
 */
export function fingerprint(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}
