/**
 * DB_PIPELINING=false: one piece of work per connection at a time, for PgBouncer in transaction
 * mode. Once every connection of a pool is busy, postgres-js sends the next query on a busy one
 * (pipelining). PgBouncer 1.18 hands the server connection back at the first query's reply and
 * loses the reply to the next (pgbouncer/pgbouncer#759): in our check, 503s under 50 concurrent
 * withdrawals, then an instance that hung until restarted. postgres-js cannot turn pipelining off
 * by itself: `max_pipeline: 0` also stops `begin` from reserving its connection.
 *
 * So the pool gets as many permits as connections, and a statement, a transaction (`begin`) or a
 * reserved connection (`reserve`: pg-boss's scripts) holds one from before postgres-js sees it
 * until it settles. postgres-js moves a connection back to its idle list before it resolves the
 * query, so with a permit in hand there is always an idle or unopened connection: nothing is ever
 * sent on a busy one. drizzle and the job queue reach a pool only through `unsafe`, `begin` and
 * `reserve`; the rest of postgres-js's API (tagged templates, cursors) is not gated and not used
 * on these pools.
 *
 * A statement's permit comes back at the pool's deadline even if the statement never settles
 * (postgres-js can leave the query of a killed connection unsettled, porsager/postgres#1097), so
 * a dead connection cannot shrink the pool for good. A transaction or a reserved connection keeps
 * its permit as long as it is open: it holds its connection that long.
 */
import type { MaybeRow, PendingQuery, ReservedSql, RowList, Sql, TransactionSql } from 'postgres';

/** A counting semaphore without a timeout: the callers' own bounds (PoolGate) say how long to wait. */
export class ConnectionPermits {
  private inUse = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly permits: number) {}

  get usage(): { inUse: number; waiting: number } {
    return { inUse: this.inUse, waiting: this.waiting.length };
  }

  acquire(): Promise<() => void> {
    const release = this.releaser();
    if (this.inUse < this.permits) {
      this.inUse += 1;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => this.waiting.push(() => resolve(release)));
  }

  /** Holds a permit while `work` runs; past `deadlineMs` (if given) it is returned, settled or not. */
  async run<T>(work: () => Promise<T>, deadlineMs?: number): Promise<T> {
    const release = await this.acquire();
    const timer = deadlineMs === undefined ? undefined : setTimeout(release, deadlineMs);
    try {
      return await work();
    } finally {
      clearTimeout(timer);
      release();
    }
  }

  /** Returns this permit once, however often it is called. */
  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // Handed straight to the next caller: inUse stays the same.
      if (next) next();
      else this.inUse -= 1;
    };
  }
}

/** What a gated query may not do: each would start the query outside its permit. */
const UNGATED_QUERY_METHODS = new Set<PropertyKey>(['cursor', 'forEach', 'describe', 'readable', 'writable', 'execute']);
/** Query modifiers that return the query itself: they must return the gated one. */
const QUERY_MODIFIERS = new Set<PropertyKey>(['values', 'raw', 'simple']);

/**
 * The query, started (postgres-js queries are lazy: they run at the first `then`) only once a
 * permit is held, and settled before the permit is returned.
 */
function gatedQuery<T extends readonly MaybeRow[]>(query: PendingQuery<T>, permits: ConnectionPermits, deadlineMs: number): PendingQuery<T> {
  let settled: Promise<RowList<T>> | undefined;
  const start = (): Promise<RowList<T>> => {
    settled ??= permits.run(() => new Promise<RowList<T>>((resolve, reject) => query.then(resolve, reject)), deadlineMs);
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
        // The form drizzle uses (a callback; isolation levels are set inside it), as in pools.ts.
        const begin = <T>(work: (sql: TransactionSql) => T | Promise<T>) => permits.run(() => target.begin(work));
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
