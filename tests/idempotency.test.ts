/**
 * Idempotency-Key (src/plugins/idempotency.ts) on the real primary + replica: replays, reuse with
 * another body, per-user scope, concurrent retries, expiry, takeover of a dead request's lock, the
 * handler's own refusals replayed, 5xx released, and the order against the auth macro. Through
 * POST /posts and POST /users ('optional') and, for 'required', a small app wired like src/app.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, count, eq, sql } from 'drizzle-orm';
import { Elysia } from 'elysia';
import { z } from 'zod';
import { idempotencyKeys, posts } from '../src/db';
import { authCookieNames, createSessionReader } from '../src/lib/auth';
import { HttpError } from '../src/lib/errors';
import { authErrors, commonErrors, errorSchema, successSchema } from '../src/lib/http';
import { createLogger } from '../src/lib/logger';
import { authPlugin } from '../src/plugins/auth';
import { databasePlugin } from '../src/plugins/database';
import { errorHandler } from '../src/plugins/error-handler';
import { deleteExpiredIdempotencyKeys, IDEMPOTENCY_KEY_HEADER, idempotencyPlugin } from '../src/plugins/idempotency';
import { openapiPlugin } from '../src/plugins/openapi';
import { createAdmin, signUp, type TestAccount, uniqueEmail } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

const REPLAYED = 'idempotent-replayed';
const newKey = () => crypto.randomUUID();
const uniqueTitle = (label: string) => `${label} ${crypto.randomUUID()}`;

/**
 * The plugins mounted as src/app.ts mounts them, with routes the app does not have: 'required',
 * the options in both orders, a handler that throws, one that refuses, and one without `auth`.
 */
function wiredLikeTheApp(t: TestApp) {
  const { config, database, auth } = t;
  const logger = createLogger({ level: 'silent' });
  const runs = new Map<string, number>();
  const ran = (route: string) => {
    const next = (runs.get(route) ?? 0) + 1;
    runs.set(route, next);
    return next;
  };
  const body = z.object({ n: z.number().int() });
  const created = { 201: successSchema(z.object({ run: z.number() })), ...authErrors, ...commonErrors };
  const app = new Elysia({ handler: { standardHostname: false } })
    .use(errorHandler({ logger, isProduction: false, bodyLimitBytes: config.bodyLimitBytes, unparsedRoutes: new Elysia({ name: 'none' }) }))
    .use(openapiPlugin({ modules: [], version: 'test', enabled: true, sessionCookie: authCookieNames(config).sessionToken }))
    .use(
      databasePlugin({ database, tokenSecret: config.auth.secret, tokenTtlS: config.database.lsnTokenTtlS, debugHeaders: false, secureCookies: false }),
    )
    .use(
      authPlugin(
        auth,
        createSessionReader({ secret: config.auth.secret, cookies: authCookieNames(config), authDatabase: database.authPrimary, cacheEnabled: true }),
        database.operationBoundMs,
      ),
    )
    .use(idempotencyPlugin({ ttlHours: 24, lockTimeoutMs: 120_000, logger }))
    .post('/required', ({ set }) => {
      set.status = 201;
      return { success: true as const, data: { run: ran('required') } };
    }, { auth: true, idempotency: 'required', body, response: created })
    // The option before `auth`: the order of a route's options must not matter.
    .post('/required-first', ({ set }) => {
      set.status = 201;
      return { success: true as const, data: { run: ran('required-first') } };
    }, { idempotency: 'required', auth: true, body, response: created })
    .post('/throws', () => {
      ran('throws');
      throw new Error('the handler failed');
    }, { auth: true, idempotency: 'optional', body, response: created })
    .post('/refuses', () => {
      throw new HttpError(403, 'NOT_TODAY', `refusal number ${ran('refuses')}`);
    }, { auth: true, idempotency: 'optional', body, response: created })
    .post('/no-auth', () => ({ success: true as const, data: { run: ran('no-auth') } }), { idempotency: 'optional', response: { 200: successSchema(z.object({ run: z.number() })), 500: errorSchema } });
  return { app, runs: (route: string) => runs.get(route) ?? 0 };
}

