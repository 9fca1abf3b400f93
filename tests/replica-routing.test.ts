/**
 * Read routing on the real primary + streaming replica the preload started: read-your-writes by
 * LSN through the API (spec 6a, 6b, 6g), a replica killed during a stream of reads (6c), a lagging
 * replica left out and taken back (6d), the fallback cap, the bounded read-your-writes wait, and
 * what operators see (x-db-target, /health/db, /metrics, the request log line).
 *
 * Tests that hold back or stop the shared replica restore it in `finally` and wait until it has
 * caught up again, so the files after this one find a healthy cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { psqlQuery, setReplicaApplyDelay, startNode, stopNode, waitForReplicaCatchUp, waitForReplicaStreaming } from '../scripts/lib/pg-cluster';
import { type DatabaseSession, selectRows } from '../src/db';
import { signLsnToken } from '../src/db/lsn';
import { conflict } from '../src/lib/errors';
import { signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, TEST_AUTH_SECRET, type TestApp } from './support/harness';
import { captureLogs } from './support/logs';
import { freePort } from './support/ports';
import {
  emitWal,
  metric,
  pauseReplay,
  portOf,
  readStream,
  replicaHealth,
  resumeReplay,
  setNodeSetting,
  waitForReplicaState,
} from './support/replica';
import { waitFor } from './support/wait';

const canControlNodes = hasCluster && Boolean(clusterEnv.clusterDir && clusterEnv.replicaDataDir && clusterEnv.primaryDataDir);
const primaryPort = clusterEnv.databaseUrl ? portOf(clusterEnv.databaseUrl) : 0;
const replicaPort = clusterEnv.replicaUrls ? portOf(clusterEnv.replicaUrls.split(',')[0] ?? '') : 0;
const replicaDataDir = clusterEnv.replicaDataDir ?? '';

/** Thresholds no held-back replica reaches during a test: it stays healthy, so anonymous reads keep using it. */
const NEVER_LAGGING = { MAX_REPLICA_LAG_MS: '120000', MAX_REPLICA_LAG_BYTES: String(1024 ** 3) };

const recoveryRow = z.object({ in_recovery: z.boolean() });
const inRecovery = (session: DatabaseSession) =>
  session.read((db) => selectRows(db, sql`select pg_is_in_recovery() as in_recovery`, recoveryRow)).then(([row]) => row?.in_recovery);

const postId = z.object({ data: z.object({ id: z.string() }) });

/** The replica back to normal: running, streaming, replaying with no delay, caught up. */
async function restoreReplica(): Promise<void> {
  await startNode(replicaDataDir);
  await waitForReplicaStreaming({ primaryPort, replicaPort });
  await resumeReplay(replicaPort);
  await setReplicaApplyDelay(replicaDataDir, null);
  await waitForReplicaCatchUp({ primaryPort, replicaPort });
}

