/**
 * The session behind a request's cookies, read the way Better-Auth reads it, without its endpoint
 * machinery on the hot path (issue 8: a signed-in GET cost ~470 µs of CPU in `auth.api.getSession`,
 * mostly a WebCrypto key import and two verifications per request; a write's lookup ~1 ms).
 *
 * Both readers only ever say "this is the session" when Better-Auth would say the same, and "I
 * cannot tell" (undefined) in every other case, which sends the caller to Better-Auth itself:
 * - `fromCache`: the signed session token cookie and the signed `session_data` cookie cache
 *   (Better-Auth's "compact" strategy), checked exactly as `getSession` checks them: both HMACs,
 *   the token inside equal to the cookie's, version "1", neither expired;
 * - `fromDatabase`: the session row by the signed token, with its user, on Better-Auth's own pool
 *   (a write's authoritative check); a session due for sliding renewal, or not found, is left to
 *   Better-Auth, which renews it or clears the cookies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, preparedPerHandle, sessions, users } from '../../db';
import { readCookie } from '../cookies';
import { type AuthSession, type AuthUser, betterAuthUserJson, toAuthSession, toAuthUser } from './user';

/** Better-Auth's session lifetime and sliding renewal age (its defaults, set explicitly in instance.ts). */
export const SESSION_EXPIRES_IN_S = 7 * 24 * 60 * 60;
export const SESSION_UPDATE_AGE_S = 24 * 60 * 60;
const CACHE_VERSION = '1';
/** A signed cookie's signature: standard base64 of a SHA-256 HMAC, as better-call writes it. */
const SIGNATURE_LENGTH = 44;
/** About 1.5 KB a cookie pair: at most ~1.5 MB per process. */
const VERIFIED_KEPT = 1_000;

export type FoundSession = { user: AuthUser; session: AuthSession };

const cachedSession = z.object({
  session: z.object({
    session: z.looseObject({ id: z.string(), token: z.string(), userId: z.string(), expiresAt: z.string(), createdAt: z.string() }),
    user: betterAuthUserJson,
    updatedAt: z.number(),
    version: z.string().optional(),
  }),
  expiresAt: z.number(),
  signature: z.string(),
});

const at = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null ? Reflect.get(value, key) : undefined;

const sameBytes = (a: string, b: string): boolean => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

export type SessionReaderOptions = {
  secret: string;
  cookies: { sessionToken: string; sessionData: string };
  authDatabase: Database;
  /** The clock expiries are judged by (tests move it). */
  now?: () => number;
  /** AUTH_COOKIE_CACHE_S > 0: with the cache off, Better-Auth ignores a leftover cache cookie, and so do we. */
  cacheEnabled: boolean;
};

/** The session row and its user by token: every authenticated write runs it, so it is prepared once. */
const sessionByToken = preparedPerHandle((db) =>
  db
    .select({ session: sessions, user: users })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(eq(sessions.token, sql.placeholder('token')))
    .limit(1)
    .prepare('session_by_token'),
);

export function createSessionReader(options: SessionReaderOptions) {
  const clock = options.now ?? Date.now;
  const hmac = (value: string, encoding: 'base64' | 'base64url'): string => createHmac('sha256', options.secret).update(value).digest(encoding);

  /** The session token of a signed cookie value; null when it is not signed by us. */
  function verifiedToken(value: string): string | null {
    const dot = value.lastIndexOf('.');
    if (dot < 1) return null;
    const token = value.slice(0, dot);
    const signature = value.slice(dot + 1);
    if (signature.length !== SIGNATURE_LENGTH || !signature.endsWith('=')) return null;
    return sameBytes(signature, hmac(token, 'base64')) ? token : null;
  }

  /** The session token from its signed cookie; null when absent or not signed by us. */
  function signedToken(cookieHeader: string): string | null {
    const value = readCookie(cookieHeader, options.cookies.sessionToken);
    return value ? verifiedToken(value) : null;
  }

  /**
   * Cookie caches already verified, by their exact cookie text: a signed-in client sends the same
   * one until it changes, and its content cannot change without changing the text. The expiries
   * are still judged on every request. Bounded: cleared when full.
   */
  const verified = new Map<string, { found: FoundSession; cacheExpiresAt: number; sessionExpiresAt: number }>();

  /** From the cookie cache, or undefined when only Better-Auth can tell (absent, chunked, stale). */
  function fromCache(cookieHeader: string): FoundSession | undefined {
    if (!options.cacheEnabled) return undefined;
    const tokenCookie = readCookie(cookieHeader, options.cookies.sessionToken);
    const data = tokenCookie ? readCookie(cookieHeader, options.cookies.sessionData) : null;
    if (!tokenCookie || !data) return undefined;
    const key = `${tokenCookie}|${data}`;
    let entry = verified.get(key);
    if (!entry) {
      const decoded = verifyCache(tokenCookie, data);
      if (!decoded) return undefined;
      entry = decoded;
      if (verified.size >= VERIFIED_KEPT) verified.clear();
      verified.set(key, entry);
    }
    const now = clock();
    if (entry.cacheExpiresAt < now || !(entry.sessionExpiresAt >= now)) return undefined;
    return entry.found;
  }

  /** Both signatures and the token match, as Better-Auth checks them; expiries are the caller's. */
  function verifyCache(tokenCookie: string, data: string): { found: FoundSession; cacheExpiresAt: number; sessionExpiresAt: number } | undefined {
    const token = verifiedToken(tokenCookie);
    if (!token) return undefined;
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(data, 'base64url').toString('utf8'));
    } catch {
      return undefined;
    }
    const parsed = cachedSession.safeParse(raw);
    if (!parsed.success) return undefined;
    // What Better-Auth signed: the payload exactly as it came (key order and extra fields kept),
    // plus the cache's expiry.
    const signed = at(raw, 'session');
    if (typeof signed !== 'object' || signed === null) return undefined;
    const expected = hmac(JSON.stringify({ ...signed, expiresAt: parsed.data.expiresAt }), 'base64url');
    if (!sameBytes(parsed.data.signature, expected)) return undefined;
    const { session, user, version } = parsed.data.session;
    if (session.token !== token || (version ?? CACHE_VERSION) !== CACHE_VERSION) return undefined;
    // Frozen: one verified cache answers every request that sends it.
    return {
      found: Object.freeze({ user: Object.freeze(toAuthUser(user)), session: Object.freeze(toAuthSession(session)) }),
      cacheExpiresAt: parsed.data.expiresAt,
      sessionExpiresAt: Date.parse(session.expiresAt),
    };
  }

  /**
   * From the database (the authoritative check of a write), or undefined when Better-Auth should
   * answer: no valid signed token (it clears such cookies), no live row, or renewal due.
   */
  async function fromDatabase(cookieHeader: string): Promise<FoundSession | undefined> {
    const token = signedToken(cookieHeader);
    if (!token) return undefined;
    const [row] = await sessionByToken(options.authDatabase).execute({ token });
    if (!row) return undefined;
    const expiresAt = row.session.expiresAt.getTime();
    const now = clock();
    const renewalDue = expiresAt - SESSION_EXPIRES_IN_S * 1000 + SESSION_UPDATE_AGE_S * 1000 <= now;
    if (expiresAt <= now || renewalDue) return undefined;
    return { user: toAuthUser(row.user), session: toAuthSession(row.session) };
  }

  return { fromCache, fromDatabase };
}

export type SessionReader = ReturnType<typeof createSessionReader>;
