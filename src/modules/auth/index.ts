/**
 * The seed's auth routes (/auth/signup, /auth/login, /auth/logout, /auth/me) in our envelope, and
 * Better-Auth's own endpoints at /api/auth/* for its official client.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { AUTH_BASE_PATH, type Auth, CLIENT_IP_HEADER, guardBetterAuth, isBanActive, rateLimitHeaders, signOut, toAuthUser } from '../../lib/auth';
import { readBodyCapped } from '../../lib/body';
import { errorBody, HttpError, httpErrorResponse, notFound } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { ratePolicy } from '../../lib/rate-limits';
import { commonErrors, errorSchema, ok, successSchema } from '../../lib/http';
import { appendSetCookies, withoutCookie } from '../../lib/cookies';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import { privateUserSchema } from '../users/schemas';
import { toPrivateUser } from '../users/service';
import type { ModuleInfo } from '../module';
import { AUTH_ERRORS } from './errors';
import { exposedAuthEndpoint } from './exposed-endpoints';
import { BETTER_AUTH_TAG } from './openapi';
import { loginBody, signedOutSchema, signUpBody } from './schemas';
import { type AuthGateway, type ForwardedHeaders, signIn, signUp } from './service';

const FORWARDED_HEADERS = [CLIENT_IP_HEADER, 'user-agent', 'origin', 'referer', 'sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest'];

function forwardedHeaders(request: Request): ForwardedHeaders {
  const picked: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) picked[name] = value;
  }
  return picked;
}

/** The limit on credential attempts, as the policy table states it (src/lib/rate-limits.ts). */
const attemptLimit = (name: 'sign-in' | 'sign-up'): string => {
  const policy = ratePolicy(name);
  return `Limited to ${policy.points} attempts per ${policy.durationS} s per client IP, all instances together (rate-limit policy \`${name}\`; 429 with Retry-After).`;
};

/** Anonymous access, spelled so the OpenAPI document states it explicitly. */
const ANONYMOUS: Array<Record<string, string[]>> = [{}];

export const authModule: ModuleInfo = {
  tag: { name: 'auth', description: 'Sign up, sign in, sign out, the current user' },
  extraTags: [{ name: BETTER_AUTH_TAG, description: "Better-Auth's own endpoints, used by its official client (better-auth/client)" }],
  errors: AUTH_ERRORS.codes,
};

