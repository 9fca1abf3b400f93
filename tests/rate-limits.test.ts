/**
 * The service's rate limits (src/lib/rate-limits.ts): the table's pure decisions, the shared store
 * (atomic across pools, insured when the database is unreachable), and the limits as a client
 * meets them over a real socket behind a trusted proxy: per IP, per route, per user, the
 * RateLimit fields, the 429 in the one error format with Retry-After, and the sign-in limit
 * holding in total across two instances (it used to be per process: N instances, N times the limit).
 *
 * The suite runs with RATE_LIMITS_ENABLED=false (every request comes from one address); these apps
 * turn it on, and each test is its own client address (randomIp), so buckets never collide.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { like } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import { rateLimits } from '../src/db';
import * as schema from '../src/db/schema';
import { AUTH_BASE_PATH, CLIENT_IP_HEADER } from '../src/lib/auth';
import { exposedAuthEndpoint } from '../src/modules/auth/exposed-endpoints';
import { betterAuthRules, rateLimitHeaders } from '../src/lib/auth/rate-limit';
import { rateLimitRejections } from '../src/lib/metrics';
import { FALLBACK_MS, RateLimitStore } from '../src/lib/rate-limit-store';
import {
  betterAuthPolicy,
  EXEMPT_ROUTES,
  ipSubject,
  limitItem,
  policyItem,
  RATE_LIMIT_POLICIES,
  policiesFor,
  ratePolicy,
} from '../src/lib/rate-limits';
import { PASSWORD, signUp, type TestAccount, uniqueEmail } from './support/accounts';
import { hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { readJson } from './support/json';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { freePort } from './support/ports';

const names = (policies: readonly { name: string }[]): string[] => policies.map((policy) => policy.name);

/** A structured-field list of `"name";r=..;t=..` (or q/w) items, by name. */
function items(header: string | null): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const item of (header ?? '').split(',').map((part) => part.trim()).filter(Boolean)) {
    const [name = '', ...params] = item.split(';');
    out[name.replaceAll('"', '')] = Object.fromEntries(params.map((param) => param.split('=')).map(([key = '', value = '']) => [key, Number(value)]));
  }
  return out;
}

const rejections = async (policy: string): Promise<number> =>
  (await rateLimitRejections.get()).values.find((value) => value.labels.policy === policy)?.value ?? 0;

