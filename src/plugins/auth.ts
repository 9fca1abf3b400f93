/**
 * Session resolution as Elysia macros:
 * - `auth: true` or `auth: { role, fresh }`: `user` and `session` in the handler, else 401; a role
 *   the user lacks is 403. Every unsafe method (POST/PUT/PATCH/DELETE), every admin check and
 *   `fresh: true` (for reads that must be authoritative, e.g. /auth/me) bypass the cookie cache, so
 *   a logged-out, banned or deleted user's session, or a removed role, stops working on writes at
 *   once. The cost is one primary read per write; only safe reads (GET) by plain users trust the
 *   cache, for up to AUTH_COOKIE_CACHE_S.
 * - `optionalAuth: true`: `viewer` is the signed-in user or null; a bad cookie means anonymous.
 * - `csrf: true`: only the Origin check, for cookie-bearing writes that need no session.
 *
 * A session lookup that needs the primary while it is down is 503 DATABASE_UNAVAILABLE with
 * Retry-After (never 500), for `optionalAuth` too: a signed-in reader is not silently anonymous.
 *
 * Refreshed session cookies (sliding expiry, cookie cache) are forwarded on every response:
 * Better-Auth's documented `getSession({ headers })` drops them.
 */
import { Elysia } from 'elysia';
import type { UserRole } from '../db';
import { type Auth, type AuthSession, type AuthUser, guardBetterAuth, isBanActive, type SessionReader, type SessionRevocations, toAuthSession, toAuthUser } from '../lib/auth';
import { appendSetCookies, type HeaderSink } from '../lib/cookies';
import { COMMON_ERRORS, forbidden, HttpError, unauthorized } from '../lib/errors';
import type { CountViewer } from './rate-limit';

/**
 * `fresh: true` makes a safe read (GET) check the database instead of the cookie cache; unsafe
 * methods and admin checks always do. `fresh: 'sign-in'` (admin and moderation actions) also
 * needs a session signed in within Better-Auth's `freshAge` (a day by default): a cookie stolen
 * from a long-lived session cannot ban, refund or grant roles; 403 SESSION_NOT_FRESH says sign in again.
 */
export type AuthRequirement = true | { role?: UserRole | readonly UserRole[]; fresh?: boolean | 'sign-in' };

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * `sessionLookupBoundMs`: a session lookup not answered by then is 503 (see guardBetterAuth).
 * `sessions`: the fast readers of the cookie cache and the session row.
 * `revocations`: sessions and users whose cookie cache is not trusted (src/lib/auth/revocations.ts).
 * `countViewer`: the route's per-user and per-viewer rate limits, counted once the session is known (src/plugins/rate-limit.ts).
 */
