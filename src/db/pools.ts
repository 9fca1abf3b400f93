/** postgres-js pools as the service opens them (the only place that calls postgres()). */
import postgres, { type Sql, type TransactionSql } from 'postgres';
import { traceStatement, traceTransaction } from '../lib/telemetry';
import type { DatabaseConfig } from './types';

export type PoolOptions = {
  name: string;
  max: number;
  readOnly: boolean;
  connectTimeoutS: number;
  statementTimeoutMs: number;
  observeQueries?: QueryObserver | undefined;
};

/** Sees every statement a request pool sends, with its parameters (tests EXPLAIN them). */
export type QueryObserver = (query: string, parameters: readonly unknown[]) => void;

/**
 * How long closing a pool waits for what is in flight before destroying its connections. Not 0:
 * a connection a moment old runs postgres-js's own type lookup, whose failure nobody awaits, so
 * destroying it then was an unhandled rejection (a CI run of issue 13, an app closed right after
 * starting). Not unbounded: postgres-js 3.4.9 keeps the query of a connection that died mid-query
 * (server killed), and a graceful end() would wait for it forever (porsager/postgres#1097).
 */
export const POOL_CLOSE_GRACE_S = 1;

export function openPool(url: string, config: DatabaseConfig, options: PoolOptions): Sql {
  return postgres(url, {
    max: options.max,
    idle_timeout: config.idleTimeoutS,
    // Without pipelining a connection on its way out (idle timeout, lifetime) would be neither idle
    // nor unopened, and the next query pipelined on a busy one (src/db/no-pipelining.ts): they are
    // kept for good, and PgBouncer, which they then go through, recycles the server side.
    ...(config.pipelining ? {} : { idle_timeout: 0, max_lifetime: 0 }),
    connect_timeout: options.connectTimeoutS,
    onnotice: () => {},
    // postgres-js's own statements too (a transaction's `commit`): with it off, nothing is named.
    prepare: config.preparedStatements,
    ...(options.observeQueries ? { debug: (_connection: number, query: string, parameters: unknown[]) => options.observeQueries?.(query, parameters) } : {}),
    connection: {
      application_name: `bountyexpo-${options.name}`,
      statement_timeout: options.statementTimeoutMs,
      ...(options.readOnly ? { default_transaction_read_only: true } : {}),
    },
  });
}

/**
 * drizzle sends every query through `sql.unsafe(text, params)`, which postgres-js runs unprepared:
 * parsed and planned anew each time. Queries built by drizzle have a fixed text per call site, so
 * named prepared statements (cached per connection) are safe and cut the database's work per
 * read by about a third. Off with DB_PREPARED_STATEMENTS=false (PgBouncer in transaction mode):
 * then no query of a request pool is prepared, whatever drizzle asks for.
 * Transactions get the same on the connection postgres-js hands to `begin` (a ledger posting's
 * ~5 statements: 646 -> 1,071 postings/s in `bun run bench --only ledger`).
 * Every statement and transaction through here is also a span when traced (src/lib/telemetry.ts:
 * its kind and `poolName`, never its text or values).
 */
export function withPreparedStatements(pool: Sql, prepare: boolean, poolName: string): Sql {
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property === 'begin') {
        // A transaction's statements too (the ledger posts ~5 per transaction): the connection
        // postgres-js hands to the callback gets the same treatment as the pool.
        const begin = <T>(cb: (sql: TransactionSql) => T | Promise<T>) =>
          traceTransaction(poolName, () => target.begin((tx) => cb(preparing(tx, prepare, poolName))));
        return begin;
      }
      if (property !== 'unsafe') return Reflect.get(target, property, receiver);
      // Forced both ways: drizzle's `.prepare()` queries (src/db/prepared.ts) ask for named
      // statements themselves, which PgBouncer in transaction mode cannot keep.
      const unsafe: Sql['unsafe'] = (query, parameters, options) => traceStatement(poolName, query, () => target.unsafe(query, parameters, { ...options, prepare }));
      return unsafe;
    },
  });
}

/** A transaction's handle whose `unsafe` (every drizzle query) is prepared as the pool's are. */
function preparing(tx: TransactionSql, prepare: boolean, poolName: string): TransactionSql {
  return new Proxy(tx, {
    get(target, property, receiver) {
      if (property !== 'unsafe') return Reflect.get(target, property, receiver);
      const unsafe: TransactionSql['unsafe'] = (query, parameters, options) =>
        traceStatement(poolName, query, () => target.unsafe(query, parameters, { ...options, prepare }));
      return unsafe;
    },
  });
}
