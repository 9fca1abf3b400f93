/**
 * Builds app instances for tests on the real cluster the preload started (or on embedded PGlite
 * when there is none). Every instance has its own pools and replica monitor, like a separate
 * process would.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app';
import { DatabaseCluster } from '../../src/config/database';
import { type AppConfig, parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/lib/logger';
import { createLifecycle, type Lifecycle } from '../../src/modules/health/service';

export const hasCluster = Boolean(process.env.TEST_DATABASE_URL);
export const clusterEnv = {
  databaseUrl: process.env.TEST_DATABASE_URL,
  replicaUrls: process.env.TEST_DATABASE_REPLICA_URLS,
  /** Set only when the preload started the cluster itself (fault-injection tests need it). */
  clusterDir: process.env.TEST_CLUSTER_DIR,
  replicaDataDir: process.env.TEST_REPLICA_DATA_DIR,
  primaryDataDir: process.env.TEST_PRIMARY_DATA_DIR,
};

export const TEST_AUTH_SECRET = 'test-secret-for-the-bountyexpo-suite-0123456789';

export function testConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  return parseConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: clusterEnv.databaseUrl,
    DATABASE_REPLICA_URLS: clusterEnv.replicaUrls,
    DATA_DIR: hasCluster ? undefined : mkdtempSync(join(tmpdir(), 'bx-pglite-')),
    BETTER_AUTH_SECRET: TEST_AUTH_SECRET,
    BETTER_AUTH_URL: 'http://localhost:3000',
    REPLICA_PROBE_MS: '50',
    DB_CONNECT_TIMEOUT_S: '2',
    ...overrides,
  });
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;

export async function startTestApp(overrides: Record<string, string | undefined> = {}) {
  const config = testConfig(overrides);
  const logger = createLogger({ level: config.logLevel });
  const database = await DatabaseCluster.open(config.database, logger);
  const lifecycle: Lifecycle = createLifecycle();
  const app = createApp({ config, database, logger, lifecycle });
  /** A request through app.handle; the base must be a real-looking host (Elysia's router needs it). */
  const request = (path: string, init: RequestInit & { json?: unknown } = {}) => {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return app.handle(
      new Request(`http://localhost${path}`, { ...rest, headers, body: json !== undefined ? JSON.stringify(json) : rest.body }),
    );
  };
  return {
    app,
    config,
    database,
    lifecycle,
    request,
    close: () => database.close(),
  };
}
