/**
 * The one auth module: Better-Auth over the PRIMARY (a replica's lag made sign-in right after
 * sign-up fail, see better-auth #10884), email + password, cookie sessions with a short cookie
 * cache, roles user / moderator / admin (admin plugin: role, ban), and per-IP rate limits on
 * sign-in / sign-up keyed by the client IP that src/index.ts stamps on every request.
 *
 * `createAuth` is a factory: the app builds one per process, tests build their own (e.g. with the
 * Origin check turned on, which Better-Auth skips under NODE_ENV=test).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { BlockList, isIP } from 'node:net';
import { betterAuth } from 'better-auth';
import { APIError, createAuthMiddleware, isAPIError } from 'better-auth/api';
import { drizzleAdapter } from 'better-auth/adapters/drizzle';
import { getCookies } from 'better-auth/cookies';
import { admin, openAPI } from 'better-auth/plugins';
import { createAccessControl } from 'better-auth/plugins/access';
import { adminAc, defaultStatements, userAc } from 'better-auth/plugins/admin/access';
import { z } from 'zod';
import type { AppConfig } from '../config/env';
import {
  accounts,
  type DatabaseCluster,
  isConnectionError,
  QueryDeadlineError,
  sessions,
  toUnavailable,
  type UserRole,
  userRoles,
  users,
  verifications,
} from '../db';
import { conflict, forbidden, HttpError, serviceUnavailable, unauthorized } from './errors';
import { type Logger, serializeError } from './logger';
import { emailSchema, imageUrlSchema, PASSWORD_MAX_UNITS, PASSWORD_MIN_CHARS, passwordPolicyProblem, personNameSchema } from './validation';

export const AUTH_BASE_PATH = '/api/auth';

// --- Client IP ----------------------------------------------------------------------------------

/**
 * The header Better-Auth's rate limiter keys on. Only our server code sets it (src/index.ts strips
 * any incoming value first), so a client cannot pick its own bucket.
 */
export const CLIENT_IP_HEADER = 'x-bountyexpo-client-ip';

const unmapIpv4 = (ip: string): string => (ip.toLowerCase().startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip);

function proxyList(trustedProxies: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of trustedProxies) {
    const [address = '', prefix] = entry.split('/');
    const family = isIP(address);
    if (family === 0) continue;
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

const isTrusted = (list: BlockList, ip: string): boolean => {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 4 ? 'ipv4' : 'ipv6');
};

/**
 * The client's IP: the direct peer, unless the peer is a trusted proxy; then X-Forwarded-For is
 * walked right to left past trusted hops (the left end is whatever the client wrote, so it is
 * only believed when every hop after it is ours).
 */
export function resolveClientIp(peer: string | null | undefined, forwardedFor: string | null, trustedProxies: readonly string[]): string | null {
  if (!peer || isIP(peer) === 0) return null;
  const direct = unmapIpv4(peer);
  if (trustedProxies.length === 0 || !forwardedFor) return direct;
  const proxies = proxyList(trustedProxies);
  if (!isTrusted(proxies, direct)) return direct;
  const hops = forwardedFor.split(',').map((hop) => unmapIpv4(hop.trim()));
  for (let index = hops.length - 1; index >= 0; index -= 1) {
    const hop = hops[index] ?? '';
    if (isIP(hop) === 0) return direct; // a garbled chain: fall back to the proxy itself
    if (!isTrusted(proxies, hop)) return hop;
  }
  return direct;
}

/** What src/index.ts does to every request before the app sees it. */
export function stampClientIp(request: Request, peer: string | null | undefined, trustedProxies: readonly string[]): Request {
  const ip = resolveClientIp(peer, request.headers.get('x-forwarded-for'), trustedProxies);
  request.headers.delete(CLIENT_IP_HEADER);
  if (ip) request.headers.set(CLIENT_IP_HEADER, ip);
  return request;
}

// --- Roles --------------------------------------------------------------------------------------

/**
 * Better-Auth's admin endpoints check these statements. A moderator is a distinct role our routes
 * can require, with no powers over other accounts (it cannot list users or ban anyone).
 */
const accessControl = createAccessControl(defaultStatements);
const roles = {
  user: userAc,
  moderator: accessControl.newRole({ user: [], session: [] }),
  admin: adminAc,
} satisfies Record<UserRole, unknown>;

// --- Rate limit storage ---------------------------------------------------------------------------

type RateRule = { window: number; max: number };

/**
 * In-memory, PER AUTH INSTANCE (so per process): N instances behind a load balancer allow N times
 * the limit. Better-Auth's built-in memory store is module-global, which made separately built
 * instances (tests) share buckets. Fixed window per key, pruned as it goes.
 */
export function memoryRateLimitStorage() {
  const buckets = new Map<string, { count: number; startedAt: number; windowMs: number }>();
  let lastPrune = Date.now();
  return {
    async consume(key: string, rule: RateRule) {
      const now = Date.now();
      if (now - lastPrune > 60_000 || buckets.size > 100_000) {
        for (const [name, bucket] of buckets) if (now - bucket.startedAt >= bucket.windowMs) buckets.delete(name);
        lastPrune = now;
      }
      const windowMs = rule.window * 1000;
      const bucket = buckets.get(key);
      if (!bucket || now - bucket.startedAt >= windowMs) {
        buckets.set(key, { count: 1, startedAt: now, windowMs });
        return { allowed: true, retryAfter: null };
      }
      if (bucket.count >= rule.max) {
        return { allowed: false, retryAfter: Math.max(1, Math.ceil((bucket.startedAt + windowMs - now) / 1000)) };
      }
      bucket.count += 1;
      return { allowed: true, retryAfter: null };
    },
  };
}

