/**
 * Accounts on the real cluster: who may list, read, change and delete whom (BFLA, BOLA), and
 * that fields a user may not set are never applied (mass assignment).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq } from 'drizzle-orm';
import { auditLog, sessions, users } from '../src/db';
import { CLIENT_IP_HEADER } from '../src/lib/auth';
import { createAdmin, logIn, PASSWORD, signUp, type TestAccount, uniqueEmail } from './support/accounts';
import { hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

describe.skipIf(!hasCluster)('users', () => {
  let t: TestApp;
  let alice: TestAccount;
  let bob: TestAccount;
  let admin: TestAccount;

  beforeAll(async () => {
    t = await startTestApp();
    [alice, bob, admin] = await Promise.all([signUp(t, 'alice', 'Alice Liddell'), signUp(t, 'bob', 'Bob Builder'), createAdmin(t)]);
    // Each one's token covers only their own sign-up; reads of each other need the replica caught up.
    await t.settle();
  });
  afterAll(() => t.close());

  const as = (account: TestAccount | null, init: Parameters<TestApp['request']>[1] = {}) => ({
    ...init,
    headers: { ...Object.fromEntries(new Headers(init.headers)), ...(account ? { cookie: account.jar.header() } : {}) },
  });
  const storedUser = async (id: string) => (await t.database.primary.select().from(users).where(eq(users.id, id)))[0];
  /** A raw JSON body, so keys like __proto__ arrive as keys (an object literal would set a prototype). */
  const rawJson = (account: TestAccount, method: string, body: string) =>
    as(account, { method, body, headers: { 'content-type': 'application/json' } });

  test('BFLA: admin routes are 401 without a session and 403 for a non-admin, path variants included; never 2xx', async () => {
    const adminRoutes: Array<[string, string]> = [
      ['GET', '/users'],
      ['POST', '/users'],
      ['GET', '//users'],
      ['GET', '/USERS'],
      ['GET', '/users/'],
      ['POST', '/users/'],
      ['GET', '/Users?limit=5'],
      ['GET', '/api/auth/admin/list-users'],
      ['POST', '/api/auth/admin/set-role'],
      ['POST', '/api/auth/admin/ban-user'],
    ];
    const body = { email: uniqueEmail('intruder'), password: PASSWORD, name: 'Intruder', role: 'admin', userId: alice.id, reason: 'Intrusion' };
    for (const [method, path] of adminRoutes) {
      const init = method === 'POST' ? { method, json: body } : { method };
      const anonymous = await t.request(path, init);
      const user = await t.request(path, as(alice, init));
      for (const response of [anonymous, user]) {
        expect(response.status, `${method} ${path}`).toBeGreaterThanOrEqual(400);
      }
      if (path === '/users' || path === '/users/') {
        expect(anonymous.status).toBe(401);
        expect(user.status).toBe(403);
      }
    }
    expect((await storedUser(alice.id))?.role).toBe('user');
    // Sanity: the admin does get in.
    expect((await t.request('/users', as(admin))).status).toBe(200);
  });

  test('a name with a comma is searchable (regression: Elysia split the query value at the comma and the name filter answered 422)', async () => {
    const comma = await signUp(t, 'comma', 'Smith, John');
    await t.settle();
    const found = await t.request('/users?name=smith%2C%20john', as(admin));
    expect(found.status).toBe(200);
    expect(items(at(await readJson(found), 'data')).map((user) => at(user, 'id'))).toEqual([comma.id]);
  });

  test('admin lists users newest first with cursor pagination and case-insensitive filters', async () => {
    const filtered = await t.request(`/users?email=${encodeURIComponent(alice.email.slice(0, 18).toUpperCase())}`, as(admin));
    expect(filtered.status).toBe(200);
    const body = await readJson(filtered);
    expect(items(at(body, 'data')).map((user) => at(user, 'id'))).toEqual([alice.id]);
    expect(at(body, 'pagination', 'nextCursor')).toBeNull();
    expect(items(at(await readJson(await t.request('/users?name=bob%20BUILDER', as(admin))), 'data')).map((user) => at(user, 'id'))).toContain(bob.id);
    // % and _ are literal characters, not wildcards.
    expect(items(at(await readJson(await t.request('/users?email=%25', as(admin))), 'data'))).toEqual([]);

    const seen: unknown[] = [];
    let cursor: unknown = null;
    for (let pageNo = 0; pageNo < 50; pageNo += 1) {
      const query = cursor ? `&cursor=${String(cursor)}` : '';
      const page = await readJson(await t.request(`/users?limit=1${query}`, as(admin)));
      const data = items(at(page, 'data'));
      expect(data.length).toBeLessThanOrEqual(1);
      seen.push(...data.map((user) => at(user, 'id')));
      cursor = at(page, 'pagination', 'nextCursor');
      if (!cursor) break;
    }
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of [alice.id, bob.id, admin.id]) expect(seen).toContain(id);
    expect((await t.request('/users?cursor=bm90LWEtY3Vyc29y', as(admin))).status).toBe(422);
  });

  test('GET /users/:id: the public profile for others, the full account for self and admin', async () => {
    const asBob = await readJson(await t.request(`/users/${alice.id}`, as(bob)));
    expect(at(asBob, 'data')).toEqual({ id: alice.id, name: 'Alice Liddell', image: null, createdAt: expect.any(String) });
    const asSelf = await readJson(await t.request(`/users/${alice.id}`, as(alice)));
    expect(at(asSelf, 'data', 'email')).toBe(alice.email.toLowerCase());
    const asAdmin = await readJson(await t.request(`/users/${alice.id}`, as(admin)));
    expect(at(asAdmin, 'data', 'role')).toBe('user');
    expect((await t.request('/users/no-such-user', as(bob))).status).toBe(404);
    expect((await t.request(`/users/${alice.id}`)).status).toBe(401);
    expect((await t.request('/users/bad%00id', as(bob))).status).toBe(422);
  });

  test('a user changes their own name and image', async () => {
    const response = await t.request(`/users/${alice.id}`, as(alice, { method: 'PATCH', json: { name: '  Alice L.  ', image: 'https://img.example.com/a.png' } }));
    expect(response.status).toBe(200);
    expect(await readJson(response)).toMatchObject({ data: { name: 'Alice L.', image: 'https://img.example.com/a.png' } });
    expect(await storedUser(alice.id)).toMatchObject({ name: 'Alice L.', image: 'https://img.example.com/a.png' });
    const script = await t.request(`/users/${alice.id}`, as(alice, { method: 'PATCH', json: { image: 'javascript:alert(1)' } }));
    expect(script.status).toBe(422);
  });

  test('mass assignment: id, email, userId, createdAt and __proto__ in a PATCH body are never applied', async () => {
    const before = await storedUser(alice.id);
    const response = await t.request(
      `/users/${alice.id}`,
      rawJson(
        alice,
        'PATCH',
        JSON.stringify({ name: 'Alice Again', id: 'hijacked', email: 'root@example.com', userId: bob.id, emailVerified: true, createdAt: '2000-01-01T00:00:00Z' })
          .replace(/}$/, ',"__proto__":{"role":"admin","banned":true}}'),
      ),
    );
    expect(response.status).toBe(200);
    const after = await storedUser(alice.id);
    expect(after).toMatchObject({ id: alice.id, email: before?.email, role: 'user', banned: false, emailVerified: false, name: 'Alice Again' });
    expect(after?.createdAt).toEqual(before?.createdAt);
    expect(await storedUser('hijacked')).toBeUndefined();
  });

  test('role and ban fields in a PATCH are refused (422 USE_ADMIN_USERS) for anyone, admins included, and change nothing', async () => {
    for (const account of [alice, admin]) {
      for (const json of [{ role: 'admin' }, { name: 'Sneaky', role: 'moderator' }, { banned: false }, { banReason: null }, { banned: true, banReason: 'spam' }]) {
        const response = await t.request(`/users/${alice.id}`, as(account, { method: 'PATCH', json }));
        expect(response.status).toBe(422);
        const body = await readJson(response);
        expect(body).toMatchObject({ error: 'USE_ADMIN_USERS' });
        expect(String(at(body, 'message'))).toContain('/admin/users');
      }
    }
    expect(await storedUser(alice.id)).toMatchObject({ role: 'user', banned: false, name: 'Alice Again' });
  });

  test("BOLA: a user cannot change or delete someone else's account; a missing id gets the same answer", async () => {
    const before = await storedUser(bob.id);
    const patch = await t.request(`/users/${bob.id}`, as(alice, { method: 'PATCH', json: { name: 'Pwned' } }));
    const remove = await t.request(`/users/${bob.id}`, as(alice, { method: 'DELETE' }));
    const patchMissing = await t.request('/users/does-not-exist', as(alice, { method: 'PATCH', json: { name: 'Pwned' } }));
    expect(patch.status).toBe(403);
    expect(remove.status).toBe(403);
    expect(await readJson(patch)).toEqual(await readJson(patchMissing));
    expect(await storedUser(bob.id)).toEqual(before);
  });

  test('admin changes a role, bans (revoking every session at once) and unbans, through /admin/users', async () => {
    const bobDevice = await logIn(t, bob);
    const promote = await t.request(`/admin/users/${bob.id}/role`, as(admin, { method: 'POST', json: { role: 'moderator', reason: 'Joins the moderation team' } }));
    expect(promote.status).toBe(200);
    expect(at(await readJson(promote), 'data', 'role')).toBe('moderator');

    const ban = await t.request(`/admin/users/${bob.id}/ban`, as(admin, { method: 'POST', json: { reason: 'spam' } }));
    expect(ban.status).toBe(200);
    expect(await t.database.primary.select().from(sessions).where(eq(sessions.userId, bob.id))).toEqual([]);
    expect((await t.request('/auth/me', { headers: { cookie: bobDevice.header() } })).status).toBe(401);
    const login = await t.request('/auth/login', { method: 'POST', json: { email: bob.email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: randomIp() } });
    expect(login.status).toBe(403);
    expect(await readJson(login)).toMatchObject({ error: 'BANNED_USER' });

    const unban = await t.request(`/admin/users/${bob.id}/unban`, as(admin, { method: 'POST', json: { reason: 'Appeal accepted' } }));
    expect(await readJson(unban)).toMatchObject({ data: { banned: false, banReason: null, banExpires: null } });
    bob = { ...bob, jar: await logIn(t, bob) };
  });

  test('an admin cannot demote or ban themselves', async () => {
    const demote = await t.request(`/admin/users/${admin.id}/role`, as(admin, { method: 'POST', json: { role: 'user', reason: 'Stepping down' } }));
    const ban = await t.request(`/admin/users/${admin.id}/ban`, as(admin, { method: 'POST', json: { reason: 'Testing' } }));
    for (const response of [demote, ban]) {
      expect(response.status).toBe(403);
      expect(await readJson(response)).toMatchObject({ error: 'CANNOT_ACT_ON_SELF' });
    }
    expect(await storedUser(admin.id)).toMatchObject({ role: 'admin', banned: false });
  });

  test('admin creates a user with a role; a taken email is 409; bad input is 422', async () => {
    const email = uniqueEmail('Created');
    const created = await t.request('/users', as(admin, { method: 'POST', json: { email, password: PASSWORD, name: 'Created', role: 'moderator', id: 'chosen-id', reason: 'New moderator' } }));
    expect(created.status).toBe(201);
    const body = await readJson(created);
    expect(at(body, 'data')).toMatchObject({ email: email.toLowerCase(), role: 'moderator' });
    expect(at(body, 'data', 'id')).not.toBe('chosen-id');
    const duplicate = await t.request('/users', as(admin, { method: 'POST', json: { email: email.toUpperCase(), password: PASSWORD, name: 'Again', reason: 'Twice' } }));
    expect(duplicate.status).toBe(409);
    expect(await readJson(duplicate)).toMatchObject({ error: 'USER_ALREADY_EXISTS' });
    const nul = await t.request('/users', as(admin, { method: 'POST', json: { email: uniqueEmail('nul'), password: PASSWORD, name: 'a\u0000b', reason: 'Bad name' } }));
    expect(nul.status).toBe(422);
    const noReason = await t.request('/users', as(admin, { method: 'POST', json: { email: uniqueEmail('no-reason'), password: PASSWORD, name: 'No Reason' } }));
    expect(noReason.status).toBe(422);
    // Exactly one audit row, for the one account created.
    const audits = await t.database.primary.select().from(auditLog).where(and(eq(auditLog.action, 'user.create'), eq(auditLog.actorId, admin.id)));
    expect(audits.map((row) => [row.targetId, row.reason, row.after])).toEqual([[String(at(body, 'data', 'id')), 'New moderator', { role: 'moderator' }]]);
  });

  test('a user deletes their own account: signed out, row and sessions gone', async () => {
    const carol = await signUp(t, 'carol');
    const before = carol.jar.clone();
    const response = carol.jar.store(await t.request(`/users/${carol.id}`, as(carol, { method: 'DELETE' })));
    expect(response.status).toBe(200);
    expect(await readJson(response)).toEqual({ success: true, data: { id: carol.id, deleted: true } });
    expect(carol.jar.get('bountyexpo.session_token')).toBeUndefined();
    expect(await storedUser(carol.id)).toBeUndefined();
    expect((await t.request('/auth/me', { headers: { cookie: before.header() } })).status).toBe(401);
  });

  test('an admin deletes another account with a reason (audited); without one it is 422; a missing one is 404', async () => {
    const dave = await signUp(t, 'dave');
    const bare = await t.request(`/users/${dave.id}`, as(admin, { method: 'DELETE' }));
    expect([bare.status, at(await readJson(bare), 'error')]).toEqual([422, 'VALIDATION_ERROR']);
    expect(await storedUser(dave.id)).toBeDefined();
    expect((await t.request(`/users/${dave.id}`, as(admin, { method: 'DELETE', json: { reason: 'Duplicate account' } }))).status).toBe(200);
    expect(await storedUser(dave.id)).toBeUndefined();
    expect((await t.request(`/users/${dave.id}`, as(admin, { method: 'DELETE', json: { reason: 'Again' } }))).status).toBe(404);
    expect((await t.request('/auth/me', { headers: { cookie: dave.jar.header() } })).status).toBe(401);
    const audits = await t.database.primary.select().from(auditLog).where(and(eq(auditLog.action, 'user.delete'), eq(auditLog.targetId, dave.id)));
    expect(audits.map((row) => [row.actorId, row.reason, row.before])).toEqual([[admin.id, 'Duplicate account', { role: 'user' }]]);
  });
});
