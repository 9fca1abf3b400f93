/**
 * Better-Auth's official client (better-auth/client) against a listening server: the app's
 * /api/auth/* mount must work for it exactly as for a Better-Auth-only backend, and the session it
 * gets must be the one our own routes accept.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createAuthClient } from 'better-auth/client';
import { PASSWORD, uniqueEmail } from './support/accounts';
import { CookieJar } from './support/cookies';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, readJson } from './support/json';

describe.skipIf(!hasCluster)('better-auth/client against Bun.serve', () => {
  let t: TestApp;
  let origin: string;
  // A server-side client has no browser cookie store: the jar plays that part.
  const jar = new CookieJar();
  const client = () =>
    createAuthClient({
      baseURL: origin,
      fetchOptions: {
        onRequest: (context) => {
          const cookie = jar.header();
          if (cookie) context.headers.set('cookie', cookie);
        },
        onResponse: (context) => {
          jar.store(context.response);
        },
      },
    });

  beforeAll(async () => {
    t = await startTestApp();
    origin = t.listen().url.origin;
  });
  afterAll(() => t.close());

  test('signUp.email creates the account and a session our routes accept', async () => {
    const email = uniqueEmail('client');
    const { data, error } = await client().signUp.email({ email, password: PASSWORD, name: 'Client User' });
    expect(error).toBeNull();
    expect(data?.user.email).toBe(email.toLowerCase());
    const session = await client().getSession();
    expect(session.data?.user.id).toBe(data?.user.id ?? 'missing');
    const me = await fetch(`${origin}/auth/me`, { headers: { cookie: jar.header() } });
    expect(me.status).toBe(200);
    expect(at(await readJson(me), 'data', 'email')).toBe(email.toLowerCase());

    const signOut = await client().signOut();
    expect(signOut.error).toBeNull();
    expect((await fetch(`${origin}/auth/me`, { headers: { cookie: jar.header() } })).status).toBe(401);

    const signIn = await client().signIn.email({ email: email.toUpperCase(), password: PASSWORD });
    expect(signIn.error).toBeNull();
    expect(signIn.data?.user.id).toBe(data?.user.id ?? 'missing');
    expect((await fetch(`${origin}/auth/me`, { headers: { cookie: jar.header() } })).status).toBe(200);
  });

  test('a wrong password comes back as an error the client understands, not a crash', async () => {
    const { data, error } = await client().signIn.email({ email: uniqueEmail('nobody'), password: 'wrong-password' });
    expect(data).toBeNull();
    expect(error?.status).toBe(401);
  });
});
