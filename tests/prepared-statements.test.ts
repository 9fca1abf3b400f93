/**
 * DB_PREPARED_STATEMENTS (issue 8 review): with it off, no request query leaves a named
 * statement on its connection, even the queries drizzle prepares itself (src/db/prepared.ts) or
 * runs in a transaction (issue 9),
 * which PgBouncer in transaction mode could not keep. One connection per pool, so the check
 * runs on the connection the requests used.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { posts, selectRows } from '../src/db';
import { signUp } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, readJson } from './support/json';

const ONE_CONNECTION = { DATABASE_URL: clusterEnv.databaseUrl, DATABASE_REPLICA_URLS: '', DB_POOL_MAX: '1', DB_AUTH_POOL_MAX: '1' };

describe.skipIf(!hasCluster)('DB_PREPARED_STATEMENTS', () => {
  const apps: TestApp[] = [];
  beforeAll(async () => {
    apps.push(await startTestApp({ ...ONE_CONNECTION, DB_PREPARED_STATEMENTS: 'false' }), await startTestApp({ ...ONE_CONNECTION, DB_PREPARED_STATEMENTS: 'true' }));
  });
  afterAll(() => Promise.all(apps.map((app) => app.close())));

  /** Named statements on the request pool's one connection after a write and two reads. */
  async function statementsAfterTraffic(t: TestApp): Promise<number> {
    const author = await signUp(t, 'prepared');
    const created = await t.request('/posts', { method: 'POST', json: { title: 'p', content: 'c', published: true }, headers: { cookie: author.jar.header() } });
    const id = String(at(await readJson(created), 'data', 'id'));
    expect((await t.request(`/posts/${id}`)).status).toBe(200);
    expect((await t.request('/posts?limit=5')).status).toBe(200);
    // A transaction's statements follow the same switch (the ledger's postings run in them), and
    // so does postgres-js's own `commit`.
    const ids = await t.database.runTransaction((tx) => tx.select({ id: posts.id }).from(posts).where(eq(posts.id, id)));
    expect(ids).toHaveLength(1);
    // postgres-js's own array-type lookup when it connects is not a request query.
    const [row] = await selectRows(
      t.database.primary,
      sql`select count(*)::int as n from pg_prepared_statements where statement not like '%pg_catalog.pg_type%'`,
      z.object({ n: z.number() }),
    );
    return row?.n ?? -1;
  }

  test('off: nothing is prepared; on: the hot queries are', async () => {
    const [off, on] = apps;
    if (!off || !on) throw new Error('apps not started');
    expect(await statementsAfterTraffic(off)).toBe(0);
    expect(await statementsAfterTraffic(on)).toBeGreaterThan(0);
  });
});
