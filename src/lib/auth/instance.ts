/**
 * The Better-Auth instance: over the PRIMARY (a replica's lag made sign-in right after sign-up
 * fail, see better-auth #10884), on a pool of its own, email + password, cookie sessions with a
 * short cookie cache, roles user / moderator / admin (admin plugin: role, ban), and per-IP rate
 * limits on its endpoints (src/lib/rate-limits.ts) keyed by the client IP src/serve.ts stamps on
 * every request, counted in the table all instances share.
 *
 * `createAuth` is a factory: the app builds one per process, tests build their own (e.g. with the
 * Origin check turned on, which Better-Auth skips under NODE_ENV=test).
 */
import { betterAuth } from 'better-auth';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import { getCookies } from 'better-auth/cookies';
import { admin, openAPI } from 'better-auth/plugins';
import type { AppConfig } from '../../config/env';
import { accounts, type DatabaseCluster, isConnectionError, sessions, users, verifications } from '../../db';
import { type Logger, serializeError } from '../logger';
import { PASSWORD_MAX_UNITS, PASSWORD_MIN_CHARS } from '../validation';
import { CLIENT_IP_HEADER } from './client-ip';
import { noteOutage } from './outage';
import { CLIENT_REFUSAL, requestPolicy } from './policy';
import type { RateLimitStore } from '../rate-limit-store';
import { betterAuthRateLimit } from './rate-limit';
import { accessControl, roles } from './roles';
import { SESSION_EXPIRES_IN_S, SESSION_UPDATE_AGE_S } from './session-reader';
import { checkUserFields } from './user-fields';

export const AUTH_BASE_PATH = '/api/auth';

export type CreateAuthOptions = {
  config: AppConfig;
  database: DatabaseCluster;
  logger: Logger;
  /** The process's one store (src/app.ts counts its own limits in it too): one fallback state, one sweep. */
  rateLimitStore: RateLimitStore;
  /** Test-only overrides of Better-Auth's `advanced` options. */
  advanced?: { disableOriginCheck?: boolean };
};

export const usesSecureCookies = (config: AppConfig): boolean => config.auth.baseUrl.startsWith('https://');

/** Origins allowed to send cookie-bearing writes: the service itself and the CORS origins. */
export function trustedOrigins(config: AppConfig): string[] {
  const base = new URL(config.auth.baseUrl);
  const origins = [base.origin, ...config.corsOrigins];
  // Locally one server answers as localhost and as 127.0.0.1: Swagger UI must work from either.
  if (!config.isProduction && base.hostname === 'localhost') origins.push(`${base.protocol}//127.0.0.1${base.port ? `:${base.port}` : ''}`);
  return [...new Set(origins)];
}

function authOptions({ config, database, logger, rateLimitStore, advanced }: CreateAuthOptions) {
  const secure = usesSecureCookies(config);
  const cookieCacheS = config.auth.cookieCacheS;
  return {
    appName: 'BOUNTYExpo',
    baseURL: config.auth.baseUrl,
    basePath: AUTH_BASE_PATH,
    secret: config.auth.secret,
    trustedOrigins: trustedOrigins(config),
    // Which endpoints answer over HTTP is decided by src/modules/auth/exposed-endpoints.ts: only
    // those reach this instance's handler (its own disabledPaths matches literal paths only).
    // Better-Auth's writes (users, sessions) must land where its next read looks: the primary.
    // Its own pool: session lookups must not queue behind writes waiting on a locked table.
    database: drizzleAdapter(database.authPrimary, {
      provider: 'pg',
      usePlural: true,
      schema: { users, sessions, accounts, verifications },
      transaction: true,
    }),
    emailAndPassword: {
      enabled: true,
      autoSignIn: true,
      // Better-Auth counts UTF-16 units; the real policy (code points) is `requestPolicy`. These
      // bounds are only ever looser than it.
      minPasswordLength: PASSWORD_MIN_CHARS,
      maxPasswordLength: PASSWORD_MAX_UNITS,
    },
    session: {
      // Set explicitly: src/lib/auth/session-reader.ts applies the same renewal rule.
      expiresIn: SESSION_EXPIRES_IN_S,
      updateAge: SESSION_UPDATE_AGE_S,
      // A revoked or banned session stays valid on cached checks for at most this long; only
      // safe reads (GET) use them: writes, admin checks and `fresh` ones bypass the cache
      // (src/plugins/auth.ts).
      cookieCache: { enabled: cookieCacheS > 0, maxAge: Math.max(cookieCacheS, 1) },
    },
    // The policy table's sign-in, sign-up, change-password and auth-endpoints limits, counted in
    // the shared rate_limits table on the primary (whatever RATE_LIMITS_ENABLED says).
    rateLimit: betterAuthRateLimit(rateLimitStore),
    advanced: {
      cookiePrefix: 'bountyexpo',
      // Secure + the __Secure- prefix exactly when the service is reached over https.
      useSecureCookies: secure,
      defaultCookieAttributes: { httpOnly: true, sameSite: 'lax' as const, secure },
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
      ...(advanced?.disableOriginCheck !== undefined ? { disableOriginCheck: advanced.disableOriginCheck } : {}),
    },
    plugins: [
      admin({ defaultRole: 'user', adminRoles: ['admin'], ac: accessControl, roles }),
      // Only for generateOpenAPISchema(): its Scalar page is not linked anywhere.
      openAPI({ disableDefaultReference: true }),
    ],
    databaseHooks: {
      user: {
        create: { before: async (user: Record<string, unknown>) => checkUserFields(user) },
        update: { before: async (user: Record<string, unknown>) => checkUserFields(user) },
      },
    },
    // Every error leaves auth.handler / auth.api as a throw or as its APIError response: a
    // connection failure reaches guardBetterAuth (503), anything else our handler, which logs it
    // and answers in our format. (Without `throw`, better-call prints "# SERVER_ERROR" to stderr
    // and answers an empty 500; `onError` is not called once `throw` is set.)
    onAPIError: { throw: true },
    hooks: { before: requestPolicy },
    telemetry: { enabled: false },
    logger: {
      level: config.logLevel === 'debug' || config.logLevel === 'trace' ? ('debug' as const) : ('warn' as const),
      // Better-Auth also logs errors it then swallows (sign-out) or wraps (getSession): a connection
      // failure among the arguments is noted for guardBetterAuth and logged once, at warn.
      log: (level: 'debug' | 'info' | 'warn' | 'error', message: string, ...args: unknown[]) => {
        const outage = args.find((arg) => isConnectionError(arg));
        if (outage !== undefined) {
          if (noteOutage(outage)) logger.warn({ component: 'better-auth', err: outage }, `Better-Auth could not reach the database (${message})`);
          return;
        }
        const effective = level === 'error' && CLIENT_REFUSAL.test(message) ? 'warn' : level;
        const details = args.length > 0 ? args.map((arg) => (arg instanceof Error ? serializeError(arg) : String(arg))) : undefined;
        logger[effective]({ component: 'better-auth', details }, message);
      },
    },
  };
}

export function createAuth(options: CreateAuthOptions) {
  return betterAuth(authOptions(options));
}

export type Auth = ReturnType<typeof createAuth>;

/** Better-Auth's cookie names for a config (`__Secure-` prefixed over https). */
export const authCookieNames = (config: AppConfig) => {
  const cookies = getCookies({
    baseURL: config.auth.baseUrl,
    advanced: { cookiePrefix: 'bountyexpo', useSecureCookies: usesSecureCookies(config) },
  });
  return { sessionToken: cookies.sessionToken.name, sessionData: cookies.sessionData.name };
};