describe('the policy table (pure)', () => {
  test('every route counts against the per-IP policy, except probes and scrapes; a route adds its own', () => {
    expect(names(policiesFor('GET', '/posts', 'ip'))).toEqual(['ip']);
    expect(names(policiesFor('GET', '*', 'ip'))).toEqual(['ip']);
    for (const route of EXEMPT_ROUTES) {
      const [method = '', template = ''] = route.split(' ');
      expect(policiesFor(method, template, 'ip')).toEqual([]);
    }
    expect(names(policiesFor('POST', '/wallet/deposits', 'ip'))).toEqual(['ip', 'money-ip']);
    expect(names(policiesFor('POST', '/wallet/deposits', 'user'))).toEqual(['money-user']);
    expect(names(policiesFor('GET', '/wallet/deposits', 'ip'))).toEqual(['ip']);
    expect(names(policiesFor('GET', '/wallet/deposits', 'user'))).toEqual([]);
    expect(names(policiesFor('POST', '/reports', 'user'))).toEqual(['reports-user']);
  });

  test('searching is counted per viewer and only with a text query; the browse list only per IP', () => {
    // Browsing (the list, filters, a 304) costs no more than any read: people behind one carrier
    // NAT share an IPv4, so only the every-request policy counts it.
    for (const route of ['/bounties', '/search/bounties']) {
      expect(names(policiesFor('GET', route, 'ip'))).toEqual(['ip']);
      expect(names(policiesFor('GET', route, 'viewer', 'http://x/bounties?category=design'))).toEqual([]);
      expect(names(policiesFor('GET', route, 'viewer', 'http://x/bounties?q=%20'))).toEqual([]);
      expect(names(policiesFor('GET', route, 'viewer', 'http://x/bounties?q=logo+design'))).toEqual(['search']);
      // A HEAD costs its GET's query.
      expect(names(policiesFor('HEAD', route, 'viewer', 'http://x/bounties?q=logo'))).toEqual(['search']);
    }
  });

  test('Better-Auth counts its own endpoints, our sign-in and sign-up routes included', () => {
    expect(names(policiesFor('POST', '/auth/login', 'ip'))).toEqual(['ip']);
    expect(betterAuthPolicy('/sign-in/email').name).toBe('sign-in');
    expect(betterAuthPolicy('/sign-up/email').name).toBe('sign-up');
    expect(betterAuthPolicy('/change-password').name).toBe('change-password');
    expect(betterAuthPolicy('/get-session').name).toBe('auth-endpoints');
  });

  test("Better-Auth's rules are the table's", () => {
    const option = betterAuthRules();
    expect([option.window, option.max]).toEqual([ratePolicy('auth-endpoints').durationS, ratePolicy('auth-endpoints').points]);
    expect(option.customRules).toEqual({
      '/sign-in/*': { window: 10, max: 3 },
      '/sign-up/*': { window: 10, max: 3 },
      '/change-password': { window: 10, max: 3 },
    });
  });

  test('a client IP is its subject; an IPv6 client is its /64 (one host holds a whole /64)', () => {
    expect(ipSubject('203.0.113.9')).toBe('203.0.113.9');
    expect(ipSubject('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(ipSubject('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(ipSubject('2001:db8::7')).toBe('2001:db8:0:0::/64');
    expect(ipSubject(null)).toBe('unknown');
  });

  test('headers in the syntax of draft-ietf-httpapi-ratelimit-headers-11', () => {
    expect(policyItem(ratePolicy('ip'))).toBe('"ip";q=1200;w=60');
    expect(limitItem(ratePolicy('money-user'), 4, 17)).toBe('"money-user";r=4;t=17');
    expect(rateLimitHeaders(7, '/sign-in/email')).toEqual({ 'retry-after': '7', 'ratelimit-policy': '"sign-in";q=3;w=10', ratelimit: '"sign-in";r=0;t=7' });
  });
});

describe('the shared store', () => {
  test('insured: with the database unreachable, the limit is counted in memory; the outage is logged once', async () => {
    const port = await freePort(); // nothing listens there
    const client = postgres(`postgres://postgres@127.0.0.1:${port}/nowhere`, { connect_timeout: 1, max: 1 });
    const logs = captureLogs('info');
    const store = new RateLimitStore({ db: drizzle(client, { schema }), run: (work) => work(), logger: logs.logger });
    try {
      const bucket = { name: 'insured-test', points: 3, durationS: 60 };
      const key = randomIp();
      const verdicts = [];
      for (let index = 0; index < 5; index += 1) verdicts.push(await store.consume(bucket, key));
      expect(verdicts.map((verdict) => verdict.allowed)).toEqual([true, true, true, false, false]);
      expect(verdicts.map((verdict) => verdict.remaining)).toEqual([2, 1, 0, 0, 0]);
      expect(verdicts[3]?.resetS).toBeGreaterThan(0);
      expect(verdicts[3]?.resetS).toBeLessThanOrEqual(60);
      // Another key is not affected.
      expect((await store.consume(bucket, randomIp())).allowed).toBe(true);
      const warnings = logs.lines.filter((line) => line.level === LOG_LEVELS.warn);
      expect(warnings.map((line) => line.msg)).toEqual([`rate-limit store failed: counting in this instance's memory for ${FALLBACK_MS / 1000} s at a time`]);
    } finally {
      await client.end({ timeout: 0 });
    }
  });

  describe.skipIf(!hasCluster)('on the cluster', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await startTestApp();
    });
    afterAll(() => t.close());

    test('atomic through the pool gate: 60 parallel consumes of a 10-point limit let exactly 10 through', async () => {
      const logs = captureLogs('warn');
      const store = new RateLimitStore({ db: t.database.primary, run: (work) => t.database.runWrite(work), logger: logs.logger });
      const bucket = { name: 'atomic-test', points: 10, durationS: 60 };
      const key = randomIp();
      const verdicts = await Promise.all(Array.from({ length: 60 }, () => store.consume(bucket, key)));
      expect(verdicts.filter((verdict) => verdict.allowed)).toHaveLength(10);
      expect(verdicts.filter((verdict) => verdict.allowed).map((verdict) => verdict.remaining).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      // Counted in the table, not in memory: the store never fell back.
      expect(logs.lines).toEqual([]);
      const [row] = await t.database.primary.select().from(rateLimits).where(like(rateLimits.key, `atomic-test:${key}`));
      expect(row?.points).toBeGreaterThanOrEqual(11);
    });

    test('after an outage, the table counts again once the fallback window has passed (and not before)', async () => {
      const logs = captureLogs('info');
      let down = true;
      let now = Date.now();
      const store = new RateLimitStore({
        db: t.database.primary,
        run: (work) => (down ? Promise.reject(new Error('primary unreachable')) : t.database.runWrite(work)),
        logger: logs.logger,
        now: () => now,
      });
      const bucket = { name: 'recovery-test', points: 10, durationS: 60 };
      const key = randomIp();
      const written = async (): Promise<number | undefined> =>
        (await t.database.primary.select().from(rateLimits).where(like(rateLimits.key, `recovery-test:${key}`)))[0]?.points;

      // Down: counted in memory.
      expect((await store.consume(bucket, key)).remaining).toBe(9);
      expect((await store.consume(bucket, key)).remaining).toBe(8);
      // Back, but within the window: still memory, the table is not tried.
      down = false;
      now += FALLBACK_MS - 1;
      expect((await store.consume(bucket, key)).remaining).toBe(7);
      expect(await written()).toBeUndefined();
      // Past the window: the shared table counts (its own tally, from the first point), and says so once.
      now += 1;
      expect((await store.consume(bucket, key)).remaining).toBe(9);
      expect((await store.consume(bucket, key)).remaining).toBe(8);
      expect(await written()).toBe(2);
      expect(logs.lines.map((line) => line.msg)).toEqual([
        `rate-limit store failed: counting in this instance's memory for ${FALLBACK_MS / 1000} s at a time`,
        'rate-limit store reachable again: limits are shared across instances',
      ]);
    });

    test('batched: written 20 at a time, exact on one instance, at most 19 over per instance', async () => {
      const logger = captureLogs('warn').logger;
      const [a, b] = [1, 2].map(() => new RateLimitStore({ db: t.database.primary, run: (work) => t.database.runWrite(work), logger }));
      const bucket = { name: 'batch-test', points: 50, durationS: 60, batch: 20 };
      const written = async (key: string): Promise<number | undefined> =>
        (await t.database.primary.select().from(rateLimits).where(like(rateLimits.key, `batch-test:${key}`)))[0]?.points;
      const allowedOf = async (store: RateLimitStore | undefined, key: string, times: number): Promise<number> => {
        let allowed = 0;
        for (let index = 0; index < times; index += 1) if ((await store?.consume(bucket, key))?.allowed) allowed += 1;
        return allowed;
      };

      // A light client costs no write at all.
      const light = randomIp();
      expect(await allowedOf(a, light, 19)).toBe(19);
      expect(await written(light)).toBeUndefined();

      // One instance, one request at a time: exact. Two batches of 20, then (10 left < 20) each
      // request; the 20 refused cost no write (refused from memory).
      const busy = randomIp();
      expect(await allowedOf(a, busy, 70)).toBe(50);
      expect(await written(busy)).toBe(50);

      // Two instances in turn: each holds up to 19 unwritten; together at most 2 x 19 over.
      const shared = randomIp();
      let allowed = 0;
      for (let index = 0; index < 120; index += 1) if ((await (index % 2 === 0 ? a : b)?.consume(bucket, shared))?.allowed) allowed += 1;
      expect(allowed).toBeGreaterThanOrEqual(50);
      expect(allowed).toBeLessThanOrEqual(50 + 2 * 19);
    });
  });
});

