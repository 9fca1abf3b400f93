/**
 * Posts on the real primary + replica: visibility of drafts, object-level authorization (BOLA),
 * mass assignment, cursor pagination, read-your-writes, and the typed Eden Treaty client.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { treaty } from '@elysiajs/eden';
import { eq } from 'drizzle-orm';
import type { App } from '../src/app';
import { posts } from '../src/db';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

const MISSING = '00000000-0000-4000-8000-000000000000';

describe.skipIf(!hasCluster)('posts', () => {
  let t: TestApp;
  let alice: TestAccount;
  let bob: TestAccount;
  let admin: TestAccount;
  let draftId: string;
  let publishedId: string;

  beforeAll(async () => {
    t = await startTestApp();
    [alice, bob, admin] = await Promise.all([signUp(t, 'author'), signUp(t, 'other'), createAdmin(t)]);
  });
  afterAll(() => t.close());

  const as = (account: TestAccount | null, init: Parameters<TestApp['request']>[1] = {}) => ({
    ...init,
    headers: { ...Object.fromEntries(new Headers(init.headers)), ...(account ? { cookie: account.jar.header() } : {}) },
  });
  /** Anonymous readers carry no read-your-writes token: let the replica catch up first. */
  const settle = () => t.settle();
  const stored = async (id: string) => (await t.database.primary.select().from(posts).where(eq(posts.id, id)))[0];

  test('Eden Treaty (typed by `type App`): a signed-in user creates a draft and a published post', async () => {
    const api = treaty<App>(t.app);
    const headers = { cookie: alice.jar.header() };
    const draft = await api.posts.post({ title: 'Draft', content: 'Not yet' }, { headers });
    expect(draft.status).toBe(201);
    expect(draft.data?.data).toMatchObject({ title: 'Draft', published: false, authorId: alice.id });
    draftId = draft.data?.data.id ?? '';
    const published = await api.posts.post({ title: 'Hello', content: 'World', published: true }, { headers });
    expect(published.status).toBe(201);
    publishedId = published.data?.data.id ?? '';
    // No cookies here: the read-your-writes token travels as a header instead.
    const token = published.response.headers.get('x-db-lsn') ?? '';
    const read = await api.posts({ id: publishedId }).get({ headers: { 'x-db-lsn': token } });
    expect(read.status).toBe(200);
    expect(read.data?.data.title).toBe('Hello');
    const anonymousWrite = await api.posts.post({ title: 'x', content: 'y' });
    expect(anonymousWrite.status).toBe(401);
  });

  test('the writer reads their write at once: POST then GET with the read-your-writes cookie', async () => {
    const created = alice.jar.store(await t.request('/posts', as(alice, { method: 'POST', json: { title: 'Fresh', content: 'Just written' } })));
    expect(created.status).toBe(201);
    expect(alice.jar.get('db_lsn')).toBeDefined();
    const id = String(at(await readJson(created), 'data', 'id'));
    const read = await t.request(`/posts/${id}`, as(alice));
    expect(read.status).toBe(200);
    expect(at(await readJson(read), 'data', 'title')).toBe('Fresh');
    // Served by the replica once it has replayed the write, else by the primary: never stale.
    expect(['replica1', 'primary']).toContain(read.headers.get('x-db-target') ?? '');
  });

  test("drafts are visible only to their author and admins; to anyone else a draft is the same 404 as a missing post", async () => {
    const listed = async (account: TestAccount | null) =>
      items(at(await readJson(await t.request('/posts?limit=100', as(account))), 'data')).map((post) => at(post, 'id'));
    await settle();
    expect(await listed(null)).not.toContain(draftId);
    expect(await listed(bob)).not.toContain(draftId);
    expect(await listed(null)).toContain(publishedId);
    expect(await listed(alice)).toContain(draftId);
    expect(await listed(admin)).toContain(draftId);

    const asBob = await t.request(`/posts/${draftId}`, as(bob));
    const anonymous = await t.request(`/posts/${draftId}`);
    const missing = await t.request(`/posts/${MISSING}`, as(bob));
    expect(asBob.status).toBe(404);
    expect(anonymous.status).toBe(404);
    expect(await readJson(asBob)).toEqual(await readJson(missing));
    expect((await t.request(`/posts/${draftId}`, as(alice))).status).toBe(200);
    expect((await t.request(`/posts/${draftId}`, as(admin))).status).toBe(200);
  });

  test("BOLA: another user cannot change or delete a post; the answer is the missing post's 404 and the row is unchanged", async () => {
    const before = await stored(publishedId);
    for (const id of [publishedId, draftId]) {
      const patch = await t.request(`/posts/${id}`, as(bob, { method: 'PATCH', json: { title: 'Defaced' } }));
      const remove = await t.request(`/posts/${id}`, as(bob, { method: 'DELETE' }));
      const patchMissing = await t.request(`/posts/${MISSING}`, as(bob, { method: 'PATCH', json: { title: 'Defaced' } }));
      expect(patch.status).toBe(404);
      expect(remove.status).toBe(404);
      expect(await readJson(patch)).toEqual(await readJson(patchMissing));
    }
    expect(await stored(publishedId)).toEqual(before);
    expect(await stored(draftId)).toBeDefined();
    expect((await t.request(`/posts/${publishedId}`, { method: 'DELETE' })).status).toBe(401);
  });

  test('mass assignment: authorId, id, userId, timestamps and __proto__ in a body are never applied', async () => {
    const chosenId = '11111111-1111-4111-8111-111111111111';
    const raw = JSON.stringify({ title: 'Mine', content: 'c', authorId: bob.id, userId: bob.id, id: chosenId, createdAt: '2000-01-01T00:00:00Z' })
      .replace(/}$/, ',"__proto__":{"authorId":"x","published":true}}');
    const created = await t.request('/posts', as(alice, { method: 'POST', body: raw, headers: { 'content-type': 'application/json' } }));
    expect(created.status).toBe(201);
    const id = String(at(await readJson(created), 'data', 'id'));
    expect(id).not.toBe(chosenId);
    const row = await stored(id);
    expect(row).toMatchObject({ authorId: alice.id, published: false });
    expect(row?.createdAt.getFullYear()).toBeGreaterThan(2000);
    expect(await stored(chosenId)).toBeUndefined();

    const patch = await t.request(`/posts/${id}`, as(alice, { method: 'PATCH', json: { title: 'Still mine', authorId: bob.id, id: chosenId } }));
    expect(patch.status).toBe(200);
    expect(await stored(id)).toMatchObject({ id, authorId: alice.id, title: 'Still mine' });
    const onlyForeign = await t.request(`/posts/${id}`, as(alice, { method: 'PATCH', json: { authorId: bob.id } }));
    expect(onlyForeign.status).toBe(422);
  });

  test('the author and an admin may change and delete', async () => {
    const edited = await t.request(`/posts/${draftId}`, as(alice, { method: 'PATCH', json: { content: 'Now ready', published: true } }));
    expect(await readJson(edited)).toMatchObject({ data: { content: 'Now ready', published: true } });
    const moderated = await t.request(`/posts/${draftId}`, as(admin, { method: 'PATCH', json: { title: 'Moderated' } }));
    expect(moderated.status).toBe(200);
    const removed = admin.jar.store(await t.request(`/posts/${draftId}`, as(admin, { method: 'DELETE' })));
    expect(removed.status).toBe(200);
    // The deleting client sees the deletion at once (its read-your-writes token).
    expect((await t.request(`/posts/${draftId}`, as(admin))).status).toBe(404);
    expect(await stored(draftId)).toBeUndefined();
  });

  test('bad input is a 422, never a 500: NUL bytes, over-long or blank fields, bad ids, empty changes', async () => {
    const bad: Array<Record<string, unknown>> = [
      { title: 'Nul\u0000', content: 'c' },
      { title: 't', content: 'nul\u0000' },
      { title: 'x'.repeat(201), content: 'c' },
      { title: '   ', content: 'c' },
      { title: 't', content: 'c'.repeat(20_001) },
      { title: 't', content: 'c', published: 'yes' },
    ];
    for (const json of bad) {
      const response = await t.request('/posts', as(alice, { method: 'POST', json }));
      expect(response.status).toBe(422);
      expect(await readJson(response)).toMatchObject({ success: false, error: 'VALIDATION_ERROR' });
    }
    expect((await t.request('/posts/not-a-uuid', as(alice))).status).toBe(422);
    expect((await t.request(`/posts/${publishedId}`, as(alice, { method: 'PATCH', json: {} }))).status).toBe(422);
  });

  test('GET /posts: newest first, opaque cursor, limit clamped to 1..100', async () => {
    const mine: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const response = await t.request('/posts', as(alice, { method: 'POST', json: { title: `Page ${index}`, content: 'p', published: true } }));
      mine.unshift(String(at(await readJson(response), 'data', 'id')));
    }
    await settle();
    const seen: unknown[] = [];
    let cursor: unknown = null;
    while (seen.length < 5) {
      const page = await readJson(await t.request(`/posts?limit=2${cursor ? `&cursor=${String(cursor)}` : ''}`));
      const ids = items(at(page, 'data')).map((post) => at(post, 'id'));
      expect(ids.length).toBe(2);
      seen.push(...ids);
      cursor = at(page, 'pagination', 'nextCursor');
      if (seen.length < 5) expect(typeof cursor).toBe('string');
    }
    expect(seen.slice(0, 5)).toEqual(mine);

    const count = async (query: string) => {
      const response = await t.request(`/posts?${query}`);
      expect(response.status).toBe(200);
      return items(at(await readJson(response), 'data')).length;
    };
    expect(await count('limit=0')).toBe(1);
    expect(await count('limit=-5')).toBe(1);
    expect(await count('limit=1000000')).toBeLessThanOrEqual(100);
    expect(await count('limit=1000000')).toBeGreaterThan(5);
    // Regression: values past 32-bit and fractions were 422 instead of clamped.
    expect(await count('limit=99999999999')).toBeLessThanOrEqual(100);
    expect(await count('limit=2.7')).toBe(2);
    expect(await count('limit=1e20')).toBeLessThanOrEqual(100);
    expect((await t.request('/posts?limit=abc')).status).toBe(422);
    expect((await t.request('/posts?cursor=bm9wZQ')).status).toBe(422);
    expect((await t.request('/posts?cursor=%27%3B%20drop%20table%20posts')).status).toBe(422);
  });

  // Regression (issue 7, defect 11): a cursor of the right shape but an impossible time reached
  // PostgreSQL, and its refusal counted as a database read failure in db_read_failures_total.
  test('a cursor with an impossible timestamp is 422 INVALID_CURSOR and no database failure', async () => {
    const failures = async () => {
      const text = await (await t.request('/metrics')).text();
      return text.split('\n').filter((line) => line.startsWith('db_read_failures_total')).map((line) => Number(line.split(' ').at(-1))).reduce((a, b) => a + b, 0);
    };
    const before = await failures();
    for (const t0 of ['2026-13-45 99:99:99+00', '2026-02-30 10:00:00+00', '2026-01-01 24:00:00+00']) {
      const cursor = Buffer.from(JSON.stringify({ t: t0, i: MISSING })).toString('base64url');
      const response = await t.request(`/posts?cursor=${cursor}`);
      expect([t0, response.status, at(await readJson(response), 'error')]).toEqual([t0, 422, 'INVALID_CURSOR']);
    }
    expect(await failures()).toBe(before);
  });
});
