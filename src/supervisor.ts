/**
 * WEB_CONCURRENCY > 1: this process serves nothing itself. It starts that many server processes
 * (this same entry, with the same Bun flags), which share the port (reusePort) and size their
 * pools so that all of them together stay within DB_POOL_MAX_TOTAL (src/config/env.ts).
 * - SIGTERM / SIGINT reach every server process, each drains gracefully; the supervisor exits
 *   once all have (0 if all did cleanly), or kills what is left after SHUTDOWN_TIMEOUT_MS + 5 s.
 * - A server process that dies on its own is logged and started again after a second.
 * - Their stdout is relayed line by line: several processes writing batches into one pipe could
 *   interleave mid-line past the pipe's atomic write size.
 */
import type { Subprocess } from 'bun';
import type { AppConfig } from './config/env';
import type { ProcessLogger } from './lib/logger';

const RESTART_DELAY_MS = 1_000;
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
  let stopping = false;

  const start = (index: number): void => {
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
      logger.error({ worker: index, code }, 'a server process exited on its own: starting it again');
      setTimeout(() => {
        if (!stopping) start(index);
      }, RESTART_DELAY_MS);
    });
  };

  for (let index = 0; index < config.webConcurrency; index += 1) start(index);
  logger.info({ processes: config.webConcurrency, port: config.port, pools: { request: config.database.poolMax, auth: config.database.authPoolMax } }, 'supervisor started');

  async function shutdown(signal: NodeJS.Signals): Promise<void> {
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
    const clean = outcome !== 'timeout' && outcome.every(([code]) => code === 0);
    logger.info({ clean }, 'supervisor stopped');
    flushSync();
    process.exit(clean ? 0 : 1);
  }

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}
