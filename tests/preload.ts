/**
 * Test preload: a REAL PostgreSQL primary and streaming replica for the whole run.
 * - TEST_DATABASE_URL (+ TEST_DATABASE_REPLICA_URLS) given: use them.
 * - else PostgreSQL server binaries found: start a throwaway cluster with the cluster script's
 *   library, migrate it, stop and delete it afterwards.
 * - else: say so loudly and run what can run on embedded PGlite (cluster-only tests skip).
 */
import { afterAll } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterDown, clusterUp, findPostgresBinDir } from '../scripts/lib/pg-cluster';
import { applyMigrations, DatabaseCluster } from '../src/db';
import { parseConfig } from '../src/config/env';
import { createLogger } from '../src/lib/logger';
import { freePort } from './support/ports';

const env = process.env;
let managedDir: string | null = null;

if (!env.TEST_DATABASE_URL) {
  if (findPostgresBinDir()) {
    managedDir = mkdtempSync(join(tmpdir(), 'bx-test-'));
    const info = await clusterUp({ dir: managedDir, primaryPort: await freePort(), replicaPort: await freePort() });
    env.TEST_DATABASE_URL = info.databaseUrl;
    env.TEST_DATABASE_REPLICA_URLS = info.replicaUrls.join(',');
    env.TEST_CLUSTER_DIR = managedDir;
    env.TEST_REPLICA_DATA_DIR = info.replicaDataDir;
    env.TEST_PRIMARY_DATA_DIR = info.primaryDataDir;
  } else {
    const banner = '!'.repeat(100);
    console.warn(
      `\n${banner}\n!! NO POSTGRESQL: no server binaries found and no TEST_DATABASE_URL given.\n` +
        `!! Running only what works on embedded PGlite; every replica and cluster test is SKIPPED.\n` +
        `!! Install postgresql (apt-get install postgresql) to run the real suite.\n${banner}\n`,
    );
  }
}

if (env.TEST_DATABASE_URL) {
  const config = parseConfig({
    NODE_ENV: 'test',
    DATABASE_URL: env.TEST_DATABASE_URL,
    DATABASE_REPLICA_URLS: env.TEST_DATABASE_REPLICA_URLS,
  });
  const database = await DatabaseCluster.open(config.database, createLogger({ level: 'error' }));
  await applyMigrations(database.primary);
  const lsn = await database.currentWalInsertLsn();
  if (lsn !== null) await database.waitForReplicas(lsn, 30_000);
  await database.close();
}

afterAll(async () => {
  if (managedDir) await clusterDown({ dir: managedDir, destroy: true });
});
