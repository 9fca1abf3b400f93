/**
 * The operator scripts as operators run them: real subprocesses against a fresh database on the
 * real primary, with the replica attached.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { MIGRATION_LOCK_KEY, selectRows } from '../src/db';
import { checkLedger } from '../src/modules/ledger';
import { clusterEnv, hasCluster, startTestApp, type TestApp, withDatabase } from './support/harness';
import { holdLock } from './support/locks';
import { waitFor } from './support/wait';

const journal = z.object({ entries: z.array(z.object({ tag: z.string() })) });
/** Every migration in drizzle/ (the journal drizzle-kit keeps). */
const migrationCount = (): number => journal.parse(require('../drizzle/meta/_journal.json')).entries.length;


const SCRIPT_FILES = { 'db:migrate': 'scripts/db-migrate.ts', 'db:seed': 'scripts/db-seed.ts', 'db:reset': 'scripts/db-reset.ts' } as const;

/** The package.json script's file, run with --no-env-file so a developer's .env cannot leak in. */
async function runScript(script: keyof typeof SCRIPT_FILES, env: Record<string, string>) {
  const child = Bun.spawn(['bun', '--no-env-file', SCRIPT_FILES[script]], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'error', ...env },
    stdout: 'pipe',
    stderr: 'pipe',
  });
  const [code, stdout, stderr] = await Promise.all([child.exited, new Response(child.stdout).text(), new Response(child.stderr).text()]);
  return { code, stdout, stderr };
}

const runMigrate = (env: Record<string, string>) => runScript('db:migrate', env);

