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
import { sql } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import postgres, { type Sql } from 'postgres';
import { z } from 'zod';
import * as schema from '../db/schema';
import { type Lsn, parseLsn } from '../db/lsn';
import { applyMigrations } from '../db/migrator';
import {
  computeReplicaLag,
  type ReadReason,
  type ReplicaProbeResult,
  ReplicaNode,
  ReplicaRouter,
  type ReplicaState,
} from '../db/replica-router';
import { selectRows } from '../db/rows';
import { HttpError, serviceUnavailable } from '../lib/errors';
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

/** SQLSTATEs and driver codes that mean "this server is unreachable right now", not "this query is wrong". */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'ENETUNREACH',
  'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED', 'CONNECT_TIMEOUT',
  '57P01', '57P02', '57P03',
]);
const RECOVERY_CONFLICT = '40001';

function errorCode(error: unknown): string | undefined {
  // drizzle wraps driver errors in DrizzleQueryError; the code sits on the cause.
  for (let current: unknown = error, depth = 0; current && depth < 4; depth += 1) {
    if (typeof current === 'object' && current !== null) {
      if ('code' in current && typeof current.code === 'string') return current.code;
      current = 'cause' in current ? current.cause : undefined;
    }
  }
  return undefined;
}

export function isConnectionError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && (CONNECTION_ERROR_CODES.has(code) || code.startsWith('08'));
}

/** A read that failed for one of these reasons may succeed on another node. */
function isRetryableReadError(error: unknown): boolean {
  return isConnectionError(error) || errorCode(error) === RECOVERY_CONFLICT;
}

function toUnavailable(error: unknown): unknown {
  if (error instanceof HttpError) return error;
  if (isConnectionError(error)) return serviceUnavailable('The database is unavailable, retry shortly', 'DATABASE_UNAVAILABLE');
  if (errorCode(error) === '57014') return serviceUnavailable('The database took too long to answer', 'DATABASE_TIMEOUT');
  return error;
}

/** Set while a transaction callback runs: a routed read there would miss the transaction's own writes. */
const transactionScope = new AsyncLocalStorage<true>();

export class DatabaseUsageError extends Error {
  override name = 'DatabaseUsageError';
}

const probeRow = z.object({
  in_recovery: z.boolean(),
  replay_lsn: z.string().nullable(),
  receive_lsn: z.string().nullable(),
  replay_age_ms: z.coerce.number().nullable(),
});
const lsnRow = z.object({ lsn: z.string() });

type PoolOptions = { name: string; max: number; readOnly: boolean; connectTimeoutS: number; statementTimeoutMs: number };

function openPool(url: string, config: DatabaseConfig, options: PoolOptions): Sql {
  return postgres(url, {
    max: options.max,
    idle_timeout: config.idleTimeoutS,
    connect_timeout: options.connectTimeoutS,
    onnotice: () => {},
    connection: {
      application_name: `bountyexpo-${options.name}`,
      statement_timeout: options.statementTimeoutMs,
      ...(options.readOnly ? { default_transaction_read_only: true } : {}),
    },
  });
}

