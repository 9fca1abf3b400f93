/** The one logger: pino, JSON lines on stdout. */
import pino, { type Logger } from 'pino';

export type { Logger };

export function createLogger(options: { level: string; name?: string }): Logger {
  return pino({
    name: options.name ?? 'bountyexpo-api',
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    // A stray secret in a logged object must never reach the log sink.
    redact: { paths: ['*.password', '*.token', '*.cookie', 'headers.cookie', 'headers.authorization'], censor: '[redacted]' },
  });
}
