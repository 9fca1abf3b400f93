/**
 * The one database module. It alone opens connections: a primary pool, one pool per replica, and a
 * one-connection probe pool per node for health and lag. Everything else gets a `Database` handle
 * (drizzle over the one schema) from here.
 *
 * Routing: writes and transactions go to the primary; reads go to a healthy replica that has
 * replayed the request's read-your-writes LSN (see src/db/replica-router.ts), else to the primary.
 * With no DATABASE_URL the service runs on embedded PGlite under DATA_DIR: one node for everything.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { type Logger as DrizzleLogger, sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import { z } from 'zod';
import * as schema from '../db/schema';
import { type Lsn, parseLsn, readYourWritesLsn } from '../db/lsn';
import { applyMigrations } from '../db/migrator';
import { PoolBusyError, PoolGate, QueryDeadlineError } from '../db/pool-gate';
import { ProbePool, ProbeTimeoutError } from '../db/probe-pool';
import {
  type PrimaryWalPosition,
  type ReadReason,
  type ReadTarget,
  REFUSED_TARGET,
  type ReplicaProbeResult,
  ReplicaNode,
  ReplicaRouter,
  type ReplicaState,
} from '../db/replica-router';
import { selectRows } from '../db/rows';
import { findErrorCode, HttpError, serviceUnavailable } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { AppConfig } from './env';

export type Database = PgDatabase<PgQueryResultHKT, typeof schema>;
export type Transaction = Parameters<Parameters<Database['transaction']>[0]>[0];
export type DatabaseIntent = 'read' | 'write';
export type DatabaseConfig = AppConfig['database'];

export type PoolHealth = {
  name: string;
  ok: boolean;
  latencyMs: number | null;
  error?: string;
};
export type ReplicaHealth = PoolHealth & {
  state: ReplicaState;
  lagBytes: number | null;
  lagMs: number | null;
  readsServed: number;
};
export type DatabaseHealth = {
  mode: 'postgres' | 'embedded';
  primary: PoolHealth;
  replicas: ReplicaHealth[];
  reads: { byTarget: Record<string, number>; byReason: Record<string, number> };
};

const HEALTH_TIMEOUT_MS = 1_500;
const PRIMARY_NAME = 'primary';
// Probes must answer fast or count as failed; the client-side bound also covers the connect timeout.
const PROBE_STATEMENT_TIMEOUT_MS = 500;
const PROBE_TIMEOUT_MS = 1_500;

/** SQLSTATEs and driver codes that mean "this server is unreachable right now", not "this query is wrong". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '57P01', '57P02', '57P03',
]);
const RECOVERY_CONFLICT = '40001';

export function isConnectionError(error: unknown): boolean {
  const code = findErrorCode(error);
  return code !== undefined && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'));
}

/**
 * Whether a failed query says something about the database rather than about the query: an
 * unreachable node, a timeout, a recovery conflict, resource exhaustion (classes 53, 57, 58, XX).
 * A malformed value or a constraint (classes 22, 23, 42) is the request's fault and is not counted
 * in db_read_failures_total.
 */
function isDatabaseFailure(error: unknown): boolean {
  if (isConnectionError(error) || error instanceof QueryDeadlineError) return true;
  const code = findErrorCode(error, (candidate) => /^[0-9A-Z]{5}$/.test(candidate));
  return code !== undefined && (code === RECOVERY_CONFLICT || /^(53|57|58|XX)/.test(code));
}

/** A read that failed for one of these reasons may succeed on another node. */
function isRetryableReadError(error: unknown): boolean {
  return isConnectionError(error) || findErrorCode(error) === RECOVERY_CONFLICT;
}

/** Every way the database layer fails fast, as the 503 (with Retry-After) the client gets. */
export function toUnavailable(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (isConnectionError(error)) return serviceUnavailable('The database is unavailable, retry shortly', 'DATABASE_UNAVAILABLE');
  if (error instanceof PoolBusyError) return serviceUnavailable('The database is busy, retry shortly', 'DATABASE_BUSY');
  if (error instanceof QueryDeadlineError || findErrorCode(error) === '57014') {
    return serviceUnavailable('The database took too long to answer', 'DATABASE_TIMEOUT');
  }
  return error;
}

