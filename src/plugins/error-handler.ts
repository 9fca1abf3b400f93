/**
 * The one error handler. Every failure leaves as { success: false, message, error, details? }.
 * Also owns body parsing, so malformed JSON (400), an oversized body (413) and a wrong content
 * type (415) are refused before any handler runs.
 */
import { type AnyElysia, Elysia } from 'elysia';
import { assertDeclaredLength, readBodyCapped } from '../lib/body';
import type { HeaderSink } from '../lib/cookies';
import { constraintOf, type ErrorDetail, errorBody, findErrorCode, HttpError } from '../lib/errors';
import type { Logger } from '../lib/logger';

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

/**
 * No API body nests this deep. Deeper bodies parse fine but overflow the stack later (validation
 * errors serialise the value recursively): a 500 from a 400 KB request without this check.
 */
const MAX_JSON_DEPTH = 32;

/** Bracket depth outside string literals, scanned without recursion. */
function jsonNestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 92 /* \\ */) index += 1;
      else if (char === 34 /* " */) inString = false;
    } else if (char === 34) inString = true;
    else if (char === 123 /* { */ || char === 91 /* [ */) {
      depth += 1;
      if (depth > limit) return true;
    } else if (char === 125 /* } */ || char === 93 /* ] */) depth -= 1;
  }
  return false;
}


/** SQLSTATE classes that mean the input was wrong; validation should catch them first, this is the net. */
function postgresClientError(error: unknown): { status: number; code: string; message: string } | null {
  // The ledger's constraints guard money against our own bugs: tripping one is a 500, logged.
  if (constraintOf(error)?.startsWith('ledger_')) return null;
  const code = findErrorCode(error, (candidate) => /^[0-9A-Z]{5}$/.test(candidate));
  if (code === '23505') return { status: 409, code: 'CONFLICT', message: 'A record with these values already exists' };
  if (code === '23503') return { status: 409, code: 'CONFLICT', message: 'A referenced record does not exist' };
  if (code !== undefined && (code.startsWith('22') || code === '23502' || code === '23514'))
    return { status: 422, code: 'INVALID_VALUE', message: 'A value is out of range or malformed' };
  return null;
}

type Issue = { path?: string | ReadonlyArray<PropertyKey | { key: PropertyKey }>; message?: string };

/** Elysia reports zod issues with `path` already joined ("a/b" or "a.b") or as an array. */
function validationDetails(issues: unknown): ErrorDetail[] {
  if (!Array.isArray(issues)) return [];
  return issues.map((raw: Issue) => ({
    path:
      typeof raw.path === 'string'
        ? raw.path.replace(/^\//, '').replaceAll('/', '.')
        : (raw.path ?? []).map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.'),
    message: raw.message ?? 'is invalid',
  }));
}

/** A parse hook that returns nothing (the parser then reads the body) or throws a refusal. */
export type BeforeParse = (context: { request: Request; route: string; set: HeaderSink }) => Promise<void>;

type ErrorHandlerOptions<Unparsed extends AnyElysia> = {
  logger: Logger;
  isProduction: boolean;
  bodyLimitBytes: number;
  /**
   * Routes that read their own body (Better-Auth's handler, `parse: 'none'`). Elysia applies a
   * hook only to routes registered after it, and honours 'none' only when it is a route's sole
   * parse hook: so they are mounted here, ahead of the parser, which cannot be got wrong by the
   * order of `.use()` calls in the app.
   */
  unparsedRoutes: Unparsed;
  /** Runs ahead of the parser, on every route it parses for: the rate limits count a body that fails to parse too. */
  beforeParse?: BeforeParse;
};

/**
 * The unparsed routes, then the parser and the error renderer. Generic in the unparsed routes
 * so the app's type (Eden's `type App`) keeps every route.
 */
export const errorHandler = <const Unparsed extends AnyElysia>(options: ErrorHandlerOptions<Unparsed>) =>
  new Elysia({ name: 'error-handler' }).use(options.unparsedRoutes).use(parserAndErrors(options));

function parserAndErrors(options: Omit<ErrorHandlerOptions<AnyElysia>, 'unparsedRoutes'>) {
  const plugin = new Elysia({ name: 'body-parser-and-errors' });
  if (options.beforeParse) plugin.onParse({ as: 'global' }, options.beforeParse);
  return plugin
    .onParse({ as: 'global' }, async ({ request, contentType }) => {
      // No body at all (GET, or a bodiless POST such as logout): nothing to parse or refuse.
      if (request.body === null || request.headers.get('content-length') === '0') return undefined;
      assertDeclaredLength(request, options.bodyLimitBytes);
      if (!contentType || !JSON_TYPE.test(contentType)) {
        throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json');
      }
      // Counted as it arrives: a chunked body has no content-length to check up front.
      const raw = await readBodyCapped(request, options.bodyLimitBytes);
      if (raw.byteLength === 0) return undefined;
      const text = new TextDecoder().decode(raw);
      if (jsonNestingExceeds(text, MAX_JSON_DEPTH)) {
        throw new HttpError(400, 'JSON_TOO_DEEP', `The body nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new HttpError(400, 'MALFORMED_JSON', 'The body is not valid JSON');
      }
    })
    .onError({ as: 'global' }, ({ code, error: thrown, set, request, route }) => {
      // Elysia wraps what a parse hook throws in a ParseError; our own refusal is the cause.
      const error = code === 'PARSE' && thrown.cause instanceof HttpError ? thrown.cause : thrown;
      if (error instanceof HttpError) {
        set.status = error.status;
        if (error.headers) Object.assign(set.headers, error.headers);
        return errorBody(error.message, error.code, error.details);
      }
      switch (code) {
        case 'VALIDATION': {
          // Our own response failing its schema is our bug, not the client's mistake (issue 8).
          if (thrown.type === 'response') {
            options.logger.error({ route: `${request.method} ${route}`, details: validationDetails(thrown.all) }, 'response does not match its schema');
            set.status = 500;
            return errorBody(options.isProduction ? 'Internal server error' : 'The response does not match its schema', 'INTERNAL_SERVER_ERROR');
          }
          set.status = 422;
          const details = validationDetails(thrown.all);
          return errorBody(`Invalid ${thrown.type}`, 'VALIDATION_ERROR', details);
        }
        case 'NOT_FOUND':
          set.status = 404;
          return errorBody('No route matches this path', 'NOT_FOUND');
        case 'PARSE':
          set.status = 400;
          return errorBody('The body could not be parsed', 'MALFORMED_BODY');
        case 'INVALID_COOKIE_SIGNATURE':
          set.status = 400;
          return errorBody('A signed cookie is invalid', 'INVALID_COOKIE');
        default:
          break;
      }
      const mapped = postgresClientError(error);
      if (mapped) {
        set.status = mapped.status;
        return errorBody(mapped.message, mapped.code);
      }
      options.logger.error({ err: error, method: request.method, url: request.url }, 'unhandled error');
      set.status = 500;
      const message = !options.isProduction && error instanceof Error ? error.message : 'Internal server error';
      return errorBody(message, 'INTERNAL_SERVER_ERROR');
    });
}
