/** Better-Auth's refusals and failures as our HttpErrors. */
import { isAPIError } from 'better-auth/api';
import { isConnectionError } from '../../db';
import { conflict, forbidden, HttpError, unauthorized } from '../errors';
import { databaseUnavailable } from './outage';
import { betterAuthPolicy } from '../rate-limits';
import { rateLimitHeaders } from './rate-limit';

export type BetterAuthFailure = {
  status: number;
  code?: string | undefined;
  message?: string | undefined;
  retryAfterS?: number | undefined;
  path: string;
  /** The error behind a 5xx, when known (an APIError's `cause`). */
  cause?: unknown;
};

/**
 * Better-Auth answers { code, message } with its own statuses; our clients get the one error
 * format. Unknown-email and wrong-password are one answer (Better-Auth already hashes on both
 * paths so timing matches too).
 */
export function betterAuthError(failure: BetterAuthFailure): Error {
  const code = failure.code ?? '';
  const message = failure.message ?? 'The request was refused';
  if (failure.status === 429) {
    const retryAfterS = failure.retryAfterS ?? betterAuthPolicy(failure.path).durationS;
    return new HttpError(429, 'TOO_MANY_REQUESTS', `Too many attempts: retry in ${retryAfterS} s`, undefined, rateLimitHeaders(retryAfterS, failure.path));
  }
  if (code.startsWith('USER_ALREADY_EXISTS')) return conflict('An account with this email already exists', 'USER_ALREADY_EXISTS');
  if (code === 'INVALID_EMAIL_OR_PASSWORD') return unauthorized('Invalid email or password', code);
  if (failure.status === 401) return unauthorized(message, code || 'UNAUTHORIZED');
  if (failure.status === 403) return forbidden(message, code || 'FORBIDDEN');
  if (failure.status === 400 || failure.status === 422) {
    return new HttpError(422, code || 'VALIDATION_ERROR', message);
  }
  // A 5xx caused by an unreachable database is the outage answer, 503 + Retry-After.
  if (failure.status >= 500 && isConnectionError(failure.cause)) return databaseUnavailable();
  // Anything else is our bug: a 500 whose message production hides (the cause is logged with it).
  return new Error(`Better-Auth answered ${failure.status} ${code}: ${message}`, { cause: failure.cause });
}

/**
 * For `auth.api.*` calls: an APIError becomes an HttpError, a connection failure (raw or as an
 * APIError's cause) 503 DATABASE_UNAVAILABLE; anything else is rethrown as is.
 */
export function fromBetterAuthApiError(error: unknown, path: string): unknown {
  if (error instanceof HttpError) return error;
  if (!isAPIError(error)) return isConnectionError(error) ? databaseUnavailable() : error;
  const body: unknown = error.body;
  const fields = typeof body === 'object' && body !== null ? body : {};
  return betterAuthError({
    status: error.statusCode,
    code: 'code' in fields && typeof fields.code === 'string' ? fields.code : undefined,
    message: 'message' in fields && typeof fields.message === 'string' ? fields.message : error.message,
    path,
    cause: error.cause,
  });
}
