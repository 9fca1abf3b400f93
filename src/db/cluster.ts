/**
 * The cluster: it alone opens connections (a primary pool, Better-Auth's pool on the primary, one
 * pool per replica, and a probe pool per node) and routes each request's work: writes and
 * transactions to the primary; reads to a healthy replica that has replayed the request's
 * read-your-writes LSN (see replica-router.ts), else to the primary. With no DATABASE_URL, embedded
 * PGlite under DATA_DIR: one node for everything.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import type { Sql } from 'postgres';
import { databaseRefusal, findErrorCode } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { withTimeout } from '../lib/timeout';
import { isConnectionError, isDatabaseFailure, isRetryableReadError, isTransactionConflict, toUnavailable } from './errors';
import { assertOutsideTransaction, inTransactionScope, readOnlyGuard } from './guards';
import { type DatabaseHealth, HEALTH_TIMEOUT_MS, healthFailureReason, type PoolHealth, type ReplicaHealth } from './health';
import { type Lsn, parseLsn, readYourWritesLsn } from './lsn';
import { type Listener, pgliteListener, postgresListener } from './listener';
import { applyMigrations } from './migrator';
import { withoutPipelining } from './no-pipelining';
import { ConnectionPermits, PoolGate } from './pool-gate';
import { openPool, POOL_CLOSE_GRACE_S, type QueryObserver, withPreparedStatements } from './pools';
import { ProbePool } from './probe-pool';
import { insertLsnRow, PROBE_STATEMENT_TIMEOUT_MS, PROBE_TIMEOUT_MS, primaryWalPosition, probeReplica } from './probes';
import { type ReadTarget, REFUSED_TARGET, ReplicaNode, ReplicaRouter } from './replica-router';
import { selectRows } from './rows';
import * as schema from './schema';
import { DatabaseSession, OWN_WRITES, type ReadFloor, type SessionBackend } from './session';
import { type Database, type DatabaseConfig, type DatabaseIntent, PRIMARY_NAME, type Transaction } from './types';

/** Runs a probe query on a node's probe connection, bounded; see ProbePool for why it resets. */
type Prober = <T>(probe: (db: Database) => Promise<T>, timeoutMs: number, what: string) => Promise<T>;

/**
 * How long one database operation may take, from asking for a connection to its answer: the pool
 * wait, a connect, and a statement. Every request's database work is bounded by it (503 past it).
 */
export const operationBoundMs = (config: DatabaseConfig): number =>
  config.poolAcquireTimeoutMs + config.connectTimeoutS * 1000 + config.statementTimeoutMs;

