/**
 * bun run db:reset — drops every table and re-applies the migrations. Refuses in production.
 */
import { rmSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { applyMigrations, DatabaseCluster, embeddedDataDir } from '../src/db';
import { loadConfig } from '../src/config/env';
import { createLogger } from '../src/lib/logger';
import { describeDatabaseError, describeTarget } from './lib/describe';

const config = loadConfig();
if (config.isProduction) {
  console.error('db:reset: refused: NODE_ENV=production');
  process.exit(1);
}
const logger = createLogger({ level: 'error', name: 'db:reset' });

if (!config.database.primaryUrl) {
  rmSync(embeddedDataDir(config.database), { recursive: true, force: true });
  const database = await DatabaseCluster.open(config.database, logger);
  await database.close();
  console.log('db:reset: embedded database recreated and migrated');
  process.exit(0);
}

const target = describeTarget(config.database.primaryUrl);
try {
  const database = await DatabaseCluster.open(config.database, logger);
  await database.primary.transaction(async (tx) => {
    await tx.execute(sql`drop schema if exists drizzle cascade`);
    await tx.execute(sql`drop schema if exists public cascade`);
    await tx.execute(sql`create schema public`);
  });
  const { applied } = await applyMigrations(database.primary, { onApply: (tag) => console.log(`db:reset: applied ${tag}`) });
  console.log(`db:reset: ${target} dropped and re-migrated (${applied.length} migration(s))`);
  await database.close();
} catch (error) {
  console.error(`db:reset: failed on ${target}: ${describeDatabaseError(error)}`);
  process.exit(1);
}
