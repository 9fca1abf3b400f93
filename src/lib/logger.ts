/** The one logger: pino, JSON lines on stdout. */
import { context, trace } from '@opentelemetry/api';
import pino, { type Logger } from 'pino';

export type { Logger };

type SerializedError = {
  type: string;
  message: string;
  code?: string;
  stack?: string;
  cause?: SerializedError;
};

const PARAMS_LINE = /\nparams: [\s\S]*?(?=\n {4}at |$)/;

/** A message or stack without drizzle's "params: ..." section (the query's values). */
export const withoutParams = (text: string): string => text.replace(PARAMS_LINE, '\nparams: [omitted]');

/**
 * An error as a log field, without the values it was run with. drizzle's DrizzleQueryError puts
 * every query parameter into its message ("params: <the session token>", issue 7) and
 * postgres-js attaches `parameters` to driver errors: a failed session lookup logged the raw
 * session token. Only the type, the message (params cut), the code, the stack and the cause chain
 * are kept; an error's other properties (values, rows, `detail` with the offending key) are not.
 */
export function serializeError(value: unknown, depth = 0): SerializedError | unknown {
  if (!(value instanceof Error)) return value;
  const serialized: SerializedError = { type: value.constructor.name || value.name, message: withoutParams(value.message) };
  const code = (value as { code?: unknown }).code;
  if (typeof code === 'string') serialized.code = code;
  if (value.stack) serialized.stack = withoutParams(value.stack);
  if (value.cause !== undefined && depth < 4) {
    const cause = serializeError(value.cause, depth + 1);
    if (cause && typeof cause === 'object' && 'message' in cause) serialized.cause = cause as SerializedError;
  }
  return serialized;
}

const NO_TRACE = {};

/**
 * The active span's ids (src/lib/telemetry.ts), so a line meets its trace: a request's lines,
 * the per-request line included (its hook runs in the request's context), and a job's. Nothing
 * without a span (tracing off: no context manager, the lookup finds none).
 */
function traceFields(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return NO_TRACE;
  const ids = span.spanContext();
  return trace.isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : NO_TRACE;
}

/** pino's default merge copies every line's fields into the mixin's object: only when there is one. */
const mergeTraceFields = (line: object, fields: object): object => (fields === NO_TRACE ? line : Object.assign(fields, line));

/**
 * `destination`: where lines go (default stdout); tests capture them with the same settings.
 * `redact: false` only for the per-request line (src/plugins/request-context.ts), whose fields
 * are a fixed set of safe values: redaction cost 3 µs of its ~7 µs (issue 8).
 */
export function createLogger(options: { level: string; name?: string; destination?: pino.DestinationStream; redact?: boolean }): Logger {
  const settings: pino.LoggerOptions = {
    name: options.name ?? 'bountyexpo-api',
    level: options.level,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: serializeError },
    mixin: traceFields,
    mixinMergeStrategy: mergeTraceFields,
    // A stray secret in a logged object must never reach the log sink.
    ...(options.redact === false
      ? {}
      : {
          redact: {
            paths: ['*.password', '*.token', '*.cookie', '*.params', '*.parameters', 'headers.cookie', 'headers.authorization'],
            censor: '[redacted]',
          },
        }),
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** Lines wait in memory until this many bytes are buffered, or the next flush tick. */
const BUFFER_BYTES = 4096;
const FLUSH_INTERVAL_MS = 250;

/** `requestLogger`: the same stream without redaction, for the per-request line only. */
export type ProcessLogger = { logger: Logger; requestLogger: Logger; flushSync: () => void };

/**
 * The server process's logger: the same settings, with stdout written asynchronously in 4 KiB
 * batches. A synchronous write per line cost about 45 µs per request on a pipe (a third of
 * /health's throughput at info, issue 8). Lines are flushed every 250 ms, and synchronously on
 * graceful shutdown and on the crash paths src/index.ts handles, so none is lost there.
 */
export function createProcessLogger(options: { level: string; worker: number | null }): ProcessLogger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: BUFFER_BYTES });
  // With several server processes, each line says which one wrote it.
  const withWorker = (root: Logger): Logger => (options.worker === null ? root : root.child({ worker: options.worker }));
  const logger = withWorker(createLogger({ level: options.level, destination }));
  const requestLogger = withWorker(createLogger({ level: options.level, destination, redact: false }));
  setInterval(() => destination.flush(), FLUSH_INTERVAL_MS).unref();
  const flushSync = (): void => {
    try {
      destination.flushSync();
    } catch {
      // Nothing buffered, or stdout already gone: nothing left to save.
    }
  };
  process.on('exit', flushSync);
  return { logger, requestLogger, flushSync };
}