export const authRoutes = (deps: { auth: Auth; baseUrl: string; databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; authCallBoundMs: number }) => {
  const gateway: AuthGateway = { auth: deps.auth, baseUrl: deps.baseUrl, boundMs: deps.authCallBoundMs };
  return new Elysia({ tags: [authModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .post(
      '/auth/signup',
      async ({ body, request, set, db }) => {
        const { user, cookies } = await signUp(gateway, body, forwardedHeaders(request));
        db.markWritten();
        appendSetCookies(set, cookies);
        set.status = 201;
        return ok(toPrivateUser(user));
      },
      {
        body: signUpBody,
        response: { 201: successSchema(privateUserSchema), 403: errorSchema, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Sign up',
          description:
            'Creates an account with email and password and signs it in: the response sets the session cookie. ' +
            `Emails are case-insensitive. A taken email is 409 USER_ALREADY_EXISTS. ${attemptLimit('sign-up')}`,
          security: ANONYMOUS,
        },
      },
    )
    .post(
      '/auth/login',
      async ({ body, request, set, db }) => {
        const { user, cookies } = await signIn(gateway, body, forwardedHeaders(request));
        db.markWritten();
        appendSetCookies(set, cookies);
        return ok(toPrivateUser(user));
      },
      {
        body: loginBody,
        response: { 200: successSchema(privateUserSchema), 401: errorSchema, 403: errorSchema, ...commonErrors },
        detail: {
          summary: 'Sign in',
          description:
            'Sets the session cookie. An unknown email and a wrong password get the same 401. ' +
            attemptLimit('sign-in'),
          security: ANONYMOUS,
        },
      },
    )
    .post(
      '/auth/logout',
      async ({ request, set, db }) => {
        const cookies = await signOut(gateway, request.headers.get('cookie'));
        db.markWritten();
        appendSetCookies(set, cookies);
        return ok({ signedOut: true as const });
      },
      {
        csrf: true,
        response: { 200: successSchema(signedOutSchema), 403: errorSchema, ...commonErrors },
        detail: {
          summary: 'Sign out',
          description: 'Deletes the session and clears the cookies. Without a session it is a no-op (still 200).',
        },
      },
    )
    .get('/auth/me', ({ user }) => ok(toPrivateUser(user)), {
      // Authoritative, not from the cookie cache: "am I signed in" must see a sign-out at once.
      auth: { fresh: true },
      response: { 200: successSchema(privateUserSchema), 401: errorSchema, 403: errorSchema, ...commonErrors },
      detail: { summary: 'The signed-in user' },
    });
};

const isJson = (response: Response): boolean => (response.headers.get('content-type') ?? '').includes('application/json');
const betterAuthErrorBody = z.object({ code: z.string().max(200).optional(), message: z.string().max(2000).optional() });

/**
 * Better-Auth's refusals in our error format, keeping its `code` beside ours (its official client
 * reads `code` and `message`, which stay as they were). A 5xx is our fault: logged at error with
 * the route, and answered without Better-Auth's message.
 */
async function inOurFormat(response: Response, path: string, logger: Logger): Promise<Response> {
  if (response.status < 400) return response;
  if (response.status >= 500) {
    logger.error({ route: `${AUTH_BASE_PATH}${path}`, status: response.status }, 'Better-Auth endpoint failed');
    return httpErrorResponse(new HttpError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error'));
  }
  const parsed = betterAuthErrorBody.safeParse(isJson(response) ? await response.clone().json().catch(() => null) : null);
  const code = parsed.success && parsed.data.code ? parsed.data.code : response.status === 429 ? 'TOO_MANY_REQUESTS' : 'REQUEST_REFUSED';
  const message = parsed.success && parsed.data.message ? parsed.data.message : response.statusText || 'The request was refused';
  const headers = new Headers(response.headers);
  headers.set('content-type', 'application/json');
  headers.delete('content-length');
  return new Response(JSON.stringify({ ...errorBody(message, code), code }), { status: response.status, headers });
}

/** Whether the session behind these headers (read from the database: no cache cookie) is banned. */
async function bannedSession(deps: BetterAuthHandlerDeps, headers: Headers): Promise<boolean> {
  const found = await guardBetterAuth(deps.auth, () => deps.auth.api.getSession({ headers, query: { disableRefresh: true } }), deps.boundMs);
  return found !== null && isBanActive(toAuthUser(found.user));
}

type BetterAuthHandlerDeps = {
  auth: Auth;
  databasePlugin: DatabasePlugin;
  logger: Logger;
  /** Bound of one Better-Auth call (sign-in hashes a password and runs several queries). */
  boundMs: number;
  bodyLimitBytes: number;
  /** The session cookie cache's name (`authCookieNames(config).sessionData`). */
  sessionDataCookie: string;
};

/**
 * Better-Auth's own endpoints at /api/auth/*, for its official client: only those listed in
 * ./exposed-endpoints.ts (anything else is 404, a known path with another method 405). Each
 * request reaches Better-Auth with the body already read within our limit (413 in our format,
 * never Bun's bare one or a stream error inside Better-Auth) and WITHOUT the session cookie
 * cache, so every session check there reads the database (issue 7: update-user re-signed the cache
 * of a signed-out session for as long as it was called).
 *
 * `parse: 'none'`: Elysia honours it only when it is a route's sole parse hook, and hooks apply to
 * routes registered after them, so the error handler mounts this itself, ahead of its body parser
 * (`unparsedRoutes`), which never sees these requests: errors are rendered here, in the one format. A call that could
 * not reach the primary is 503 DATABASE_UNAVAILABLE with Retry-After, like our own routes.
 */
export const betterAuthHandler = (deps: BetterAuthHandlerDeps) =>
  new Elysia({ name: 'better-auth-handler' }).use(deps.databasePlugin).all(
    `${AUTH_BASE_PATH}/*`,
    async ({ request, db }) => {
      const path = new URL(request.url).pathname.slice(AUTH_BASE_PATH.length);
      const endpoint = exposedAuthEndpoint(path);
      if (!endpoint) return httpErrorResponse(notFound('No route matches this path'));
      if (request.method !== endpoint.method) {
        return httpErrorResponse(new HttpError(405, 'METHOD_NOT_ALLOWED', `Use ${endpoint.method} for this path`, undefined, { allow: endpoint.method }));
      }
      let response: Response;
      try {
        const headers = new Headers(request.headers);
        const cookie = withoutCookie(headers.get('cookie'), deps.sessionDataCookie);
        if (cookie === null) headers.delete('cookie');
        else headers.set('cookie', cookie);
        const body = endpoint.method === 'POST' ? await readBodyCapped(request, deps.bodyLimitBytes) : null;
        headers.delete('content-length');
        headers.delete('transfer-encoding');
        const forwarded = new Request(request.url, { method: request.method, headers, body });
        // Better-Auth checks bans only when a session is created; a ban whose sessions survived
        // (written by hand, say) must not act through these endpoints either, as on our routes.
        if (endpoint.needsSession && (await bannedSession(deps, headers))) {
          return httpErrorResponse(new HttpError(403, 'USER_BANNED', 'This account is banned'));
        }
        response = await guardBetterAuth(deps.auth, () => deps.auth.handler(forwarded), deps.boundMs);
      } catch (error) {
        if (error instanceof HttpError) return httpErrorResponse(error);
        deps.logger.error({ err: error, route: `${AUTH_BASE_PATH}${path}` }, 'Better-Auth endpoint failed');
        return httpErrorResponse(new HttpError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error'));
      }
      // Better-Auth wrote users or sessions on the primary: hand the client a read-your-writes token.
      if (request.method !== 'GET') db.markWritten();
      if (response.status === 429) {
        const retryAfter = Number(response.headers.get('x-retry-after')) || 1;
        for (const [name, value] of Object.entries(rateLimitHeaders(retryAfter, path))) response.headers.set(name, value);
      }
      return inOurFormat(response, path, deps.logger);
    },
    { parse: 'none', detail: { hide: true } },
  );
