/**
 * One server process: open the database, serve the app, own the signals.
 * Shutdown: /health turns 503, the server stops accepting, in-flight requests finish (bounded by
 * SHUTDOWN_TIMEOUT_MS, then forced), pools close, the log is flushed, exit 0.
 */
import { createApp } from './app';
import type { AppConfig } from './config/env';
import { closeDatabaseConnections, initDatabase } from './db';
import type { ProcessLogger } from './lib/logger';
import { createLifecycle } from './modules/health/service';
import { bunBodyCeilingBytes, createFetchHandler } from './serve';

export async function runServer(config: AppConfig, { logger, requestLogger, flushSync }: ProcessLogger): Promise<void> {
  const lifecycle = createLifecycle();
  const database = await initDatabase(config.database, logger).catch((error: unknown) => {
    logger.fatal({ err: error }, 'could not open the database');
    flushSync();
    process.exit(1);
  });

  const app = createApp({ config, database, logger, requestLogger, lifecycle });
  const server = Bun.serve({
    port: config.port,
    hostname: config.host,
    // Several processes (WEB_CONCURRENCY) listen on the same port; the kernel spreads connections.
    reusePort: config.webConcurrency > 1,
    // The client IP (for rate limits) comes from the socket, or from X-Forwarded-For only when the
    // socket peer is one of TRUSTED_PROXIES; any client-sent copy of the header is dropped.
    fetch: createFetchHandler(app, config.auth.trustedProxies, requestLogger),
    // Above BODY_LIMIT_BYTES on purpose: our handler refuses from there on in our error format,
    // reading no further; only past this ceiling does Bun answer alone (see src/serve.ts).
    maxRequestBodySize: bunBodyCeilingBytes(config.bodyLimitBytes),
    idleTimeout: 30,
  });
  logger.info(
    {
      url: server.url.href,
      swagger: config.swaggerEnabled ? `${server.url.origin}/swagger` : undefined,
      pools: { request: config.database.poolMax, auth: config.database.authPoolMax },
    },
    'listening',
  );

  let shuttingDown = false;
  async function shutdown(signal: string): Promise<void> {
    if (shuttingDown) return;
    shuttingDown = true;
    lifecycle.draining = true;
    logger.info({ signal, timeoutMs: config.shutdownTimeoutMs }, 'shutting down: draining in-flight requests');
    const graceful = server.stop(false).then(() => 'drained' as const);
    const deadline = Bun.sleep(config.shutdownTimeoutMs).then(() => 'timeout' as const);
    if ((await Promise.race([graceful, deadline])) === 'timeout') {
      logger.warn('shutdown deadline reached: closing remaining connections');
      await server.stop(true);
    }
    await closeDatabaseConnections();
    // Each request's line is written just after its response: wait for the last ones (bounded).
    const lineDeadline = Date.now() + 1_000;
    while (lifecycle.unlogged.count > 0 && Date.now() < lineDeadline) await Bun.sleep(5);
    logger.info('shutdown complete');
    flushSync();
    process.exit(0);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
