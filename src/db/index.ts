/**
 * The database layer's one entry: modules, scripts and tests import from here (src/db). The
 * files beside it, by concern: cluster.ts (pools and routing), session.ts (the per-request
 * handle), replica-router.ts (replica states and read choice), pool-gate.ts (bounded waits),
 * probe-pool.ts / probes.ts (health and lag probes), health.ts, guards.ts, errors.ts, lsn.ts
 * (read-your-writes tokens), migrator.ts, rows.ts, pools.ts, schema/.
 */
import type { Logger } from '../lib/logger';
import { DatabaseCluster } from './cluster';
import type { DatabaseHealth } from './health';
import type { Database, DatabaseConfig, DatabaseIntent } from './types';

export { DatabaseCluster, embeddedDataDir, operationBoundMs } from './cluster';
export type { Listener } from './listener';
export { DatabaseUsageError, isConnectionError, toUnavailable } from './errors';
export { isReadOnlyStatement } from './guards';
export { PoolBusyError, QueryDeadlineError } from './pool-gate';
export { preparedPerHandle } from './prepared';
export type { DatabaseHealth, PoolHealth, ReplicaHealth } from './health';
export { formatLsn, type Lsn, parseLsn, readYourWritesLsn, signLsnToken, verifyLsnToken } from './lsn';
export { applyMigrations, MIGRATION_LOCK_KEY, MIGRATIONS_FOLDER } from './migrator';
export type { QueryObserver } from './pools';
export type { ReadReason } from './replica-router';
export { selectRows } from './rows';
export { DatabaseSession } from './session';
export type { Database, DatabaseConfig, DatabaseIntent, Transaction } from './types';
export * from './schema';

// --- The process-wide instance, for src/server.ts and the operator scripts. --------------------

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
