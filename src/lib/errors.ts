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
