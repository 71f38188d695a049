/**
 * functions-framework parses request bodies before tvm runs. When its parser (body-
 * parser) refuses one — broken JSON, a wrong charset, too many parameters — Express's
 * final handler prints the error with console.error, and body-parser's errors carry the
 * raw body (`err.body`) and quote it in their message. That body may hold a client
 * secret, an assertion or a subject token. This guard replaces such errors with one
 * structured line naming only the error type, before anything reaches the log.
 *
 * A global patch, on purpose and in one place: the framework offers no hook for it.
 */

/** body-parser's error types (`entity.parse.failed`, `charset.unsupported`, ...). */
const PARSER_ERROR_TYPE = /^(entity|charset|encoding|parameters|request)\./;

/** Installs the guard on `target` (default: the global console). Idempotent. */
export function guardParserErrorLogs(target: Console = console): void {
  const marked = target as Console & {[GUARDED]?: true};
  if (marked[GUARDED]) return;
  const original = target.error.bind(target);
  target.error = (...args: unknown[]) => {
    const refused = args.find(isParserError);
    if (refused === undefined) {
      original(...args);
      return;
    }
    const type = String((refused as {type?: unknown}).type ?? 'unknown');
    original(
      JSON.stringify({
        severity: 'WARNING',
        message: 'request refused by the framework body parser before tvm ran',
        parserError: /^[a-z.]{1,64}$/.test(type) ? type : 'unknown',
      }),
    );
  };
  marked[GUARDED] = true;
}

const GUARDED = Symbol.for('tvm.guardParserErrorLogs');

function isParserError(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const type = (v as {type?: unknown}).type;
  return (
    'body' in v || (typeof type === 'string' && PARSER_ERROR_TYPE.test(type))
  );
}
