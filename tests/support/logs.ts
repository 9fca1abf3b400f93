/** A logger whose JSON lines are kept in memory, to assert what the service logged. */
import { createLogger, type Logger } from '../../src/lib/logger';

export type LogLine = Record<string, unknown> & { level: number; msg?: string };

export const LOG_LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function captureLogs(level: keyof typeof LOG_LEVELS = 'info'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  // The service's own logger settings (serializers, redaction): what is asserted is what production writes.
  const logger = createLogger({
    level,
    destination: {
      write(line: string) {
        const parsed: unknown = JSON.parse(line);
        if (typeof parsed === 'object' && parsed !== null && 'level' in parsed && typeof parsed.level === 'number') {
          lines.push({ ...parsed, level: parsed.level });
        }
      },
    },
  });
  return { logger, lines };
}
