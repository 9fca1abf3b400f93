/**
 * The one error type. Everything the service refuses is thrown as an HttpError and rendered by
 * src/plugins/error-handler.ts as { success: false, message, error, details? }.
 */
export type ErrorDetail = { path: string; message: string };

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: ErrorDetail[],
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string, code = 'BAD_REQUEST') => new HttpError(400, code, message);
export const unauthorized = (message = 'Authentication required', code = 'UNAUTHORIZED') =>
  new HttpError(401, code, message);
export const forbidden = (message = 'You are not allowed to do this', code = 'FORBIDDEN') =>
  new HttpError(403, code, message);
export const notFound = (message = 'Not found', code = 'NOT_FOUND') => new HttpError(404, code, message);
export const conflict = (message: string, code = 'CONFLICT') => new HttpError(409, code, message);
export const unprocessable = (message: string, details: ErrorDetail[], code = 'VALIDATION_ERROR') =>
  new HttpError(422, code, message, details);
export const serviceUnavailable = (message: string, code = 'SERVICE_UNAVAILABLE', retryAfterS = 1) =>
  new HttpError(503, code, message, undefined, { 'retry-after': String(retryAfterS) });

/**
 * An HttpError as a Response in the one error format, for the one route mounted before the error
 * handler (Better-Auth's /api/auth/*, see src/modules/auth/index.ts), whose errors it never sees.
 */
export function httpErrorResponse(error: HttpError): Response {
  return Response.json(errorBody(error.message, error.code, error.details), { status: error.status, headers: error.headers });
}

export type ErrorBody = { success: false; message: string; error: string; details?: ErrorDetail[] };

/** The one error format's body. */
export function errorBody(message: string, code: string, details?: ErrorDetail[]): ErrorBody {
  return details ? { success: false, message, error: code, details } : { success: false, message, error: code };
}

/**
 * The first `code` on an error or its causes that `accept`s: drizzle wraps driver errors in
 * DrizzleQueryError, so a SQLSTATE or a driver code ('ECONNREFUSED') sits on the cause.
 */
export function findErrorCode(error: unknown, accept: (code: string) => boolean = () => true): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    if ('code' in current && typeof current.code === 'string' && accept(current.code)) return current.code;
    current = 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

/** The constraint a database error names (postgres-js: `constraint_name`), on the error or a cause. */
export function constraintOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth += 1) {
    if ('constraint_name' in current && typeof current.constraint_name === 'string') return current.constraint_name;
    current = 'cause' in current ? current.cause : undefined;
  }
  return undefined;
}

// --- Error catalogs ------------------------------------------------------------------------------
// Each module lists the codes it answers in one catalog beside it (src/modules/<m>/errors.ts); the
// API document lists them per tag, so a client developer can see every code in one place.

export type ErrorEntry = Readonly<{ status: number; message: string }>;
export type ErrorCatalog = Readonly<Record<string, ErrorEntry>>;

/**
 * A catalog whose `error(code)` builds the HttpError, typed to its own codes. `details` name what
 * the refusal was about (e.g. `{ path: 'state', message: 'open' }` on a 409).
 */
export function defineErrors<const C extends ErrorCatalog>(codes: C) {
  return {
    codes,
    error(code: keyof C & string, message?: string, details?: ErrorDetail[]): HttpError {
      const entry = codes[code];
      if (!entry) throw new Error(`unknown error code ${code}`);
      return new HttpError(entry.status, code, message ?? entry.message, details);
    },
  };
}

/** Codes any route can answer: refused input, sessions, limits, the database layer. */
export const COMMON_ERRORS = defineErrors({
  MALFORMED_JSON: { status: 400, message: 'The body is not valid JSON' },
  JSON_TOO_DEEP: { status: 400, message: 'The body nests too deep' },
  MALFORMED_BODY: { status: 400, message: 'The body could not be read' },
  INVALID_HOST: { status: 400, message: 'The Host header is not a valid host' },
  UNAUTHORIZED: { status: 401, message: 'Sign in to do this' },
  FORBIDDEN: { status: 403, message: 'You are not allowed to do this' },
  INVALID_ORIGIN: { status: 403, message: 'This origin may not send authenticated writes' },
  USER_BANNED: { status: 403, message: 'This account is banned' },
  SESSION_NOT_FRESH: { status: 403, message: 'Sign in again to do this: staff actions need a recent sign-in' },
  NOT_FOUND: { status: 404, message: 'Not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed here' },
  CONFLICT: { status: 409, message: 'A record with these values already exists' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The body is too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Send the body as application/json' },
  VALIDATION_ERROR: { status: 422, message: 'Invalid input' },
  INVALID_CURSOR: { status: 422, message: 'The cursor is not one this API issued' },
  INVALID_VALUE: { status: 422, message: 'A value is out of range or malformed' },
  TOO_MANY_REQUESTS: { status: 429, message: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request line and headers are too large' },
  INTERNAL_SERVER_ERROR: { status: 500, message: 'Internal server error' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database is unavailable, retry shortly' },
  DATABASE_BUSY: { status: 503, message: 'The database is busy, retry shortly' },
  DATABASE_TIMEOUT: { status: 503, message: 'The database took too long to answer' },
  READ_CAPACITY_EXCEEDED: { status: 503, message: 'No replica can serve reads and the primary is at its fallback limit' },
});

/** The 503s of the database layer, with Retry-After, worded once (in COMMON_ERRORS). */
export const databaseRefusal = (code: 'DATABASE_UNAVAILABLE' | 'DATABASE_BUSY' | 'DATABASE_TIMEOUT' | 'READ_CAPACITY_EXCEEDED'): HttpError =>
  serviceUnavailable(COMMON_ERRORS.codes[code].message, code);
