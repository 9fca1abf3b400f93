/**
 * WEB_CONCURRENCY > 1: this process serves nothing itself. It starts that many server processes
 * (this same entry, with the same Bun flags), which share the port (reusePort) and size their
 * pools so that all of them together stay within DB_POOL_MAX_TOTAL (src/config/env.ts).
 * - SIGTERM / SIGINT reach every server process, each drains gracefully; the supervisor exits
 *   once all have (0 if all did cleanly), or kills what is left after SHUTDOWN_TIMEOUT_MS + 5 s.
 * - A server process that dies on its own is logged and started again, after 1 s doubling up to
 *   30 s while it keeps dying within 10 s of its start; after 5 such deaths in a row (it cannot
 *   start: the database is down, the port is taken) the supervisor stops everything and exits 1,
 *   so the orchestrator sees the failure instead of a restart loop.
 * - Whenever the supervisor exits, its server processes are signalled to stop too (a SIGKILL of
 *   the supervisor itself cannot be caught: the orchestrator must stop the whole process group).
 * - Their stdout is relayed line by line: several processes writing batches into one pipe could
 *   interleave mid-line past the pipe's atomic write size.
 */
import type { Subprocess } from 'bun';
import type { AppConfig } from './config/env';
import type { ProcessLogger } from './lib/logger';

const RESTART_DELAY_MS = 1_000;
const MAX_RESTART_DELAY_MS = 30_000;
/** A process that dies sooner than this after its start counts as failing to start. */
const FAST_DEATH_MS = 10_000;
const MAX_FAST_DEATHS = 5;
const KILL_GRACE_MS = 5_000;

/** Copies complete lines from a child's stdout to ours. */
async function relayLines(stream: ReadableStream<Uint8Array>): Promise<void> {
  const decoder = new TextDecoder();
  let pending = '';
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const end = pending.lastIndexOf('\n');
    if (end < 0) continue;
    process.stdout.write(pending.slice(0, end + 1));
    pending = pending.slice(end + 1);
  }
  if (pending.length > 0) process.stdout.write(`${pending}\n`);
}

export function runSupervisor(config: AppConfig, { logger, flushSync }: ProcessLogger, entry: string): void {
  const workers = new Map<number, { child: Subprocess<'ignore', 'pipe', 'inherit'>; relay: Promise<void> }>();
  const fastDeaths = new Map<number, number>();
  let stopping = false;
  process.on('exit', () => {
    for (const { child } of workers.values()) child.kill('SIGTERM');
  });

  const start = (index: number): void => {
    const startedAt = Date.now();
    const child = Bun.spawn([process.execPath, ...process.execArgv, entry], {
      // The environment is passed through unchanged (it is the servers' config), plus their index.
      env: { ...process.env, BOUNTYEXPO_WORKER_INDEX: String(index) },
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'inherit',
    });
    const relay = relayLines(child.stdout);
    workers.set(index, { child, relay });
    void child.exited.then(async (code) => {
      await relay;
      workers.delete(index);
      if (stopping) return;
      const deaths = Date.now() - startedAt < FAST_DEATH_MS ? (fastDeaths.get(index) ?? 0) + 1 : 0;
      fastDeaths.set(index, deaths);
      if (deaths >= MAX_FAST_DEATHS) {
        logger.fatal({ worker: index, code, deaths }, 'a server process keeps failing to start: stopping');
        void shutdown('SIGTERM', 1);
        return;
      }
      const delayMs = Math.min(MAX_RESTART_DELAY_MS, RESTART_DELAY_MS * 2 ** Math.max(0, deaths - 1));
      logger.error({ worker: index, code, restartInMs: delayMs }, 'a server process exited on its own: starting it again');
      setTimeout(() => {
        if (!stopping) start(index);
      }, delayMs);
    });
  };

  for (let index = 0; index < config.webConcurrency; index += 1) start(index);
  logger.info({ processes: config.webConcurrency, port: config.port, pools: { request: config.database.poolMax, auth: config.database.authPoolMax } }, 'supervisor started');

  async function shutdown(signal: NodeJS.Signals, failure = 0): Promise<void> {
    if (stopping) return;
    stopping = true;
    const running = [...workers.values()];
    for (const { child } of running) child.kill(signal);
    const all = Promise.all(running.map(async ({ child, relay }) => [await child.exited, await relay] as const));
    const deadline = Bun.sleep(config.shutdownTimeoutMs + KILL_GRACE_MS).then(() => 'timeout' as const);
    const outcome = await Promise.race([all, deadline]);
    if (outcome === 'timeout') {
      logger.warn('server processes did not stop in time: killing them');
      for (const { child } of running) child.kill('SIGKILL');
    }
    const clean = failure === 0 && outcome !== 'timeout' && outcome.every(([code]) => code === 0);
    logger.info({ clean }, 'supervisor stopped');
    flushSync();
    process.exit(clean ? 0 : 1);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
