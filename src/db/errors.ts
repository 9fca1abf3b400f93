/** How the database layer classifies failures, and the 503 a client gets for each. */
import { databaseRefusal, findErrorCode, HttpError } from '../lib/errors';
import { PoolBusyError, QueryDeadlineError } from './pool-gate';

/** SQLSTATEs and driver codes that mean "this server is unreachable right now", not "this query is wrong". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '57P01', '57P02', '57P03',
]);
const RECOVERY_CONFLICT = '40001';

export function isConnectionError(error: unknown): boolean {
  const code = findErrorCode(error);
  return code !== undefined && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'));
}

/**
 * Whether a failed query says something about the database rather than about the query: an
 * unreachable node, a timeout, a recovery conflict, resource exhaustion (classes 53, 57, 58, XX).
 * A malformed value or a constraint (classes 22, 23, 42) is the request's fault and is not counted
 * in db_read_failures_total.
 */
export function isDatabaseFailure(error: unknown): boolean {
  if (isConnectionError(error) || error instanceof QueryDeadlineError) return true;
  const code = findErrorCode(error, (candidate) => /^[0-9A-Z]{5}$/.test(candidate));
  return code !== undefined && (code === RECOVERY_CONFLICT || /^(53|57|58|XX)/.test(code));
}

/**
 * A transaction that lost to another (deadlock 40P01, serialization failure 40001): nothing of it
 * was kept, and running it again may well succeed.
 */
export function isTransactionConflict(error: unknown): boolean {
  const code = findErrorCode(error, (candidate) => /^[0-9A-Z]{5}$/.test(candidate));
  return code === '40P01' || code === RECOVERY_CONFLICT;
}

/** A read that failed for one of these reasons may succeed on another node. */
export function isRetryableReadError(error: unknown): boolean {
  return isConnectionError(error) || findErrorCode(error) === RECOVERY_CONFLICT;
}

/** The error or one of its causes (drizzle wraps what the driver threw), within a few links. */
function busyPool(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth += 1) {
    if (current instanceof PoolBusyError) return true;
    current = current.cause;
  }
  return false;
}

/** Every way the database layer fails fast, as the 503 (with Retry-After) the client gets. */
export function toUnavailable(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (isConnectionError(error)) return databaseRefusal('DATABASE_UNAVAILABLE');
  // The pool's gate throws it itself; DB_PIPELINING=false's permits throw it under drizzle's query.
  if (busyPool(error)) return databaseRefusal('DATABASE_BUSY');
  if (error instanceof QueryDeadlineError || findErrorCode(error) === '57014') {
    return databaseRefusal('DATABASE_TIMEOUT');
  }
  return error;
}

export class DatabaseUsageError extends Error {
  override name = 'DatabaseUsageError';
}
