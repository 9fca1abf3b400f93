/**
 * bun run db:migrate — applies pending migrations to the PRIMARY under an advisory lock, prints
 * each one, then waits (bounded by MIGRATE_REPLICA_WAIT_MS, default 30 s) until every replica has
 * replayed them. Exit 0 when up to date; non-zero with a one-line reason when it cannot finish.
 */
import { applyMigrations, DatabaseCluster, formatLsn } from '../src/db';
import { loadConfig } from '../src/config/env';
import { createLogger } from '../src/lib/logger';
import { describeDatabaseError, describeTarget } from './lib/describe';

const config = loadConfig();
// The pools' own logs would interleave with the report; only errors get through.
const logger = createLogger({ level: 'error', name: 'db:migrate' });
const replicaWaitMs = config.database.migrateReplicaWaitMs;

if (!config.database.primaryUrl) {
  // Embedded PGlite migrates itself when it opens.
  const database = await DatabaseCluster.open(config.database, logger);
  await database.close();
  console.log(`db:migrate: embedded database under ${config.database.dataDir} is up to date`);
  process.exit(0);
}

const target = describeTarget(config.database.primaryUrl);
let database: DatabaseCluster | null = null;
try {
  database = await DatabaseCluster.open(config.database, logger);
  const { applied } = await applyMigrations(database.primary, {
    onApply: (tag) => console.log(`db:migrate: applied ${tag}`),
  });
  console.log(applied.length === 0 ? `db:migrate: ${target} is up to date` : `db:migrate: applied ${applied.length} migration(s) to ${target}`);

  if (database.replicas.length > 0) {
    const lsn = await database.currentWalInsertLsn();
    if (lsn !== null) {
      const { caughtUp, pending } = await database.waitForReplicas(lsn, replicaWaitMs);
      if (caughtUp.length > 0) console.log(`db:migrate: replayed at ${formatLsn(lsn)} on ${caughtUp.join(', ')}`);
      if (pending.length > 0) {
        console.warn(
          `db:migrate: WARNING ${pending.join(', ')} did not replay ${formatLsn(lsn)} within ${replicaWaitMs} ms; do not serve new code from them yet`,
        );
      }
    }
  }
  await database.close();
  process.exit(0);
} catch (error) {
  console.error(`db:migrate: failed on ${target}: ${describeDatabaseError(error)}`);
  await database?.close();
  process.exit(1);
}
