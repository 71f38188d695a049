/**
 * A lexical check of CEL expressions (the availability conditions of a Credential
 * Access Boundary): every token is one of the language (identifiers, numbers, quoted
 * and raw strings, operators, punctuation), every string and bracket is closed, and
 * brackets nest in pairs. It is not a CEL parser: Google parses and type-checks the
 * expression when it applies the boundary. What it catches early is what a typo or a
 * cut-and-paste most often breaks, and it bounds what an expression may contain.
 */

/** Google's limit on an availability condition's expression. */
export const MAX_CEL_EXPRESSION_CHARS = 2048;

const OPEN: Readonly<Record<string, string>> = {'(': ')', '[': ']', '{': '}'};
const CLOSE = new Set([')', ']', '}']);
/** Two-character operators, then one-character operators and punctuation. */
const OPERATORS2 = new Set(['==', '!=', '<=', '>=', '&&', '||']);
const OPERATORS1 = new Set([
  '.',
  ',',
  '?',
  ':',
  '!',
  '-',
  '+',
  '*',
  '/',
  '%',
  '<',
  '>',
]);
const IDENTIFIER = /^[_a-zA-Z][_a-zA-Z0-9]*/;
const NUMBER =
  /^(?:0[xX][0-9a-fA-F]+[uU]?|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?[uU]?|\.[0-9]+(?:[eE][+-]?[0-9]+)?)/;
/** A string's prefix: raw (`r`), bytes (`b`), or both. */
const STRING_PREFIX = /^(?:[rR][bB]?|[bB][rR]?)?(?='|")/;

/**
 * Why `expression` is not a well-formed CEL expression, or undefined when it is (as
 * far as a lexical check can tell). The reason names a position, never the text.
 */
export function celProblem(expression: string): string | undefined {
  if (expression.length > MAX_CEL_EXPRESSION_CHARS) {
    return `is longer than ${MAX_CEL_EXPRESSION_CHARS} characters`;
  }
  const stack: string[] = [];
  let tokens = 0;
  let i = 0;
  while (i < expression.length) {
    const rest = expression.slice(i);
    const c = expression[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
      continue;
    }
    if (rest.startsWith('//')) {
      const end = expression.indexOf('\n', i);
      i = end === -1 ? expression.length : end + 1;
      continue;
    }
    tokens++;
    const prefix = STRING_PREFIX.exec(rest);
    if (prefix) {
      const end = stringEnd(expression, i + prefix[0].length, prefix[0]);
      if (end === undefined) return `has an unterminated string at ${i + 1}`;
      i = end;
      continue;
    }
    const word = IDENTIFIER.exec(rest) ?? NUMBER.exec(rest);
    if (word) {
      i += word[0].length;
      continue;
    }
    if (OPERATORS2.has(rest.slice(0, 2))) {
      i += 2;
      continue;
    }
    if (OPEN[c] !== undefined) {
      stack.push(OPEN[c]);
      i++;
      continue;
    }
    if (CLOSE.has(c)) {
      if (stack.pop() !== c) return `has an unmatched ${c} at ${i + 1}`;
      i++;
      continue;
    }
    if (OPERATORS1.has(c)) {
      i++;
      continue;
    }
    return `has a character CEL does not use at ${i + 1}`;
  }
  if (stack.length > 0)
    return `leaves a bracket open (expected ${stack.at(-1)})`;
  if (tokens === 0) return 'is empty';
  return undefined;
}

/**
 * The index just past the string whose opening quote is at `start`, or undefined when
 * it does not end. Triple-quoted strings may span lines; single-quoted ones may not.
 * Escapes are skipped (not interpreted) unless the string is raw.
 */
function stringEnd(
  s: string,
  start: number,
  prefix: string,
): number | undefined {
  const q = s[start]!;
  const triple = s.startsWith(q.repeat(3), start);
  const close = triple ? q.repeat(3) : q;
  const raw = /[rR]/.test(prefix);
  let i = start + close.length;
  while (i < s.length) {
    if (s.startsWith(close, i)) return i + close.length;
    const c = s[i]!;
    if (!triple && (c === '\n' || c === '\r')) return undefined;
    i += c === '\\' && !raw ? 2 : 1;
  }
  return undefined;
}
