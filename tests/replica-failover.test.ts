/**
 * Topology-destroying failures on a cluster of this file's own (the shared one stays intact):
 * the primary stopped and restarted (spec 6f), then the replica promoted (6e). During 6f a second
 * instance with no session cookie cache (AUTH_COOKIE_CACHE_S=0, i.e. as once the default 60 s
 * cache has run out) shows that signed-in requests, whose session lookup needs the primary, get
 * 503 + Retry-After too, never 500.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { promoteNode, startNode, stopNode } from '../scripts/lib/pg-cluster';
import { z } from 'zod';
import { CLIENT_IP_HEADER } from '../src/lib/auth';
import { signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { at } from './support/json';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { dbHealth, metric, type OwnCluster, replicaHealth, startOwnCluster, waitForReplicaState } from './support/replica';
import { waitFor } from './support/wait';

const CONNECT_TIMEOUT_S = 2;
const postId = z.object({ data: z.object({ id: z.string() }) });

describe.skipIf(!hasCluster || !clusterEnv.clusterDir)('failover on a cluster of its own', () => {
  let own: OwnCluster;
  let t: TestApp;
  let writer: TestAccount;
  const logs = captureLogs('warn');
  /** An instance without the session cookie cache: every session check reads the primary. */
  let uncached: TestApp;
  let member: TestAccount;
  let memberPostId: string;
  // Its own log capture: 6e counts the promotion error lines of `t` alone.
  const uncachedLogs = captureLogs('warn');

  beforeAll(async () => {
    own = await startOwnCluster();
    t = await startTestApp(
      { ...own.env, DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), REPLICA_PROBE_MS: '50' },
      { logger: logs.logger },
    );
    // A write that involves nothing but the database layer: no session lookup in the way.
    t.app.post('/_test/write', async ({ db }) => {
      await db.write((primary) => primary.execute(sql`select txid_current()`));
      return { ok: true };
    });
    writer = await signUp(t, 'failover-writer');
    uncached = await startTestApp(
      { ...own.env, DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S), REPLICA_PROBE_MS: '50', AUTH_COOKIE_CACHE_S: '0' },
      { logger: uncachedLogs.logger },
    );
    member = await signUp(uncached, 'failover-member');
    const created = member.jar.store(
      await uncached.request('/posts', { method: 'POST', json: { title: 'by a member', content: 'failover', published: true }, headers: { cookie: member.jar.header() } }),
    );
    memberPostId = postId.parse(await created.json()).data.id;
  }, 60_000);
  afterAll(async () => {
    await uncached?.close();
    await t?.close();
    await own?.destroy();
  }, 60_000);

  async function createPost(title: string): Promise<{ response: Response; id: string | null }> {
    const response = writer.jar.store(
      await t.request('/posts', { method: 'POST', json: { title, content: 'failover', published: true }, headers: { cookie: writer.jar.header() } }),
    );
    const parsed = postId.safeParse(await response.clone().json());
    return { response, id: parsed.success ? parsed.data.data.id : null };
  }

  /**
   * The requests of `member` on `uncached` that need the primary for the session: signed-in reads
   * and writes, sign-in, Better-Auth's own session endpoint, and sign-out (last: it ends the session).
   */
  const memberRequests = (): Array<[string, () => Promise<Response>]> => {
    const cookie = member.jar.header();
    return [
      ['GET /posts/:id', () => uncached.request(`/posts/${memberPostId}`, { headers: { cookie } })],
      ['POST /posts', () => uncached.request('/posts', { method: 'POST', json: { title: 'member post', content: 'failover' }, headers: { cookie } })],
      ['GET /auth/me', () => uncached.request('/auth/me', { headers: { cookie } })],
      [
        'POST /auth/login',
        () => uncached.request('/auth/login', { method: 'POST', json: { email: member.email, password: member.password }, headers: { [CLIENT_IP_HEADER]: randomIp() } }),
      ],
      ['GET /api/auth/get-session', () => uncached.request('/api/auth/get-session', { headers: { cookie } })],
      ['POST /auth/logout', () => uncached.request('/auth/logout', { method: 'POST', headers: { cookie } })],
    ];
  };
  const MEMBER_REQUESTS = ['GET /posts/:id', 'POST /posts', 'GET /auth/me', 'POST /auth/login', 'GET /api/auth/get-session', 'POST /auth/logout'];

  test('6f: primary stopped: writes answer 503 + Retry-After within the connect timeout, replica reads go on, then it recovers by itself', async () => {
    const { id } = await createPost('before the outage');
    expect(id).not.toBeNull();
    // The writer's token is honoured by the replica once it has replayed the post.
    await waitFor('the post on the replica', async () => {
      const response = await t.request(`/posts/${id}`, { headers: { cookie: writer.jar.header() } });
      return response.status === 200 && response.headers.get('x-db-target') === 'replica1';
    });

    await stopNode(own.info.primaryDataDir, 'immediate');
    try {
      for (const attempt of [1, 2, 3]) {
        const started = performance.now();
        const response = await t.request('/_test/write', { method: 'POST' });
        const elapsedMs = performance.now() - started;
        expect([attempt, response.status, response.headers.get('retry-after')]).toEqual([attempt, 503, '1']);
        expect(((await response.json()) as { error: string }).error).toBe('DATABASE_UNAVAILABLE');
        expect(elapsedMs).toBeLessThan(CONNECT_TIMEOUT_S * 1000);
      }
      const post = await createPost('during the outage');
      expect([post.response.status, post.response.headers.get('retry-after')]).toEqual([503, '1']);

      // Reads keep being served by the caught-up replica: anonymous, and with the writer's token.
      const readers: Array<Record<string, string>> = [{}, { cookie: writer.jar.header() }];
      for (const headers of readers) {
        const read = await t.request(`/posts/${id}`, { headers });
        expect([read.status, read.headers.get('x-db-target')]).toEqual([200, 'replica1']);
      }
      const list = await t.request('/posts?limit=5');
      expect([list.status, list.headers.get('x-db-target')]).toEqual([200, 'replica1']);

      const health = await dbHealth(t);
      expect([health.status, health.body.status, health.body.primary.ok]).toEqual([503, 'down', false]);
      expect(health.body.replicas[0]).toMatchObject({ name: 'replica1', ok: true, state: 'healthy' });

      // Signed in, no cookie cache: the session lookup needs the primary, so these are 503 too.
      const logsBefore = uncachedLogs.lines.length;
      const outcomes: unknown[] = [];
      for (const [name, send] of memberRequests()) {
        const started = performance.now();
        const response = await send();
        const withinConnectTimeout = performance.now() - started < CONNECT_TIMEOUT_S * 1000;
        const body: unknown = await response.json().catch(() => null);
        outcomes.push([name, response.status, response.headers.get('retry-after'), at(body, 'error'), withinConnectTimeout]);
      }
      expect(outcomes).toEqual(
        MEMBER_REQUESTS.map((name) => [name, 503, '1', 'DATABASE_UNAVAILABLE', true]),
      );
      // The driver error is logged once per request, as a warning: an outage, not a bug.
      const authLines = uncachedLogs.lines.slice(logsBefore).filter((line) => line.component === 'better-auth');
      expect(authLines.map((line) => [line.level, String(line.msg).startsWith('Better-Auth could not reach the database')])).toEqual(
        MEMBER_REQUESTS.map(() => [LOG_LEVELS.warn, true]),
      );
    } finally {
      await startNode(own.info.primaryDataDir);
    }

    // No restart of the service: the pools reconnect on their own.
    await waitFor('writes accepted again', async () => (await t.request('/_test/write', { method: 'POST' })).status === 200);
    expect((await createPost('after the outage')).response.status).toBe(201);
    const health = await waitFor('the primary healthy again', async () => {
      const current = await dbHealth(t);
      return current.status === 200 ? current : null;
    });
    expect(health.body.status).toBe('ok');

    // The uncached instance's pool reconnects by itself too; the same requests work again.
    // The session survived the outage (the failed sign-out deleted nothing, and said so); the
    // sign-out that works ends it.
    await waitFor('sessions readable again', async () => (await memberRequests()[2]?.[1]())?.status === 200);
    const statuses: Array<[string, number]> = [];
    for (const [name, send] of memberRequests()) statuses.push([name, (await send()).status]);
    expect(statuses).toEqual([
      ['GET /posts/:id', 200],
      ['POST /posts', 201],
      ['GET /auth/me', 200],
      ['POST /auth/login', 200],
      ['GET /api/auth/get-session', 200],
      ['POST /auth/logout', 200],
    ]);
    expect((await uncached.request('/auth/me', { headers: { cookie: member.jar.header() } })).status).toBe(401);
  }, 30_000);

  test('6e: a promoted replica is never used as a replica again (also by an instance started later)', async () => {
    // Warm: the replica serves reads before the promotion.
    const before = await t.request('/posts?limit=1');
    expect(before.headers.get('x-db-target')).toBe('replica1');

    await promoteNode(own.info.replicaDataDir);
    const promoted = await waitForReplicaState(t, 'promoted');
    const servedAtPromotion = promoted.readsServed;
    expect(
      logs.lines.filter((line) => line.level === LOG_LEVELS.error && String(line.msg).includes('no longer in recovery')),
    ).toHaveLength(1);

    for (let read = 0; read < 20; read += 1) {
      const response = await t.request('/posts?limit=1');
      expect([response.status, response.headers.get('x-db-target')]).toEqual([200, 'primary']);
    }
    // More probe rounds: the node answers every probe, yet stays out.
    for (let round = 0; round < 5; round += 1) await t.database.router.nextProbeRound(1_000);
    const after = await replicaHealth(t);
    expect(after).toMatchObject({ state: 'promoted', ok: true, readsServed: servedAtPromotion });
    expect(await metric(t, 'db_replica_state', { replica: 'replica1', state: 'promoted' })).toBe(1);

    const later = await startTestApp(own.env);
    try {
      expect((await replicaHealth(later))?.state).toBe('promoted');
      const response = await later.request('/posts?limit=1');
      expect([response.status, response.headers.get('x-db-target')]).toEqual([200, 'primary']);
    } finally {
      await later.close();
    }
  }, 30_000);
});

describe.skipIf(!hasCluster)('a primary that does not answer at all (black-holed)', () => {
  // A TCP peer that accepts and never speaks: connection refusals are instant, this is the slow case.
  const blackHole = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${blackHole.port}/bountyexpo`,
      DATABASE_REPLICA_URLS: '',
      DB_CONNECT_TIMEOUT_S: '1',
    });
    t.app.post('/_test/write', async ({ db }) => {
      await db.write((primary) => primary.execute(sql`select txid_current()`));
      return { ok: true };
    });
  });
  afterAll(async () => {
    await t?.close();
    blackHole.stop(true);
  });

  test('writes answer 503 + Retry-After once the connect timeout has passed, not after a client timeout', async () => {
    const started = performance.now();
    const response = await t.request('/_test/write', { method: 'POST' });
    const elapsedMs = performance.now() - started;
    expect([response.status, response.headers.get('retry-after')]).toEqual([503, '1']);
    expect(((await response.json()) as { error: string }).error).toBe('DATABASE_UNAVAILABLE');
    // The connect timeout (1 s) plus scheduling slack.
    expect(elapsedMs).toBeLessThan(1_900);
  });
});
