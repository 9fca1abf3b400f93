/**
 * The fast session readers (src/lib/auth/session-reader.ts) say "this is the session" only when
 * Better-Auth would, and "cannot tell" otherwise: real cookies from a real sign-up, then the
 * forgeries and stale states Better-Auth refuses.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { authCookieNames, createSessionReader, SESSION_UPDATE_AGE_S, type SessionReader } from '../src/lib/auth';
import { signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';

describe.skipIf(!hasCluster)('the fast session readers', () => {
  let t: TestApp;
  let ann: TestAccount;
  let bob: TestAccount;
  let reader: SessionReader;
  let names: ReturnType<typeof authCookieNames>;
  beforeAll(async () => {
    t = await startTestApp();
    [ann, bob] = await Promise.all([signUp(t, 'reader-ann'), signUp(t, 'reader-bob')]);
    names = authCookieNames(t.config);
    reader = createSessionReader({ secret: t.config.auth.secret, cookies: names, authDatabase: t.database.authPrimary, cacheEnabled: true });
  });
  afterAll(() => t.close());

  const header = (cookies: Record<string, string | undefined>) =>
    Object.entries(cookies)
      .filter(([, value]) => value !== undefined)
      .map(([name, value]) => `${name}=${value}`)
      .join('; ');
  const cacheOf = (account: TestAccount) => account.jar.get(names.sessionData);
  const tokenOf = (account: TestAccount) => account.jar.get(names.sessionToken);

  test('they agree with Better-Auth on a real session, from the cache and from the database', async () => {
    const official = await t.auth.api.getSession({ headers: new Headers({ cookie: ann.jar.header() }) });
    const cached = reader.fromCache(ann.jar.header());
    const stored = await reader.fromDatabase(ann.jar.header());
    expect(cached?.user.id).toBe(ann.id);
    expect(stored?.user.id).toBe(ann.id);
    expect(cached?.session.id).toBe(official?.session.id);
    expect(stored?.session.id).toBe(official?.session.id);
    expect(cached?.user.email).toBe(official?.user.email);
  });

  test('a forged or mismatched cookie cache is "cannot tell", never a session', () => {
    const cache = cacheOf(ann) ?? '';
    const decoded = JSON.parse(Buffer.from(decodeURIComponent(cache), 'base64url').toString('utf8')) as { session: { user: { role: string } } };
    decoded.session.user.role = 'admin';
    const forged = Buffer.from(JSON.stringify(decoded)).toString('base64url');
    expect(reader.fromCache(header({ [names.sessionToken]: tokenOf(ann), [names.sessionData]: forged }))).toBeUndefined();
    // Bob's cache with Ann's token (or the reverse): the token inside does not match.
    expect(reader.fromCache(header({ [names.sessionToken]: tokenOf(ann), [names.sessionData]: cacheOf(bob) }))).toBeUndefined();
    // A token whose signature is not ours.
    const unsigned = `${decodeURIComponent(tokenOf(ann) ?? '').split('.')[0]}.${'A'.repeat(43)}=`;
    expect(reader.fromCache(header({ [names.sessionToken]: encodeURIComponent(unsigned), [names.sessionData]: cacheOf(ann) }))).toBeUndefined();
    expect(reader.fromCache(header({ [names.sessionData]: cacheOf(ann) }))).toBeUndefined();
    expect(reader.fromCache('unrelated=1')).toBeUndefined();
  });

  test('an expired cookie cache is "cannot tell"; a session due for renewal is left to Better-Auth', async () => {
    // One reader, one clock moved forward: an answer remembered from the first call must not
    // outlive the cache's expiry.
    let offsetS = 0;
    const moving = createSessionReader({ secret: t.config.auth.secret, cookies: names, authDatabase: t.database.authPrimary, cacheEnabled: true, now: () => Date.now() + offsetS * 1000 });
    expect(moving.fromCache(ann.jar.header())?.user.id).toBe(ann.id);
    offsetS = t.config.auth.cookieCacheS + 5;
    expect(moving.fromCache(ann.jar.header())).toBeUndefined();
    const later = (seconds: number) =>
      createSessionReader({ secret: t.config.auth.secret, cookies: names, authDatabase: t.database.authPrimary, cacheEnabled: true, now: () => Date.now() + seconds * 1000 });
    expect(await later(SESSION_UPDATE_AGE_S + 5).fromDatabase(ann.jar.header())).toBeUndefined();
    expect((await later(SESSION_UPDATE_AGE_S - 60).fromDatabase(ann.jar.header()))?.user.id).toBe(ann.id);
  });

  test('with the cookie cache switched off, a leftover cache cookie is ignored, as Better-Auth ignores it', () => {
    const off = createSessionReader({ secret: t.config.auth.secret, cookies: names, authDatabase: t.database.authPrimary, cacheEnabled: false });
    expect(off.fromCache(ann.jar.header())).toBeUndefined();
  });

  test('after sign-out the database reader finds nothing (the cache alone still would, for GETs only)', async () => {
    const old = bob.jar.header();
    expect((await t.request('/auth/logout', { method: 'POST', headers: { cookie: old } })).status).toBe(200);
    expect(await reader.fromDatabase(old)).toBeUndefined();
  });
});
