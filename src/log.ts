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

/** A Cloud Logging-shaped pino logger writing to `destination` (default stdout). */
export function createLogger(
  level: string = 'info',
  destination?: DestinationStream,
): Logger {
  return pino(
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
    destination ?? pino.destination({dest: 1, sync: true}),
  );
}