describe.skipIf(!canControlNodes)('read-your-writes through the API', () => {
  let t: TestApp;
  let second: TestApp;
  let writer: TestAccount;
  let signUpToken: string | undefined;

  beforeAll(async () => {
    t = await startTestApp(NEVER_LAGGING);
    // A second instance: own pools, own monitor, nothing shared with the first but the secret.
    second = await startTestApp(NEVER_LAGGING);
    writer = await signUp(t, 'ryw-writer');
    signUpToken = writer.jar.get('db_lsn');
  });
  afterAll(async () => {
    await restoreReplica();
    await Promise.all([t?.close(), second?.close()]);
  });

  /** Creates a published post as the writer, then reads it back as the writer and anonymously. */
  async function createAndReadBack(index: number) {
    const created = writer.jar.store(
      await t.request('/posts', {
        method: 'POST',
        json: { title: `ryw ${index}`, content: 'read me back', published: true },
        headers: { cookie: writer.jar.header() },
      }),
    );
    expect(created.status).toBe(201);
    const { id } = postId.parse(await created.json()).data;
    const own = await t.request(`/posts/${id}`, { headers: { cookie: writer.jar.header() } });
    const anonymous = await t.request(`/posts/${id}`);
    return { id, created, own, anonymous };
  }

  async function hundredRounds(): Promise<void> {
    const seen = { ownFound: 0, ownOnPrimary: 0, anonymousOnReplica: 0, anonymousStale: 0, tokens: 0 };
    for (let index = 0; index < 100; index += 1) {
      const { created, own, anonymous } = await createAndReadBack(index);
      if (created.headers.get('x-db-lsn') && created.headers.getSetCookie().some((cookie) => cookie.startsWith('db_lsn='))) seen.tokens += 1;
      if (own.status === 200) seen.ownFound += 1;
      if (own.headers.get('x-db-target') === 'primary') seen.ownOnPrimary += 1;
      if (anonymous.headers.get('x-db-target') === 'replica1') seen.anonymousOnReplica += 1;
      if (anonymous.status === 404) seen.anonymousStale += 1;
    }
    // The writer always sees the post (from the primary); everyone else is served by the replica,
    // which has not applied it yet (proof that the replica, not luck, was behind). The anonymous
    // 404 carrying x-db-target also guards the header being set only on successful responses.
    expect(seen).toEqual({ ownFound: 100, ownOnPrimary: 100, anonymousOnReplica: 100, anonymousStale: 100, tokens: 100 });
  }

  test('sign-up (Better-Auth writes on the primary) hands out a token too', () => {
    // Its users and sessions must be readable at once: e.g. GET /users/me right after signing up.
    expect(signUpToken).toMatch(/^[0-9A-F]+%2F[0-9A-F]+\.\d+\./);
  });

  test('6a: replay paused: the writer reads each new post back 100/100 while anonymous reads hit the stale replica', async () => {
    await pauseReplay(replicaPort);
    try {
      await hundredRounds();
    } finally {
      await resumeReplay(replicaPort);
    }
    // Replay resumed: the anonymous reader catches up through the replica.
    const last = await t.request('/posts?limit=1');
    expect(last.headers.get('x-db-target')).toBe('replica1');
  });

  test('6b: recovery_min_apply_delay on the replica: the writer still reads each new post back 100/100', async () => {
    await setReplicaApplyDelay(replicaDataDir, '3s');
    try {
      await hundredRounds();
    } finally {
      await setReplicaApplyDelay(replicaDataDir, null);
    }
  });

  test('6g: a token issued by one instance is honoured by another (header or cookie); a forged one is ignored', async () => {
    await pauseReplay(replicaPort);
    try {
      const { id, created } = await createAndReadBack(1_000);
      const token = created.headers.get('x-db-lsn') ?? '';
      expect(token).not.toBe('');

      const viaHeader = await second.request(`/posts/${id}`, { headers: { 'x-db-lsn': token } });
      expect([viaHeader.status, viaHeader.headers.get('x-db-target')]).toEqual([200, 'primary']);
      const viaCookie = await second.request(`/posts/${id}`, { headers: { cookie: `db_lsn=${encodeURIComponent(token)}` } });
      expect([viaCookie.status, viaCookie.headers.get('x-db-target')]).toEqual([200, 'primary']);
      const signedIn = await second.request(`/posts/${id}`, { headers: { cookie: writer.jar.header() } });
      expect([signedIn.status, signedIn.headers.get('x-db-target')]).toEqual([200, 'primary']);

      const without = await second.request(`/posts/${id}`);
      expect([without.status, without.headers.get('x-db-target')]).toEqual([404, 'replica1']);
      const forged = signLsnToken(0xffff_ffff_ffffn, 'not-the-service-secret-0123456789abcdef', 60);
      const withForged = await second.request(`/posts/${id}`, { headers: { 'x-db-lsn': forged } });
      expect([withForged.status, withForged.headers.get('x-db-target')]).toEqual([404, 'replica1']);
      // An old header does not undo a newer cookie: the newest valid token wins.
      const stale = signLsnToken(1n, TEST_AUTH_SECRET, 60);
      const mixed = await second.request(`/posts/${id}`, { headers: { 'x-db-lsn': stale, cookie: `db_lsn=${encodeURIComponent(token)}` } });
      expect([mixed.status, mixed.headers.get('x-db-target')]).toEqual([200, 'primary']);
    } finally {
      await resumeReplay(replicaPort);
    }
  });
});

