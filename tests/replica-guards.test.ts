/**
 * The routing traps of the guide (drizzle withReplicas and friends), refused by the database
 * module whatever node a read would be routed to: writes and row locks through a read handle,
 * and anything but the transaction handle inside a transaction callback. Runs on the cluster and
 * on embedded PGlite alike: a trap must fail in development too, not only with replicas.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import { DatabaseUsageError, isReadOnlyStatement, posts, users } from '../src/db';
import { hasCluster, startTestApp, type TestApp } from './support/harness';

describe('isReadOnlyStatement', () => {
  test('plain reads pass, including keywords inside literals, identifiers and comments', () => {
    for (const text of [
      'select 1',
      '  SELECT "id", "updated_at" from "posts" where "title" = $1 limit $2',
      `select 'insert into x; update y; for update' as "delete"`,
      'with recent as (select * from posts) select * from recent',
      '(select 1) union (select 2)',
      '/* insert */ select 1 -- for update',
      'select $tag$ delete from posts $tag$',
      'values (1), (2)',
      'show server_version',
      'select count(*) as deleted from posts',
    ]) {
      expect([text, isReadOnlyStatement(text)]).toEqual([text, true]);
    }
  });

  test('writes, row locks, sequence bumps and anything unknown are refused', () => {
    for (const text of [
      'insert into posts (id) values ($1)',
      'update posts set title = $1',
      'delete from posts',
      'with recent as (select id from posts limit 1) delete from posts where id in (select id from recent)',
      'with moved as (delete from posts returning *) select * from moved',
      'select * from posts for update',
      'select * from posts for no key update skip locked',
      'select * from posts for share',
      'select * from posts for key share',
      'select * into scratch from posts',
      "select nextval('posts_id_seq')",
      'truncate posts',
      'create table x (id int)',
      'explain analyze delete from posts',
      'begin',
    ]) {
      expect([text, isReadOnlyStatement(text)]).toEqual([text, false]);
    }
  });
});

// With replicas (the cluster) and without (every read on the primary): the same refusals.
const setups: Array<[string, Record<string, string | undefined>]> = hasCluster
  ? [
      ['with a replica', {}],
      ['without replicas (reads on the primary)', { DATABASE_REPLICA_URLS: '' }],
    ]
  : [['on embedded PGlite', {}]];

describe.each(setups)('the traps, %s', (_label, overrides) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(overrides);
  });
  afterAll(() => t?.close());

  test("select().for('update') through read() is refused before it reaches any node", async () => {
    const session = t.database.session();
    await expect(session.read((db) => db.select().from(posts).for('update').limit(1))).rejects.toBeInstanceOf(DatabaseUsageError);
  });

  test('db.with(cte).update() through read() is refused (drizzle issue #4185: it runs on a replica)', async () => {
    const marker = `guard-${crypto.randomUUID()}`;
    const session = t.database.session();
    await expect(
      session.read((db) => {
        const someone = db.$with('someone').as(db.select({ id: users.id }).from(users).limit(1));
        return db.with(someone).update(users).set({ name: marker }).where(sql`${users.id} in (select id from ${someone})`);
      }),
    ).rejects.toBeInstanceOf(DatabaseUsageError);
    const renamed = await t.database.primary.select({ id: users.id }).from(users).where(eq(users.name, marker));
    expect(renamed).toEqual([]);
  });

  test("getDatabase('read') refuses writes too", async () => {
    const write = async () => t.database.getDatabase('read').execute(sql`select txid_current() into temp scratch`);
    await expect(write()).rejects.toBeInstanceOf(DatabaseUsageError);
  });

  test('FOR UPDATE runs on the primary through write() and transaction()', async () => {
    const session = t.database.session();
    expect(await session.write((db) => db.select().from(posts).for('update').limit(1))).toBeArray();
    expect(await session.transaction((tx) => tx.select().from(posts).for('update').limit(1))).toBeArray();
    expect(session.targets).toEqual(['primary', 'primary']);
    expect(session.wrote).toBe(true);
  });

  test('inside a transaction callback, only the transaction handle may be used', async () => {
    const session = t.database.session();
    const misuses: Array<[string, () => Promise<unknown>]> = [
      ['read()', () => session.read((db) => db.execute(sql`select 1`))],
      ["getDatabase('read')", () => t.database.getDatabase('read').execute(sql`select 1`)],
      ['write()', () => session.write((db) => db.execute(sql`select 1`))],
      ['transaction()', () => session.transaction((tx) => tx.execute(sql`select 1`))],
    ];
    for (const [what, misuse] of misuses) {
      const outcome = await session
        .transaction(async (tx) => {
          await tx.execute(sql`select 1`);
          return misuse();
        })
        .then(
          () => 'allowed',
          (error: unknown) => (error instanceof DatabaseUsageError ? 'refused' : `failed: ${String(error)}`),
        );
      expect([what, outcome]).toEqual([what, 'refused']);
    }
  });
});
