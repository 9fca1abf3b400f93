/**
 * Local PostgreSQL primary + streaming replica for development.
 *
 *   bun run db:cluster up                # create/start; prints DATABASE_URL / DATABASE_REPLICA_URLS
 *   bun run db:cluster status
 *   bun run db:cluster down [--destroy]  # stop; --destroy also deletes the data
 *
 * Env: DATA_DIR (default ./.data; cluster lives in <DATA_DIR>/pg-cluster),
 *      PG_CLUSTER_PRIMARY_PORT (54320), PG_CLUSTER_REPLICA_PORT (54321), PG_BIN_DIR.
 * `up` writes only the two env lines to stdout, so `bun run db:cluster up >> .env` works.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { clusterDown, clusterStatus, clusterUp, findPostgresBinDir } from './lib/pg-cluster';

const USAGE = 'usage: bun run db:cluster up|down|status [--destroy]';

function portFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a TCP port, got '${raw}'`);
  return port;
}

function fail(message: string): never {
  // One line, so it reads well in CI logs.
  console.error(`db:cluster: ${message.split('\n')[0]}`);
  const rest = message.split('\n').slice(1).join('\n');
  if (rest) console.error(rest);
  process.exit(1);
}

export async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  const flags = new Set(argv.slice(1));
  const unknown = [...flags].filter((f) => f !== '--destroy');
  if (!command || !['up', 'down', 'status'].includes(command) || unknown.length > 0) fail(USAGE);
  if (flags.has('--destroy') && command !== 'down') fail("--destroy only applies to 'down'");

  const dir = join(resolve(process.env.DATA_DIR || './.data'), 'pg-cluster');
  const primaryPort = portFromEnv('PG_CLUSTER_PRIMARY_PORT', 54320);
  const replicaPort = portFromEnv('PG_CLUSTER_REPLICA_PORT', 54321);

  if (command !== 'status' && !findPostgresBinDir()) {
    fail('PostgreSQL server binaries (initdb, pg_ctl) not found; install them or set PG_BIN_DIR');
  }

  switch (command) {
    case 'up': {
      const started = performance.now();
      const info = await clusterUp({ dir, primaryPort, replicaPort });
      console.log(`DATABASE_URL=${info.databaseUrl}`);
      console.log(`DATABASE_REPLICA_URLS=${info.replicaUrls.join(',')}`);
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      console.error(
        `# primary :${info.primaryPort} + streaming replica :${info.replicaPort} ready in ${secs}s (data + logs in ${info.dir}); stop with 'bun run db:cluster down'`,
      );
      return;
    }
    case 'down': {
      const destroy = flags.has('--destroy');
      if (!existsSync(dir)) {
        console.error(`# no cluster at ${dir}`);
        return;
      }
      await clusterDown({ dir, destroy });
      console.error(destroy ? `# cluster stopped and ${dir} removed` : `# cluster stopped (data kept in ${dir})`);
      return;
    }
    case 'status': {
      const s = await clusterStatus({ dir });
      if (!s.exists) {
        console.log(`no cluster at ${dir} (run 'bun run db:cluster up')`);
        return;
      }
      const state = (running: boolean) => (running ? 'running' : 'stopped');
      console.log(`cluster  ${s.dir}`);
      console.log(`primary  ${state(s.primary.running)}  port ${s.primary.port ?? '?'}`);
      const recovery =
        s.replica.inRecovery === null ? '' : s.replica.inRecovery ? '  in recovery' : '  NOT in recovery (promoted?)';
      const streaming = s.replica.streaming === null ? '' : s.replica.streaming ? '  streaming' : '  not streaming';
      console.log(
        `replica  ${state(s.replica.running)}  port ${s.replica.port ?? '?'}${recovery}${streaming}` +
          (s.replicaName ? `  (${s.replicaName})` : ''),
      );
      return;
    }
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));
}
