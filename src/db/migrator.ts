/**
 * Applies drizzle-kit's SQL migrations (drizzle/) in ONE transaction under a transaction-scoped
 * advisory lock. Two runs at once: the second blocks on the lock, then finds nothing to do.
 * The bookkeeping table is drizzle's own (drizzle.__drizzle_migrations), so drizzle-kit agrees
 * with us about what has been applied.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { z } from 'zod';
import type { Database } from './types';
import { selectRows } from './rows';

export const MIGRATIONS_FOLDER = join(import.meta.dir, '..', '..', 'drizzle');
// Any fixed 64-bit number; it only has to differ from other advisory locks in this database.
export const MIGRATION_LOCK_KEY = 7_262_531_904_117n;

const journalSchema = z.object({ entries: z.array(z.object({ idx: z.number(), when: z.number(), tag: z.string() })) });

export type MigrationReport = { applied: string[] };

export async function applyMigrations(
  db: Database,
  options: { migrationsFolder?: string; onApply?: (tag: string) => void } = {},
): Promise<MigrationReport> {
  const migrationsFolder = options.migrationsFolder ?? MIGRATIONS_FOLDER;
  const migrations = readMigrationFiles({ migrationsFolder });
  const journal = journalSchema.parse(JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')));
  const tagByMillis = new Map(journal.entries.map((entry) => [entry.when, entry.tag]));
  const applied: string[] = [];

  await db.transaction(async (tx) => {
    // The pool's request statement_timeout must not cancel a long index build, nor a second run
    // waiting its turn on the lock.
    await tx.execute(sql`set local statement_timeout = 0`);
    await tx.execute(sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`);
    await tx.execute(sql`create schema if not exists drizzle`);
    await tx.execute(
      sql`create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)`,
    );
    const [last] = await selectRows(
      tx,
      sql`select created_at::text as created_at from drizzle.__drizzle_migrations order by created_at desc limit 1`,
      z.object({ created_at: z.string() }),
    );
    const lastMillis = last ? Number(last.created_at) : 0;
    for (const migration of migrations) {
      if (migration.folderMillis <= lastMillis) continue;
      const tag = tagByMillis.get(migration.folderMillis) ?? String(migration.folderMillis);
      for (const statement of migration.sql) {
        if (statement.trim()) await tx.execute(sql.raw(statement));
      }
      await tx.execute(
        sql`insert into drizzle.__drizzle_migrations (hash, created_at) values (${migration.hash}, ${migration.folderMillis})`,
      );
      applied.push(tag);
      options.onApply?.(tag);
    }
  });
  return { applied };
}
