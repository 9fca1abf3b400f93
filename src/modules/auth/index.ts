/**
 * The seed's auth routes (/auth/signup, /auth/login, /auth/logout, /auth/me) in our envelope, and
 * Better-Auth's own endpoints at /api/auth/* for its official client.
 */
import { Elysia } from 'elysia';
import { AUTH_BASE_PATH, type Auth, CLIENT_IP_HEADER, guardBetterAuth, rateLimitHeaders } from '../../lib/auth';
import { HttpError, httpErrorResponse } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { commonErrors, errorSchema, ok, successSchema } from '../../lib/http';
import { appendSetCookies, type AuthPlugin, type DatabasePlugin } from '../../plugins/auth';
import { privateUserSchema } from '../users/schemas';
import { toPrivateUser } from '../users/service';
import { loginBody, signedOutSchema, signUpBody } from './schemas';
import { type AuthGateway, type ForwardedHeaders, signIn, signOut, signUp } from './service';

const FORWARDED_HEADERS = [CLIENT_IP_HEADER, 'user-agent', 'origin', 'referer', 'sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-dest'];

function forwardedHeaders(request: Request): ForwardedHeaders {
  const picked: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) picked[name] = value;
  }
  return picked;
}

/** Anonymous access, spelled so the OpenAPI document states it explicitly. */
const ANONYMOUS: Array<Record<string, string[]>> = [{}];

export const authRoutes = (deps: { auth: Auth; baseUrl: string; databasePlugin: DatabasePlugin; authPlugin: AuthPlugin }) => {
  const gateway: AuthGateway = { auth: deps.auth, baseUrl: deps.baseUrl };
  return new Elysia({ tags: ['auth'] })
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
            'Emails are case-insensitive. A taken email is 409 USER_ALREADY_EXISTS. Limited to 3 attempts per 10 s per client IP.',
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
            'Limited to 3 attempts per 10 s per client IP (429 with Retry-After).',
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

/**
 * Better-Auth's own endpoints at /api/auth/* (for its official client), with `parse: 'none'` so
 * Better-Auth reads the body itself. Elysia honours 'none' only when it is a route's sole parse
 * hook, and hooks apply to routes registered after them, so src/app.ts mounts this BEFORE the
 * error handler's body parser. A call that could not reach the primary is 503
 * DATABASE_UNAVAILABLE with Retry-After in our error format, like our own routes, not
 * Better-Auth's bare 500.
 */
export const betterAuthHandler = (deps: { auth: Auth; databasePlugin: DatabasePlugin; logger: Logger }) =>
  new Elysia({ name: 'better-auth-handler' }).use(deps.databasePlugin).all(
    `${AUTH_BASE_PATH}/*`,
    async ({ request, db }) => {
      let response: Response;
      try {
        response = await guardBetterAuth(deps.auth, () => deps.auth.handler(request));
      } catch (error) {
        // This route is mounted before the error handler, which never sees its errors: render ours
        // here, and like the error handler never echo an unexpected error's message.
        if (error instanceof HttpError) return httpErrorResponse(error);
        deps.logger.error({ err: error, method: request.method, url: request.url }, 'unhandled error in Better-Auth handler');
        return httpErrorResponse(new HttpError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error'));
      }
      // Better-Auth wrote users or sessions on the primary: hand the client a read-your-writes token.
      if (request.method !== 'GET' && request.method !== 'HEAD') db.markWritten();
      if (response.status === 429) {
        const retryAfter = Number(response.headers.get('x-retry-after')) || 1;
        for (const [name, value] of Object.entries(rateLimitHeaders(retryAfter, new URL(request.url).pathname))) response.headers.set(name, value);
      }
      return response;
    },
    { parse: 'none', detail: { hide: true } },
  );
