/**
 * GET /debug (issue 13): an admin signed in recently gets this instance's version, uptime, id,
 * non-secret configuration, pools, replicas and job backlogs; moderators, users and anonymous
 * callers are refused, and so is an admin whose sign-in is older than a day. No secret of the
 * configuration is ever in the body.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { sessions } from '../src/db';
import { createStaff, logIn, signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, TEST_AUTH_SECRET, TEST_CONNECT_WEBHOOK_SECRET, TEST_WEBHOOK_SECRET, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

/** The test cluster trusts local connections: a password in the URL is sent and ignored, so it can be one to look for. */
const DB_PASSWORD = 'db-password-that-must-not-leak-8d1f';
const withPassword = (url: string | undefined): string | undefined => {
  if (!url) return url;
  const parsed = new URL(url);
  parsed.password = DB_PASSWORD;
  return parsed.toString();
};

const METRICS_TOKEN = 'metrics-token-that-must-not-leak-0123';
const OPS_TOKEN = 'ops-token-that-must-not-leak-0123456789';

describe.skipIf(!hasCluster)('GET /debug', () => {
  let t: TestApp;
  let admin: TestAccount;

  beforeAll(async () => {
    t = await startTestApp(
      {
        DATABASE_URL: withPassword(clusterEnv.databaseUrl),
        DATABASE_REPLICA_URLS: clusterEnv.replicaUrls?.split(',').map(withPassword).join(','),
        METRICS_TOKEN,
        OPS_TOKEN,
      },
      { work: false },
    );
    admin = await createStaff(t, 'admin', 'debug-admin');
  });
  afterAll(() => t.close());

  const get = (account: TestAccount | null) => t.request('/debug', account ? { headers: { cookie: account.jar.header() } } : {});

  test('an admin signed in recently sees this instance: version, uptime, id, pools, replicas, queues', async () => {
    const response = await get(admin);
    expect(response.status).toBe(200);
    const data = at(await readJson(response), 'data');
    expect(at(data, 'version')).toBe(t.config.version);
    expect(at(data, 'instanceId')).toBe(t.instanceId);
    expect(at(data, 'pid')).toBe(process.pid);
    expect(at(data, 'uptimeSeconds')).toBeGreaterThanOrEqual(0);
    expect(at(data, 'draining')).toBe(false);
    expect(at(data, 'config', 'database', 'poolMax')).toBe(t.config.database.poolMax);
    expect(at(data, 'config', 'database', 'replicas')).toBe(1);
    expect(at(data, 'config', 'operatorTokens')).toEqual({ metrics: true, metricsOpenWithoutToken: true, ops: true });
    expect(at(data, 'config', 'publicOrigin')).toBe('http://localhost:3000');
    expect(items(at(data, 'database', 'pools'))).toContainEqual({ pool: 'primary', size: t.config.database.poolMax, inUse: expect.any(Number), waiting: 0 });
    expect(items(at(data, 'database', 'replicas'))).toContainEqual(expect.objectContaining({ replica: 'replica1', state: 'healthy' }));
    expect(items(at(data, 'jobs'))).toContainEqual({ queue: 'payouts.execute', queued: 0, active: 0, deadLetters: 0 });
  });

  test('no secret of the configuration is in the body', async () => {
    const text = await (await get(admin)).text();
    const secrets = [
      TEST_AUTH_SECRET,
      t.config.auth.secret,
      t.config.stripe.secretKey,
      TEST_WEBHOOK_SECRET,
      TEST_CONNECT_WEBHOOK_SECRET,
      DB_PASSWORD,
      METRICS_TOKEN,
      OPS_TOKEN,
      t.config.database.primaryUrl ?? 'no primary url',
    ];
    // The app really runs with them.
    expect(t.config.database.primaryUrl).toContain(DB_PASSWORD);
    expect(t.config.stripe.secretKey.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/postgres(ql)?:\/\//);
  });

  test('moderators, users and anonymous callers are refused', async () => {
    const [moderator, user] = await Promise.all([createStaff(t, 'moderator', 'debug-moderator'), signUp(t, 'debug-user')]);
    for (const [caller, status] of [[moderator, 403], [user, 403], [null, 401]] as const) {
      const response = await get(caller);
      expect([caller?.email ?? 'anonymous', response.status]).toEqual([caller?.email ?? 'anonymous', status]);
      expect(await response.text()).not.toContain('instanceId');
    }
  });

  test('an admin whose sign-in is older than a day is refused (403 SESSION_NOT_FRESH) until they sign in again', async () => {
    const stale = await createStaff(t, 'admin', 'debug-stale-admin');
    await t.database.primary.update(sessions).set({ createdAt: new Date(Date.now() - 2 * 86_400_000) }).where(eq(sessions.userId, stale.id));
    await t.settle();
    const response = await get(stale);
    expect(response.status).toBe(403);
    expect(at(await readJson(response), 'error')).toBe('SESSION_NOT_FRESH');
    expect((await get({ ...stale, jar: await logIn(t, stale) })).status).toBe(200);
  });
});