/** Set while a transaction callback runs: a routed read there would miss the transaction's own writes. */
const transactionScope = new AsyncLocalStorage<true>();

export class DatabaseUsageError extends Error {
  override name = 'DatabaseUsageError';
}

/**
 * Whether a statement only reads: the first keyword starts a query, and nothing in it writes or
 * takes row locks. Literals, quoted identifiers and comments are blanked first so a value or a
 * column name cannot trip it. Conservative: an unknown statement is not a read.
 */
export function isReadOnlyStatement(text: string): boolean {
  const code = text
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\$([A-Za-z_]*)\$[\s\S]*?\$\1\$/g, ' ')
    .replace(/'(?:[^']|'')*'/g, ' ')
    .replace(/"(?:[^"]|"")*"/g, ' ')
    .toLowerCase();
  if (!/^\s*\(*\s*(select|with|values|table|show)\b/.test(code)) return false;
  return !/\b(insert|update|delete|merge|into|truncate|nextval|setval)\b|\bfor\s+(key\s+)?share\b/.test(code);
}

/**
 * The drizzle logger of every handle a routed read gets (replica or primary): drizzle calls it before
 * sending each statement, so a write or `SELECT ... FOR UPDATE` built inside `read()` (the
 * `db.with(cte).insert()` and `.for('update')` traps) is refused here, whichever node the read was
 * routed to, instead of failing only on a replica or silently running on the primary.
 */
const readOnlyGuard: DrizzleLogger = {
  logQuery(query: string): void {
    if (!isReadOnlyStatement(query)) {
      throw new DatabaseUsageError(
        `a write or locking statement was issued through a read handle; use write() or transaction(): ${query.slice(0, 120)}`,
      );
    }
  },
};

/** Above every real token: the reads of a request that has written go to the primary. */
const OWN_WRITES = 'own-writes';
type ReadFloor = Lsn | null | typeof OWN_WRITES;

const probeRow = z.object({
  in_recovery: z.boolean(),
  replay_lsn: z.string().nullable(),
  receive_lsn: z.string().nullable(),
});
const primaryWalRow = z.object({ insert_lsn: z.string(), flush_lsn: z.string(), block_size: z.coerce.number().int().positive() });
const insertLsnRow = z.object({ lsn: z.string(), block_size: z.coerce.number().int().positive() });

type PoolOptions = {
  name: string;
  max: number;
  readOnly: boolean;
  connectTimeoutS: number;
  statementTimeoutMs: number;
  observeQueries?: QueryObserver | undefined;
};

/** Sees every statement a request pool sends, with its parameters (tests EXPLAIN them). */
export type QueryObserver = (query: string, parameters: readonly unknown[]) => void;

function openPool(url: string, config: DatabaseConfig, options: PoolOptions): Sql {
  return postgres(url, {
    max: options.max,
    idle_timeout: config.idleTimeoutS,
    connect_timeout: options.connectTimeoutS,
    onnotice: () => {},
    ...(options.observeQueries ? { debug: (_connection: number, query: string, parameters: unknown[]) => options.observeQueries?.(query, parameters) } : {}),
    connection: {
      application_name: `bountyexpo-${options.name}`,
      statement_timeout: options.statementTimeoutMs,
      ...(options.readOnly ? { default_transaction_read_only: true } : {}),
    },
  });
}

/**
 * A short, public-safe reason for /health/db (unauthenticated): the driver's code, never the
 * failed SQL text drizzle puts in its message.
 */
function healthFailureReason(error: unknown): string {
  if (error instanceof TimeoutError || error instanceof ProbeTimeoutError) return 'timeout';
  const code = findErrorCode(error);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'CONNECT_TIMEOUT') return 'connect timeout';
  if (code && isConnectionError(error)) return `connection failed (${code})`;
  return code ? `query failed (${code})` : 'unreachable';
}

class TimeoutError extends Error {
  override name = 'TimeoutError';
}

