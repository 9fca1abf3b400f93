/**
 * Issue 7 regressions found by killing the primary under load, on a cluster of this file's own:
 * - defect 3: /health/db said "primary down" for 12-66 s after the primary was back, because the
 *   probe connection kept a query that died with the server and every later probe queued behind it;
 * - defect 4: requests hung for 7-19 s after a primary kill, and one locked table stalled
 *   unrelated routes behind the writes waiting for it;
 * - defect 6: a failing session lookup logged the session token as a query parameter.
 * Timings are asserted as bounds on individual requests (nothing over connect timeout + 1 s), not
 * as a benchmark.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { type SQL, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from '../src/db/schema';
import { startNode, stopNode } from '../scripts/lib/pg-cluster';
import { signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, type TestApp } from './support/harness';
import { at } from './support/json';
import { holdLock } from './support/locks';
import { captureLogs } from './support/logs';
import { dbHealth, type OwnCluster, startOwnCluster } from './support/replica';
import { waitFor } from './support/wait';

const CONNECT_TIMEOUT_S = 2;
const BOUND_MS = CONNECT_TIMEOUT_S * 1000 + 1000;
/** Each bound configured, and together (250 + 2000 + 500 ms) inside the one asserted. */
const BOUNDS = {
  DB_CONNECT_TIMEOUT_S: String(CONNECT_TIMEOUT_S),
  DB_POOL_ACQUIRE_TIMEOUT_MS: '250',
  DB_STATEMENT_TIMEOUT_MS: '500',
  DB_POOL_MAX: '5',
  REPLICA_PROBE_MS: '50',
};

type Timed = { name: string; status: number; ms: number; error: unknown; retryAfter: string | null };

async function timed(name: string, send: () => Promise<Response>): Promise<Timed> {
  const started = performance.now();
  const response = await send();
  const ms = performance.now() - started;
  const body: unknown = await response.json().catch(() => null);
  return { name, status: response.status, ms, error: at(body, 'error'), retryAfter: response.headers.get('retry-after') };
}

const slowest = (results: Timed[]): number => Math.max(...results.map((result) => result.ms));

