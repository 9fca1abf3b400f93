/**
 * The seed's auth flow over HTTP on the real primary + replica: sign up, log in, me, log out,
 * and what must never happen (a forged or stale cookie working, a hash leaking, a 500 on bad input).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, inArray } from 'drizzle-orm';
import { accounts, sessions, users } from '../src/db';
import { CLIENT_IP_HEADER } from '../src/lib/auth';
import { PASSWORD, signUp, type TestAccount, uniqueEmail } from './support/accounts';
import { CookieJar, parseSetCookie } from './support/cookies';
import { hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { at, readJson } from './support/json';

const SESSION = 'bountyexpo.session_token';
const SESSION_DATA = 'bountyexpo.session_data';

/** The session token inside the signed cookie value `<token>.<signature>`. */
const tokenOf = (jar: CookieJar): string => decodeURIComponent(jar.get(SESSION) ?? '').split('.')[0] ?? '';

describe.skipIf(!hasCluster)('auth flow over HTTP', () => {
  let t: TestApp;
  let alice: TestAccount;
  const seen: string[] = [];
  /** Every response of this file is kept, to prove afterwards that none carried a hash. */
  const call = async (path: string, init: Parameters<TestApp['request']>[1] = {}) => {
    const response = await t.request(path, init);
    seen.push(`${[...response.headers].map(([name, value]) => `${name}: ${value}`).join('\n')}\n${await response.clone().text()}`);
    return response;
  };
  const fromNewIp = () => ({ [CLIENT_IP_HEADER]: randomIp() });

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  test('sign-up answers 201 with the user and an HttpOnly, SameSite=Lax session cookie (not Secure over http)', async () => {
    const email = uniqueEmail('Alice');
    const jar = new CookieJar();
    const response = jar.store(
      await call('/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name: '  Alice  ' }, headers: fromNewIp() }),
    );
    expect(response.status).toBe(201);
    const body = await readJson(response);
    expect(body).toMatchObject({ success: true, data: { email: email.toLowerCase(), name: 'Alice', role: 'user', banned: false } });
    const cookie = response.headers.getSetCookie().map(parseSetCookie).find((item) => item.name === SESSION);
    expect(cookie?.attributes.get('httponly')).toBe(true);
    expect(cookie?.attributes.get('samesite')?.toString().toLowerCase()).toBe('lax');
    expect(cookie?.attributes.has('secure')).toBe(false);
    alice = { id: String(at(body, 'data', 'id')), email, name: 'Alice', password: PASSWORD, jar };
  });

  test('the new user reads themselves at once: /auth/me and /users/:id (read-your-writes across the replica)', async () => {
    const me = await call('/auth/me', { headers: { cookie: alice.jar.header() } });
    expect(me.status).toBe(200);
    expect(at(await readJson(me), 'data')).toMatchObject({ id: alice.id, email: alice.email.toLowerCase() });
    // The sign-up's db_lsn token sends this replica read where the new row already is.
    expect(alice.jar.get('db_lsn')).toBeDefined();
    const profile = await call(`/users/${alice.id}`, { headers: { cookie: alice.jar.header() } });
    expect(profile.status).toBe(200);
    expect(at(await readJson(profile), 'data', 'email')).toBe(alice.email.toLowerCase());
  });

  test('login answers 200 with a session cookie, whatever the case of the email', async () => {
    const jar = new CookieJar();
    const response = jar.store(
      await call('/auth/login', { method: 'POST', json: { email: alice.email.toUpperCase(), password: PASSWORD }, headers: fromNewIp() }),
    );
    expect(response.status).toBe(200);
    expect(at(await readJson(response), 'data', 'id')).toBe(alice.id);
    expect(jar.get(SESSION)).toBeDefined();
    const me = await call('/auth/me', { headers: { cookie: jar.header() } });
    expect(me.status).toBe(200);
  });

  test('a taken email, in any case, is 409 USER_ALREADY_EXISTS', async () => {
    const response = await call('/auth/signup', {
      method: 'POST',
      json: { email: alice.email.toUpperCase(), password: PASSWORD, name: 'Impostor' },
      headers: fromNewIp(),
    });
    expect(response.status).toBe(409);
    expect(await readJson(response)).toMatchObject({ success: false, error: 'USER_ALREADY_EXISTS' });
  });

  test('mass assignment at sign-up: role, id, emailVerified, banned in the body are never applied, here or at /api/auth', async () => {
    const extras = { role: 'admin', id: 'chosen-id', emailVerified: true, banned: true, banReason: 'x' };
    const email = uniqueEmail('sneaky');
    const ours = await call('/auth/signup', { method: 'POST', json: { email, password: PASSWORD, name: 'Sneaky', ...extras }, headers: fromNewIp() });
    expect(ours.status).toBe(201);
    const [row] = await t.database.primary.select().from(users).where(eq(users.email, email));
    expect(row).toMatchObject({ role: 'user', emailVerified: false, banned: false, banReason: null });
    expect(row?.id).not.toBe('chosen-id');
    // Better-Auth's own endpoint refuses the admin plugin's fields outright.
    const direct = await call('/api/auth/sign-up/email', {
      method: 'POST',
      json: { email: uniqueEmail('sneaky'), password: PASSWORD, name: 'Sneaky', ...extras },
      headers: fromNewIp(),
    });
    expect(direct.status).toBe(400);
    expect(await readJson(direct)).toMatchObject({ code: 'FIELD_NOT_ALLOWED' });
  });

  test('an unknown email and a wrong password get the same 401', async () => {
    const unknown = await call('/auth/login', { method: 'POST', json: { email: uniqueEmail('nobody'), password: PASSWORD }, headers: fromNewIp() });
    const wrong = await call('/auth/login', { method: 'POST', json: { email: alice.email, password: 'not the password' }, headers: fromNewIp() });
    expect(unknown.status).toBe(401);
    expect(wrong.status).toBe(401);
    expect(await readJson(unknown)).toEqual(await readJson(wrong));
    expect(unknown.headers.getSetCookie()).toEqual([]);
  });

  test('a forged session cookie is 401, never 200, on every kind of route', async () => {
    const forged = `${SESSION}=${'x'.repeat(32)}.${encodeURIComponent('Zm9yZ2VkLXNpZ25hdHVyZS1ub3QtdmFsaWQ=')}`;
    for (const [path, init] of [
      ['/auth/me', {}],
      [`/users/${alice.id}`, {}],
      ['/posts', { method: 'POST', json: { title: 'forged', content: 'forged' } }],
    ] as const) {
      const response = await call(path, { ...init, headers: { cookie: forged } });
      expect(response.status).toBe(401);
      expect(at(await readJson(response), 'error')).toBe('UNAUTHORIZED');
    }
    // A real token with a made-up signature is just as forged.
    const resigned = `${SESSION}=${tokenOf(alice.jar)}.${encodeURIComponent('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')}`;
    expect((await call('/auth/me', { headers: { cookie: resigned } })).status).toBe(401);
  });

  test('an expired session is 401', async () => {
    const jar = await loginJar(alice);
    await t.database.primary.update(sessions).set({ expiresAt: new Date(Date.now() - 60_000) }).where(eq(sessions.token, tokenOf(jar)));
    expect((await call('/auth/me', { headers: { cookie: jar.header() } })).status).toBe(401);
    const onlyToken = jar.header((name) => name === SESSION);
    expect((await call('/posts', { method: 'POST', json: { title: 't', content: 'c' }, headers: { cookie: onlyToken } })).status).toBe(401);
  });

  test('logout answers 200, clears the cookies and deletes the session; the old cookie is then 401', async () => {
    const jar = await loginJar(alice);
    const before = jar.clone();
    const token = tokenOf(jar);
    const response = jar.store(await call('/auth/logout', { method: 'POST', headers: { cookie: jar.header() } }));
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ success: true, data: { signedOut: true } });
    const cleared = response.headers.getSetCookie().map(parseSetCookie).filter((cookie) => cookie.attributes.get('max-age') === '0');
    expect(cleared.map((cookie) => cookie.name)).toContain(SESSION);
    expect(jar.get(SESSION)).toBeUndefined();
    const rows = await t.database.primary.select().from(sessions).where(eq(sessions.token, token));
    expect(rows).toEqual([]);
    // Replaying the old cookies: the session cookie alone, and with the cached session data too.
    expect((await call('/auth/me', { headers: { cookie: before.header((name) => name === SESSION) } })).status).toBe(401);
    expect((await call('/auth/me', { headers: { cookie: before.header() } })).status).toBe(401);
    expect(before.get(SESSION_DATA)).toBeDefined();
  });

  test('logout without a session is a harmless 200', async () => {
    const response = await call('/auth/logout', { method: 'POST' });
    expect(response.status).toBe(200);
  });

  test('bad input is a 422 in our error format, never a 500', async () => {
    const cases: Array<Record<string, unknown>> = [
      { email: uniqueEmail('nul'), password: PASSWORD, name: 'Nul\u0000Byte' },
      { email: 'not-an-email', password: PASSWORD, name: 'Bad Email' },
      { email: uniqueEmail('short'), password: 'short', name: 'Short Password' },
      { email: uniqueEmail('long'), password: PASSWORD, name: 'x'.repeat(101) },
      { email: uniqueEmail('blank'), password: PASSWORD, name: '    ' },
      { email: uniqueEmail('huge'), password: 'p'.repeat(129), name: 'Huge Password' },
    ];
    for (const json of cases) {
      const response = await call('/auth/signup', { method: 'POST', json, headers: fromNewIp() });
      expect(response.status).toBe(422);
      expect(await readJson(response)).toMatchObject({ success: false, error: 'VALIDATION_ERROR' });
    }
    const nulLogin = await call('/auth/login', { method: 'POST', json: { email: 'a\u0000@example.com', password: PASSWORD }, headers: fromNewIp() });
    expect(nulLogin.status).toBe(422);
  });

  test("Better-Auth's own endpoints answer at /api/auth/* and see the same session", async () => {
    const jar = await loginJar(alice);
    const response = await call('/api/auth/get-session', { headers: { cookie: jar.header() } });
    expect(response.status).toBe(200);
    expect(at(await readJson(response), 'user', 'id')).toBe(alice.id);
  });

  test('no response in this file carried a password hash', async () => {
    const rows = await t.database.primary.select({ password: accounts.password }).from(accounts).where(inArray(accounts.userId, [alice.id]));
    const hashes = rows.map((row) => row.password).filter((hash): hash is string => Boolean(hash));
    expect(hashes.length).toBeGreaterThan(0);
    expect(seen.length).toBeGreaterThan(20);
    for (const text of seen) {
      for (const hash of hashes) {
        // Better-Auth's scrypt hashes are `<salt hex>:<key hex>`: neither half may appear.
        for (const part of hash.split(':')) expect(text).not.toContain(part);
      }
      expect(text).not.toMatch(/"password"\s*:/);
    }
  });

  async function loginJar(account: TestAccount): Promise<CookieJar> {
    const jar = new CookieJar();
    const response = jar.store(
      await call('/auth/login', { method: 'POST', json: { email: account.email, password: account.password }, headers: fromNewIp() }),
    );
    expect(response.status).toBe(200);
    return jar;
  }
});

describe.skipIf(!hasCluster)('auth cookies over https', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ BETTER_AUTH_URL: 'https://api.bountyexpo.test' });
  });
  afterAll(() => t.close());

  test('the session cookie is Secure and __Secure- prefixed when the base URL is https', async () => {
    const account = await signUp(t, 'secure');
    expect(account.jar.names()).toContain(`__Secure-${SESSION}`);
    expect(account.jar.names()).not.toContain(SESSION);
    const login = await t.request('/auth/login', { method: 'POST', json: { email: account.email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: randomIp() } });
    const cookie = login.headers.getSetCookie().map(parseSetCookie).find((item) => item.name === `__Secure-${SESSION}`);
    expect(cookie?.attributes.get('secure')).toBe(true);
    expect(cookie?.attributes.get('httponly')).toBe(true);
    const me = await t.request('/auth/me', { headers: { cookie: account.jar.header() } });
    expect(me.status).toBe(200);
  });
});
