/**
 * Untrusted text made safe to show: in a refusal message, a CLI line or a log field.
 * Every helper encodes control characters, quotes and backslashes the way JSON does
 * (so a CR/LF can never start a forged line) and bounds the length; they differ only
 * in how much they keep and whether the result is quoted, which each caller's
 * existing output depends on.
 */

/**
 * Whatever has the shape of a credential: a tvm API key, a Google access token, a JWT
 * (or any three long base64url segments), a PEM private key, an Authorization value. Generous on purpose: a
 * log line that says `[redacted]` for a harmless value costs nothing.
 */
const CREDENTIAL =
  /tvm_[A-Za-z0-9_-]{16,}|ya29\.[A-Za-z0-9_.-]+|eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+|[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]*|-----BEGIN[A-Z ]*PRIVATE KEY-----|\b(?:Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;

/** `s` with every credential-shaped part replaced by `[redacted]`. */
export function redactCredentials(s: string): string {
  return s.replace(CREDENTIAL, '[redacted]');
}

/** `s` with JSON string escapes applied, without the surrounding quotes. */
function escaped(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

/**
 * Policy text (a key, a scope, a pattern, a URL) inside a load-time message: escaped,
 * at most 80 characters after escaping (77 and `...`). Not quoted: the messages put
 * it between quotes themselves.
 */
export function printable(s: string): string {
  const clean = escaped(s);
  return clean.length > 80 ? `${clean.slice(0, 77)}...` : clean;
}

/**
 * A caller-supplied value (a claim, an audience, a client id) inside a refusal
 * message or an audit detail: a string as it is, anything else as its JSON;
 * credentials redacted; cut to 120 characters (and `…`), then quoted and escaped as
 * a JSON string.
 */
export function shown(v: unknown): string {
  const s = redactCredentials(
    typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v)),
  );
  const clipped = s.length > 120 ? `${s.slice(0, 120)}…` : s;
  return JSON.stringify(clipped);
}

/**
 * A caller-supplied string for a structured log field (the audit record's client,
 * issuer, subject, user agent, path): credentials redacted, cut to 128 characters
 * (and `…`), then escaped, not quoted; undefined stays undefined.
 */
export function callerString(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const r = redactCredentials(s);
  return escaped(r.length > 128 ? `${r.slice(0, 128)}…` : r);
}

/**
 * A request parameter name fit to echo back in an error: itself when it is 1 to 64
 * printable ASCII characters other than space, else `(unprintable)`.
 */
export function safeName(name: string): string {
  return /^[\x21-\x7e]{1,64}$/.test(name) ? name : '(unprintable)';
}

/**
 * `s` with A-Z lowered and nothing else touched. For identifiers compared without
 * regard to ASCII case (service-account emails, as Google compares them): never
 * `toLowerCase()`, which folds Unicode too (U+212A KELVIN SIGN lowers to `k`), so a
 * look-alike could match an account it does not name.
 */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]+/g, m => m.toLowerCase());
}

/**
 * `s` without leading and trailing ASCII whitespace (space, tab, CR, LF, FF), as a
 * credential read from a file written by `echo "$TOKEN" > file` carries it; whitespace
 * inside is kept, and then fails verification.
 */
export function trimAsciiWhitespace(s: string): string {
  return s.replace(/^[ \t\r\n\f]+|[ \t\r\n\f]+$/g, '');
}
