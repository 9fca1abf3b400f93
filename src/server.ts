/**
 * One server process: open the database, start the job queue, serve the app, own the signals.
 * The queue always runs here so routes can enqueue; its workers too unless WORKER_ENABLED=false
 * (then `bun run worker` runs them). Shutdown: /health turns 503, the server stops accepting,
 * in-flight requests finish (bounded by SHUTDOWN_TIMEOUT_MS, then forced), running jobs finish
 * within what is left of it, pools close, the log is flushed, exit 0.
 */
import { createApp } from './app';
import type { AppConfig } from './config/env';
import { closeDatabaseConnections, initDatabase } from './db';
import { JobQueue } from './jobs';
import { jobDefinitions } from './job-definitions';
import { createStripeClient } from './lib/stripe';
import { startTracingFromConfig, stopTracing } from './lib/telemetry';
import type { Logger, ProcessLogger } from './lib/logger';
import { createLifecycle } from './modules/health/service';
import { typingAudience } from './modules/conversations/messages';
import { EventBus } from './modules/realtime/bus';
import { SocketHub } from './modules/realtime/hub';
import { serveApp } from './serve';

/** How long start-up waits for the job queue before listening anyway (it keeps trying). */
const JOB_START_WAIT_MS = 5_000;
/** Running jobs get at least this long at shutdown, even after a drain that used up the budget. */
const JOB_STOP_MIN_MS = 1_000;

