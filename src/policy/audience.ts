/**
 * The audiences a grant allows ID tokens for: exact values (a URL such as
 * `https://reports-abc123-ew.a.run.app`, or an IAP OAuth client id), and anchored
 * patterns, compiled once at load like the claim patterns of src/policy/pattern.ts.
 *
 * An audience pattern is an https URL in which `*` stands for exactly one whole
 * segment: a DNS label of the host (between dots), or a path segment (between
 * slashes), of letters, digits, `-`, `_` and `~` only. So
 * `https://*.internal.example.com/` trusts every host directly under
 * internal.example.com, and `https://api.example.com/v1/*` every first-level path
 * under /v1/. As for claims, a `*` glued to other text (`https://reports-*.run.app`)
 * is refused: it would match across a name boundary. The host's last two labels must
 * be written out (`https://*.com/` trusts everyone), and userinfo (`@`) is refused.
 * A shared domain (`*.a.run.app`) still trusts every service anyone runs there: name
 * such services exactly.
 */

import {fail, ok, type Parsed} from './result.ts';
import {printable} from '../text.ts';

/** Longest audience accepted, in the policy and in a request. */
export const MAX_AUDIENCE_CHARS = 512;

/** Printable ASCII without spaces: what an audience may be written with. */
const AUDIENCE_TEXT = /^[\x21-\x7e]+$/;
/** What one `*` matches: one host label or path segment, nothing that could separate. */
const ONE_SEGMENT = '[A-Za-z0-9_~-]+';

/** A compiled audience pattern. */
export interface AudiencePattern {
  readonly source: string;
  readonly regex: RegExp;
}

/** True when `value` is a well-formed audience: printable ASCII, no spaces, bounded. */
export function isAudienceText(value: string): boolean {
  return value.length <= MAX_AUDIENCE_CHARS && AUDIENCE_TEXT.test(value);
}

/** Checks an exact audience as written in the policy. */
export function parseExactAudience(value: string): Parsed<string> {
  if (!isAudienceText(value)) {
    return fail(
      `"${printable(value)}": an audience is printable ASCII without spaces, at most ${MAX_AUDIENCE_CHARS} characters`,
    );
  }
  return ok(value);
}

/** Compiles an audience pattern (a value with `*`); refuses the shapes that widen trust. */
export function compileAudiencePattern(
  pattern: string,
): Parsed<AudiencePattern> {
  const shown = printable(pattern);
  if (!isAudienceText(pattern)) {
    return fail(
      `"${shown}": an audience is printable ASCII without spaces, at most ${MAX_AUDIENCE_CHARS} characters`,
    );
  }
  const m = /^https:\/\/([^/?#]*)(.*)$/.exec(pattern);
  if (!m) {
    return fail(
      `"${shown}": a pattern must be an https:// URL (write other audiences exactly)`,
    );
  }
  const authority = m[1]!;
  if (authority.includes('@')) {
    return fail(`"${shown}": must not carry userinfo`);
  }
  const [host = '', port] = authority.split(':');
  const labels = host.split('.');
  if (labels.length < 3 || labels.slice(-2).some(l => l === '' || l === '*')) {
    return fail(
      `"${shown}": the host's last two labels must be written out (a * there would trust a whole top-level domain)`,
    );
  }
  if (port !== undefined && !/^[0-9]{1,5}$/.test(port)) {
    return fail(`"${shown}": the port must be written out`);
  }
  const tokens = pattern.split(/([/:.])/);
  for (let i = 0; i < tokens.length; i += 2) {
    const seg = tokens[i]!;
    if (seg !== '*' && seg.includes('*')) {
      return fail(
        `"${shown}": a * must be a whole host label or path segment (in "${printable(seg)}" it would match across a name boundary and widen trust)`,
      );
    }
  }
  if (!tokens.includes('*')) {
    return fail(`"${shown}" has no *: write it as an exact audience`);
  }
  const body = tokens
    .map((t, i) => (i % 2 === 0 && t === '*' ? ONE_SEGMENT : escapeRegex(t)))
    .join('');
  return ok(Object.freeze({source: pattern, regex: new RegExp(`^${body}$`)}));
}

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
