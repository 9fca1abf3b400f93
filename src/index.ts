/**
 * The process entry (`bun run start`): parse the config, then serve, or, with WEB_CONCURRENCY
 * above 1, supervise that many server processes (src/supervisor.ts) that each run this same file.
 */
import { loadConfig } from './config/env';
// Straight from its file, not the db entry: the supervisor must not load the pools and drivers.
import { isConnectionError } from './db/errors';
import { createProcessLogger } from './lib/logger';

const config = loadConfig();
const processLogger = createProcessLogger({ level: config.logLevel, worker: config.workerIndex });

// A crash still leaves its last lines (and the reason) in the log.
process.on('uncaughtException', (error) => {
  processLogger.logger.fatal({ err: error }, 'uncaught exception');
  processLogger.flushSync();
  process.exit(1);
});
// postgres-js 3.4.9 can leave a rejection unhandled when a server dies while a connection starts
// (its array-type lookup, porsager/postgres#1223): an outage, not a reason to end the process.
process.on('unhandledRejection', (reason) => {
  if (isConnectionError(reason)) processLogger.logger.warn({ err: reason }, 'unhandled database connection failure');
  else processLogger.logger.error({ err: reason }, 'unhandled rejection');
});

// Imported on demand: the supervisor never loads the app (it stays a small process).
if (config.webConcurrency > 1 && config.workerIndex === null) {
  const { runSupervisor } = await import('./supervisor');
  runSupervisor(config, processLogger, import.meta.path);
} else {
  const { runServer } = await import('./server');
  await runServer(config, processLogger);
}
