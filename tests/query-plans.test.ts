/**
 * Query plans are tested (issue 8): on a database of this file's own, seeded with 20,000 users
 * and 20,000 posts and analysed, every list query the API runs (captured from the request pools
 * while the routes answer) is EXPLAINed; none may Sort over a Seq Scan of its table for a keyset
 * page. Regression: GET /posts sorted every published row per request, because the index said
 * `DESC NULLS LAST` (drizzle's `.desc()`) where the query's `DESC` means NULLS FIRST.
 * Every later list and search route joins LIST_ROUTES below.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { applyMigrations } from '../src/db';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, type TestApp, withDatabase } from './support/harness';
import { at, readJson } from './support/json';

const ROWS = 20_000;
const databaseName = `plans_${Date.now().toString(36)}`;

type Captured = { query: string; parameters: readonly unknown[] };
type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };

/** "Sort over a Seq Scan of <table>" anywhere in the plan, as a path of node types. */
function sortsATableScan(node: PlanNode, underSort = false, path: string[] = []): string | null {
  const here = [...path, `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}`];
  const sorting = underSort || node['Node Type'] === 'Sort' || node['Node Type'] === 'Incremental Sort';
  if (sorting && node['Node Type'] === 'Seq Scan') return here.join(' > ');
  for (const child of node.Plans ?? []) {
    const found = sortsATableScan(child, sorting, here);
    if (found) return found;
  }
  return null;
}

describe.skipIf(!hasCluster)('list query plans at 20,000 rows', () => {
  let t: TestApp;
  let admin: TestAccount;
  let member: TestAccount;
  let direct: ReturnType<typeof postgres>;
  const captured: Captured[] = [];

  beforeAll(async () => {
    const setup = await startTestApp();
    await setup.database.primary.execute(sql.raw(`create database ${databaseName}`));
    await setup.close();
    const url = withDatabase(clusterEnv.databaseUrl ?? '', databaseName);
    t = await startTestApp(
      { DATABASE_URL: url, DATABASE_REPLICA_URLS: '' },
      { observeQueries: (query, parameters) => captured.push({ query, parameters }) },
    );
    await applyMigrations(t.database.primary);
    admin = await createAdmin(t, 'plans-admin');
    member = await signUp(t, 'plans-member');
    direct = postgres(url, { max: 1, onnotice: () => {} });
    await direct.unsafe(`
      insert into users (id, name, email, created_at, updated_at)
        select 'seed-' || n, 'Seed ' || n, 'seed-' || n || '@example.com', now() - n * interval '1 minute', now()
        from generate_series(1, ${ROWS}) as n;
      insert into posts (author_id, title, content, published, created_at, updated_at)
        select 'seed-' || (1 + n % 500), 'Post ' || n, 'content', n % 10 <> 0, now() - n * interval '1 minute', now()
        from generate_series(1, ${ROWS}) as n;
      analyze users; analyze posts;`);
  }, 60_000);
  afterAll(async () => {
    await direct?.end({ timeout: 1 });
    await t?.close();
    const teardown = await startTestApp();
    await teardown.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await teardown.close();
  }, 60_000);

  /** The list routes, each with a second page by its own cursor. */
  const LIST_ROUTES: Array<{ name: string; path: string; as: () => TestAccount | null }> = [
    { name: 'GET /posts (anonymous)', path: '/posts?limit=20', as: () => null },
    { name: 'GET /posts (signed in)', path: '/posts?limit=20', as: () => member },
    { name: 'GET /posts (admin)', path: '/posts?limit=20', as: () => admin },
    { name: 'GET /users (admin)', path: '/users?limit=20', as: () => admin },
    { name: 'GET /users?name= (admin)', path: '/users?limit=20&name=Seed', as: () => admin },
  ];

  test('no list query sorts a table scan, on its first page or a later one', async () => {
    const problems: string[] = [];
    let explained = 0;
    for (const route of LIST_ROUTES) {
      const account = route.as();
      const headers: Record<string, string> = account ? { cookie: account.jar.header() } : {};
      let path = route.path;
      for (const page of [1, 2]) {
        const from = captured.length;
        const response = await t.request(path, { headers });
        expect([route.name, response.status]).toEqual([route.name, 200]);
        const lists = captured.slice(from).filter(({ query }) => /^select/i.test(query) && /order by/i.test(query));
        expect([route.name, page, lists.length > 0]).toEqual([route.name, page, true]);
        for (const { query, parameters } of lists) {
          const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
          const plan = (at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode;
          explained += 1;
          const bad = sortsATableScan(plan);
          if (bad) problems.push(`${route.name}, page ${page}: ${bad}\n  ${query}`);
        }
        const cursor = at(await readJson(response), 'pagination', 'nextCursor');
        expect(typeof cursor).toBe('string');
        path = `${route.path}&cursor=${String(cursor)}`;
      }
    }
    expect(explained).toBeGreaterThanOrEqual(LIST_ROUTES.length * 2);
    expect(problems).toEqual([]);
  }, 60_000);
});
