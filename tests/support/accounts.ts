/**
 * Accounts for tests. Password hashing costs 0.15-1 s, so each test file creates its few users
 * once (beforeAll). Every sign-up / sign-in comes from a fresh client IP: the credential rate
 * limit (3 per 10 s per IP) is for attackers, not for a test file's setup.
 */
import { z } from 'zod';
import { CLIENT_IP_HEADER } from '../../src/lib/auth';
import { CookieJar } from './cookies';
import { randomIp, type TestApp } from './harness';

export const PASSWORD = 'correct horse battery staple';

let counter = 0;
/** A unique email per call (and per test run: files share the database). */
export const uniqueEmail = (label: string): string =>
  `${label}-${Date.now().toString(36)}-${(counter += 1)}-${Math.random().toString(36).slice(2, 8)}@example.com`;

export type TestAccount = { id: string; email: string; name: string; password: string; jar: CookieJar };

const userEnvelope = z.object({ success: z.literal(true), data: z.object({ id: z.string() }) });

async function expectUserEnvelope(response: Response, what: string): Promise<{ id: string }> {
  const body: unknown = await response.json();
  const parsed = userEnvelope.safeParse(body);
  if (!response.ok || !parsed.success) throw new Error(`${what} failed: ${response.status} ${JSON.stringify(body)}`);
  return parsed.data.data;
}

/** POST /auth/signup; the jar holds the session cookie (and the read-your-writes token). */
export async function signUp(t: TestApp, label: string, name = label): Promise<TestAccount> {
  const email = uniqueEmail(label);
  const jar = new CookieJar();
  const response = jar.store(
    await t.request('/auth/signup', {
      method: 'POST',
      json: { email, password: PASSWORD, name },
      headers: { [CLIENT_IP_HEADER]: randomIp() },
    }),
  );
  const user = await expectUserEnvelope(response, 'sign-up');
  return { id: user.id, email, name, password: PASSWORD, jar };
}

/** POST /auth/login into a fresh jar (a second device). */
export async function logIn(t: TestApp, account: Pick<TestAccount, 'email' | 'password'>): Promise<CookieJar> {
  const jar = new CookieJar();
  const response = jar.store(
    await t.request('/auth/login', {
      method: 'POST',
      json: { email: account.email, password: account.password },
      headers: { [CLIENT_IP_HEADER]: randomIp() },
    }),
  );
  await expectUserEnvelope(response, 'login');
  return jar;
}

/** An admin, created the way an operator would (Better-Auth's server API), then signed in. */
export const createAdmin = (t: TestApp, label = 'admin'): Promise<TestAccount> => createStaff(t, 'admin', label);

/** A moderator or an admin, created the way an operator would, then signed in (a fresh session). */
export async function createStaff(t: TestApp, role: 'moderator' | 'admin', label: string = role): Promise<TestAccount> {
  const email = uniqueEmail(label);
  const { user } = await t.auth.api.createUser({ body: { email, password: PASSWORD, name: label, role } });
  const jar = await logIn(t, { email, password: PASSWORD });
  return { id: user.id, email, name: label, password: PASSWORD, jar };
}