export class DatabaseCluster implements SessionBackend {
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
    private readonly listenerFactory: (label: string) => Listener,
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
      // close() runs once requests have drained; what is still in flight gets a short grace.
      closers.push(() => pool.end({ timeout: POOL_CLOSE_GRACE_S }));
      return pool;
    };
    const probeOptions = { max: 1, readOnly: true, connectTimeoutS: 1, statementTimeoutMs: PROBE_STATEMENT_TIMEOUT_MS };
    // Once per pool: every handle over a pool shares its permits when pipelining is off.
    const statementDeadlineMs = config.connectTimeoutS * 1000 + config.statementTimeoutMs;
    const unpipelined = (pool: Sql, name: string, max: number): Sql =>
      config.pipelining ? pool : withoutPipelining(pool, new ConnectionPermits(name, max, statementDeadlineMs), statementDeadlineMs);
    // A probe pool has one connection, which a health check and a probe round may want at once.
    const probePool = (url: string, name: string): ProbePool<Database> => {
      const pool = new ProbePool<Database>(
        () => openPool(url, config, { name, ...probeOptions }),
        (sqlPool) => drizzlePostgres(unpipelined(sqlPool, name, probeOptions.max), { schema }),
      );
      closers.push(() => pool.close());
      return pool;
    };
    const queryPool = (pool: Sql, name: string, max: number): Sql => withPreparedStatements(unpipelined(pool, name, max), config.preparedStatements, name);
    // Listeners still open at close() are closed with the pools; one closed before (a bus that
    // rebuilt it, every retry during an outage) leaves the list.
    const openListeners = new Set<Listener>();
    closers.push(async () => {
      await Promise.allSettled([...openListeners].map((listener) => listener.close()));
    });
    const trackListener = (listener: Listener): Listener => {
      openListeners.add(listener);
      return {
        listen: (channel, onNotify, onListen) => listener.listen(channel, onNotify, onListen),
        notify: (channel, payload) => listener.notify(channel, payload),
        close: async () => {
          openListeners.delete(listener);
          await listener.close();
        },
      };
    };
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
        name: AUTH_POOL_NAME, max: config.authPoolMax, readOnly: false,
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
        drizzlePostgres(queryPool(pool, name, config.poolMax), { schema, logger: readOnlyGuard }),
        () => probe.run(probeReplica, PROBE_TIMEOUT_MS, `${name} probe`),
      );
    });
    const primaryQueries = queryPool(primaryPool, PRIMARY_NAME, config.poolMax);
    const cluster = new DatabaseCluster(
      'postgres',
      drizzlePostgres(primaryQueries, { schema }),
      drizzlePostgres(queryPool(authPool, AUTH_POOL_NAME, config.authPoolMax), { schema }),
      drizzlePostgres(primaryQueries, { schema, logger: readOnlyGuard }),
      (probe, timeoutMs, what) => primaryProbePool.run(probe, timeoutMs, what),
      replicas,
      closers,
      config,
      logger,
      (label) => {
        // One connection, outside the pools; its application_name says which instance listens.
        // LISTEN keeps its server connection: DATABASE_LISTEN_URL reaches the primary directly (or
        // a session-mode pooler) when DATABASE_URL goes through PgBouncer in transaction mode.
        const sql = openPool(config.listenUrl ?? config.primaryUrl ?? '', config, {
          name: `listen-${label}`, max: 1, readOnly: false,
          connectTimeoutS: config.connectTimeoutS, statementTimeoutMs: 0,
        });
        return trackListener(postgresListener(sql));
      },
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
    // Loaded only here: PGlite's WebAssembly build is tens of MB a production process never needs.
    const [{ PGlite }, { drizzle: drizzlePglite }] = await Promise.all([import('@electric-sql/pglite'), import('drizzle-orm/pglite')]);
    const client = new PGlite(dataDir);
    await client.waitReady;
    const db: Database = drizzlePglite(client, { schema });
    logger.warn({ dataDir }, 'DATABASE_URL is not set: running on embedded PGlite (development only), migrating it now');
    const { applied } = await applyMigrations(db);
    logger.info({ applied }, 'embedded database migrated');
    const readDb: Database = drizzlePglite(client, { schema, logger: readOnlyGuard });
    const prober: Prober = (probe, timeoutMs, what) => withTimeout(probe(db), timeoutMs, what);
    const listeners: Listener[] = [];
    const listenerFactory = () => {
      const listener = pgliteListener(client);
      listeners.push(listener);
      return listener;
    };
    // Listeners unsubscribe before the database closes.
    const closeAll = async () => {
      await Promise.allSettled(listeners.map((listener) => listener.close()));
      await client.close();
    };
    return new DatabaseCluster('embedded', db, db, readDb, prober, [], [closeAll], config, logger, listenerFactory);
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

  private healthInFlight: Promise<DatabaseHealth> | null = null;

  /**
   * Every node is measured at once, so the answer comes within HEALTH_TIMEOUT_MS however many
   * hang. Concurrent callers share one measurement: /health/db is anonymous, and a flood of
   * checks queued on the one-connection probe pools would time out and reset them under the
   * replica monitor's own probes.
   */
  checkHealth(): Promise<DatabaseHealth> {
    this.healthInFlight ??= this.measureHealth().finally(() => {
      this.healthInFlight = null;
    });
    return this.healthInFlight;
  }

  private async measureHealth(): Promise<DatabaseHealth> {
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

  /**
   * A LISTEN connection to the primary (src/db/listener.ts), closed with the cluster. `label`
   * names it in pg_stat_activity (`bountyexpo-listen-<label>`).
   */
  openListener(label: string): Listener {
    return this.listenerFactory(label);
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
      throw databaseRefusal('READ_CAPACITY_EXCEEDED');
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

  /**
   * A transaction, run again (up to TRANSACTION_ATTEMPTS runs) if it loses a deadlock (or a
   * serialization failure): PostgreSQL rolled it back whole, and `work` touches nothing outside the
   * database (Stripe is never called inside one), so another run is the same request again. Each
   * run has its own bound. A rerun waits a few random milliseconds first: a row lock freed by the
   * rollback is not handed to the transaction that waited for it, they race for it, and a rerun
   * that took it at once met the winner again in a second deadlock (seen in CI, both runs lost).
   */
  async runTransaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    assertOutsideTransaction('transaction()');
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.gate(PRIMARY_NAME).run(() => this.primary.transaction((tx) => inTransactionScope(() => work(tx))));
      } catch (error) {
        if (attempt < TRANSACTION_ATTEMPTS && isTransactionConflict(error)) {
          this.logger.warn({ attempt, error: findErrorCode(error) }, 'transaction lost a deadlock: running it again');
          await Bun.sleep(RERUN_DELAY_MIN_MS + Math.random() * RERUN_DELAY_SPREAD_MS * attempt);
          continue;
        }
        throw toUnavailable(error);
      }
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

/** Better-Auth's pool on the primary (its connections' application_name, its statements' spans). */
const AUTH_POOL_NAME = 'primary-auth';

const MAX_LSN: Lsn = (1n << 64n) - 1n;

/** A transaction runs at most twice (see runTransaction). */
const TRANSACTION_ATTEMPTS = 3;
/** Before a rerun: at least this long, plus up to the spread times the attempt, at random. */
const RERUN_DELAY_MIN_MS = 10;
const RERUN_DELAY_SPREAD_MS = 40;

export const embeddedDataDir = (config: DatabaseConfig): string => join(resolve(config.dataDir), 'pglite');
