/**
 * GET /metrics (issue 13): request latency per route template (never a raw path), requests
 * answered early counted too and in-flight back to the scrape alone; this app's pools, replicas,
 * job backlogs and dead letters; WebSocket and webhook counters moving when those things happen;
 * METRICS_TOKEN as a bearer token (401 in our format without it).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import Stripe from 'stripe';
import { z } from 'zod';
import { CLIENT_IP_HEADER } from '../src/lib/auth';
import { presentsToken } from '../src/lib/bearer';
import { defineJob, JobQueue } from '../src/jobs';
import { createLogger } from '../src/lib/logger';
import { signUp } from './support/accounts';
import { hasCluster, randomIp, startTestApp, TEST_WEBHOOK_SECRET, type TestApp } from './support/harness';
import { at, readJson } from './support/json';
import { connectSocket } from './support/sockets';
import { waitFor } from './support/wait';

type Sample = { labels: Record<string, string>; value: number };

/** Every sample of `name` in a Prometheus text exposition. */
function samples(text: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labels: Record<string, string> = {};
    const open = line.indexOf('{');
    if (open === name.length) {
      for (const match of line.slice(open + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[match[1] ?? ''] = match[2] ?? '';
    }
    found.push({ labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) });
  }
  return found;
}

/** The one sample of `name` whose labels include `wanted`; null when there is none. */
function value(text: string, name: string, wanted: Record<string, string> = {}): number | null {
  const matching = samples(text, name).filter((sample) => Object.entries(wanted).every(([key, expected]) => sample.labels[key] === expected));
  if (matching.length > 1) throw new Error(`${name} ${JSON.stringify(wanted)} matches ${matching.length} series`);
  return matching[0]?.value ?? null;
}

