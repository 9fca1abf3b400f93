import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { startNode, stopNode } from '../scripts/lib/pg-cluster';
import { clusterEnv, hasCluster, startTestApp, type TestApp } from './support/harness';
import { waitFor } from './support/wait';

type DbHealth = {
  status: string;
  primary: { ok: boolean; latencyMs: number | null };
  replicas: Array<{ name: string; ok: boolean; state: string; lagBytes: number | null; lagMs: number | null }>;
};

describe('GET /health', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  test('answers 200 with status, uptime and version', async () => {
    const response = await t.request('/health');
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body.status).toBe('ok');
    expect(typeof body.uptime).toBe('number');
    expect(body.version).toBe('0.1.0');
  });

  test('turns 503 "draining" once shutdown began, so the load balancer stops sending traffic', async () => {
    t.lifecycle.draining = true;
    try {
      const response = await t.request('/health');
      expect(response.status).toBe(503);
      expect(((await response.json()) as { status: string }).status).toBe('draining');
    } finally {
      t.lifecycle.draining = false;
    }
  });

  test('/health/db reports the primary and, on the cluster, each replica with lag', async () => {
    // Lag is measured from the second probe round on while the primary writes (other apps' bus
    // heartbeats commit every few seconds); until then it is unknown (null), which is honest.
    const body = await waitFor('a probe round that measured the lag', async () => {
      const response = await t.request('/health/db');
      expect(response.status).toBe(200);
      const read = (await response.json()) as DbHealth;
      return !hasCluster || read.replicas[0]?.lagBytes !== null ? read : null;
    }, 5_000);
    expect(body.primary.ok).toBe(true);
    expect(body.primary.latencyMs).toBeGreaterThanOrEqual(0);
    if (hasCluster) {
      expect(body.replicas).toHaveLength(1);
      expect(body.replicas[0]).toMatchObject({ name: 'replica1', ok: true, state: 'healthy' });
      expect(body.replicas[0]?.lagBytes).toBeGreaterThanOrEqual(0);
    }
  });
});

// Regression (issue 7, defect 11): in production /health/db showed replica names, lag and reads
// per node to anyone.
describe.skipIf(!hasCluster)('/health/db in production', () => {
  const OPS_TOKEN = 'ops-token-for-the-health-detail-0123456789';
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ NODE_ENV: 'production', OPS_TOKEN });
  });
  afterAll(() => t.close());

  const health = async (authorization?: string) => {
    const response = await t.request('/health/db', authorization ? { headers: { authorization } } : {});
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  test('anonymous callers (and wrong tokens) get the status and ok per node, nothing else', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Basic ${OPS_TOKEN}`, `Bearer ${OPS_TOKEN}x`]) {
      const { status, body } = await health(authorization);
      expect(status).toBe(200);
      expect(body).toEqual({ status: 'ok', primary: { ok: true }, replicas: [{ ok: true }] });
    }
  });

  test('the ops token sees the detail', async () => {
    const { body } = await health(`Bearer ${OPS_TOKEN}`);
    expect(body).toMatchObject({ status: 'ok', mode: 'postgres', primary: { name: 'primary', ok: true }, replicas: [{ name: 'replica1', state: 'healthy' }] });
    expect(body.reads).toBeDefined();
  });
});

describe.skipIf(!clusterEnv.replicaDataDir)('a stopped replica', () => {
  let t: TestApp;
  const replicaDir = clusterEnv.replicaDataDir ?? '';
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await startNode(replicaDir);
    await t.close();
  });

  test('shows as down in /health/db while /health stays 200', async () => {
    await stopNode(replicaDir, 'fast');
    const body = await waitFor('replica reported down', async () => {
      const response = await t.request('/health/db');
      const health = (await response.json()) as DbHealth;
      return response.status === 200 && health.replicas[0]?.ok === false && health.replicas[0]?.state === 'down' ? health : null;
    });
    expect(body.status).toBe('degraded');
    expect(body.primary.ok).toBe(true);
    expect((await t.request('/health')).status).toBe(200);
  });
});

describe('/health/db when a database hangs', () => {
  // A TCP peer that accepts and never answers: what a black-holed database looks like.
  const blackHole = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  afterAll(() => blackHole.stop(true));

  test.skipIf(!hasCluster)('answers within 2 s with the hung replica not ok', async () => {
    const t = await startTestApp({
      DATABASE_REPLICA_URLS: `postgres://postgres@127.0.0.1:${blackHole.port}/bountyexpo`,
    });
    try {
      const started = performance.now();
      const response = await t.request('/health/db');
      const elapsedMs = performance.now() - started;
      expect(response.status).toBe(200);
      const body = (await response.json()) as DbHealth;
      expect(body.replicas[0]?.ok).toBe(false);
      expect(elapsedMs).toBeLessThan(2_000);
    } finally {
      await t.close();
    }
  });

  test.skipIf(!hasCluster)('answers 503 within 2 s when the primary and a replica hang together', async () => {
    // Regression: nodes were measured one after another, so two hung nodes took over 2 s.
    const t = await startTestApp({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${blackHole.port}/bountyexpo`,
      DATABASE_REPLICA_URLS: `postgres://postgres@127.0.0.1:${blackHole.port}/bountyexpo`,
    });
    try {
      const started = performance.now();
      const response = await t.request('/health/db');
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(response.status).toBe(503);
      const body = (await response.json()) as DbHealth & { primary: { error?: string } };
      expect(body.replicas[0]?.ok).toBe(false);
      // The probe is public: it names a reason, never the SQL that failed.
      expect(JSON.stringify(body)).not.toContain('select');
    } finally {
      await t.close();
    }
  });

  test.skipIf(!hasCluster)('answers 503 within 2 s when the primary hangs', async () => {
    const t = await startTestApp({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${blackHole.port}/bountyexpo`,
      DATABASE_REPLICA_URLS: '',
    });
    try {
      const started = performance.now();
      const response = await t.request('/health/db');
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(response.status).toBe(503);
      expect(((await response.json()) as DbHealth).primary.ok).toBe(false);
    } finally {
      await t.close();
    }
  });
});
