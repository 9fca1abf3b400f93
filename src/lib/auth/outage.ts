/** Better-Auth calls bounded in time, and a database outage met inside one answered as 503. */
import { AsyncLocalStorage } from 'node:async_hooks';
import { isConnectionError, QueryDeadlineError, toUnavailable } from '../../db';
import { databaseRefusal, HttpError } from '../errors';

/** What guardBetterAuth needs of a Better-Auth instance: its logger. */
export type AuthContextHolder = { $context: Promise<{ logger: { warn: (message: string, ...args: unknown[]) => void } }> };

/** What the database layer answers for a connection failure (src/db/errors.ts), for auth too. */
export const databaseUnavailable = (): HttpError => databaseRefusal('DATABASE_UNAVAILABLE');

/**
 * Better-Auth reads and writes the primary itself and reports a failure there in one of three
 * ways: it throws (`getSession`: an APIError 500 whose `cause` is the driver error; the handler,
 * with `onAPIError.throw`, the driver error itself), or it logs the error and goes on (sign-out
 * clears the cookie even when the session row could not be deleted). Each call made through
 * `guardBetterAuth` gets a scope that the logger below notes connection errors into, so all of
 * them become 503 DATABASE_UNAVAILABLE with Retry-After.
 */
const outageScope = new AsyncLocalStorage<{ outage: unknown }>();

/**
 * Notes a connection failure in the current call's scope. True when it should be logged: the first
 * one of the call (the rest are the same outage), or any outside a guarded call.
 */
export function noteOutage(error: unknown): boolean {
  const scope = outageScope.getStore();
  if (!scope) return true;
  if (scope.outage !== undefined) return false;
  scope.outage = error;
  return true;
}

/**
 * Runs a Better-Auth call (`auth.api.*` or `auth.handler`): if it met a database connection
 * failure, thrown, answered as a 5xx or logged and swallowed, the caller gets 503
 * DATABASE_UNAVAILABLE (logged once at warn, with the driver error); anything else it threw is
 * rethrown unchanged, so a real bug stays a logged 500.
 */
export async function guardBetterAuth<T>(auth: AuthContextHolder, work: () => Promise<T>, boundMs: number): Promise<T> {
  const scope: { outage: unknown } = { outage: undefined };
  let value: T;
  let timer: ReturnType<typeof setTimeout> | undefined;
  // Better-Auth's queries are not behind our pool gates: this bounds the whole call instead, so a
  // session lookup on a dying primary answers 503 in time rather than hanging (issue 7).
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueryDeadlineError(`Better-Auth call: no answer within ${boundMs} ms`)), boundMs);
  });
  try {
    value = await Promise.race([outageScope.run(scope, work), deadline]);
  } catch (error) {
    if (error instanceof QueryDeadlineError) {
      (await auth.$context).logger.warn('Better-Auth call timed out', error.message);
      throw toUnavailable(error);
    }
    // A statement timeout (a locked sessions or users table) is the same 503 as on our routes.
    const mapped = toUnavailable(error);
    if (mapped instanceof HttpError && !isConnectionError(error)) throw mapped;
    if (scope.outage === undefined && !isConnectionError(error)) throw error;
    if (scope.outage === undefined) (await auth.$context).logger.warn('Better-Auth could not reach the database', error);
    throw databaseUnavailable();
  }
  finally {
    clearTimeout(timer);
  }
  if (scope.outage !== undefined) throw databaseUnavailable();
  return value;
}