// Both ways of using the pools. Regression (issue 13 review): with DB_PIPELINING=false, statements
// past their deadline were cancelled; with the primary killed under load, the process then grew by
// about 50 MB a second and writes never came back.
for (const pipelining of [true, false]) {
describe.skipIf(!hasCluster || !clusterEnv.clusterDir)(`the primary killed under load, on a cluster of its own (DB_PIPELINING=${pipelining})`, () => {
  let own: OwnCluster;
  let t: TestApp;
  let member: TestAccount;
  const logs = captureLogs('debug');

  beforeAll(async () => {
    own = await startOwnCluster();
    t = await startTestApp({ ...own.env, ...BOUNDS, DB_PIPELINING: String(pipelining) }, { logger: logs.logger });
    t.app.post('/_test/write', async ({ db }) => {
      await db.write((primary) => primary.execute(sql`select txid_current()`));
      return { ok: true };
    });
    member = await signUp(t, 'outage-member');
    await t.settle();
  }, 60_000);

  /** A lock held on this file's primary from a connection of its own, until released. */
  async function lockOnOwnPrimary(statement: SQL) {
    const connection = postgres(own.env.DATABASE_URL, { max: 1, onnotice: () => {} });
    const lock = await holdLock(drizzle(connection, { schema }), statement);
    return { release: lock.release, done: lock.done.finally(() => connection.end({ timeout: 1 })) };
  }

  const post = (title: string) => () =>
    t.request('/posts', { method: 'POST', json: { title, content: 'outage', published: true }, headers: { cookie: member.jar.header() } });
  const me = () => t.request('/auth/me', { headers: { cookie: member.jar.header() } });
  const profile = () => t.request(`/users/${member.id}`, { headers: { cookie: member.jar.header() } });

  // Regression (issue 7, defect 4): with `LOCK TABLE posts IN ACCESS EXCLUSIVE MODE` held, 40
  // POST /posts took 19 s, and GET /auth/me and GET /users/:id sent meanwhile waited 11-17 s.
  test('a locked table: its writes fail fast with 503, and routes that do not touch it are not stalled', async () => {
    const lock = await lockOnOwnPrimary(sql`lock table posts in access exclusive mode`);
    try {
      const writes = Promise.all(Array.from({ length: 40 }, (_, index) => timed('POST /posts', post(`locked ${index}`))));
      await Bun.sleep(50);
      const unrelated: Timed[] = [];
      for (let round = 0; round < 5; round += 1) {
        unrelated.push(...(await Promise.all([timed('GET /auth/me', me), timed('GET /users/:id', profile)])));
      }
      const written = await writes;
      expect(unrelated.map((result) => [result.name, result.status])).toEqual(unrelated.map((result) => [result.name, 200]));
      expect(slowest(unrelated)).toBeLessThan(1_000);
      // Every write answered within its bound, as 503 + Retry-After (the lock wait hit the
      // statement timeout, or no connection freed up within the acquire timeout).
      expect(new Set(written.map((result) => `${result.status} ${String(result.error)} ${result.retryAfter}`))).toEqual(
        new Set(['503 DATABASE_TIMEOUT 1', '503 DATABASE_BUSY 1']),
      );
      expect(slowest(written)).toBeLessThan(BOUND_MS);
    } finally {
      lock.release();
      await lock.done;
    }
    expect((await post('after the lock')()).status).toBe(201);
  }, 30_000);

  // Review of issue 7: a session lookup that hit the statement timeout (sessions locked, e.g. by a
  // migration) was rethrown as a 500 instead of the 503 every other timeout is.
  test('a locked sessions table: session checks answer 503 DATABASE_TIMEOUT within the bound, not 500', async () => {
    const lock = await lockOnOwnPrimary(sql`lock table sessions in access exclusive mode`);
    try {
      const answers = await Promise.all([timed('GET /auth/me', me), timed('POST /posts', post('sessions locked'))]);
      expect(answers.map((answer) => [answer.name, answer.status, answer.error, answer.retryAfter])).toEqual([
        ['GET /auth/me', 503, 'DATABASE_TIMEOUT', '1'],
        ['POST /posts', 503, 'DATABASE_TIMEOUT', '1'],
      ]);
      expect(slowest(answers)).toBeLessThan(BOUND_MS);
    } finally {
      lock.release();
      await lock.done;
    }
    expect((await me()).status).toBe(200);
  }, 30_000);

  // Regression (issue 7, defect 4): after a primary kill, writes hung 7-19 s and /auth/me 11-13 s
  // with DB_CONNECT_TIMEOUT_S=5.
  test('the primary killed and restarted under load: every request answers within connect timeout + 1 s', async () => {
    const results: Timed[] = [];
    let running = true;
    const senders: Array<[string, () => Promise<Response>]> = [
      ['POST /_test/write', () => t.request('/_test/write', { method: 'POST' })],
      ['POST /posts', post('under load')],
      ['GET /auth/me', me],
      ['POST /_test/write', () => t.request('/_test/write', { method: 'POST' })],
    ];
    const loops = senders.map(async ([name, send]) => {
      while (running) results.push(await timed(name, send));
    });
    await Bun.sleep(300);
    await stopNode(own.info.primaryDataDir, 'immediate');
    await Bun.sleep(2_500);
    await startNode(own.info.primaryDataDir);
    await waitFor('writes accepted again', async () => (await t.request('/_test/write', { method: 'POST' })).status === 200, 20_000);
    await Bun.sleep(500);
    running = false;
    await Promise.all(loops);
    const outcomes = new Set(results.map((result) => result.status));
    expect([...outcomes].every((status) => status === 200 || status === 201 || status === 503)).toBe(true);
    expect(outcomes.has(503)).toBe(true);
    const over = results.filter((result) => result.ms >= BOUND_MS).map((result) => `${result.name} ${result.status} ${Math.round(result.ms)} ms`);
    expect(over).toEqual([]);

    // Regression (issue 7, defect 6): 37 warn lines carried the failed session lookup with its
    // parameters, "... where "sessions"."token" = $1 params: <the raw token>".
    const cookie = member.jar.names().find((name) => name.endsWith('session_token'));
    const rawToken = decodeURIComponent(member.jar.get(cookie ?? '') ?? '').split('.')[0] ?? '';
    expect(rawToken.length).toBeGreaterThan(16);
    const failedLookups = logs.lines.filter((line) => line.component === 'better-auth' && line.level >= 40);
    expect(failedLookups.length).toBeGreaterThan(0);
    expect(logs.lines.filter((line) => JSON.stringify(line).includes(rawToken))).toEqual([]);
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await own?.destroy();
  }, 60_000);

  // Regression (issue 7, defect 3): 503 {"primary":{"ok":false,"error":"timeout"}} for 12-66 s
  // after a `pg_ctl stop -m immediate` and restart, while writes already succeeded.
  test('/health/db tells the truth again within two probes of the primary coming back', async () => {
    expect((await dbHealth(t)).status).toBe(200);
    // Probes in flight at the moment of the kill: the condition that left the old probe stuck.
    let polling = true;
    const poller = (async () => {
      while (polling) await Promise.all([dbHealth(t).catch(() => null), Bun.sleep(20)]);
    })();
    await Bun.sleep(200);
    await stopNode(own.info.primaryDataDir, 'immediate');
    await Bun.sleep(1_500);
    expect((await dbHealth(t)).body.primary.ok).toBe(false);
    await startNode(own.info.primaryDataDir);
    await waitFor('a write accepted again', async () => (await t.request('/_test/write', { method: 'POST' })).status === 200, 20_000);
    polling = false;
    await poller;
    // The load balancer's next two probes (250 ms apart): the second at the latest says ok.
    const first = await dbHealth(t);
    await Bun.sleep(250);
    const second = await dbHealth(t);
    expect([first.body.primary.ok || second.body.primary.ok, second.status, second.body.primary.ok]).toEqual([true, 200, true]);
  }, 60_000);
});
}