/** Sign-in and sign-up: 3 attempts per 10 s per client IP (Better-Auth's own default, made explicit). */
export const CREDENTIAL_RATE_LIMIT: RateRule = { window: 10, max: 3 };
/** Every other Better-Auth endpoint. */
export const DEFAULT_RATE_LIMIT: RateRule = { window: 60, max: 100 };

const isCredentialPath = (path: string): boolean => /\/(sign-in|sign-up)\//.test(path);

/** Retry-After plus the IETF draft RateLimit header, for a 429 on `path`. */
export function rateLimitHeaders(retryAfterS: number, path: string): Record<string, string> {
  const rule = isCredentialPath(path) ? CREDENTIAL_RATE_LIMIT : DEFAULT_RATE_LIMIT;
  return { 'retry-after': String(retryAfterS), ratelimit: `limit=${rule.max}, remaining=0, reset=${retryAfterS}` };
}

// --- A primary that is down, as Better-Auth meets it ----------------------------------------

/** What the database layer answers for a connection failure (src/db/errors.ts), for auth too. */
export const databaseUnavailable = (): HttpError =>
  serviceUnavailable('The database is unavailable, retry shortly', 'DATABASE_UNAVAILABLE');

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
function noteOutage(error: unknown): boolean {
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
export async function guardBetterAuth<T>(auth: Auth, work: () => Promise<T>, boundMs: number): Promise<T> {
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

// --- Better-Auth failures in our error format -------------------------------------------------

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
    const retryAfterS = failure.retryAfterS ?? CREDENTIAL_RATE_LIMIT.window;
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

// --- User field invariants -------------------------------------------------------------------

/**
 * `role` is exactly one of ours: the admin plugin joins a list into "user,admin" before this hook
 * sees it, and reads such a value as every role in it, so a list is refused here (and by the
 * database's CHECK), never stored (issue 7).
 */
const userFieldSchemas = {
  name: personNameSchema,
  email: emailSchema,
  image: imageUrlSchema.nullable(),
  role: z.enum(userRoles),
} as const;

/**
 * Every writer of users (our routes, Better-Auth's own endpoints, the seed) goes through these
 * checks, so the columns always fit our response schemas and a NUL byte never reaches
 * PostgreSQL as a 500.
 */
function checkUserFields<T extends Record<string, unknown>>(user: T) {
  const normalized: Record<string, unknown> = {};
  for (const [field, schema] of Object.entries(userFieldSchemas)) {
    if (!(field in user) || user[field] === undefined) continue;
    const parsed = schema.safeParse(user[field]);
    if (!parsed.success) {
      throw new APIError('BAD_REQUEST', { code: 'INVALID_USER_FIELDS', message: `${field}: ${parsed.error.issues[0]?.message ?? 'is invalid'}` });
    }
    normalized[field] = parsed.data; // trimmed, lower-cased
  }
  return { data: { ...user, ...normalized } };
}

// --- Request policy: the same rules as our own routes --------------------------------------------

/** Where each Better-Auth endpoint carries a new password. */
const NEW_PASSWORD_FIELD: Readonly<Record<string, string>> = {
  '/sign-up/email': 'password',
  '/change-password': 'newPassword',
  '/admin/create-user': 'password',
  '/admin/set-user-password': 'newPassword',
};
const EMAIL_PATHS = new Set(['/sign-up/email', '/sign-in/email', '/admin/create-user']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Runs before every Better-Auth endpoint, over HTTP and `auth.api.*` alike: one password policy
 * (src/lib/validation.ts: code points, no control characters, not only whitespace) and emails
 * trimmed before Better-Auth validates them, exactly as /auth/signup does (issue 7: the two
 * entry points disagreed).
 */
const requestPolicy = createAuthMiddleware(async (ctx) => {
  const body: unknown = ctx.body;
  if (!isRecord(body)) return;
  const passwordField = NEW_PASSWORD_FIELD[ctx.path];
  const password = passwordField ? body[passwordField] : undefined;
  if (typeof password === 'string') {
    const problem = passwordPolicyProblem(password);
    if (problem) throw new APIError('BAD_REQUEST', { code: 'PASSWORD_POLICY', message: `${passwordField}: ${problem}` });
  }
  if (EMAIL_PATHS.has(ctx.path) && typeof body.email === 'string') {
    return { context: { body: { ...body, email: body.email.trim().toLowerCase() } } };
  }
  return;
});

/**
 * Better-Auth logs some refusals a client causes at error level (a bad Origin, a callback URL
 * that is not trusted). Error means our fault here: these are warnings.
 */
const CLIENT_REFUSAL = /^(Invalid (origin|callbackURL|redirectTo|errorCallbackURL|newUserCallbackURL)\b|Blocked cross-site navigation)/;

// --- The instance -------------------------------------------------------------------------------

export type CreateAuthOptions = {
  config: AppConfig;
  database: DatabaseCluster;
  logger: Logger;
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

function authOptions({ config, database, logger, advanced }: CreateAuthOptions) {
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
      // A revoked or banned session stays valid on cached checks for at most this long; only
      // safe reads (GET) use them: writes, admin checks and `fresh` ones bypass the cache
      // (src/plugins/auth.ts).
      cookieCache: { enabled: cookieCacheS > 0, maxAge: Math.max(cookieCacheS, 1) },
    },
    rateLimit: {
      enabled: true,
      window: 60,
      max: 100,
      customRules: {
        '/sign-in/*': CREDENTIAL_RATE_LIMIT,
        '/sign-up/*': CREDENTIAL_RATE_LIMIT,
      },
      customStorage: memoryRateLimitStorage(),
    },
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