/**
 * drizzle sends every query through `sql.unsafe(text, params)`, which postgres-js runs unprepared:
 * parsed and planned anew each time. Queries built by drizzle have a fixed text per call site, so
 * named prepared statements (cached per connection) are safe and cut the database's work per
 * read by about a third. Off with DB_PREPARED_STATEMENTS=false (PgBouncer in transaction mode).
 * Transactions run on the connection postgres-js hands to `begin`, unprepared as before.
 */
function withPreparedStatements(pool: Sql): Sql {
  return new Proxy(pool, {
    get(target, property, receiver) {
      if (property !== 'unsafe') return Reflect.get(target, property, receiver);
      const unsafe: Sql['unsafe'] = (query, parameters, options) => target.unsafe(query, parameters, { ...options, prepare: true });
      return unsafe;
    },
  });
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a probe query on a node's probe connection, bounded; see ProbePool for why it resets. */
type Prober = <T>(probe: (db: Database) => Promise<T>, timeoutMs: number, what: string) => Promise<T>;

/**
 * How long one database operation may take, from asking for a connection to its answer: the pool
 * wait, a connect, and a statement. Every request's database work is bounded by it (503 past it).
 */
export const operationBoundMs = (config: DatabaseConfig): number =>
  config.poolAcquireTimeoutMs + config.connectTimeoutS * 1000 + config.statementTimeoutMs;

export class DatabaseCluster {
  readonly router: ReplicaRouter<Database>;
  private readonly readYourWritesWaitMs: number;
  /** One gate per pool, by node name (see PoolGate). */
  private readonly gates = new Map<string, PoolGate>();
  readonly operationBoundMs: number;

  private constructor(
    readonly mode: 'postgres' | 'embedded',
    readonly primary: Database,
    /** Better-Auth's handle: the primary through a pool of its own, so session lookups never wait behind writes. */
    readonly authPrimary: Database,
    /** The primary for routed reads: same pool, guarded against writes like the replica handles. */
    private readonly primaryRead: Database,
    private readonly primaryProbe: Prober,
    readonly replicas: ReplicaNode<Database>[],
    private readonly closers: Array<() => Promise<void>>,
    config: DatabaseConfig,
    private readonly logger: Logger,
  ) {
    this.readYourWritesWaitMs = config.readYourWritesWaitMs;
    this.operationBoundMs = operationBoundMs(config);
    const deadlineMs = config.connectTimeoutS * 1000 + config.statementTimeoutMs;
    for (const name of [PRIMARY_NAME, ...replicas.map((node) => node.name)]) {
      this.gates.set(name, new PoolGate(name, config.poolMax, config.poolAcquireTimeoutMs, deadlineMs));
    }
    this.router = new ReplicaRouter(
      replicas,
      () => this.primaryProbe(primaryWalPosition, PROBE_TIMEOUT_MS, 'primary probe'),
      {
        maxLagMs: config.maxReplicaLagMs,
        maxLagBytes: config.maxReplicaLagBytes,
        fallbackMaxInflight: config.readFallbackMaxInflight,
        probeIntervalMs: config.replicaProbeMs,
        probeTimeoutMs: PROBE_TIMEOUT_MS,
      },
      logger,
    );
  }

  /** Opens the pools (or embedded PGlite, migrated) and starts the replica monitor. */
  static async open(config: DatabaseConfig, logger: Logger, options: { observeQueries?: QueryObserver } = {}): Promise<DatabaseCluster> {
    if (!config.primaryUrl) return DatabaseCluster.openEmbedded(config, logger);
    const closers: Array<() => Promise<void>> = [];
    const track = (pool: Sql): Sql => {
      // No grace period: close() runs once requests have drained, so nothing legitimate is in
      // flight, and postgres-js 3.4.9 keeps the query of a connection that died mid-query (server
      // killed): a graceful end() waits for it forever, i.e. until its timeout (porsager/postgres#1097).
      closers.push(() => pool.end({ timeout: 0 }));
      return pool;
    };
    const probeOptions = { max: 1, readOnly: true, connectTimeoutS: 1, statementTimeoutMs: PROBE_STATEMENT_TIMEOUT_MS };
    const probePool = (url: string, name: string): ProbePool<Database> => {
      const pool = new ProbePool<Database>(() => openPool(url, config, { name, ...probeOptions }), (sqlPool) => drizzlePostgres(sqlPool, { schema }));
      closers.push(() => pool.close());
      return pool;
    };
    const queryPool = (pool: Sql): Sql => (config.preparedStatements ? withPreparedStatements(pool) : pool);
    const primaryPool = track(
      openPool(config.primaryUrl, config, {
        name: PRIMARY_NAME, max: config.poolMax, readOnly: false,
        connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: config.statementTimeoutMs,
        observeQueries: options.observeQueries,
      }),
    );
    const primaryProbePool = probePool(config.primaryUrl, 'primary-probe');
    const authPool = track(
      openPool(config.primaryUrl, config, {
        name: 'primary-auth', max: config.authPoolMax, readOnly: false,
        connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: config.statementTimeoutMs,
      }),
    );
    const replicas = config.replicaUrls.map((url, index) => {
      const name = `replica${index + 1}`;
      const pool = track(
        openPool(url, config, {
          name, max: config.poolMax, readOnly: true,
          connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: config.statementTimeoutMs,
          observeQueries: options.observeQueries,
        }),
      );
      const probe = probePool(url, `${name}-probe`);
      return new ReplicaNode<Database>(
        name,
        drizzlePostgres(queryPool(pool), { schema, logger: readOnlyGuard }),
        () => probe.run(probeReplica, PROBE_TIMEOUT_MS, `${name} probe`),
      );
    });
    const cluster = new DatabaseCluster(
      'postgres',
      drizzlePostgres(queryPool(primaryPool), { schema }),
      drizzlePostgres(queryPool(authPool), { schema }),
      drizzlePostgres(queryPool(primaryPool), { schema, logger: readOnlyGuard }),
      (probe, timeoutMs, what) => primaryProbePool.run(probe, timeoutMs, what),
      replicas,
      closers,
      config,
      logger,
    );
    if (replicas.length > 0) {
      // One probe round before serving, so the first reads already know each replica's state.
      await cluster.router.probeAll();
      cluster.router.start();
    }
    logger.info({ replicas: replicas.map((node) => node.name) }, 'database pools opened');
    return cluster;
  }

  private static async openEmbedded(config: DatabaseConfig, logger: Logger): Promise<DatabaseCluster> {
    const dataDir = embeddedDataDir(config);
    mkdirSync(dataDir, { recursive: true });
    const client = new PGlite(dataDir);
    await client.waitReady;
    const db: Database = drizzlePglite(client, { schema });
    logger.warn({ dataDir }, 'DATABASE_URL is not set: running on embedded PGlite (development only), migrating it now');
    const { applied } = await applyMigrations(db);
    logger.info({ applied }, 'embedded database migrated');
    const readDb: Database = drizzlePglite(client, { schema, logger: readOnlyGuard });
    const prober: Prober = (probe, timeoutMs, what) => withTimeout(probe(db), timeoutMs, what);
    return new DatabaseCluster('embedded', db, db, readDb, prober, [], [() => client.close()], config, logger);
  }

  /**
   * `write` is always the primary; `read` is the handle the router picks for a request with no
   * token (read-only guarded; no token, no retry, no cap: request code should use the session).
   * Choose it per query, never once at start-up: the choice reflects replica health at call time.
   */
  getDatabase(intent: DatabaseIntent): Database {
    if (intent === 'write') return this.primary;
    assertOutsideTransaction("getDatabase('read')");
    const target = this.router.chooseRead(null);
    return target.kind === 'replica' ? target.node.db : this.primaryRead;
  }

  /** A request-scoped handle: the routing decisions of one request, honouring its token. */
  session(minLsn: Lsn | null = null): DatabaseSession {
    return new DatabaseSession(this, minLsn);
  }

  /**
   * The primary's WAL insert position: taken after a commit, it covers everything committed so far
   * (backed off a page header, see readYourWritesLsn). This is the read-your-writes token's LSN.
   */
  async currentWalInsertLsn(): Promise<Lsn | null> {
    if (this.mode === 'embedded') return null;
    // Gated like any primary work: after a write on a dying primary this lookup hung for up to
    // 18 s in postgres-js's reconnect backoff, holding the response (issue 7).
    const [row] = await this.gate(PRIMARY_NAME).run(() =>
      selectRows(
        this.primary,
        sql`select pg_current_wal_insert_lsn()::text as lsn, current_setting('wal_block_size') as block_size`,
        insertLsnRow,
      ),
    );
    const lsn = row ? parseLsn(row.lsn) : null;
    return row && lsn !== null ? readYourWritesLsn(lsn, row.block_size) : null;
  }

  /** Waits until every replica has replayed `lsn` (bounded). Used after migrations. */
  async waitForReplicas(lsn: Lsn, timeoutMs: number): Promise<{ caughtUp: string[]; pending: string[] }> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...this.replicas];
    const caughtUp: string[] = [];
    while (pending.length > 0) {
      // All at once, each bounded: a hung replica must not hold the others' answer past the deadline.
      const replayed = await Promise.all(
        pending.map((node) =>
          withTimeout(node.probe(), PROBE_TIMEOUT_MS, `${node.name} probe`).then(
            (probe) => probe.inRecovery && probe.replayLsn !== null && probe.replayLsn >= lsn,
            () => false,
          ),
        ),
      );
      caughtUp.push(...pending.filter((_, index) => replayed[index]).map((node) => node.name));
      pending = pending.filter((_, index) => !replayed[index]);
      if (pending.length === 0 || Date.now() >= deadline) break;
      await Bun.sleep(100);
    }
    return { caughtUp, pending: pending.map((node) => node.name) };
  }

  /** Every node is measured at once, so the answer comes within HEALTH_TIMEOUT_MS however many hang. */
  async checkHealth(): Promise<DatabaseHealth> {
    const [primary, replicas] = await Promise.all([
      this.measure(PRIMARY_NAME, async () => {
        await this.primaryProbe((db) => db.execute(sql`select 1`), HEALTH_TIMEOUT_MS, 'primary health check');
      }),
      Promise.all(
        this.replicas.map(async (node): Promise<ReplicaHealth> => {
          // Reachability is checked live; state and lag are the monitor's, the ones routing uses.
          const health = await this.measure(node.name, async () => {
            await node.probe();
          });
          return {
            ...health,
            state: node.state,
            lagBytes: node.lagBytes,
            lagMs: node.lagMs,
            readsServed: node.readsServed,
          };
        }),
      ),
    ]);
    return {
      mode: this.mode,
      primary,
      replicas,
      reads: { byTarget: this.router.readsByTarget(), byReason: this.router.readsByReason() },
    };
  }

  private async measure(name: string, check: () => Promise<void>): Promise<PoolHealth> {
    const started = performance.now();
    try {
      await withTimeout(check(), HEALTH_TIMEOUT_MS, `${name} health check`);
      return { name, ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      return { name, ok: false, latencyMs: null, error: healthFailureReason(error) };
    }
  }

  /** Call once requests have drained: queries still running are cut off. */
  async close(): Promise<void> {
    this.router.stop();
    await Promise.allSettled(this.closers.map((close) => close()));
    this.logger.info('database connections closed');
  }

  /**
   * Runs a read on the chosen target; one retry elsewhere on a connection failure or a recovery
   * conflict (40001). With READ_YOUR_WRITES_WAIT_MS, a read whose token is ahead of every healthy
   * replica first waits (bounded) for a probe round to show one that has caught up.
   */
  async routeRead<T>(floor: ReadFloor, query: (db: Database) => Promise<T>, onTarget: (name: string) => void): Promise<T> {
    assertOutsideTransaction('read()');
    const minLsn = floor === OWN_WRITES ? MAX_LSN : floor;
    let first = this.router.chooseRead(minLsn);
    if (first.kind === 'primary' && first.reason === 'token-ahead' && floor !== OWN_WRITES && this.readYourWritesWaitMs > 0) {
      first = await this.waitForCaughtUpReplica(minLsn, first);
    }
    try {
      return await this.runRead(first, query, onTarget);
    } catch (error) {
      if (!isRetryableReadError(error)) throw toUnavailable(error);
      if (first.kind === 'replica') {
        if (isConnectionError(error)) this.router.reportConnectionFailure(first.node, error);
        this.logger.warn({ replica: first.node.name, error: findErrorCode(error) }, 'read failed on replica, retrying once');
        const second = this.router.chooseRead(minLsn, first.node);
        try {
          return await this.runRead(second, query, onTarget);
        } catch (retryError) {
          throw toUnavailable(retryError);
        }
      }
      throw toUnavailable(error);
    }
  }

  private async waitForCaughtUpReplica(minLsn: Lsn | null, initial: ReadTarget<Database>): Promise<ReadTarget<Database>> {
    const deadline = Date.now() + this.readYourWritesWaitMs;
    let target = initial;
    // Re-decided after each probe round; gives up (primary) at the deadline or once no replica is healthy.
    while (Date.now() < deadline) {
      await this.router.nextProbeRound(deadline - Date.now());
      target = this.router.chooseRead(minLsn);
      if (target.kind === 'replica') return { ...target, reason: 'caught-up-after-wait' };
      if (target.reason !== 'token-ahead') return target;
    }
    return target;
  }

  private async runRead<T>(target: ReadTarget<Database>, query: (db: Database) => Promise<T>, onTarget: (name: string) => void): Promise<T> {
    if (target.kind === 'replica') {
      const { node } = target;
      onTarget(node.name);
      node.inflight += 1;
      try {
        const result = await this.gate(node.name).run(() => query(node.db));
        node.readsServed += 1;
        this.router.countRead(node.name, target.reason);
        return result;
      } catch (error) {
        if (isDatabaseFailure(error)) this.router.countFailure(node.name);
        throw error;
      } finally {
        node.inflight -= 1;
      }
    }
    if (target.countsAsFallback && !this.router.tryAcquireFallback()) {
      this.router.countRead(REFUSED_TARGET, 'fallback-capped');
      throw serviceUnavailable('No replica can serve reads and the primary is at its fallback limit', 'READ_CAPACITY_EXCEEDED');
    }
    onTarget(PRIMARY_NAME);
    try {
      const result = await this.gate(PRIMARY_NAME).run(() => query(this.primaryRead));
      this.router.countRead(PRIMARY_NAME, target.reason);
      return result;
    } catch (error) {
      if (isDatabaseFailure(error)) this.router.countFailure(PRIMARY_NAME);
      throw error;
    } finally {
      if (target.countsAsFallback) this.router.releaseFallback();
    }
  }

  async runWrite<T>(work: () => Promise<T>): Promise<T> {
    assertOutsideTransaction('write()');
    try {
      return await this.gate(PRIMARY_NAME).run(work);
    } catch (error) {
      throw toUnavailable(error);
    }
  }

  async runTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    assertOutsideTransaction('transaction()');
    try {
      return await this.gate(PRIMARY_NAME).run(() => this.primary.transaction((tx) => transactionScope.run(true, () => work(tx))));
    } catch (error) {
      throw toUnavailable(error);
    }
  }

  /** Permits in use and waiting per pool (for metrics and tests). */
  poolUsage(): Record<string, PoolGate['usage']> {
    return Object.fromEntries([...this.gates].map(([name, gate]) => [name, gate.usage]));
  }

  private gate(name: string): PoolGate {
    const gate = this.gates.get(name);
    if (!gate) throw new Error(`no pool gate for ${name}`);
    return gate;
  }
}