describe.skipIf(!hasCluster)('limits as a client meets them (behind a trusted proxy)', () => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMITS_ENABLED: 'true', TRUSTED_PROXIES: '127.0.0.1' });
    base = t.listen().url.origin;
  });
  afterAll(() => t.close());

  test("the table names only routes the app serves (Better-Auth's: endpoints it exposes)", () => {
    const served = new Set(t.app.routes.map((route) => `${route.method} ${route.path}`));
    for (const policy of RATE_LIMIT_POLICIES) {
      if (policy.routes === 'every request') continue;
      for (const route of policy.routes) {
        const [method = '', template = ''] = route.split(' ');
        const exposed = template.startsWith(AUTH_BASE_PATH) ? exposedAuthEndpoint(template.slice(AUTH_BASE_PATH.length)) : undefined;
        expect([route, served.has(route) || exposed?.method === method]).toEqual([route, true]);
      }
    }
    for (const route of EXEMPT_ROUTES) expect([route, served.has(route)]).toEqual([route, true]);
  });

  /** A request from `ip`, as our proxy would forward it. */
  const from = (ip: string, path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), 'x-forwarded-for': ip } });

  test('per IP: every request counts; past the limit 429 in our format with Retry-After and the RateLimit fields', async () => {
    const policy = ratePolicy('ip');
    const ip = randomIp();
    const before = await rejections('ip');
    const statuses: number[] = [];
    const remaining: number[] = [];
    for (let sent = 0; sent < policy.points; sent += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, policy.points - sent) }, () => from(ip, '/realtime/protocol')));
      for (const response of batch) {
        statuses.push(response.status);
        expect(response.headers.get('ratelimit-policy')).toBe('"ip";q=1200;w=60');
        remaining.push(items(response.headers.get('ratelimit')).ip?.r ?? -1);
      }
    }
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(Math.min(...remaining)).toBe(0);
    expect(Math.max(...remaining)).toBe(policy.points - 1);

    const refused = await from(ip, '/realtime/protocol');
    expect(refused.status).toBe(429);
    expect(await readJson(refused)).toMatchObject({ success: false, error: 'TOO_MANY_REQUESTS' });
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(policy.durationS);
    // The draft: the reset of the refusing policy is the same point in time as Retry-After.
    expect(items(refused.headers.get('ratelimit')).ip).toEqual({ r: 0, t: retryAfter });
    expect(await rejections('ip')).toBe(before + 1);

    // Others are not affected, and probes are never refused.
    expect((await from(randomIp(), '/realtime/protocol')).status).toBe(200);
    expect((await from(ip, '/health')).status).toBe(200);
  });

  test('per route: money POSTs from one address count, malformed or not, whoever is signed in', async () => {
    const policy = ratePolicy('money-ip');
    const ip = randomIp();
    const deposit = () => from(ip, '/wallet/deposits', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() }, body: '{}' });
    const answers = await Promise.all(Array.from({ length: policy.points }, deposit));
    // Counted before validation: a flood of malformed attempts is a flood all the same.
    expect(new Set(answers.map((response) => response.status))).toEqual(new Set([422]));
    const last = answers.map((response) => items(response.headers.get('ratelimit'))['money-ip']?.r);
    expect(Math.min(...last.map(Number))).toBe(0);
    expect(answers[0]?.headers.get('ratelimit-policy')).toBe('"ip";q=1200;w=60, "money-ip";q=30;w=60');

    const refused = await deposit();
    expect(refused.status).toBe(429);
    expect(await readJson(refused)).toMatchObject({ error: 'TOO_MANY_REQUESTS' });
    expect(items(refused.headers.get('ratelimit'))['money-ip']).toEqual({ r: 0, t: Number(refused.headers.get('retry-after')) });
    // Other routes from the same address still answer.
    expect((await from(ip, '/realtime/protocol')).status).toBe(200);
  });

  test('a body that does not parse (400, 415) is counted all the same, once per request', async () => {
    // Regression: the body is parsed before the route's hooks run, so parse refusals were never
    // counted: an unlimited flood of requests the server still reads and scans.
    const policy = ratePolicy('money-ip');
    const ip = randomIp();
    const broken = (index: number) =>
      from(ip, '/wallet/deposits', {
        method: 'POST',
        headers: { 'content-type': index % 2 === 0 ? 'application/json' : 'text/plain', 'idempotency-key': crypto.randomUUID() },
        body: '{',
      });
    const answers: Response[] = [];
    for (let index = 0; index < policy.points; index += 1) answers.push(await broken(index));
    expect(answers.map((response) => response.status)).toEqual(Array.from({ length: policy.points }, (_, index) => (index % 2 === 0 ? 400 : 415)));
    // Each request counted exactly once, per IP and per route.
    expect(answers.map((response) => items(response.headers.get('ratelimit'))['money-ip']?.r)).toEqual(
      Array.from({ length: policy.points }, (_, index) => policy.points - 1 - index),
    );
    expect(answers.every((response) => response.headers.get('ratelimit-policy') === '"ip";q=1200;w=60, "money-ip";q=30;w=60')).toBe(true);
    const refused = await broken(0);
    expect(refused.status).toBe(429);
    expect(await readJson(refused)).toMatchObject({ success: false, error: 'TOO_MANY_REQUESTS' });
    expect(refused.headers.get('retry-after')).toBeTruthy();
  });

  describe('per user', () => {
    let reporter: TestAccount;
    let other: TestAccount;
    beforeAll(async () => {
      [reporter, other] = await Promise.all([signUp(t, 'rl-reporter'), signUp(t, 'rl-reported')]);
    });

    test('behind one address (carrier NAT): browsing is not search-limited; a search is, per account once signed in', async () => {
      const policy = ratePolicy('search');
      const ip = randomIp();
      // The browse list, well past the search limit: only the every-request policy counts it.
      const browsing = await Promise.all(Array.from({ length: policy.points + 10 }, () => from(ip, '/bounties?category=design')));
      expect(new Set(browsing.map((response) => response.status))).toEqual(new Set([200]));
      expect(new Set(browsing.map((response) => response.headers.get('ratelimit-policy')))).toEqual(new Set(['"ip";q=1200;w=60']));

      // Anonymous full-text searches from the address share its bucket.
      const search = (init: RequestInit = {}) => from(ip, '/search/bounties?q=logo', init);
      const searches = await Promise.all(Array.from({ length: policy.points }, () => search()));
      expect(new Set(searches.map((response) => response.status))).toEqual(new Set([200]));
      expect(searches[0]?.headers.get('ratelimit-policy')).toBe('"ip";q=1200;w=60, "search";q=120;w=60');
      const refused = await from(ip, '/bounties?q=logo');
      expect(refused.status).toBe(429);
      expect(await readJson(refused)).toMatchObject({ error: 'TOO_MANY_REQUESTS' });
      expect(items(refused.headers.get('ratelimit')).search).toEqual({ r: 0, t: Number(refused.headers.get('retry-after')) });

      // A signed-in neighbour on the same address searches on their own account's bucket.
      const signedIn = await search({ headers: { cookie: reporter.jar.header() } });
      expect(signedIn.status).toBe(200);
      expect(items(signedIn.headers.get('ratelimit')).search?.r).toBe(policy.points - 1);
    });

    test('reports are counted per account, from whatever address they come', async () => {
      const policy = ratePolicy('reports-user');
      const report = (account: TestAccount) =>
        from(randomIp(), '/reports', {
          method: 'POST',
          headers: { 'content-type': 'application/json', cookie: account.jar.header() },
          body: JSON.stringify({ targetType: 'user', targetId: other.id, reason: 'spam', text: 'Sends the same link to everyone' }),
        });
      const statuses: number[] = [];
      for (let index = 0; index < policy.points; index += 1) statuses.push((await report(reporter)).status);
      // The first is filed, the others are duplicates: each was an attempt all the same.
      expect(statuses).toEqual([201, ...Array<number>(policy.points - 1).fill(409)]);
      const refused = await report(reporter);
      expect(refused.status).toBe(429);
      expect(await readJson(refused)).toMatchObject({ error: 'TOO_MANY_REQUESTS' });
      expect(items(refused.headers.get('ratelimit'))['reports-user']).toEqual({ r: 0, t: Number(refused.headers.get('retry-after')) });
      expect(items(refused.headers.get('ratelimit-policy'))['reports-user']).toEqual({ q: 10, w: 3600 });
      // Another account is not affected.
      expect((await report(other)).status).toBe(422);
    });
  });
});

