/**
 * Helpers for the replica tests: /health/db and /metrics as data, replay control on a replica,
 * a stream of reads, and a throwaway cluster of a test's own for tests that destroy topology.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { type ClusterInfo, clusterDown, clusterUp, psqlQuery } from '../../scripts/lib/pg-cluster';
import { applyMigrations, DatabaseCluster } from '../../src/db';
import { parseConfig } from '../../src/config/env';
import { createLogger } from '../../src/lib/logger';
import type { TestApp } from './harness';
import { freePort } from './ports';
import { waitFor } from './wait';

const replicaHealthSchema = z.object({
  name: z.string(),
  ok: z.boolean(),
  state: z.enum(['healthy', 'lagging', 'down', 'promoted']),
  lagBytes: z.number().nullable(),
  lagMs: z.number().nullable(),
  readsServed: z.number(),
});
const dbHealthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  primary: z.object({ ok: z.boolean() }),
  replicas: z.array(replicaHealthSchema),
  reads: z.object({ byTarget: z.record(z.string(), z.number()), byReason: z.record(z.string(), z.number()) }),
});
export type DbHealth = z.infer<typeof dbHealthSchema>;
export type ReplicaHealthView = z.infer<typeof replicaHealthSchema>;

/** GET /health/db through the app: the HTTP status and the parsed body. */
export async function dbHealth(t: TestApp): Promise<{ status: number; body: DbHealth }> {
  const response = await t.request('/health/db');
  return { status: response.status, body: dbHealthSchema.parse(await response.json()) };
}

export async function replicaHealth(t: TestApp, name = 'replica1'): Promise<ReplicaHealthView | undefined> {
  return (await dbHealth(t)).body.replicas.find((replica) => replica.name === name);
}

/** Polls /health/db until the replica shows `state`; returns its entry. */
export function waitForReplicaState(t: TestApp, state: ReplicaHealthView['state'], timeoutMs = 15_000, name = 'replica1') {
  return waitFor(`${name} ${state} in /health/db`, async () => {
    const replica = await replicaHealth(t, name);
    return replica?.state === state ? replica : null;
  }, timeoutMs);
}

/** One sample of a Prometheus counter from GET /metrics (0 when the series does not exist yet). */
export async function metric(t: TestApp, name: string, labels: Record<string, string>): Promise<number> {
  const text = await (await t.request('/metrics')).text();
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = line.slice(name.length + 1, line.indexOf('}'));
    const present = labelText.split(',');
    if (wanted.every((pair) => present.includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

export const portOf = (url: string): number => Number(new URL(url).port);

export async function pauseReplay(replicaPort: number): Promise<void> {
  await psqlQuery(replicaPort, 'select pg_wal_replay_pause()');
  // Pausing is requested, then takes effect: wait until it has.
  await waitFor('replay paused', async () => (await psqlQuery(replicaPort, 'select pg_get_wal_replay_pause_state()')) === 'paused');
}

export async function resumeReplay(replicaPort: number): Promise<void> {
  await psqlQuery(replicaPort, 'select pg_wal_replay_resume()');
}

/** WAL on the primary without touching any table: a non-transactional logical message of `bytes`. */
export async function emitWal(primaryPort: number, bytes: number): Promise<void> {
  // Followed by a commit (txid_current) so the walwriter flushes it promptly.
  await psqlQuery(primaryPort, `select pg_logical_emit_message(false, 'bx-test', repeat('x', ${bytes})), txid_current()`);
}

export type StreamResult = { ok: number; failed: Array<{ status: number; body: string }>; targets: Map<string, number> };

/**
 * `workers` loops calling `read` until stopped; counts outcomes by x-db-target. `read` returns the
 * response of one request.
 */
export function readStream(read: () => Promise<Response>, workers = 4) {
  const result: StreamResult = { ok: 0, failed: [], targets: new Map() };
  let running = true;
  const loops = Array.from({ length: workers }, async () => {
    while (running) {
      const response = await read();
      const body = await response.text();
      if (response.status === 200) {
        result.ok += 1;
        const target = response.headers.get('x-db-target') ?? 'none';
        result.targets.set(target, (result.targets.get(target) ?? 0) + 1);
      } else {
        result.failed.push({ status: response.status, body });
      }
    }
  });
  return {
    result,
    /** Waits until `predicate` holds for the stream so far. */
    until: (what: string, predicate: (result: StreamResult) => boolean, timeoutMs = 15_000) =>
      waitFor(what, () => predicate(result), timeoutMs, 10),
    stop: async (): Promise<StreamResult> => {
      running = false;
      await Promise.all(loops);
      return result;
    },
  };
}

export type OwnCluster = {
  info: ClusterInfo;
  /** startTestApp overrides pointing at this cluster. */
  env: { DATABASE_URL: string; DATABASE_REPLICA_URLS: string };
  destroy: () => Promise<void>;
};

/** A primary + replica of the test's own (for promotion, stopping the primary), migrated and replayed. */
export async function startOwnCluster(): Promise<OwnCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bx-own-cluster-'));
  const info = await clusterUp({ dir, primaryPort: await freePort(), replicaPort: await freePort() });
  const config = parseConfig({ NODE_ENV: 'test', DATABASE_URL: info.databaseUrl, DATABASE_REPLICA_URLS: info.replicaUrls.join(',') });
  const database = await DatabaseCluster.open(config.database, createLogger({ level: 'silent' }));
  try {
    await applyMigrations(database.primary);
    const lsn = await database.currentWalInsertLsn();
    if (lsn !== null) {
      const { pending } = await database.waitForReplicas(lsn, 30_000);
      if (pending.length > 0) throw new Error(`replica did not replay the migrations: ${pending.join(', ')}`);
    }
  } finally {
    await database.close();
  }
  return {
    info,
    env: { DATABASE_URL: info.databaseUrl, DATABASE_REPLICA_URLS: info.replicaUrls.join(',') },
    destroy: () => clusterDown({ dir, destroy: true }),
  };
}

/** ALTER SYSTEM SET (or RESET, for null) a reloadable setting on a node, and wait for the reload. */
export async function setNodeSetting(port: number, name: string, value: string | null): Promise<void> {
  const before = await psqlQuery(port, 'select pg_conf_load_time()');
  await psqlQuery(port, value === null ? `alter system reset ${name}` : `alter system set ${name} = '${value.replaceAll("'", "''")}'`);
  await psqlQuery(port, 'select pg_reload_conf()');
  await waitFor(`${name} reloaded`, async () => (await psqlQuery(port, 'select pg_conf_load_time()')) !== before);
}
