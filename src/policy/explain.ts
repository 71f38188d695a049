/**
 * The words for token-exchange decisions: what `tvm policy explain` prints and what
 * the service puts in a subject-token refusal and its audit detail. Which client a
 * token is, which refusal it gets and how much of this text the caller may see are
 * decided in src/oidc/subject-token.ts; this module only says it.
 */

import {shown, printable} from '../text.ts';
import type {ClaimCondition} from './types.ts';

/** Names a claim condition for messages: `sub pattern "repo:org/*"`. */
export function describeCondition(c: ClaimCondition): string {
  return `${c.claim} ${c.kind} "${printable(c.value)}"`;
}

/** A claim condition a token did not meet, and the token's value (undefined: absent). */
export interface UnmetCondition {
  readonly condition: ClaimCondition;
  readonly actual: unknown;
}

/**
 * Why a token is not a given client, each failed check with the condition it failed:
 * `aud "x" is not accepted, claim sub "y" does not match (condition: sub pattern "z")`.
 * The condition is the client's own configuration: the caller may see this only when
 * it has authenticated as that client.
 */
export function describeMismatch(
  aud: string,
  audienceAccepted: boolean,
  unmet: readonly UnmetCondition[],
): string {
  const out: string[] = [];
  if (!audienceAccepted) out.push(`aud ${shown(aud)} is not accepted`);
  for (const f of unmet) {
    const what =
      f.actual === undefined
        ? `claim ${f.condition.claim} is missing`
        : `claim ${f.condition.claim} ${shown(f.actual)} does not ${f.condition.kind === 'equals' ? 'equal' : 'match'}`;
    out.push(`${what} (condition: ${describeCondition(f.condition)})`);
  }
  return out.join(', ') || 'no failed condition';
}
