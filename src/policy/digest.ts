/**
 * A policy text's digest: the SHA-256 hex of its UTF-8 bytes. It names the policy in
 * force (logs, /healthz, explain), and tells a re-read text that is unchanged from one
 * that must be parsed again.
 */
import {createHash} from 'node:crypto';

export function policyDigest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
