/**
 * Structured logs on stdout in Cloud Logging's JSON format (`severity`, `message`,
 * `time`), through pino. Known secret-bearing fields are redacted as a second line of
 * defence; the first is never putting a secret in a log call at all.
 */
import pino, {type DestinationStream, type Logger} from 'pino';

export type {Logger};

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/**
 * Writes one line of known-safe fields (`fields`: the members of a JSON object, without
 * its braces) at `level`, in the shape the logger's own lines have.
 */
export type LineWriter = (
  level: 'info' | 'warn',
  fields: string,
  message: string,
) => void;

/** The direct writers of the loggers createLogger made. */
const lineWriters = new WeakMap<Logger, LineWriter>();

/**
 * A writer that skips pino's serializers and redaction for lines whose every field is
 * known to be safe (the audit record, src/audit.ts): no secret can be in them, so the
 * second line of defence has nothing to do. For a logger createLogger did not make,
 * the line goes through the logger.
 */
export function lineWriter(logger: Logger): LineWriter {
  return (
    lineWriters.get(logger) ??
    ((level, fields, message) =>
      logger[level](JSON.parse(`{${fields}}`) as object, message))
  );
}

/** A Cloud Logging-shaped pino logger writing to `destination` (default stdout). */
export function createLogger(
  level: string = 'info',
  destination?: DestinationStream,
): Logger {
  const stream = destination ?? pino.destination({dest: 1, sync: true});
  const logger = pino(
    {
      level,
      base: undefined,
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: label => ({severity: SEVERITY[label] ?? 'DEFAULT'}),
      },
      redact: {
        paths: [
          'authorization',
          '*.authorization',
          'headers.authorization',
          'access_token',
          '*.access_token',
          'client_secret',
          '*.client_secret',
          'client_assertion',
          'subject_token',
          'private_key',
          '*.private_key',
        ],
        censor: '[redacted]',
      },
    },
    stream,
  );
  // As pino writes a line: severity, time, the fields, the message.
  const severity = {info: SEVERITY.info, warn: SEVERITY.warn};
  lineWriters.set(logger, (lvl, fields, message) => {
    if (!logger.isLevelEnabled(lvl)) return;
    stream.write(
      `{"severity":"${severity[lvl]}","time":"${new Date().toISOString()}",${fields},"message":${JSON.stringify(message)}}\n`,
    );
  });
  return logger;
}