const MAX_LSN: Lsn = (1n << 64n) - 1n;

/**
 * Inside a transaction callback every query must use the transaction handle: a routed read would
 * miss the transaction's own writes (and may hit a replica), and a write or nested transaction on
 * another connection is not part of it and can deadlock on its locks.
 */
function assertOutsideTransaction(what: string): void {
  if (transactionScope.getStore()) {
    throw new DatabaseUsageError(`${what} inside a transaction callback: use the transaction handle (tx) instead`);
  }
}

/** The primary's side of the lag measure (see PrimaryWalHistory). */
async function primaryWalPosition(db: Database): Promise<PrimaryWalPosition | null> {
  const [row] = await selectRows(
    db,
    sql`select pg_current_wal_insert_lsn()::text as insert_lsn, pg_current_wal_flush_lsn()::text as flush_lsn,
               current_setting('wal_block_size') as block_size`,
    primaryWalRow,
  );
  const insertLsn = row ? parseLsn(row.insert_lsn) : null;
  const flushLsn = row ? parseLsn(row.flush_lsn) : null;
  if (!row || insertLsn === null || flushLsn === null) return null;
  return { insertLsn: readYourWritesLsn(insertLsn, row.block_size), flushLsn };
}

async function probeReplica(db: Database): Promise<ReplicaProbeResult> {
  const [row] = await selectRows(
    db,
    sql`select pg_is_in_recovery() as in_recovery,
               pg_last_wal_replay_lsn()::text as replay_lsn,
               pg_last_wal_receive_lsn()::text as receive_lsn`,
    probeRow,
  );
  if (!row) throw new Error('replica probe returned no row');
  return {
    inRecovery: row.in_recovery,
    replayLsn: row.replay_lsn ? parseLsn(row.replay_lsn) : null,
    receiveLsn: row.receive_lsn ? parseLsn(row.receive_lsn) : null,
  };
}