describe.skipIf(!hasCluster)('X-Forwarded-For from an address that is not a trusted proxy', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ RATE_LIMITS_ENABLED: 'true' });
    // The loopback client's money bucket may hold a previous run's attempts (the table outlives runs).
    await t.database.primary.delete(rateLimits).where(like(rateLimits.key, 'money-ip:127.0.0.1'));
  });
  afterAll(() => t.close());

  test('is ignored: rotating it does not escape the limit', async () => {
    const base = t.listen().url.origin;
    const policy = ratePolicy('money-ip');
    const deposit = () =>
      fetch(`${base}/wallet/deposits`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': randomIp(), [CLIENT_IP_HEADER]: randomIp() }, body: '{}' });
    const statuses = await Promise.all(Array.from({ length: policy.points + 1 }, deposit));
    expect(statuses.filter((response) => response.status === 429)).toHaveLength(1);
  });
});

describe.skipIf(!hasCluster)('one store per instance', () => {
  test("Better-Auth's limiter and the service's count in the same store: one fallback state, one warning", async () => {
    // Regression: createAuth built a second store with the same arguments: two sweeps, two
    // fallback windows, and an outage warned twice.
    const logs = captureLogs('info');
    // A store whose every statement fails (the client never connects: `run` refuses first).
    const client = postgres(`postgres://postgres@127.0.0.1:${await freePort()}/nowhere`, { max: 1 });
    const store = new RateLimitStore({ db: drizzle(client, { schema }), run: () => Promise.reject(new Error('primary unreachable')), logger: logs.logger });
    const t = await startTestApp({ RATE_LIMITS_ENABLED: 'true' }, { rateLimitStore: store });
    try {
      const ip = randomIp();
      const email = uniqueEmail('rl-one-store');
      // Better-Auth's endpoint finds the store down: its sign-in limit is counted in that store's memory.
      const statuses: number[] = [];
      for (let index = 0; index < 4; index += 1) {
        const response = await t.request('/api/auth/sign-in/email', { method: 'POST', json: { email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: ip } });
        statuses.push(response.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
      // The service's limiter is already falling back in the same store: no second warning.
      expect((await t.request('/realtime/protocol', { headers: { [CLIENT_IP_HEADER]: ip } })).status).toBe(200);
      expect(logs.lines.map((line) => line.msg)).toEqual([`rate-limit store failed: counting in this instance's memory for ${FALLBACK_MS / 1000} s at a time`]);
    } finally {
      await t.close();
      await client.end({ timeout: 0 });
    }
  });
});

describe.skipIf(!hasCluster)('the sign-in limit across two instances', () => {
  let a: TestApp;
  let b: TestApp;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApp({ RATE_LIMITS_ENABLED: 'true' }), startTestApp({ RATE_LIMITS_ENABLED: 'true' })]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  test('holds in total, not per instance', async () => {
    const policy = ratePolicy('sign-in');
    const before = await rejections('sign-in');
    const ip = randomIp();
    const email = uniqueEmail('rl-nobody');
    const attempt = (t: TestApp) =>
      t.request('/auth/login', { method: 'POST', json: { email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: ip } });
    const statuses: number[] = [];
    // Alternating instances, as a load balancer would send them.
    for (let index = 0; index < policy.points; index += 1) statuses.push((await attempt(index % 2 === 0 ? a : b)).status);
    expect(statuses).toEqual(Array<number>(policy.points).fill(401));
    for (const t of [a, b]) {
      const refused = await attempt(t);
      expect(refused.status).toBe(429);
      expect(await readJson(refused)).toMatchObject({ error: 'TOO_MANY_REQUESTS' });
      expect(refused.headers.get('ratelimit-policy')).toBe('"sign-in";q=3;w=10');
      expect(items(refused.headers.get('ratelimit'))['sign-in']).toEqual({ r: 0, t: Number(refused.headers.get('retry-after')) });
    }
    // Better-Auth's own endpoint shares the bucket, on either instance.
    const direct = await b.request('/api/auth/sign-in/email', { method: 'POST', json: { email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: ip } });
    expect(direct.status).toBe(429);
    expect(await rejections('sign-in')).toBe(before + 3);
  });
});
