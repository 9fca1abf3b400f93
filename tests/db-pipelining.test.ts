/**
 * DB_PIPELINING=false (regression, issue 13's PgBouncer check): under saturation postgres-js sent
 * a query on a connection still busy with another, and PgBouncer 1.18 in transaction mode lost the
 * second reply (pgbouncer/pgbouncer#759: 503s, then an instance that hung). With it off, nothing
 * is sent on a connection before the server finished the work before it on that connection.
 *
 * How it is seen without PgBouncer: every statement reports its backend and the server's clock when
 * it finished; the pool's debug hook says when the client sent each one. A statement sent before
 * the previous one on its backend finished was pipelined.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, DatabaseCluster, PoolBusyError, selectRows, toUnavailable } from '../src/db';
import { HttpError } from '../src/lib/errors';
import { ConnectionPermits } from '../src/db/pool-gate';
import { createLogger } from '../src/lib/logger';
import { clusterEnv, hasCluster, testConfig } from './support/harness';

const POOL_MAX = 2;
const CONCURRENT = 12;
/** Each statement holds its connection this long, so a pipelined one is sent well before its turn. */
const HOLD_S = 0.04;
/** Client and server read the same clock; this is only its rounding. */
const CLOCK_SLACK_MS = 2;

const statementResult = z.object({ n: z.number(), pid: z.number(), finishedMs: z.number() });
type Finished = z.infer<typeof statementResult>;

/** Statement n: holds its connection, then reports its backend and the server's time at its end. */
const statement = (n: number) =>
  sql.raw(`select ${n}::int as n, pg_backend_pid() as pid, (extract(epoch from clock_timestamp()) * 1000)::float8 as "finishedMs" from (select pg_sleep(${HOLD_S})) as held`);

type Probe = { database: DatabaseCluster; sentAt: Map<number, number> };

async function openProbe(pipelining: boolean): Promise<Probe> {
  const sentAt = new Map<number, number>();
  const config = testConfig({ DATABASE_URL: clusterEnv.databaseUrl, DATABASE_REPLICA_URLS: '', DB_POOL_MAX: String(POOL_MAX), DB_PIPELINING: String(pipelining) });
  const database = await DatabaseCluster.open(config.database, createLogger({ level: 'silent' }), {
    observeQueries: (query) => {
      const n = /^select (\d+)::int as n/.exec(query)?.[1];
      if (n !== undefined) sentAt.set(Number(n), Date.now());
    },
  });
  return { database, sentAt };
}

/** Statements sent on a backend before the one before them there had finished. */
function pipelined(results: readonly Finished[], sentAt: ReadonlyMap<number, number>): number[] {
  const byBackend = new Map<number, Finished[]>();
  for (const row of results) byBackend.set(row.pid, [...(byBackend.get(row.pid) ?? []), row]);
  const early: number[] = [];
  for (const rows of byBackend.values()) {
    const inOrder = [...rows].sort((a, b) => a.finishedMs - b.finishedMs);
    for (let index = 1; index < inOrder.length; index += 1) {
      const before = inOrder[index - 1];
      const row = inOrder[index];
      if (!before || !row) continue;
      const sent = sentAt.get(row.n);
      if (sent === undefined) throw new Error(`statement ${row.n} was never seen sent`);
      if (sent < before.finishedMs - CLOCK_SLACK_MS) early.push(row.n);
    }
  }
  return early;
}

/** Half the work single statements, half transactions of two (each statement one n), all at once. */
async function saturate(db: Database): Promise<Finished[]> {
  const work = Array.from({ length: CONCURRENT }, (_, index) => {
    const n = index * 2;
    if (index % 2 === 0) return selectRows(db, statement(n), statementResult);
    return db.transaction(async (tx) => [...(await selectRows(tx, statement(n), statementResult)), ...(await selectRows(tx, statement(n + 1), statementResult))]);
  });
  return (await Promise.all(work)).flat();
}