/**
 * What one request uses. `read` is routed (token-aware, retried once), `write` and `transaction`
 * run on the primary and mark the request as having written, so the caller gets a fresh token.
 */
export class DatabaseSession {
  wrote = false;
  /**
   * Set when this request's primary work failed as unavailable (503): asking the same primary for
   * a token would only add another bounded wait to the answer.
   */
  primaryUnavailable = false;
  readonly targets: string[] = [];

  constructor(
    private readonly cluster: DatabaseCluster,
    readonly minLsn: Lsn | null,
  ) {}

  /**
   * A routed read. Once this request has written, its reads stay on the primary: its own write's
   * LSN is not known until the response, and no replica may have it yet.
   */
  read<T>(query: (db: Database) => Promise<T>): Promise<T> {
    return this.cluster.routeRead(this.wrote ? OWN_WRITES : this.minLsn, query, (name) => this.targets.push(name));
  }

  write<T>(query: (db: Database) => Promise<T>): Promise<T> {
    assertOutsideTransaction('write()');
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.notingUnavailable(this.cluster.runWrite(() => query(this.cluster.primary)));
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    assertOutsideTransaction('transaction()');
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.notingUnavailable(this.cluster.runTransaction(work));
  }

  private async notingUnavailable<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      if (error instanceof HttpError && error.status === 503) this.primaryUnavailable = true;
      throw error;
    }
  }

  /** For writes made outside this handle (Better-Auth's own endpoints write sessions and users). */
  markWritten(): void {
    this.wrote = true;
  }

  get lastTarget(): string | null {
    return this.targets.at(-1) ?? null;
  }
}

export type { ReadReason };

// --- The process-wide instance, for src/index.ts and the operator scripts. --------------------

let current: DatabaseCluster | null = null;

export async function initDatabase(config: DatabaseConfig, logger: Logger): Promise<DatabaseCluster> {
  current ??= await DatabaseCluster.open(config, logger);
  return current;
}

function requireDatabase(): DatabaseCluster {
  if (!current) throw new Error('initDatabase() has not been called');
  return current;
}

export const getDatabase = (intent: DatabaseIntent): Database => requireDatabase().getDatabase(intent);
export const dbPrimary = (): Database => requireDatabase().primary;
export const checkDatabaseHealth = (): Promise<DatabaseHealth> => requireDatabase().checkHealth();

export async function closeDatabaseConnections(): Promise<void> {
  const cluster = current;
  current = null;
  await cluster?.close();
}

export const embeddedDataDir = (config: DatabaseConfig): string => join(resolve(config.dataDir), 'pglite');