describe.skipIf(!hasCluster)('bun run db:migrate', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const databaseName = `migrate_${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp();
    await t.database.primary.execute(sql.raw(`create database ${databaseName}`));
    env = {
      DATABASE_URL: withDatabase(clusterEnv.databaseUrl ?? '', databaseName),
      DATABASE_REPLICA_URLS: (clusterEnv.replicaUrls ?? '').split(',').map((url) => withDatabase(url, databaseName)).join(','),
    };
  });
  afterAll(async () => {
    await t.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await t.close();
  });

  test('two runs at once: both wait on the lock, then one applies each migration and the other finds nothing to do', async () => {
    // Hold the migration lock ourselves so both runs are provably waiting at the same time.
    const holder = await startTestApp({ DATABASE_URL: env.DATABASE_URL, DATABASE_REPLICA_URLS: '' });
    const lock = await holdLock(
      holder.database.primary,
      sql`select pg_advisory_xact_lock(${MIGRATION_LOCK_KEY.toString()}::bigint)`,
    );
    try {
      const runs = Promise.all([runMigrate(env), runMigrate(env)]);
      await waitFor(
        'both runs to wait on the migration lock',
        async () => {
          const [row] = await selectRows(
            holder.database.primary,
            sql`select count(*)::int as waiting from pg_locks where locktype = 'advisory' and not granted`,
            z.object({ waiting: z.number() }),
          );
          return row?.waiting === 2;
        },
        20_000,
      );
      lock.release();
      const [first, second] = await runs;
      expect(first.code).toBe(0);
      expect(second.code).toBe(0);
      const output = `${first.stdout}${second.stdout}`;
      expect(output.split('\n').filter((line) => line.startsWith('db:migrate: applied 0000_init'))).toHaveLength(1);
      expect(output).toContain('is up to date');
      // Success is reported only once the replica has replayed the migration.
      expect(output).toMatch(/replayed at [0-9A-F]+\/[0-9A-F]+ on replica1/);
    } finally {
      lock.release();
      await lock.done;
      await holder.close();
    }
  });

  test('a third run is a no-op that exits 0, and the bookkeeping holds each migration once', async () => {
    const again = await runMigrate(env);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('is up to date');
    const migrated = await startTestApp({ DATABASE_URL: env.DATABASE_URL, DATABASE_REPLICA_URLS: '' });
    try {
      const rows = await selectRows(
        migrated.database.primary,
        sql`select count(*)::int as count from drizzle.__drizzle_migrations`,
        z.object({ count: z.number() }),
      );
      expect(rows[0]?.count).toBe(migrationCount());
    } finally {
      await migrated.close();
    }
  });

  test('an unreachable database exits non-zero with a one-line reason', async () => {
    const result = await runMigrate({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/nowhere', DB_CONNECT_TIMEOUT_S: '1' });
    expect(result.code).not.toBe(0);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('cannot reach the database');
  });
});

describe.skipIf(!hasCluster)('bun run db:seed and db:reset', () => {
  let t: TestApp;
  let env: Record<string, string>;
  const databaseName = `seed_${Date.now().toString(36)}`;
  const countRows = async (url: string) => {
    const target = await startTestApp({ DATABASE_URL: url, DATABASE_REPLICA_URLS: '' });
    try {
      const [row] = await selectRows(
        target.database.primary,
        sql`select (select count(*) from users)::int as users, (select count(*) from posts)::int as posts`,
        z.object({ users: z.number(), posts: z.number() }),
      );
      return row;
    } finally {
      await target.close();
    }
  };

  /** What the seed leaves: row counts, the bounties by state, and the ledger check. */
  const marketplaceOf = async (url: string) => {
    const target = await startTestApp({ DATABASE_URL: url, DATABASE_REPLICA_URLS: '' });
    try {
      const db = target.database.primary;
      const [counts] = await selectRows(
        db,
        sql`select (select count(*) from bounties)::int as bounties, (select count(*) from bounty_transitions)::int as history,
                   (select count(*) from bounty_requests)::int as requests, (select count(*) from bounty_reviews)::int as reviews,
                   (select count(*) from bounty_submissions)::int as submissions, (select count(*) from bounty_disputes)::int as disputes,
                   (select count(*) from bounty_timers)::int as timers, (select count(*) from outbox_events)::int as outbox,
                   (select count(*) from ledger_transactions)::int as transactions, (select count(*) from ledger_entries)::int as entries,
                   (select count(*) from connect_accounts)::int as payout_accounts,
                   (select max(updated_at)::text from profiles) as profiles_changed, (select max(updated_at)::text from bounties) as bounties_changed`,
        z.object({
          bounties: z.number(),
          history: z.number(),
          requests: z.number(),
          reviews: z.number(),
          submissions: z.number(),
          disputes: z.number(),
          timers: z.number(),
          outbox: z.number(),
          transactions: z.number(),
          entries: z.number(),
          payout_accounts: z.number(),
          profiles_changed: z.string().nullable(),
          bounties_changed: z.string().nullable(),
        }),
      );
      const row = z.object({ key: z.string(), n: z.number() });
      const states = await selectRows(db, sql`select state || coalesce(':' || cancel_reason, '') as key, count(*)::int as n from bounties group by 1`, row);
      const requests = await selectRows(db, sql`select status || coalesce(':' || closed_reason, '') as key, count(*)::int as n from bounty_requests group by 1`, row);
      const reviewed = await selectRows(
        db,
        sql`select b.state || ':' || r.reviewer_role as key, count(*)::int as n from bounty_reviews r join bounties b on b.id = r.bounty_id group by 1`,
        row,
      );
      const [escrows] = await selectRows(
        db,
        sql`select count(*) filter (where a.balance <> b.reward_amount and b.state in ('open', 'in_progress', 'submitted', 'changes_requested', 'disputed'))::int
                 + count(*) filter (where a.balance <> 0 and b.state in ('completed', 'cancelled'))::int as n, 'wrong escrows' as key
            from bounties b join ledger_accounts a on a.owner_type = 'bounty' and a.owner_id = b.id::text and a.kind = 'escrow'`,
        row,
      );
      const tally = (rows: Array<{ key: string; n: number }>) => Object.fromEntries(rows.map((entry) => [entry.key, entry.n]));
      return { counts, states: tally(states), requests: tally(requests), reviewed: tally(reviewed), wrongEscrows: escrows?.n, ledger: await checkLedger(db) };
    } finally {
      await target.close();
    }
  };

  beforeAll(async () => {
    t = await startTestApp();
    await t.database.primary.execute(sql.raw(`create database ${databaseName}`));
    env = { DATABASE_URL: withDatabase(clusterEnv.databaseUrl ?? '', databaseName) };
    expect((await runMigrate(env)).code).toBe(0);
  });
  afterAll(async () => {
    await t.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await t.close();
  });

  test('seeding twice loads the demo data once: bounties in every state, a clean ledger, and nothing more the second time', async () => {
    const first = await runScript('db:seed', env);
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toContain('ledger check: clean');
    expect(first.stdout).toContain('bountyexpo-demo-password');
    const afterFirst = await countRows(env.DATABASE_URL ?? '');
    expect(afterFirst?.users).toBeGreaterThanOrEqual(8);
    expect(afterFirst?.posts).toBeGreaterThan(0);
    const marketplace = await marketplaceOf(env.DATABASE_URL ?? '');
    // Every state, and every way to be cancelled the demo shows.
    for (const state of ['draft', 'open', 'in_progress', 'submitted', 'changes_requested', 'disputed', 'completed', 'cancelled:poster', 'cancelled:expired', 'cancelled:mutual']) {
      expect({ state, seeded: (marketplace.states[state] ?? 0) > 0 }).toEqual({ state, seeded: true });
    }
    expect(marketplace.states.open).toBeGreaterThanOrEqual(3);
    // Requests pending, accepted, and rejected as filled when another was accepted.
    for (const status of ['pending', 'accepted', 'rejected:filled']) expect({ status, seeded: (marketplace.requests[status] ?? 0) > 0 }).toEqual({ status, seeded: true });
    // Completed work reviewed from both sides.
    expect(marketplace.reviewed['completed:poster'] ?? 0).toBeGreaterThan(0);
    expect(marketplace.reviewed['completed:hunter'] ?? 0).toBeGreaterThan(0);
    // Each transition left its history row; escrows hold the reward exactly while a bounty is active.
    expect(marketplace.counts?.history).toBeGreaterThan(marketplace.counts?.bounties ?? 0);
    expect(marketplace.wrongEscrows).toBe(0);
    expect(marketplace.ledger).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });

    const second = await runScript('db:seed', env);
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
    expect(second.stdout).toContain('the demo marketplace exists');
    expect(await countRows(env.DATABASE_URL ?? '')).toEqual(afterFirst);
    expect(await marketplaceOf(env.DATABASE_URL ?? '')).toEqual(marketplace);
  }, 90_000);

  test('db:reset refuses in production and leaves the data alone', async () => {
    const refused = await runScript('db:reset', { ...env, NODE_ENV: 'production', BETTER_AUTH_SECRET: 'x'.repeat(40), STRIPE_SECRET_KEY: 'sk_live_x', STRIPE_WEBHOOK_SECRET: 'whsec_x', STRIPE_CONNECT_WEBHOOK_SECRET: 'whsec_y', SMTP_URL: 'smtp://mail.example:587' });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('refused');
    expect((await countRows(env.DATABASE_URL ?? ''))?.users).toBeGreaterThan(0);
  });

  test('db:reset drops everything and re-migrates', async () => {
    const reset = await runScript('db:reset', env);
    expect(reset.code).toBe(0);
    expect(await countRows(env.DATABASE_URL ?? '')).toEqual({ users: 0, posts: 0 });
  });
});