describe.skipIf(!canControlNodes)('a request that wrote', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(NEVER_LAGGING);
    // A handler that commits, then fails: what a POST does when a later step throws.
    t.app.post('/_test/write-then-fail', async ({ db }) => {
      await db.write((primary) => primary.execute(sql`select txid_current()`));
      throw conflict('failed after the commit');
    });
  });
  afterAll(async () => {
    await restoreReplica();
    await t?.close();
  });

  test('reads its own write later in the same request from the primary', async () => {
    // Guards the session routing a read after its own write by the incoming token (or none):
    // e.g. insert, then re-read with a join, answered by a replica without the row.
    await pauseReplay(replicaPort);
    try {
      const session = t.database.session();
      expect(await inRecovery(session)).toBe(true);
      await session.write((db) => db.execute(sql`select txid_current()`));
      expect(await inRecovery(session)).toBe(false);
      expect(session.lastTarget).toBe('primary');
    } finally {
      await resumeReplay(replicaPort);
    }
  });

  test('gets its token even when it then failed (the commit stands)', async () => {
    // Guards issuing the token in onAfterHandle, which Elysia skips when the handler throws.
    const response = await t.request('/_test/write-then-fail', { method: 'POST' });
    expect(response.status).toBe(409);
    expect(response.headers.get('x-db-lsn')).toMatch(/^[0-9A-F]+\/[0-9A-F]+\.\d+\./);
    expect(response.headers.getSetCookie().some((cookie) => cookie.startsWith('db_lsn='))).toBe(true);
  });
});

describe.skipIf(!canControlNodes)('READ_YOUR_WRITES_WAIT_MS', () => {
  let waiting: TestApp;
  let impatient: TestApp;
  beforeAll(async () => {
    waiting = await startTestApp({ ...NEVER_LAGGING, READ_YOUR_WRITES_WAIT_MS: '5000' });
    impatient = await startTestApp({ ...NEVER_LAGGING, READ_YOUR_WRITES_WAIT_MS: '150' });
  });
  afterAll(async () => {
    await restoreReplica();
    await Promise.all([waiting?.close(), impatient?.close()]);
  });

  async function tokenAfterWrite(app: TestApp) {
    await app.database.session().write((db) => db.execute(sql`select txid_current()`));
    const lsn = await app.database.currentWalInsertLsn();
    if (lsn === null) throw new Error('no LSN on the cluster');
    return lsn;
  }

  test('a read whose token is ahead waits for the replica to replay it, then is served there', async () => {
    await pauseReplay(replicaPort);
    let session: DatabaseSession | null = null;
    let settled = false;
    try {
      session = waiting.database.session(await tokenAfterWrite(waiting));
      const read = inRecovery(session).finally(() => {
        settled = true;
      });
      // Several probe rounds see the replica behind the token: the read is still waiting.
      for (let round = 0; round < 3; round += 1) await waiting.database.router.nextProbeRound(1_000);
      expect(settled).toBe(false);
      await resumeReplay(replicaPort);
      expect(await read).toBe(true);
      expect(session.lastTarget).toBe('replica1');
      expect(waiting.database.router.readsByReason()['caught-up-after-wait']).toBe(1);
    } finally {
      await resumeReplay(replicaPort);
    }
  });

  test('the wait is bounded: past it the read goes to the primary', async () => {
    await pauseReplay(replicaPort);
    try {
      const session = impatient.database.session(await tokenAfterWrite(impatient));
      expect(await inRecovery(session)).toBe(false);
      expect(session.lastTarget).toBe('primary');
      expect(impatient.database.router.readsByReason()['token-ahead']).toBe(1);
    } finally {
      await resumeReplay(replicaPort);
    }
  });
});

