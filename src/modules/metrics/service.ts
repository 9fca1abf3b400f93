/**
 * What an operator reads about this app's database cluster and job queue, gathered when asked
 * (a scrape, GET /debug): pool permits, replica states and lag, routed reads, queue backlogs and
 * the last ledger check. Rendered for Prometheus into a registry of its own per scrape, merged
 * with the process's (src/lib/metrics.ts): tests run several apps in one process, each with its
 * own cluster, and a metric registered per app on the shared registry would collide.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { DatabaseCluster } from '../../db';
import type { JobQueue, QueueDepth } from '../../jobs';
import { metricsRegistry } from '../../lib/metrics';
import { withTimeout } from '../../lib/timeout';
import { latestLedgerCheck } from '../ledger';

export const REPLICA_STATES = ['healthy', 'lagging', 'down', 'promoted'] as const;

export type PoolState = { pool: string; size: number; inUse: number; waiting: number };
export type ReplicaState = {
  replica: string;
  state: (typeof REPLICA_STATES)[number];
  /** Null until a probe measured it (a replica down since start). */
  lagBytes: number | null;
  lagSeconds: number | null;
  readsServed: number;
};

export type LedgerCheckResult = { balanceMismatches: number; unbalancedTransactions: number; checkedAt: Date };

export type OperationsSnapshot = {
  pools: PoolState[];
  replicas: ReplicaState[];
  /** Routed reads by target and reason; target "none" counts reads refused past the fallback cap. */
  reads: Array<{ target: string; reason: string; count: number }>;
  readFailures: Array<{ target: string; count: number }>;
  fallbackInflight: number;
  /** Null when the primary did not answer in time (or pg-boss's tables do not exist yet: empty). */
  queues: QueueDepth[] | null;
  /** Null before the first check, or when the primary did not answer in time. */
  ledgerCheck: LedgerCheckResult | null;
};

/**
 * How long a scrape waits for the primary (queue depths, the ledger check): a scrape must answer
 * even while the primary hangs, and the in-memory state above still tells that story.
 */
const PRIMARY_WAIT_MS = 1_000;

export async function operationsSnapshot(database: DatabaseCluster, jobs: JobQueue): Promise<OperationsSnapshot> {
  const router = database.router;
  // The job queue and the ledger check live on the primary (the check runs once per cluster,
  // in whichever process took the job): read there, in parallel, each bounded.
  const [queues, ledgerCheck] = await Promise.all([
    withTimeout(jobs.queueDepths(database.primary), PRIMARY_WAIT_MS, 'queue depths').catch(() => null),
    withTimeout(latestLedgerCheck(database.primary), PRIMARY_WAIT_MS, 'the last ledger check').catch(() => null),
  ]);
  return {
    pools: Object.entries(database.poolUsage()).map(([pool, usage]) => ({ pool, size: usage.permits, inUse: usage.inUse, waiting: usage.waiting })),
    replicas: database.replicas.map((node) => ({
      replica: node.name,
      state: node.state,
      lagBytes: node.lagBytes,
      lagSeconds: node.lagMs === null ? null : node.lagMs / 1000,
      readsServed: node.readsServed,
    })),
    reads: [...router.readCounts].flatMap(([target, byReason]) => [...byReason].map(([reason, count]) => ({ target, reason, count }))),
    readFailures: [...router.readFailures].map(([target, count]) => ({ target, count })),
    fallbackInflight: router.fallbackInflight,
    queues,
    ledgerCheck: ledgerCheck
      ? { balanceMismatches: ledgerCheck.balanceMismatches, unbalancedTransactions: ledgerCheck.unbalancedTransactions, checkedAt: ledgerCheck.checkedAt }
      : null,
  };
}