export async function runServer(config: AppConfig, { logger, requestLogger, flushSync }: ProcessLogger): Promise<void> {
  const lifecycle = createLifecycle();
  // Unique per process across machines (containers all run as pid 1): names its LISTEN connection
  // in pg_stat_activity and tells its heartbeats (and its spans) from other instances'.
  const instanceId = `${crypto.randomUUID().slice(0, 8)}-${process.pid}`;
  // Before the job queue: pg-boss's telemetry is decided when it is built.
  if (await startTracingFromConfig(config, instanceId)) logger.info({ collector: config.tracing.endpoint?.origin }, 'tracing on: spans exported over OTLP/HTTP');
  const database = await initDatabase(config.database, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, 'could not open the database');
    flushSync();
    process.exit(1);
  });

  const stripe = createStripeClient(config.stripe);
  const jobs = JobQueue.create({ database, logger, schema: config.jobsSchema, instanceName: 'bountyexpo-api' });
  for (const definition of jobDefinitions({ stripe, marketplace: config.marketplace, notifications: config.notifications, conversations: config.conversations, risk: config.risk, analytics: config.analytics })) jobs.define(definition);
  // Routes may enqueue from the first request, so the queue (its schema, its queues) is started
  // before listening. A primary that is down now must not keep the replicas' reads offline: past
  // JOB_START_WAIT_MS the server listens anyway and the queue keeps trying in the background.
  const jobsStarted = jobs.startWithRetry({ work: config.workerEnabled });
  await Promise.race([jobsStarted, Bun.sleep(JOB_START_WAIT_MS)]);

  const bus = new EventBus(database, logger, instanceId);
  const hub = new SocketHub({ database, logger, settings: config.sockets, typingAudience });
  const app = createApp({ config, database, logger, requestLogger, lifecycle, jobs, stripe, bus, hub });
  // After the app registered its subscribers; a primary that is down now is retried in the background.
  await bus.start();
  // The client IP (for rate limits) comes from the socket, or from X-Forwarded-For only when the
  // socket peer is one of TRUSTED_PROXIES; any client-sent copy of the header is dropped. Bodies
  // above BODY_LIMIT_BYTES are refused by our handler in our format (see src/serve.ts).
  const server = serveApp({
    app,
    hub,
    trustedProxies: config.auth.trustedProxies,
    logger: requestLogger,
    publicUrl: config.auth.baseUrl,
    bodyLimitBytes: config.bodyLimitBytes,
    sockets: config.sockets,
    port: config.port,
    hostname: config.host,
    // Several processes (WEB_CONCURRENCY) listen on the same port; the kernel spreads connections.
    reusePort: config.webConcurrency > 1,
    idleTimeout: 30,
  });
  logger.info(
    {
      url: server.url.href,
      swagger: config.swaggerEnabled ? `${server.url.origin}/swagger` : undefined,
      pools: { request: config.database.poolMax, auth: config.database.authPoolMax },
      instanceId,
    },
    'listening',
  );

  // Assigned once the signal handlers are in place (a SIGTERM meanwhile must drain, not kill).
  let localStripe: { stop(): Promise<void> } | null = null;
  let localDelivery: { stop(): Promise<void> } | null = null;
  let shuttingDown = false;
  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    lifecycle.draining = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining in-flight requests');
    const shutdownDeadline = Date.now() + config.shutdownTimeoutMs;
    // WebSockets never end by themselves: 1001 tells clients to reconnect elsewhere (with lastEventId).
    const sockets = hub.closeAll();
    if (sockets > 0) logger.info({ sockets }, 'websockets closed (1001)');
    hub.stop();
    const graceful = server.stop(false).then(() => 'drained' as const);
    const deadline = Bun.sleep(config.shutdownTimeoutMs).then(() => 'timeout' as const);
    if ((await Promise.race([graceful, deadline])) === 'timeout') {
      logger.warn('shutdown deadline reached: closing remaining connections');
      await server.stop(true);
    }
    // Each request's line is written just after its response: wait for the last ones (bounded),
    // before the queue's shutdown competes with them for the event loop.
    const lineDeadline = Date.now() + 1_000;
    while (lifecycle.unlogged.count > 0 && Date.now() < lineDeadline) await Bun.sleep(5);
    // After the requests (they may still enqueue), before the pools pg-boss runs on.
    await jobs.stop({ timeoutMs: Math.max(shutdownDeadline - Date.now(), JOB_STOP_MIN_MS) });
    await bus.stop();
    await localStripe?.stop();
    await localDelivery?.stop();
    await closeDatabaseConnections();
    // Every span has ended by now (requests drained, jobs stopped): what is pending is sent, bounded.
    await stopTracing();
    logger.info('shutdown complete');
    flushSync();
    process.exit(0);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  localStripe = await startLocalStripeForDevelopment(config, server.port ?? config.port, logger);
  // Likewise push and email without their settings: local servers that log every push and mail
  // (one per machine; production never loads them).
  if ((config.workerIndex ?? 0) === 0 && !config.isProduction && (config.notifications.localExpo || config.notifications.localSmtp)) {
    const { startLocalDeliveryServers } = await import('./dev/expo-local/delivery');
    localDelivery = await startLocalDeliveryServers(config, logger);
  }
}

/**
 * Without STRIPE_SECRET_KEY outside production (config.stripe.local), the local Stripe-compatible
 * server runs beside the service, its webhooks signed for and sent to this process, so
 * `bun run dev` alone can take deposits and pay withdrawals. Loaded only then: production never
 * imports it (and refuses to start without real keys, src/config/env.ts).
 */
async function startLocalStripeForDevelopment(config: AppConfig, port: number, logger: Logger): Promise<{ stop(): Promise<void> } | null> {
  // One per machine: with several processes, the first one runs it.
  if (!config.stripe.local || config.isProduction || (config.workerIndex ?? 0) !== 0 || !config.stripe.apiBase) return null;
  const { startLocalStripe } = await import('./dev/stripe-local');
  const localStripe = await startLocalStripe({
    port: config.stripe.localPort,
    hostname: config.stripe.apiBase.hostname,
    webhookSecret: config.stripe.webhookSecret,
    webhookTarget: `http://127.0.0.1:${port}/webhooks/stripe`,
    logger,
  });
  logger.warn(
    { url: localStripe.url, controls: `${localStripe.url}/_local` },
    'STRIPE_SECRET_KEY is not set: payments go to the local Stripe-compatible server (development only; test cards such as pm_card_visa)',
  );
  return localStripe;
}