describe.skipIf(!hasCluster)('GET /metrics', () => {
  let t: TestApp;
  const scrape = async (): Promise<string> => {
    const response = await t.request('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toStartWith('text/plain; version=0.0.4');
    return response.text();
  };

  beforeAll(async () => {
    t = await startTestApp({}, { work: true });
  });
  afterAll(() => t.close());

  test('latency is recorded per route template and status class, early answers included, and in-flight drifts nowhere', async () => {
    const id = crypto.randomUUID();
    const count = (text: string, method: string, route: string, statusClass: string) =>
      value(text, 'http_request_duration_seconds_count', { method, route, status_class: statusClass }) ?? 0;
    const before = await scrape();

    expect((await t.request(`/posts/${id}`)).status).toBe(404);
    expect((await t.request(`/posts/${id}`)).status).toBe(404);
    expect((await t.request(`/no/such/path/${id}`, { skipContract: true })).status).toBe(404);
    // A preflight is answered by the CORS plugin's onRequest, before routing and its hooks.
    const preflight = await t.request('/posts', {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST' },
      skipContract: true,
    });
    expect(preflight.status).toBe(204);
    // Better-Auth answers with a raw Response of its own.
    const signIn = await t.request('/api/auth/sign-in/email', {
      method: 'POST',
      json: { email: `nobody-${id}@example.com`, password: 'not the password at all' },
      headers: { [CLIENT_IP_HEADER]: randomIp() },
      skipContract: true,
    });
    expect(signIn.status).toBe(401);
    // A malformed body is refused by the parser (400) before the route's handler.
    const malformed = await t.request('/posts', { method: 'POST', body: '{"title":', headers: { 'content-type': 'application/json' }, skipContract: true });
    expect(malformed.status).toBe(400);

    const after = await scrape();
    expect(count(after, 'GET', '/posts/:id', '4xx') - count(before, 'GET', '/posts/:id', '4xx')).toBe(2);
    expect(count(after, 'GET', 'unmatched', '4xx') - count(before, 'GET', 'unmatched', '4xx')).toBe(1);
    expect(count(after, 'OPTIONS', 'unmatched', '2xx') - count(before, 'OPTIONS', 'unmatched', '2xx')).toBe(1);
    expect(count(after, 'POST', '/posts', '4xx') - count(before, 'POST', '/posts', '4xx')).toBe(1);
    // Better-Auth's endpoints share its mount's template (other test files may have added other routes' series).
    expect(count(after, 'POST', '/api/auth/*', '4xx') - count(before, 'POST', '/api/auth/*', '4xx')).toBe(1);
    // The scrape before this one is counted, as a 2xx of the metrics route.
    expect(count(after, 'GET', '/metrics', '2xx')).toBeGreaterThanOrEqual(1);
    // A histogram: buckets up to +Inf for each series.
    expect(value(after, 'http_request_duration_seconds_bucket', { method: 'GET', route: '/posts/:id', status_class: '4xx', le: '+Inf' })).toBe(count(after, 'GET', '/posts/:id', '4xx'));

    // Routes are templates: no id, and no raw path, ever becomes a label.
    expect(after).not.toContain(id);
    for (const sample of samples(after, 'http_request_duration_seconds_count')) {
      expect(sample.labels.route === 'unmatched' || sample.labels.route?.startsWith('/')).toBe(true);
      expect(sample.labels.route).not.toContain('/no/such');
    }
    // Every request above has left: only the scrape that reads this is in flight.
    expect(value(after, 'http_requests_in_flight')).toBe(1);
  });

  test('a request refused before the app (oversized headers, 431) is counted too, unrouted', async () => {
    const server = t.listen();
    const count = (text: string) => value(text, 'http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status_class: '4xx' }) ?? 0;
    const before = await scrape();
    const refused = await fetch(`${server.url.origin}/health`, { headers: { 'x-padding': 'p'.repeat(13_000) } });
    expect(refused.status).toBe(431);
    expect(count(await scrape()) - count(before)).toBe(1);
  });

  test("this app's pools, replicas, job backlogs and the process metrics", async () => {
    const before = await scrape();
    const { poolMax } = t.config.database;
    expect(value(before, 'db_pool_size', { pool: 'primary' })).toBe(poolMax);
    expect(value(before, 'db_pool_size', { pool: 'replica1' })).toBe(poolMax);
    expect(value(before, 'db_pool_waiting', { pool: 'primary' })).toBe(0);
    expect(value(before, 'db_pool_in_use', { pool: 'primary' })).toBeGreaterThanOrEqual(0);
    expect(value(before, 'db_replica_state', { replica: 'replica1', state: 'healthy' })).toBe(1);
    expect(value(before, 'db_replica_state', { replica: 'replica1', state: 'down' })).toBe(0);
    expect(value(before, 'db_replica_lag_seconds', { replica: 'replica1' })).toBeGreaterThanOrEqual(0);
    expect(value(before, 'db_replica_lag_bytes', { replica: 'replica1' })).toBeGreaterThanOrEqual(0);
    // The old millisecond gauge moved to seconds.
    expect(samples(before, 'db_replica_lag_ms')).toEqual([]);
    expect(value(before, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);

    // A job scheduled an hour ahead waits in its queue.
    const queued = (text: string) => value(text, 'jobs_queued', { queue: 'idempotency.cleanup' });
    expect(queued(before)).not.toBeNull();
    expect(await t.jobs.send('idempotency.cleanup', {}, { startAfter: 3_600 })).not.toBeNull();
    expect(queued(await scrape())).toBe((queued(before) ?? 0) + 1);
    expect(value(before, 'jobs_dead_letters', { queue: 'payouts.execute' })).toBe(0);
  });

  test('a job that fails for good counts as a failure and as a dead letter of its queue', async () => {
    const before = await scrape();
    // An older producer enqueued a payload this version's payout job refuses: it fails at once, into its dead letters.
    const legacy = JobQueue.create({ database: t.database, logger: createLogger({ level: 'silent' }), schema: t.jobsSchema });
    legacy.define(defineJob({ name: 'payouts.execute', payload: z.object({ legacy: z.boolean() }), retryLimit: 0, retryDelaySeconds: 0, retryBackoff: false, expireInSeconds: 10 }));
    expect(await legacy.send('payouts.execute', { legacy: true })).not.toBeNull();
    await legacy.stop({ timeoutMs: 1_000 });

    const after = await waitFor('the dead letter in /metrics', async () => {
      const text = await scrape();
      return value(text, 'jobs_dead_letters', { queue: 'payouts.execute' }) === 1 ? text : null;
    }, 15_000);
    const failures = (text: string) => value(text, 'job_failures_total', { queue: 'payouts.execute' }) ?? 0;
    expect(failures(after) - failures(before)).toBe(1);
  });

  test('WebSocket connections and frames in both directions', async () => {
    const server = t.listen();
    const account = await signUp(t, 'metrics-socket');
    const before = await scrape();
    const connections = (text: string) => value(text, 'ws_connections') ?? 0;
    const frames = (text: string, direction: string) => value(text, 'ws_messages_total', { direction }) ?? 0;

    const socket = await connectSocket(server.url.origin, { cookie: account.jar.header() });
    await socket.waitFor('ready', (frame) => frame.type === 'ready');
    socket.send({ type: 'ping' });
    await socket.waitFor('pong', (frame) => frame.type === 'pong');
    const open = await scrape();
    expect(connections(open) - connections(before)).toBe(1);
    expect(frames(open, 'in') - frames(before, 'in')).toBe(1);
    // ready and pong.
    expect(frames(open, 'out') - frames(before, 'out')).toBe(2);

    socket.close();
    await socket.closed();
    await waitFor('the socket to leave ws_connections', async () => connections(await scrape()) === connections(before));
  });

  test('Stripe webhook deliveries by outcome', async () => {
    const outcome = async (name: string) => value(await scrape(), 'stripe_webhook_events_total', { outcome: name }) ?? 0;
    const [rejected, ignored, duplicate] = [await outcome('rejected'), await outcome('ignored'), await outcome('duplicate')];
    const payload = JSON.stringify({
      id: `evt_metrics_${crypto.randomUUID().replaceAll('-', '')}`,
      object: 'event',
      api_version: Stripe.API_VERSION,
      created: Math.floor(Date.now() / 1000),
      data: { object: { id: 'cus_metrics', object: 'customer' } },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type: 'customer.created',
    });
    const deliver = async (signature: string) =>
      t.request('/webhooks/stripe', { method: 'POST', body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': signature } });

    expect((await deliver('t=1,v1=forged')).status).toBe(400);
    const signature = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret: TEST_WEBHOOK_SECRET });
    expect(at(await readJson(await deliver(signature)), 'data', 'outcome')).toBe('ignored');
    expect(at(await readJson(await deliver(signature)), 'data', 'outcome')).toBe('duplicate');
    expect([await outcome('rejected'), await outcome('ignored'), await outcome('duplicate')]).toEqual([rejected + 1, ignored + 1, duplicate + 1]);
    // The route reads its own body (parse: 'none') and renders its own refusals: still its template.
    expect(value(await scrape(), 'http_request_duration_seconds_count', { method: 'POST', route: '/webhooks/stripe', status_class: '4xx' })).toBeGreaterThanOrEqual(1);
  });
});

describe.skipIf(!hasCluster)('GET /metrics with METRICS_TOKEN', () => {
  const token = 'metrics-token-for-the-suite-0123456789';
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ METRICS_TOKEN: token });
  });
  afterAll(() => t.close());

  test('refuses without the bearer token (401 in our format) and answers with it', async () => {
    for (const authorization of [undefined, `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, token, `Basic ${token}`]) {
      const refused = await t.request('/metrics', { headers: authorization ? { authorization } : {} });
      expect([authorization, refused.status]).toEqual([authorization, 401]);
      expect(refused.headers.get('www-authenticate')).toStartWith('Bearer');
      const body = await readJson(refused);
      expect([at(body, 'success'), at(body, 'error')]).toEqual([false, 'METRICS_TOKEN_REQUIRED']);
    }
    const allowed = await t.request('/metrics', { headers: { authorization: `Bearer ${token}` } });
    expect(allowed.status).toBe(200);
    expect(await allowed.text()).toContain('db_pool_size{pool="primary"}');
  });

  test('the API document names the bearer scheme, and it is required when a token is set', async () => {
    const doc = await readJson(await t.request('/swagger/json'));
    expect(at(doc, 'components', 'securitySchemes', 'metricsToken')).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(at(doc, 'paths', '/metrics', 'get', 'security')).toEqual([{ metricsToken: [] }]);
  });

  test('in production without a token nobody gets in; outside production it is open until one is set', () => {
    expect(presentsToken({ token: undefined, openWithoutToken: false }, `Bearer ${token}`)).toBe(false);
    expect(presentsToken({ token: undefined, openWithoutToken: false }, null)).toBe(false);
    expect(presentsToken({ token: undefined, openWithoutToken: true }, null)).toBe(true);
    expect(presentsToken({ token, openWithoutToken: true }, null)).toBe(false);
    expect(presentsToken({ token, openWithoutToken: false }, `Bearer ${token}`)).toBe(true);
  });
});