/** The snapshot as metrics in a registry of their own (names: docs/operations.md's alert rules). */
function snapshotRegistry(snapshot: OperationsSnapshot): Registry {
  const registers = [new Registry()];
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers });

  const poolSize = gauge('db_pool_size', 'Connections a pool may open (its permits).', ['pool']);
  const poolInUse = gauge('db_pool_in_use', 'Permits held by running database work.', ['pool']);
  const poolWaiting = gauge('db_pool_waiting', 'Callers waiting for a permit (refused with 503 past DB_POOL_ACQUIRE_TIMEOUT_MS).', ['pool']);
  for (const { pool, size, inUse, waiting } of snapshot.pools) {
    poolSize.set({ pool }, size);
    poolInUse.set({ pool }, inUse);
    poolWaiting.set({ pool }, waiting);
  }

  const state = gauge('db_replica_state', '1 for the state each replica is in.', ['replica', 'state']);
  const lagSeconds = gauge('db_replica_lag_seconds', 'Replay lag: how long ago the primary had WAL the replica lacks (absent until measured).', ['replica']);
  const lagBytes = gauge('db_replica_lag_bytes', 'Replay lag in bytes behind the primary (absent until measured).', ['replica']);
  const served = counter('db_replica_reads_served_total', 'Reads each replica served.', ['replica']);
  for (const replica of snapshot.replicas) {
    for (const name of REPLICA_STATES) state.set({ replica: replica.replica, state: name }, replica.state === name ? 1 : 0);
    if (replica.lagSeconds !== null) lagSeconds.set({ replica: replica.replica }, replica.lagSeconds);
    if (replica.lagBytes !== null) lagBytes.set({ replica: replica.replica }, replica.lagBytes);
    served.inc({ replica: replica.replica }, replica.readsServed);
  }

  const reads = counter('db_reads_total', 'Routed reads by target and reason; target "none" counts reads refused past the fallback cap.', ['target', 'reason']);
  for (const { target, reason, count } of snapshot.reads) reads.inc({ target, reason }, count);
  const failures = counter('db_read_failures_total', 'Routed reads that failed on a target (a failure on a replica is retried once elsewhere).', ['target']);
  for (const { target, count } of snapshot.readFailures) failures.inc({ target }, count);
  gauge('db_read_fallback_inflight', 'Reads running on the primary because no replica qualified.').set(snapshot.fallbackInflight);

  if (snapshot.queues) {
    const queued = gauge('jobs_queued', 'Jobs waiting to run (created or awaiting a retry, scheduled ones included).', ['queue']);
    const active = gauge('jobs_active', 'Jobs being worked now.', ['queue']);
    const dead = gauge('jobs_dead_letters', 'Jobs that failed for good and wait in their dead-letter queue (GET /admin/dead-letters).', ['queue']);
    for (const depth of snapshot.queues) {
      queued.set({ queue: depth.queue }, depth.queued);
      active.set({ queue: depth.queue }, depth.active);
      dead.set({ queue: depth.queue }, depth.deadLetters);
    }
  }

  if (snapshot.ledgerCheck) {
    const check = snapshot.ledgerCheck;
    gauge('ledger_check_balance_mismatches', 'Accounts whose cached balance differed from the sum of their entries at the last ledger check (must be 0).').set(check.balanceMismatches);
    gauge('ledger_check_unbalanced_transactions', 'Ledger transactions whose entries did not sum to zero at the last check (must be 0).').set(check.unbalancedTransactions);
    gauge('ledger_check_last_run_timestamp_seconds', 'When the last ledger check ran.').set(Math.floor(check.checkedAt.getTime() / 1000));
  }
  return registers[0] as Registry;
}

/** The Prometheus text exposition: the process's metrics and this app's snapshot. */
export async function renderMetrics(database: DatabaseCluster, jobs: JobQueue): Promise<string> {
  const scraped = snapshotRegistry(await operationsSnapshot(database, jobs));
  return Registry.merge([metricsRegistry, scraped]).metrics();
}

export const METRICS_CONTENT_TYPE = metricsRegistry.contentType;