describe.skipIf(!canControlNodes)('6c: the replica killed during a stream of reads', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ REPLICA_PROBE_MS: '50' });
  });
  afterAll(async () => {
    await restoreReplica();
    await t?.close();
  });

  test('no read fails (one retry), /health/db shows it down, reads return to it once it restarts', async () => {
    // Guards the retry on a connection failure, and (in afterAll, by its hook timeout) closing the
    // pools after the kill: postgres-js' graceful end() never settles then (porsager/postgres#1097).
    const stream = readStream(() => t.request('/posts?limit=5'), 4);
    try {
      await stream.until('reads served by the replica', (result) => (result.targets.get('replica1') ?? 0) >= 50);
      await stopNode(replicaDataDir, 'immediate');
      const down = await waitForReplicaState(t, 'down');
      expect(down.ok).toBe(false);
      const onPrimary = stream.result.targets.get('primary') ?? 0;
      await stream.until('reads served by the primary meanwhile', (result) => (result.targets.get('primary') ?? 0) >= onPrimary + 50);

      await startNode(replicaDataDir);
      const backOnReplica = stream.result.targets.get('replica1') ?? 0;
      await stream.until('reads back on the restarted replica', (result) => (result.targets.get('replica1') ?? 0) >= backOnReplica + 50);
    } finally {
      await stream.stop();
    }
    expect(stream.result.failed).toEqual([]);
    expect(await metric(t, 'db_reads_total', { target: 'primary', reason: 'down' })).toBeGreaterThan(0);
    expect((await replicaHealth(t))?.state).toBe('healthy');
  });
});

describe.skipIf(!canControlNodes)('a read cancelled on the replica by a recovery conflict (SQLSTATE 40001)', () => {
  const table = 'bx_test_recovery_conflict';
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp(NEVER_LAGGING);
    await psqlQuery(primaryPort, `create table if not exists ${table} (id int); insert into ${table} values (1)`, 'bountyexpo');
    await waitForReplicaCatchUp({ primaryPort, replicaPort });
    // Replay waits this long for conflicting queries before cancelling them (default 30 s).
    await setNodeSetting(replicaPort, 'max_standby_streaming_delay', '10ms');
  });
  afterAll(async () => {
    await setNodeSetting(replicaPort, 'max_standby_streaming_delay', null);
    await psqlQuery(primaryPort, `drop table if exists ${table}`, 'bountyexpo');
    await restoreReplica();
    await t?.close();
  });

  test('is retried once on another target and succeeds; the replica is not marked down for it', async () => {
    const session = t.database.session();
    const read = session.read((db) => db.execute(sql.raw(`select pg_sleep(0.5), count(*) from ${table}`)));
    await waitFor('the read running on the replica', async () => {
      const running = await psqlQuery(
        replicaPort,
        `select count(*) from pg_stat_activity where state = 'active' and pid <> pg_backend_pid() and query like '%from ${table}%'`,
      );
      return running === '1';
    });
    // Replaying this lock conflicts with the read's lock on the replica: replay cancels the read.
    await psqlQuery(primaryPort, `begin; lock table ${table} in access exclusive mode; commit;`, 'bountyexpo');
    await read;
    expect(session.targets).toEqual(['replica1', 'primary']);
    expect(t.database.router.readFailures.get('replica1')).toBe(1);
    expect(t.database.router.readsByReason()).toEqual({ retry: 1 });
    expect((await replicaHealth(t))?.state).toBe('healthy');
  });
});

describe.skipIf(!canControlNodes)('6d: a replica lagging past the threshold', () => {
  let byTime: TestApp;
  let byBytes: TestApp;
  beforeAll(async () => {
    byTime = await startTestApp({ MAX_REPLICA_LAG_MS: '300', MAX_REPLICA_LAG_BYTES: String(1024 ** 3) });
    byBytes = await startTestApp({ MAX_REPLICA_LAG_MS: '120000', MAX_REPLICA_LAG_BYTES: '4096' });
  });
  afterAll(async () => {
    await restoreReplica();
    await Promise.all([byTime?.close(), byBytes?.close()]);
  });

  test('is left out (reads go to the primary as "lagging"), then taken back once it has caught up', async () => {
    await pauseReplay(replicaPort);
    try {
      await emitWal(primaryPort, 16_384);
      for (const app of [byTime, byBytes]) {
        const lagging = await waitForReplicaState(app, 'lagging');
        expect(lagging.lagBytes ?? 0).toBeGreaterThan(4096);
        const read = await app.request('/posts?limit=1');
        expect([read.status, read.headers.get('x-db-target')]).toEqual([200, 'primary']);
        expect(await metric(app, 'db_reads_total', { target: 'primary', reason: 'lagging' })).toBe(1);
      }
      expect((await replicaHealth(byTime))?.lagMs ?? 0).toBeGreaterThan(300);
    } finally {
      await resumeReplay(replicaPort);
    }
    for (const app of [byTime, byBytes]) {
      const healthy = await waitForReplicaState(app, 'healthy');
      expect(healthy.lagBytes).toBe(0);
      const read = await app.request('/posts?limit=1');
      expect(read.headers.get('x-db-target')).toBe('replica1');
    }
  });
});

