import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { DatabaseUsageError, selectRows } from '../src/db';
import { hasCluster, startTestApp, type TestApp } from './support/harness';

const recoveryRow = z.object({ in_recovery: z.boolean() });
const inRecovery = sql`select pg_is_in_recovery() as in_recovery`;

describe.skipIf(!hasCluster)('getDatabase on the real primary + streaming replica', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  test("getDatabase('read') runs on the replica: pg_is_in_recovery() is true there", async () => {
    const [row] = await selectRows(t.database.getDatabase('read'), inRecovery, recoveryRow);
    expect(row?.in_recovery).toBe(true);
  });

  test("getDatabase('write') runs on the primary", async () => {
    const [row] = await selectRows(t.database.getDatabase('write'), inRecovery, recoveryRow);
    expect(row?.in_recovery).toBe(false);
  });

  test('a routed read with no token is served by the replica and named in x-db-target', async () => {
    const session = t.database.session();
    const [row] = await session.read((db) => selectRows(db, inRecovery, recoveryRow));
    expect(row?.in_recovery).toBe(true);
    expect(session.lastTarget).toBe('replica1');
  });

  test('replica pools refuse writes even if a service mistakenly writes through read()', async () => {
    const session = t.database.session();
    await expect(session.read((db) => db.execute(sql`create table should_not_exist (id int)`))).rejects.toThrow();
  });

  test('a read inside a transaction callback is refused instead of silently going to a replica', async () => {
    const session = t.database.session();
    await expect(
      session.transaction(async () => session.read((db) => db.execute(sql`select 1`))),
    ).rejects.toBeInstanceOf(DatabaseUsageError);
  });
});