describe.skipIf(!hasCluster)('Idempotency-Key', () => {
  let t: TestApp;
  let alice: TestAccount;
  let bob: TestAccount;
  let admin: TestAccount;
  let wired: ReturnType<typeof wiredLikeTheApp>;

  beforeAll(async () => {
    t = await startTestApp();
    [alice, bob, admin] = await Promise.all([signUp(t, 'idem-a'), signUp(t, 'idem-b'), createAdmin(t, 'idem-admin')]);
    wired = wiredLikeTheApp(t);
  });
  afterAll(() => t.close());

  const headersFor = (account: TestAccount | null, key?: string): Record<string, string> => ({
    ...(account ? { cookie: account.jar.header() } : {}),
    ...(key === undefined ? {} : { [IDEMPOTENCY_KEY_HEADER]: key }),
  });
  const createPost = (account: TestAccount | null, key: string | undefined, json: unknown) =>
    t.request('/posts', { method: 'POST', json, headers: headersFor(account, key) });
  const postsTitled = async (title: string) =>
    (await t.database.primary.select({ n: count() }).from(posts).where(eq(posts.title, title)))[0]?.n ?? 0;
  const keyRow = async (account: TestAccount, key: string) =>
    (await t.database.primary.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.userId, account.id), eq(idempotencyKeys.key, key))))[0];
  const setRow = (account: TestAccount, key: string, changes: Parameters<ReturnType<TestApp['database']['primary']['update']>['set']>[0]) =>
    t.database.primary.update(idempotencyKeys).set(changes).where(and(eq(idempotencyKeys.userId, account.id), eq(idempotencyKeys.key, key)));
  const callWired = (path: string, account: TestAccount | null, key: string | undefined, json: unknown) =>
    wired.app.handle(
      new Request(`http://localhost${path}`, { method: 'POST', body: JSON.stringify(json), headers: { 'content-type': 'application/json', ...headersFor(account, key) } }),
    );

  test('the same key and body: the first answer again, replayed, and one post in the database', async () => {
    const key = newKey();
    const title = uniqueTitle('once');
    const first = await createPost(alice, key, { title, content: 'c' });
    expect(first.status).toBe(201);
    expect(first.headers.get(REPLAYED)).toBeNull();
    const firstText = await first.text();

    // Keys in another order are the same request.
    const again = await createPost(alice, key, { content: 'c', title });
    expect(again.status).toBe(201);
    expect(again.headers.get(REPLAYED)).toBe('true');
    expect(again.headers.get('content-type')).toContain('application/json');
    expect(again.headers.get('x-request-id')).toBeTruthy();
    expect(await again.text()).toBe(firstText);
    expect(at(JSON.parse(firstText), 'data', 'title')).toBe(title);
    expect(await postsTitled(title)).toBe(1);
    expect(await keyRow(alice, key)).toMatchObject({ method: 'POST', path: '/posts', responseStatus: 201, responseBody: firstText });
  });

  test('the same key with another body is 422 IDEMPOTENCY_KEY_REUSED and runs nothing', async () => {
    const key = newKey();
    const title = uniqueTitle('reuse');
    expect((await createPost(alice, key, { title, content: 'one' })).status).toBe(201);
    const other = await createPost(alice, key, { title, content: 'two' });
    expect(other.status).toBe(422);
    expect(await readJson(other)).toMatchObject({ success: false, error: 'IDEMPOTENCY_KEY_REUSED' });
    expect(await postsTitled(title)).toBe(1);
  });

  test('keys are per user: the same key from two users creates two posts, neither replayed', async () => {
    const key = newKey();
    const title = uniqueTitle('scoped');
    const fromAlice = await createPost(alice, key, { title, content: 'c' });
    const fromBob = await createPost(bob, key, { title, content: 'c' });
    expect([fromAlice.status, fromBob.status]).toEqual([201, 201]);
    expect(fromBob.headers.get(REPLAYED)).toBeNull();
    const ids = [at(await readJson(fromAlice), 'data'), at(await readJson(fromBob), 'data')];
    expect(at(ids[0], 'authorId')).toBe(alice.id);
    expect(at(ids[1], 'authorId')).toBe(bob.id);
    expect(at(ids[0], 'id')).not.toBe(at(ids[1], 'id'));
    expect(await postsTitled(title)).toBe(2);
  });

  test('10 requests at once with one key: one post; the others 409 with Retry-After or the replay; no 5xx', async () => {
    const key = newKey();
    const title = uniqueTitle('parallel');
    const responses = await Promise.all(Array.from({ length: 10 }, () => createPost(alice, key, { title, content: 'c' })));
    const outcomes = await Promise.all(
      responses.map(async (response) => ({ status: response.status, replayed: response.headers.get(REPLAYED), retryAfter: response.headers.get('retry-after'), body: await readJson(response) })),
    );
    const fresh = outcomes.filter((outcome) => outcome.status === 201 && outcome.replayed === null);
    expect(fresh.length).toBe(1);
    const id = at(fresh[0]?.body, 'data', 'id');
    for (const outcome of outcomes) {
      expect(outcome.status).toBeLessThan(500);
      if (outcome.status === 409) {
        expect(at(outcome.body, 'error')).toBe('IDEMPOTENCY_REQUEST_IN_PROGRESS');
        expect(outcome.retryAfter).toBe('1');
      } else {
        expect(outcome.status).toBe(201);
        expect(at(outcome.body, 'data', 'id')).toBe(id);
      }
    }
    expect(await postsTitled(title)).toBe(1);
  });

  test('an invalid key is 400 INVALID_IDEMPOTENCY_KEY; 255 visible ASCII characters are fine', async () => {
    for (const key of ['', 'has space', 'x'.repeat(256), 'caf\u00e9']) {
      const response = await createPost(alice, key, { title: uniqueTitle('bad key'), content: 'c' });
      expect([key, response.status]).toEqual([key, 400]);
      expect(at(await readJson(response), 'error')).toBe('INVALID_IDEMPOTENCY_KEY');
    }
    const longest = `${'~'.repeat(254)}!`;
    expect((await createPost(alice, longest, { title: uniqueTitle('long key'), content: 'c' })).status).toBe(201);
  });

  test('refusals before the handler store nothing: a 422 body, then the key works; anonymous is 401 with no row', async () => {
    const key = newKey();
    const invalid = await createPost(alice, key, { title: '', content: 'c' });
    expect(invalid.status).toBe(422);
    expect(at(await readJson(invalid), 'error')).toBe('VALIDATION_ERROR');
    expect(await keyRow(alice, key)).toBeUndefined();
    expect((await createPost(alice, key, { title: uniqueTitle('after 422'), content: 'c' })).status).toBe(201);

    const anonymousKey = newKey();
    expect((await createPost(null, anonymousKey, { title: 't', content: 'c' })).status).toBe(401);
    const [rows] = await t.database.primary.select({ n: count() }).from(idempotencyKeys).where(eq(idempotencyKeys.key, anonymousKey));
    expect(rows?.n).toBe(0);
  });

  test("the handler's own 4xx is stored and replayed, even once the request would now succeed (POST /users)", async () => {
    const email = uniqueEmail('taken');
    const asAdmin = (key?: string) => ({ ...headersFor(admin, key) });
    const existing = await t.request('/users', { method: 'POST', json: { email, password: 'correct horse battery staple', name: 'First', reason: 'Test account' }, headers: asAdmin() });
    expect(existing.status).toBe(201);
    const key = newKey();
    const json = { email, password: 'correct horse battery staple', name: 'Second', reason: 'Test account' };
    const refused = await t.request('/users', { method: 'POST', json, headers: asAdmin(key) });
    expect(refused.status).toBe(409);
    const refusedText = await refused.text();
    expect((await t.request(`/users/${String(at(await readJson(existing), 'data', 'id'))}`, { method: 'DELETE', json: { reason: 'Test account' }, headers: asAdmin() })).status).toBe(200);

    const replay = await t.request('/users', { method: 'POST', json, headers: asAdmin(key) });
    expect(replay.status).toBe(409);
    expect(replay.headers.get(REPLAYED)).toBe('true');
    expect(await replay.text()).toBe(refusedText);
    // Without the key the same request now runs, and succeeds.
    expect((await t.request('/users', { method: 'POST', json, headers: asAdmin() })).status).toBe(201);
  });

  test('a key whose row expired runs again and is stored anew', async () => {
    const key = newKey();
    const title = uniqueTitle('expired');
    const first = await readJson(await createPost(alice, key, { title, content: 'c' }));
    await setRow(alice, key, { expiresAt: sql`now() - interval '1 second'` });
    const again = await createPost(alice, key, { title, content: 'c' });
    expect(again.status).toBe(201);
    expect(again.headers.get(REPLAYED)).toBeNull();
    const second = await readJson(again);
    expect(at(second, 'data', 'id')).not.toBe(at(first, 'data', 'id'));
    expect(await postsTitled(title)).toBe(2);
    const row = await keyRow(alice, key);
    expect(row?.expiresAt.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(row?.responseBody).toBe(JSON.stringify(second));
  });

  test("a running request is 409; one running longer than the lock timeout (its process died) is taken over", async () => {
    const key = newKey();
    const title = uniqueTitle('crashed');
    expect((await createPost(alice, key, { title, content: 'c' })).status).toBe(201);
    // As if the first request were still running.
    await setRow(alice, key, { responseStatus: null, responseBody: null, lockedAt: sql`now()` });
    const busy = await createPost(alice, key, { title, content: 'c' });
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('1');
    // As if it had started 3 minutes ago (the lock timeout is 2) and its process had died.
    await setRow(alice, key, { lockedAt: sql`now() - interval '3 minutes'` });
    const takenOver = await createPost(alice, key, { title, content: 'c' });
    expect(takenOver.status).toBe(201);
    expect(takenOver.headers.get(REPLAYED)).toBeNull();
    expect(await postsTitled(title)).toBe(2);
    expect((await keyRow(alice, key))?.responseStatus).toBe(201);
    expect((await createPost(alice, key, { title, content: 'c' })).headers.get(REPLAYED)).toBe('true');
  });

  test("'required': 400 IDEMPOTENCY_KEY_REQUIRED without the key, after the session check (anonymous is 401)", async () => {
    for (const path of ['/required', '/required-first']) {
      expect((await callWired(path, null, undefined, { n: 1 })).status).toBe(401);
      expect((await callWired(path, null, newKey(), { n: 1 })).status).toBe(401);
      const missing = await callWired(path, alice, undefined, { n: 1 });
      expect([path, missing.status]).toEqual([path, 400]);
      expect(at(await readJson(missing), 'error')).toBe('IDEMPOTENCY_KEY_REQUIRED');
    }
  });

  // Fails if Elysia ever runs the option's check before the auth macro has put `user` on the
  // context: then every keyed request here would be a 500 (no user) instead of scoped per user.
  test('the order of the route options does not matter: the key is always scoped to the signed-in user', async () => {
    for (const path of ['/required', '/required-first']) {
      const key = newKey();
      const before = wired.runs(path.slice(1));
      const first = await callWired(path, alice, key, { n: 1 });
      expect([path, first.status]).toEqual([path, 201]);
      const replay = await callWired(path, alice, key, { n: 1 });
      expect(replay.headers.get(REPLAYED)).toBe('true');
      expect(await replay.json()).toEqual(await first.json());
      const forBob = await callWired(path, bob, key, { n: 1 });
      expect(forBob.status).toBe(201);
      expect(forBob.headers.get(REPLAYED)).toBeNull();
      expect(wired.runs(path.slice(1))).toBe(before + 2);
    }
  });

  test('a 5xx releases the key (a retry runs again); a refusal from the handler is replayed', async () => {
    const key = newKey();
    expect((await callWired('/throws', alice, key, { n: 1 })).status).toBe(500);
    expect(await keyRow(alice, key)).toBeUndefined();
    expect((await callWired('/throws', alice, key, { n: 1 })).status).toBe(500);
    expect(wired.runs('throws')).toBe(2);

    const refusalKey = newKey();
    const refused = await callWired('/refuses', alice, refusalKey, { n: 1 });
    expect(refused.status).toBe(403);
    const replayed = await callWired('/refuses', alice, refusalKey, { n: 1 });
    expect(replayed.status).toBe(403);
    expect(replayed.headers.get(REPLAYED)).toBe('true');
    expect(await replayed.json()).toMatchObject({ error: 'NOT_TODAY', message: 'refusal number 1' });
    expect(wired.runs('refuses')).toBe(1);
  });

  test('a route with the option but no signed-in user fails loudly instead of sharing keys between people', async () => {
    expect((await callWired('/no-auth', null, newKey(), { n: 1 })).status).toBe(500);
    expect((await callWired('/no-auth', null, undefined, { n: 1 })).status).toBe(500);
    expect(wired.runs('no-auth')).toBe(0);
  });

  test('the API document: the header parameter (required or not) and the 400/409/422 answers', async () => {
    const document = await readJson(await t.request('/swagger/json'));
    for (const [path, method] of [['/posts', 'post'], ['/users', 'post']] as const) {
      const operation = at(document, 'paths', path, method);
      const parameter = items(at(operation, 'parameters')).find((candidate) => at(candidate, 'name') === IDEMPOTENCY_KEY_HEADER);
      expect(parameter).toMatchObject({ in: 'header', required: false, schema: { type: 'string', maxLength: 255 } });
      for (const status of ['400', '409', '422']) expect(at(operation, 'responses', status, 'content', 'application/json', 'schema')).toEqual({ $ref: '#/components/schemas/Error' });
    }
    expect(items(at(document, 'paths', '/posts', 'get', 'parameters')).map((parameter) => at(parameter, 'name'))).not.toContain(IDEMPOTENCY_KEY_HEADER);
    const wiredDocument = await readJson(await wired.app.handle(new Request('http://localhost/swagger/json')));
    const required = items(at(wiredDocument, 'paths', '/required', 'post', 'parameters')).find((candidate) => at(candidate, 'name') === IDEMPOTENCY_KEY_HEADER);
    expect(required).toMatchObject({ in: 'header', required: true });
  });

  test('deleteExpiredIdempotencyKeys deletes expired keys only and says how many', async () => {
    const userId = `cleanup-${crypto.randomUUID()}`;
    const row = (key: string, expiresAt: Date) => ({ userId, key, method: 'POST', path: '/posts', fingerprint: 'f', expiresAt });
    const now = new Date();
    await t.database.primary.insert(idempotencyKeys).values([
      row('old-1', new Date(now.getTime() - 1000)),
      row('old-2', new Date(now.getTime() - 3600_000)),
      row('fresh', new Date(now.getTime() + 3600_000)),
    ]);
    expect(await deleteExpiredIdempotencyKeys(t.database.primary, now)).toBeGreaterThanOrEqual(2);
    const left = await t.database.primary.select({ key: idempotencyKeys.key }).from(idempotencyKeys).where(eq(idempotencyKeys.userId, userId));
    expect(left.map((entry) => entry.key)).toEqual(['fresh']);
  });
});