describe.skipIf(!hasCluster)('the fallback cap', () => {
  let t: TestApp;
  beforeAll(async () => {
    // A replica that refuses connections: every read falls back to the primary.
    t = await startTestApp({ DATABASE_REPLICA_URLS: `postgres://postgres@127.0.0.1:${await freePort()}/bountyexpo`, READ_FALLBACK_MAX_INFLIGHT: '2' });
    t.app.get('/_test/slow-read', async ({ db }) => {
      await db.read((reader) => reader.execute(sql`select pg_sleep(0.4)`));
      return { ok: true };
    });
  });
  afterAll(() => t?.close());

  test('past READ_FALLBACK_MAX_INFLIGHT, fallback reads get 503 with Retry-After instead of loading the primary', async () => {
    expect((await replicaHealth(t))?.state).toBe('down');
    const responses = await Promise.all(Array.from({ length: 6 }, () => t.request('/_test/slow-read')));
    const served = responses.filter((response) => response.status === 200);
    const refused = responses.filter((response) => response.status === 503);
    expect([served.length, refused.length]).toEqual([2, 4]);
    for (const response of served) expect(response.headers.get('x-db-target')).toBe('primary');
    for (const response of refused) {
      expect(response.headers.get('retry-after')).toBe('1');
      expect(((await response.json()) as { error: string }).error).toBe('READ_CAPACITY_EXCEEDED');
    }
    expect(await metric(t, 'db_reads_total', { target: 'none', reason: 'fallback-capped' })).toBe(4);
    expect(await metric(t, 'db_reads_total', { target: 'primary', reason: 'down' })).toBe(2);
    // Once the slots are free again, fallback reads are served.
    expect((await t.request('/_test/slow-read')).status).toBe(200);
  });
});

describe.skipIf(!hasCluster)('what operators see', () => {
  let t: TestApp;
  let quiet: TestApp;
  const logs = captureLogs('info');
  beforeAll(async () => {
    t = await startTestApp({}, { logger: logs.logger });
    quiet = await startTestApp({ DEBUG_HEADERS: 'false' });
  });
  afterAll(async () => {
    await Promise.all([t?.close(), quiet?.close()]);
  });

  test('x-db-target, the request log line, /health/db reads served and /metrics name the replica that served a read', async () => {
    const before = (await replicaHealth(t))?.readsServed ?? 0;
    const response = await t.request('/posts?limit=1', { headers: { 'x-request-id': 'routing-visibility-1' } });
    expect([response.status, response.headers.get('x-db-target')]).toEqual([200, 'replica1']);
    const line = await waitFor('the request log line', () => logs.lines.find((entry) => entry.requestId === 'routing-visibility-1'));
    expect(line.dbTarget).toBe('replica1');
    expect((await replicaHealth(t))?.readsServed).toBe(before + 1);
    expect(await metric(t, 'db_reads_total', { target: 'replica1', reason: 'caught-up' })).toBe(1);
    expect(await metric(t, 'db_replica_state', { replica: 'replica1', state: 'healthy' })).toBe(1);
  });

  test('x-db-target is left out when DEBUG_HEADERS is off', async () => {
    const response = await quiet.request('/posts?limit=1');
    expect(response.status).toBe(200);
    expect(response.headers.has('x-db-target')).toBe(false);
  });
});
