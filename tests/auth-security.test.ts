/**
 * Attacks on sign-in and on cookie-authenticated writes: brute force with a rotating
 * X-Forwarded-For (which bypassed Better-Auth's limiter entirely when forwarding headers were
 * trusted from anyone), cross-origin cookie POSTs with the Origin check switched on, and revoked
 * sessions (logout, ban, deletion) replayed on writes while their cookie cache is still valid.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { count, eq, like } from 'drizzle-orm';
import { posts, rateLimits } from '../src/db';
import { CLIENT_IP_HEADER, createAuth, resolveClientIp } from '../src/lib/auth';
import { createAdmin, PASSWORD, signUp, type TestAccount, uniqueEmail } from './support/accounts';
import { hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { at, readJson } from './support/json';

describe('resolveClientIp (pure)', () => {
  test('the socket peer is the client when it is not a trusted proxy, whatever X-Forwarded-For says', () => {
    expect(resolveClientIp('203.0.113.9', '1.2.3.4', [])).toBe('203.0.113.9');
    expect(resolveClientIp('203.0.113.9', '1.2.3.4', ['10.0.0.0/8'])).toBe('203.0.113.9');
  });

  test('behind trusted proxies, the right-most untrusted hop is the client', () => {
    expect(resolveClientIp('10.0.0.2', '198.51.100.7', ['10.0.0.0/8'])).toBe('198.51.100.7');
    // The left end is whatever the client wrote: only believed past our own hops.
    expect(resolveClientIp('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.0.0.5', ['10.0.0.0/8'])).toBe('198.51.100.7');
    expect(resolveClientIp('::ffff:10.0.0.2', '198.51.100.7', ['10.0.0.2'])).toBe('198.51.100.7');
  });

  test('a garbled chain or a missing peer never yields a client-chosen address', () => {
    expect(resolveClientIp('10.0.0.2', 'not-an-ip', ['10.0.0.0/8'])).toBe('10.0.0.2');
    expect(resolveClientIp(undefined, '1.2.3.4', [])).toBeNull();
  });
});

const attempt = (base: string, path: string, email: string, headers: Record<string, string>) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ email, password: 'guess-guess-guess' }),
  });

describe.skipIf(!hasCluster)('sign-in brute force over a real socket', () => {
  let t: TestApp;
  let victim: TestAccount;
  beforeAll(async () => {
    t = await startTestApp();
    victim = await signUp(t, 'victim');
    // Every attempt here comes from the loopback address, whose sign-in bucket is shared by every
    // instance and outlives a run (src/lib/rate-limit-store.ts): start from an empty one.
    await t.database.primary.delete(rateLimits).where(like(rateLimits.key, 'sign-in:127.0.0.1|%'));
  });
  afterAll(() => t.close());

  test('is 429 with Retry-After after 3 tries, even with a rotating X-Forwarded-For and a forged client-IP header', async () => {
    const server = t.listen();
    const base = server.url.origin;
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let index = 0; index < 8; index += 1) {
      const response = await attempt(base, '/auth/login', victim.email, {
        'x-forwarded-for': randomIp(),
        [CLIENT_IP_HEADER]: randomIp(),
      });
      statuses.push(response.status);
      if (response.status === 429) limited = response;
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429, 429, 429, 429]);
    const retryAfter = Number(limited?.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(limited?.headers.get('ratelimit')).toBe(`"sign-in";r=0;t=${retryAfter}`);
    expect(limited ? await readJson(limited) : null).toMatchObject({ success: false, error: 'TOO_MANY_REQUESTS' });
    // Better-Auth's own endpoint shares the bucket: it is not a way around the limit.
    const direct = await attempt(base, '/api/auth/sign-in/email', victim.email, { 'x-forwarded-for': randomIp() });
    expect(direct.status).toBe(429);
    expect(Number(direct.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Even the right password waits: the limit is on attempts, not failures.
    const right = await fetch(`${base}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: victim.email, password: PASSWORD }),
    });
    expect(right.status).toBe(429);
  });
});

describe.skipIf(!hasCluster)('sign-in rate limit behind a trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ TRUSTED_PROXIES: '127.0.0.1' });
  });
  afterAll(() => t.close());

  test('keys on the forwarded client: one client locked out does not lock out another', async () => {
    const base = t.listen().url.origin;
    const email = uniqueEmail('nobody');
    const attacker = randomIp();
    const statuses: number[] = [];
    for (let index = 0; index < 4; index += 1) {
      statuses.push((await attempt(base, '/auth/login', email, { 'x-forwarded-for': attacker })).status);
    }
    expect(statuses).toEqual([401, 401, 401, 429]);
    expect((await attempt(base, '/auth/login', email, { 'x-forwarded-for': randomIp() })).status).toBe(401);
  });
});

describe.skipIf(!hasCluster)('cross-origin cookie writes with the Origin check on', () => {
  const TRUSTED = 'https://app.bountyexpo.test';
  const EVIL = 'https://evil.example';
  let t: TestApp;
  let mallory: TestAccount;
  // Better-Auth skips the check under NODE_ENV=test; this instance turns it back on.
  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: TRUSTED }, { auth: (deps) => createAuth({ ...deps, advanced: { disableOriginCheck: false } }) });
    mallory = await signUp(t, 'mallory');
  });
  afterAll(() => t.close());

  const postCount = async (authorId: string) =>
    (await t.database.primary.select({ n: count() }).from(posts).where(eq(posts.authorId, authorId)))[0]?.n ?? 0;

  test('a cross-origin cookie POST is 403 on our routes and writes nothing', async () => {
    const before = await postCount(mallory.id);
    const response = await t.request('/posts', {
      method: 'POST',
      json: { title: 'csrf', content: 'csrf' },
      headers: { cookie: mallory.jar.header(), origin: EVIL },
    });
    expect(response.status).toBe(403);
    expect(await readJson(response)).toMatchObject({ success: false, error: 'INVALID_ORIGIN' });
    expect(await postCount(mallory.id)).toBe(before);
    const viaReferer = await t.request('/posts', {
      method: 'POST',
      json: { title: 'csrf', content: 'csrf' },
      headers: { cookie: mallory.jar.header(), referer: `${EVIL}/page` },
    });
    expect(viaReferer.status).toBe(403);
    const crossSite = await t.request('/posts', {
      method: 'POST',
      json: { title: 'csrf', content: 'csrf' },
      headers: { cookie: mallory.jar.header(), 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
  });

  test("a cross-origin cookie POST is 403 on logout and on Better-Auth's own sign-out; the session survives", async () => {
    const logout = await t.request('/auth/logout', { method: 'POST', headers: { cookie: mallory.jar.header(), origin: EVIL } });
    expect(logout.status).toBe(403);
    const signOut = await t.request('/api/auth/sign-out', {
      method: 'POST',
      json: {},
      headers: { cookie: mallory.jar.header(), origin: EVIL },
    });
    expect(signOut.status).toBe(403);
    expect((await t.request('/auth/me', { headers: { cookie: mallory.jar.header() } })).status).toBe(200);
  });

  test('a login posted from another origin is refused (login CSRF)', async () => {
    const response = await t.request('/auth/login', {
      method: 'POST',
      json: { email: mallory.email, password: PASSWORD },
      headers: { origin: EVIL, [CLIENT_IP_HEADER]: randomIp() },
    });
    expect(response.status).toBe(403);
  });

  test('the same writes from a trusted origin, or from a non-browser client (no Origin), go through', async () => {
    const trusted = await t.request('/posts', {
      method: 'POST',
      json: { title: 'ok', content: 'from the app' },
      headers: { cookie: mallory.jar.header(), origin: TRUSTED },
    });
    expect(trusted.status).toBe(201);
    const native = await t.request('/posts', { method: 'POST', json: { title: 'ok', content: 'from the mobile app' }, headers: { cookie: mallory.jar.header() } });
    expect(native.status).toBe(201);
  });
});

describe.skipIf(!hasCluster)('a revoked session stops working on writes at once, cookie cache or not', () => {
  const SESSION_DATA = 'bountyexpo.session_data';
  let t: TestApp;
  let admin: TestAccount;
  // The default cookie cache (AUTH_COOKIE_CACHE_S=60): the replayed cookies are still within it.
  beforeAll(async () => {
    t = await startTestApp();
    admin = await createAdmin(t, 'revoker');
  });
  afterAll(() => t.close());

  const postCount = async (authorId: string) =>
    (await t.database.primary.select({ n: count() }).from(posts).where(eq(posts.authorId, authorId)))[0]?.n ?? 0;
  const createPost = (cookie: string) =>
    t.request('/posts', { method: 'POST', json: { title: 'after revocation', content: 'must not be created' }, headers: { cookie } });
  /** A fresh account whose cookie cache is populated and works for a write. */
  const signedIn = async (label: string): Promise<TestAccount> => {
    const account = await signUp(t, label);
    expect(account.jar.get(SESSION_DATA)).toBeDefined();
    expect((await createPost(account.jar.header())).status).toBe(201);
    return account;
  };

  test('after logout, replaying the old full cookie set (session token + cached session data) on POST /posts is 401', async () => {
    const account = await signedIn('logout-replay');
    const before = account.jar.clone();
    const logout = await t.request('/auth/logout', { method: 'POST', headers: { cookie: account.jar.header() } });
    expect(logout.status).toBe(200);
    const posted = await postCount(account.id);
    const replay = await createPost(before.header());
    expect([replay.status, at(await readJson(replay), 'error')]).toEqual([401, 'UNAUTHORIZED']);
    expect(await postCount(account.id)).toBe(posted);
  });

  test('after an admin bans a user, that user\'s POST /posts is 401 (the ban deleted the session) and creates nothing', async () => {
    const account = await signedIn('banned-writer');
    const ban = await t.request(`/admin/users/${account.id}/ban`, { method: 'POST', json: { reason: 'spam' }, headers: { cookie: admin.jar.header() } });
    expect(ban.status).toBe(200);
    const posted = await postCount(account.id);
    const attempt = await createPost(account.jar.header());
    expect([attempt.status, at(await readJson(attempt), 'error')]).toEqual([401, 'UNAUTHORIZED']);
    expect(await postCount(account.id)).toBe(posted);
  });

  test('after an admin deletes a user, that user\'s POST /posts is 401, not a 409 from a dangling author id', async () => {
    const account = await signedIn('deleted-writer');
    const removal = await t.request(`/users/${account.id}`, { method: 'DELETE', json: { reason: 'Spam account' }, headers: { cookie: admin.jar.header() } });
    expect(removal.status).toBe(200);
    const attempt = await createPost(account.jar.header());
    expect([attempt.status, at(await readJson(attempt), 'error')]).toEqual([401, 'UNAUTHORIZED']);
    expect(await postCount(account.id)).toBe(0);
  });
});