export const authPlugin = (auth: Auth, sessions: SessionReader, sessionLookupBoundMs: number, revocations?: SessionRevocations, countViewer?: CountViewer) => {
  /**
   * Better-Auth checks Origin on its own endpoints; our routes get the same rule from the same
   * switch (`advanced.disableOriginCheck`, skipped by default under NODE_ENV=test). A write that
   * carries a cookie and an Origin (or Referer) that is not trusted is refused. Browsers always
   * send Origin on cross-origin writes, so a request with neither comes from a non-browser client
   * (the mobile app, curl) and cannot be a CSRF.
   */
  async function assertTrustedOrigin(request: Request): Promise<void> {
    if (!UNSAFE_METHODS.has(request.method) || !request.headers.has('cookie')) return;
    const context = await auth.$context;
    if (context.skipCSRFCheck || context.skipOriginCheck === true) return;
    const referer = request.headers.get('referer');
    const origin = request.headers.get('origin') ?? (referer ? safeOrigin(referer) : null);
    if (origin === null) {
      if (request.headers.get('sec-fetch-site') === 'cross-site') throw forbidden('Cross-site request refused', 'INVALID_ORIGIN');
      return;
    }
    if (origin === 'null' || !context.isTrustedOrigin(origin)) throw forbidden('This origin may not send authenticated writes', 'INVALID_ORIGIN');
  }

  /**
   * The session behind the request's cookies, or null. From the database (the primary) when
   * `fresh`, for any unsafe method, or when the cached user has powers beyond a plain user's;
   * otherwise the signed cookie cache may answer. An unreachable primary is 503 (guardBetterAuth).
   */
  async function loadSession(request: Request, set: HeaderSink, fresh: boolean): Promise<{ user: AuthUser; session: AuthSession } | null> {
    // Writes never trust the cache: a logged-out, banned or deleted user must not write for up to
    // AUTH_COOKIE_CACHE_S more. One primary read per write is the accepted price.
    const bypassCache = fresh || UNSAFE_METHODS.has(request.method);
    const cookie = request.headers.get('cookie');
    if (cookie) {
      // The same checks as Better-Auth's, without its endpoint machinery; "cannot tell" falls
      // through to Better-Auth below (src/lib/auth/session-reader.ts).
      const direct = bypassCache
        ? await guardBetterAuth(auth, () => sessions.fromDatabase(cookie), sessionLookupBoundMs)
        : sessions.fromCache(cookie);
      // A cached session this instance heard end (sign-out, revocation, a ban) is checked again.
      if (direct && !bypassCache && revocations) {
        const known = revocations.check({ id: direct.session.id, userId: direct.user.id });
        if (known === 'ended') return loadSession(request, set, true);
        // Unsure (announcements may have been missed): the database decides when it can answer;
        // a primary that cannot leaves the cache to serve reads, as it did before this check.
        if (known === 'unsure') return loadSession(request, set, true).catch((error: unknown) => {
          if (error instanceof HttpError && error.status === 503 && direct.user.role === 'user') return direct;
          throw error;
        });
      }
      if (direct && (bypassCache || direct.user.role === 'user')) return direct;
    }
    const result = await guardBetterAuth(auth, () =>
      auth.api.getSession({
        headers: request.headers,
        returnHeaders: true,
        query: bypassCache ? { disableCookieCache: true } : {},
      }),
      sessionLookupBoundMs,
    );
    // Forward refreshed or cleared cookies even when the answer is "no session".
    appendSetCookies(set, result.headers.getSetCookie());
    const found = result.response;
    if (!found) return null;
    const user = toAuthUser(found.user);
    // Powers beyond a plain user's always come from the database: a cached "admin" may have been
    // demoted a second ago. (A cached "user" promoted meanwhile merely waits out the cache.)
    if (!bypassCache && user.role !== 'user') return loadSession(request, set, true);
    // Better-Auth's own cookie cache may have answered: the same revocation check as ours.
    if (!bypassCache && revocations?.revoked({ id: found.session.id, userId: user.id })) return loadSession(request, set, true);
    return { user, session: toAuthSession(found.session) };
  }

  return new Elysia({ name: 'auth' })
    .macro({
      auth: (requirement: AuthRequirement) => ({
        async resolve({ request, set, route }) {
          await assertTrustedOrigin(request);
          const wanted = typeof requirement === 'object' && requirement.role !== undefined
            ? (Array.isArray(requirement.role) ? requirement.role : [requirement.role])
            : null;
          const freshness = typeof requirement === 'object' ? requirement.fresh : undefined;
          const fresh = freshness === true || freshness === 'sign-in' || (wanted?.includes('admin') ?? false);
          const found = await loadSession(request, set, fresh);
          if (!found) throw unauthorized('Sign in to do this', 'UNAUTHORIZED');
          // A ban deletes the user's sessions; this refuses one that survived it anyway.
          if (isBanActive(found.user)) throw forbidden('This account is banned', 'USER_BANNED');
          if (wanted && !wanted.includes(found.user.role)) throw forbidden('Your role does not allow this', 'FORBIDDEN');
          if (freshness === 'sign-in') {
            const freshAgeS = (await auth.$context).sessionConfig.freshAge;
            if (freshAgeS > 0 && Date.now() - found.session.createdAt.getTime() > freshAgeS * 1000) {
              throw COMMON_ERRORS.error('SESSION_NOT_FRESH');
            }
          }
          await countViewer?.({ request, route, set, userId: found.user.id });
          return { user: found.user, session: found.session };
        },
      }),
      optionalAuth: {
        async resolve({ request, set, route }) {
          const found = request.headers.has('cookie') ? await loadSession(request, set, false) : null;
          const viewer = found && !isBanActive(found.user) ? found.user : null;
          await countViewer?.({ request, route, set, userId: viewer?.id ?? null });
          return { viewer };
        },
      },
      csrf: {
        beforeHandle: ({ request }) => assertTrustedOrigin(request),
      },
    });
};

export type AuthPlugin = ReturnType<typeof authPlugin>;

/** The origin of a Referer; 'null' (never trusted) when it is not a URL. */
function safeOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}
