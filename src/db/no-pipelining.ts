/**
 * DB_PIPELINING=false: one piece of work per connection at a time, for PgBouncer in transaction
 * mode. Once every connection of a pool is busy, postgres-js sends the next query on a busy one
 * (pipelining). PgBouncer 1.18 hands the server connection back at the first query's reply and
 * loses the reply to the next (pgbouncer/pgbouncer#759): in our check, 503s under 200 concurrent
 * withdrawals, then an instance that hung until killed. postgres-js cannot turn pipelining off by
 * itself: `max_pipeline: 0` also stops `begin` from reserving its connection.
 *
 * So the pool gets as many permits as connections, and a statement, a transaction (`begin`) or a
 * reserved connection (`reserve`: pg-boss's scripts) holds one from before postgres-js sees it
 * until it settles. postgres-js moves a connection back to its idle list before it resolves the
 * query, so with a permit in hand there is an idle or unopened connection, and nothing is sent on
 * a busy one, provided no connection is on its way out: a connection that postgres-js ends (idle
 * timeout, lifetime) is neither idle nor unopened until its socket has closed, and a query arriving
 * then would be pipelined. openPool therefore keeps these pools' connections for good (PgBouncer
 * recycles the server side). What remains is a connection lost to an error at that very moment.
 *
 * A statement keeps its permit until it settles, or until twice its deadline (connect + statement
 * timeout): the server's statement timeout stops a live one long before, and one whose connection
 * died under it may never settle (porsager/postgres#1097) while holding no live connection. It is
 * never cancelled: with the primary killed under load, cancelling such statements (over the
 * network, or locally for those not yet sent) made the process grow by about 50 MB a second and
 * writes never came back (tests/outage-bounds.test.ts). What remains: a statement still waiting in
 * postgres-js after twice its deadline (a reconnect's backoff reaches 20 s during an outage) no
 * longer holds a permit, and may be sent together with others when its connection opens.
 * A transaction or a reserved connection keeps its permit as long as it is open: it holds its
 * connection that long, and postgres-js fails it when that connection closes.
 *
 * drizzle and the job queue reach a pool only through `unsafe`, `begin` and `reserve`; the rest of
 * postgres-js's API (tagged templates, cursors) is not gated and not used on these pools.
 */
import type { MaybeRow, PendingQuery, ReservedSql, RowList, Sql, TransactionSql } from 'postgres';
import type { ConnectionPermits } from './pool-gate';

/** What a gated query may not do: each would start (or stop) the query outside its permit. */
const UNGATED_QUERY_METHODS = new Set<PropertyKey>(['cursor', 'forEach', 'describe', 'readable', 'writable', 'execute', 'cancel']);
/** Query modifiers that return the query itself: they must return the gated one. */
const QUERY_MODIFIERS = new Set<PropertyKey>(['values', 'raw', 'simple']);

/**
 * The query, started (postgres-js queries are lazy: they run at the first `then`) only once a
 * permit is held, and settled (or past twice its deadline, see the file's comment) before the permit is returned.
 */
function gatedQuery<T extends readonly MaybeRow[]>(query: PendingQuery<T>, permits: ConnectionPermits, deadlineMs: number): PendingQuery<T> {
  let settled: Promise<RowList<T>> | undefined;
  const run = async (): Promise<RowList<T>> => {
    const release = await permits.acquire();
    const deadline = setTimeout(release, 2 * deadlineMs);
    try {
      return await new Promise<RowList<T>>((resolve, reject) => query.then(resolve, reject));
    } finally {
      clearTimeout(deadline);
      release();
    }
  };
  const start = (): Promise<RowList<T>> => {
    settled ??= run();
    return settled;
  };
  const gated: PendingQuery<T> = new Proxy(query, {
    get(target, property, receiver) {
      if (property === 'then') return (onFulfilled?: (value: RowList<T>) => unknown, onRejected?: (reason: unknown) => unknown) => start().then(onFulfilled, onRejected);
      if (property === 'catch') return (onRejected?: (reason: unknown) => unknown) => start().catch(onRejected);
      if (property === 'finally') return (onFinally?: () => void) => start().finally(onFinally);
      if (QUERY_MODIFIERS.has(property)) {
        return (...args: unknown[]) => {
          Reflect.apply(Reflect.get(target, property, target), target, args);
          return gated;
        };
      }
      if (UNGATED_QUERY_METHODS.has(property)) throw new Error(`postgres-js query.${String(property)}() is not available with DB_PIPELINING=false`);
      return Reflect.get(target, property, receiver);
    },
  });
  return gated;
}

/** A reserved connection that returns its permit when it is released. */
function releasingPermit(reserved: ReservedSql, release: () => void): ReservedSql {
  return new Proxy(reserved, {
    get(target, property, receiver) {
      if (property !== 'release') return Reflect.get(target, property, receiver);
      return () => {
        target.release();
        release();
      };
    },
  });
}

/**
 * The pool with one piece of work per connection at a time (see the file's comment). Wrap each
 * pool once: every handle over it must share the same permits.
 */
export function withoutPipelining(pool: Sql, permits: ConnectionPermits, statementDeadlineMs: number): Sql {
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property === 'unsafe') {
        const unsafe: Sql['unsafe'] = (query, parameters, options) => gatedQuery(target.unsafe(query, parameters, options), permits, statementDeadlineMs);
        return unsafe;
      }
      if (property === 'begin') {
        // The one form drizzle uses (a callback; isolation levels are set inside it), as in pools.ts.
        const begin = <T>(work: (sql: TransactionSql) => T | Promise<T>) => {
          if (typeof work !== 'function') throw new Error('begin(options, fn) is not available with DB_PIPELINING=false');
          return permits.run(() => target.begin(work));
        };
        return begin;
      }
      if (property === 'reserve') {
        const reserve: Sql['reserve'] = async () => {
          const release = await permits.acquire();
          try {
            return releasingPermit(await target.reserve(), release);
          } catch (error) {
            release();
            throw error;
          }
        };
        return reserve;
      }
      return Reflect.get(target, property, receiver);
    },
  });
}
