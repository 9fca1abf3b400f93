/**
 * `bun run worker`: the job workers alone, no API (GET /metrics on WORKER_METRICS_PORT, when set). Run it beside servers started with
 * WORKER_ENABLED=false (they still enqueue); as many as wanted: pg-boss hands each job to one of
 * them, and its cron and maintenance run once per cluster. SIGTERM/SIGINT: stop fetching, let
 * running jobs finish within SHUTDOWN_TIMEOUT_MS (then they are failed and retried later), close
 * the pools, flush the log, exit 0.
 */
import { loadConfig } from './config/env';
import { closeDatabaseConnections, initDatabase, isConnectionError } from './db';
import { JobQueue } from './jobs';
import { jobDefinitions } from './job-definitions';
import { createStripeClient } from './lib/stripe';
import { createProcessLogger } from './lib/logger';
import { startTracingFromConfig, stopTracing } from './lib/telemetry';
import { serveWorkerMetrics } from './modules/metrics/worker-server';

const config = loadConfig();
const { logger, flushSync } = createProcessLogger({ level: config.logLevel, worker: null });

// As in src/index.ts: a crash leaves its reason in the log; a connection lost mid-start is an outage.
process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception');
  flushSync();
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  if (isConnectionError(reason)) logger.warn({ err: reason }, 'unhandled database connection failure');
  else logger.error({ err: reason }, 'unhandled rejection');
});

// The embedded database belongs to the one process that opened it (`bun run dev`, which runs the
// workers itself): a second process on the same files would corrupt them.
if (!config.database.primaryUrl) {
  logger.fatal('bun run worker needs DATABASE_URL: on the embedded database, bun run dev runs the workers');
  flushSync();
  process.exit(1);
}

const database = await initDatabase(config.database, logger).catch((error: unknown) => {
  logger.fatal({ err: error }, 'could not open the database');
  flushSync();
  process.exit(1);
});
// Before the job queue: pg-boss's telemetry is decided when it is built.
if (await startTracingFromConfig(config, `worker-${crypto.randomUUID().slice(0, 8)}-${process.pid}`)) {
  logger.info({ collector: config.tracing.endpoint?.origin }, 'tracing on: spans exported over OTLP/HTTP');
}
const jobs = JobQueue.create({ database, logger, schema: config.jobsSchema, instanceName: 'bountyexpo-worker' });
const definitions = jobDefinitions({ stripe: createStripeClient(config.stripe), marketplace: config.marketplace, notifications: config.notifications, conversations: config.conversations, risk: config.risk, analytics: config.analytics });
for (const definition of definitions) jobs.define(definition);

/** GET /metrics on WORKER_METRICS_PORT. A port that is taken costs the metrics, not the jobs: logged, and the worker goes on. */
function startMetrics(port: number | undefined): ReturnType<typeof serveWorkerMetrics> | null {
  if (port === undefined) return null;
  try {
    const server = serveWorkerMetrics({ database, jobs, access: config.metrics, logger, port, hostname: config.host, publicUrl: config.auth.baseUrl });
    logger.info({ port: server.port, host: config.host }, 'worker metrics: GET /metrics');
    return server;
  } catch (error) {
    logger.error({ err: error, port, host: config.host }, 'worker metrics: could not listen (WORKER_METRICS_PORT); working jobs without /metrics');
    return null;
  }
}
const metricsServer = startMetrics(config.metrics.workerPort);

let shuttingDown = false;
async function shutdown(signal: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: finishing running jobs');
  // Scraped until the jobs have stopped: their last failures are counted, then the port closes.
  await jobs.stop({ timeoutMs: config.shutdownTimeoutMs });
  await metricsServer?.stop(true);
  await closeDatabaseConnections();
  await stopTracing();
  logger.info('shutdown complete');
  flushSync();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

if (await jobs.startWithRetry({ work: true })) {
  logger.info({ jobs: definitions.map((definition) => definition.name) }, 'worker started');
}