async function withTimeout<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class DatabaseCluster {
  readonly router: ReplicaRouter<Database>;

  private constructor(
    readonly mode: 'postgres' | 'embedded',
    readonly primary: Database,
    private readonly primaryProbe: Database,
    readonly replicas: ReplicaNode<Database>[],
    private readonly closers: Array<() => Promise<void>>,
    config: DatabaseConfig,
    private readonly logger: Logger,
  ) {
    this.router = new ReplicaRouter(
      replicas,
      () => this.currentWalLsn(this.primaryProbe),
      {
        maxLagMs: config.maxReplicaLagMs,
        maxLagBytes: config.maxReplicaLagBytes,
        fallbackMaxInflight: config.readFallbackMaxInflight,
        probeIntervalMs: config.replicaProbeMs,
      },
      logger,
    );
  }

  /** Opens the pools (or embedded PGlite, migrated) and starts the replica monitor. */
  static async open(config: DatabaseConfig, logger: Logger): Promise<DatabaseCluster> {
    if (!config.primaryUrl) return DatabaseCluster.openEmbedded(config, logger);
    const closers: Array<() => Promise<void>> = [];
    const track = (pool: Sql): Sql => {
      closers.push(() => pool.end({ timeout: 5 }));
      return pool;
    };
    const probeOptions = { max: 1, readOnly: true, connectTimeoutS: 1, statementTimeoutMs: 1_000 };
    const primaryPool = track(
      openPool(config.primaryUrl, config, {
        name: PRIMARY_NAME, max: config.poolMax, readOnly: false,
        connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: config.statementTimeoutMs,
      }),
    );
    const primaryProbePool = track(openPool(config.primaryUrl, config, { name: 'primary-probe', ...probeOptions }));
    const replicas = config.replicaUrls.map((url, index) => {
      const name = `replica${index + 1}`;
      const pool = track(
        openPool(url, config, {
          name, max: config.poolMax, readOnly: true,
          connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: config.statementTimeoutMs,
        }),
      );
      const probeDb = drizzlePostgres(track(openPool(url, config, { name: `${name}-probe`, ...probeOptions })), { schema });
      return new ReplicaNode<Database>(name, drizzlePostgres(pool, { schema }), () => probeReplica(probeDb));
    });
    const cluster = new DatabaseCluster(
      'postgres',
      drizzlePostgres(primaryPool, { schema }),
      drizzlePostgres(primaryProbePool, { schema }),
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
    return new DatabaseCluster('embedded', db, db, [], [() => client.close()], config, logger);
  }

  /** `write` is always the primary; `read` is the replica the router picks for a request with no token. */
  getDatabase(intent: DatabaseIntent): Database {
    if (intent === 'write') return this.primary;
    const target = this.router.chooseRead(null);
    return target.kind === 'replica' ? target.node.db : this.primary;
  }

  /** A request-scoped handle: the routing decisions of one request, honouring its token. */
  session(minLsn: Lsn | null = null): DatabaseSession {
    return new DatabaseSession(this, minLsn);
  }

  /** The primary's WAL insert position: taken after a commit, it covers everything committed so far. */
  async currentWalInsertLsn(): Promise<Lsn | null> {
    if (this.mode === 'embedded') return null;
    const [row] = await selectRows(this.primary, sql`select pg_current_wal_insert_lsn()::text as lsn`, lsnRow);
    return row ? parseLsn(row.lsn) : null;
  }

  private async currentWalLsn(db: Database): Promise<Lsn | null> {
    const [row] = await selectRows(db, sql`select pg_current_wal_lsn()::text as lsn`, lsnRow);
    return row ? parseLsn(row.lsn) : null;
  }

  /** Waits until every replica has replayed `lsn` (bounded). Used after migrations. */
  async waitForReplicas(lsn: Lsn, timeoutMs: number): Promise<{ caughtUp: string[]; pending: string[] }> {
    const deadline = Date.now() + timeoutMs;
    let pending = [...this.replicas];
    const caughtUp: string[] = [];
    while (pending.length > 0) {
      const stillPending: ReplicaNode<Database>[] = [];
      for (const node of pending) {
        const probe = await node.probe().catch(() => null);
        if (probe?.replayLsn != null && probe.replayLsn >= lsn) caughtUp.push(node.name);
        else stillPending.push(node);
      }
      pending = stillPending;
      if (pending.length === 0 || Date.now() >= deadline) break;
      await Bun.sleep(100);
    }
    return { caughtUp, pending: pending.map((node) => node.name) };
  }

  async checkHealth(): Promise<DatabaseHealth> {
    const primary = await this.measure(PRIMARY_NAME, async () => {
      await this.primaryProbe.execute(sql`select 1`);
    });
    const replicas = await Promise.all(
      this.replicas.map(async (node): Promise<ReplicaHealth> => {
        let probe: ReplicaProbeResult | null = null;
        const health = await this.measure(node.name, async () => {
          probe = await node.probe();
        });
        const lag = probe ? computeReplicaLag(this.router.primaryLsn, probe) : null;
        return {
          ...health,
          state: node.state,
          lagBytes: lag?.lagBytes ?? null,
          lagMs: lag?.lagMs ?? null,
          readsServed: node.readsServed,
        };
      }),
    );
    return {
      mode: this.mode,
      primary,
      replicas,
      reads: {
        byTarget: Object.fromEntries(this.router.readsByTarget),
        byReason: Object.fromEntries(this.router.readsByReason),
      },
    };
  }

  private async measure(name: string, check: () => Promise<void>): Promise<PoolHealth> {
    const started = performance.now();
    try {
      await withTimeout(check(), HEALTH_TIMEOUT_MS, `${name} health check`);
      return { name, ok: true, latencyMs: Math.round((performance.now() - started) * 10) / 10 };
    } catch (error) {
      return { name, ok: false, latencyMs: null, error: error instanceof Error ? error.message : 'unreachable' };
    }
  }

  async close(): Promise<void> {
    this.router.stop();
    await Promise.allSettled(this.closers.map((close) => close()));
    this.logger.info('database connections closed');
  }

  /** Runs a read on the chosen target; one retry elsewhere on a connection failure or recovery conflict. */
  async routeRead<T>(minLsn: Lsn | null, query: (db: Database) => Promise<T>, onTarget: (name: string) => void): Promise<T> {
    if (transactionScope.getStore()) {
      throw new DatabaseUsageError('read() inside a transaction callback: use the transaction handle (tx) instead');
    }
    const first = this.router.chooseRead(minLsn);
    try {
      return await this.runRead(first, query, onTarget);
    } catch (error) {
      if (!isRetryableReadError(error)) throw toUnavailable(error);
      if (first.kind === 'replica') {
        if (isConnectionError(error)) this.router.reportConnectionFailure(first.node, error);
        this.logger.warn({ replica: first.node.name, error: errorCode(error) }, 'read failed on replica, retrying once');
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

  private async runRead<T>(
    target: ReturnType<ReplicaRouter<Database>['chooseRead']>,
    query: (db: Database) => Promise<T>,
    onTarget: (name: string) => void,
  ): Promise<T> {
    if (target.kind === 'replica') {
      const { node } = target;
      this.router.countRead(node.name, target.reason);
      onTarget(node.name);
      node.inflight += 1;
      node.readsServed += 1;
      try {
        return await query(node.db);
      } finally {
        node.inflight -= 1;
      }
    }
    if (target.countsAsFallback && !this.router.tryAcquireFallback()) {
      this.router.countRead(PRIMARY_NAME, 'fallback-capped');
      throw serviceUnavailable('No replica can serve reads and the primary is at its fallback limit', 'READ_CAPACITY_EXCEEDED');
    }
    this.router.countRead(PRIMARY_NAME, target.reason);
    onTarget(PRIMARY_NAME);
    try {
      return await query(this.primary);
    } finally {
      if (target.countsAsFallback) this.router.releaseFallback();
    }
  }

  async runWrite<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw toUnavailable(error);
    }
  }

  async runTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    return this.runWrite(() => this.primary.transaction((tx) => transactionScope.run(true, () => work(tx))));
  }
}

async function probeReplica(db: Database): Promise<ReplicaProbeResult> {
  const [row] = await selectRows(
    db,
    sql`select pg_is_in_recovery() as in_recovery,
               pg_last_wal_replay_lsn()::text as replay_lsn,
               pg_last_wal_receive_lsn()::text as receive_lsn,
               (extract(epoch from (now() - pg_last_xact_replay_timestamp())) * 1000)::float8 as replay_age_ms`,
    probeRow,
  );
  if (!row) throw new Error('replica probe returned no row');
  return {
    inRecovery: row.in_recovery,
    replayLsn: row.replay_lsn ? parseLsn(row.replay_lsn) : null,
    receiveLsn: row.receive_lsn ? parseLsn(row.receive_lsn) : null,
    replayAgeMs: row.replay_age_ms ?? 0,
  };
}

/**
 * What one request uses. `read` is routed (token-aware, retried once), `write` and `transaction`
 * run on the primary and mark the request as having written, so the caller gets a fresh token.
 */
export class DatabaseSession {
  wrote = false;
  readonly targets: string[] = [];

  constructor(
    private readonly cluster: DatabaseCluster,
    readonly minLsn: Lsn | null,
  ) {}

  read<T>(query: (db: Database) => Promise<T>): Promise<T> {
    return this.cluster.routeRead(this.minLsn, query, (name) => this.targets.push(name));
  }

  write<T>(query: (db: Database) => Promise<T>): Promise<T> {
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.cluster.runWrite(() => query(this.cluster.primary));
  }

  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    this.wrote = true;
    this.targets.push(PRIMARY_NAME);
    return this.cluster.runTransaction(work);
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