describe.skipIf(!hasCluster)('DB_PIPELINING', () => {
  const probes: Probe[] = [];
  beforeAll(async () => {
    probes.push(await openProbe(false), await openProbe(true));
  });
  afterAll(() => Promise.all(probes.map((probe) => probe.database.close())));

  test('off: with more work than connections, no statement is sent on a connection before the one before it finished; every answer arrives', async () => {
    const [off] = probes;
    if (!off) throw new Error('not opened');
    const results = await saturate(off.database.primary);
    expect(results.map((row) => row.n).sort((a, b) => a - b)).toEqual(
      Array.from({ length: CONCURRENT }, (_, index) => (index % 2 === 0 ? [index * 2] : [index * 2, index * 2 + 1])).flat(),
    );
    expect(new Set(results.map((row) => row.pid)).size).toBeLessThanOrEqual(POOL_MAX);
    expect(pipelined(results, off.sentAt)).toEqual([]);
  });

  test('on (the default, direct to PostgreSQL): postgres-js pipelines the same load, which is what the check above would catch', async () => {
    const [, on] = probes;
    if (!on) throw new Error('not opened');
    const results = await saturate(on.database.primary);
    expect(pipelined(results, on.sentAt).length).toBeGreaterThan(0);
  });

  test('off: the routed-read handle and the write handle of the primary share one set of permits', async () => {
    const [off] = probes;
    if (!off) throw new Error('not opened');
    off.sentAt.clear();
    const base = 1_000;
    const results = (
      await Promise.all(
        Array.from({ length: CONCURRENT }, (_, index) =>
          index % 2 === 0
            ? selectRows(off.database.primary, statement(base + index), statementResult)
            : selectRows(off.database.getDatabase('read'), statement(base + index), statementResult),
        ),
      )
    ).flat();
    expect(results).toHaveLength(CONCURRENT);
    expect(pipelined(results, off.sentAt)).toEqual([]);
  });
});

describe.skipIf(!hasCluster)('DB_PIPELINING=false past a deadline', () => {
  test('a statement that outlives its deadline keeps its connection: the next one waits at most its bound, fails as busy, and is never sent behind it', async () => {
    // One connection; a deadline of 1 s + 300 ms. The statement lifts the server's own timeout for
    // itself, as a role setting might.
    const sentAt = new Map<number, number>();
    const config = testConfig({ DATABASE_URL: clusterEnv.databaseUrl, DATABASE_REPLICA_URLS: '', DB_POOL_MAX: '1', DB_PIPELINING: 'false', DB_CONNECT_TIMEOUT_S: '1', DB_STATEMENT_TIMEOUT_MS: '300' });
    const database = await DatabaseCluster.open(config.database, createLogger({ level: 'silent' }), {
      observeQueries: (query) => {
        const n = /^select (\d+)::int as n/.exec(query)?.[1];
        if (n !== undefined) sentAt.set(Number(n), Date.now());
      },
    });
    try {
      // then() starts it: drizzle's queries are lazy.
      const long = database.primary.execute(sql.raw('set statement_timeout = 0; select pg_sleep(2)')).then(() => 'finished');
      await Bun.sleep(100);
      const started = Date.now();
      const next = await selectRows(database.primary, statement(7), statementResult).then(
        () => 'answered',
        // drizzle wraps what the driver threw; a request gets the pool's 503 for it, not a 500.
        (error: unknown) => {
          const answered = toUnavailable(error);
          return error instanceof Error && error.cause instanceof PoolBusyError && answered instanceof HttpError ? `busy ${answered.status} ${answered.code}` : String(error);
        },
      );
      expect([next, Date.now() - started < 1_800]).toEqual(['busy 503 DATABASE_BUSY', true]);
      expect(sentAt.has(7)).toBe(false);
      expect(await long).toBe('finished');
    } finally {
      await database.close();
    }
  }, 15_000);
});

describe('ConnectionPermits', () => {
  test('work waits for a permit, in order; a wait past the bound is refused as a busy pool instead of waiting forever', async () => {
    const permits = new ConnectionPermits('test', 1, 50);
    const held = await permits.acquire();
    const order: string[] = [];
    const next = permits.run(async () => {
      order.push('next');
    });
    expect(permits.usage).toEqual({ inUse: 1, waiting: 1 });
    held();
    await next;
    expect(order).toEqual(['next']);

    const holder = await permits.acquire();
    // Work holding the only permit that asks for another (pg-boss's queue lookup inside a transaction).
    await expect(permits.acquire()).rejects.toBeInstanceOf(PoolBusyError);
    expect(permits.usage).toEqual({ inUse: 1, waiting: 0 });
    holder();
    expect(permits.usage).toEqual({ inUse: 0, waiting: 0 });
  });

  test('a permit is returned once, however often its holder releases it', async () => {
    const permits = new ConnectionPermits('test', 1, 1_000);
    const release = await permits.acquire();
    const waiting = permits.acquire();
    release();
    release();
    const second = await waiting;
    expect(permits.usage).toEqual({ inUse: 1, waiting: 0 });
    const third = permits.acquire();
    expect(permits.usage).toEqual({ inUse: 1, waiting: 1 });
    second();
    (await third)();
    expect(permits.usage).toEqual({ inUse: 0, waiting: 0 });
  });
});
