/**
 * Tracing (src/lib/telemetry.ts) with an in-memory exporter on the real cluster: a request's root
 * span continues an incoming traceparent and its statements, Stripe calls and the job it enqueued
 * join its trace; a WebSocket fan-out is a span; every log line of a request carries its trace id;
 * and no span carries a password, a cookie, the session token, an authorization header or the
 * Stripe key. Then tracing off: nothing recorded, the log line as before.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Server } from 'bun';
import { LOCAL_STRIPE_SECRET_KEY } from '../src/config/env';
import { appendUserEvents } from '../src/modules/realtime/stream';
import { PAYOUT_JOB } from '../src/modules/wallet/jobs';
import { stripePathTemplate } from '../src/lib/stripe';
import { otlpTracesUrl, startTracing, stopTracing, tracingActive } from '../src/lib/telemetry';
import { uniqueEmail, type TestAccount } from './support/accounts';
import { CookieJar } from './support/cookies';
import { hasCluster, startTestApp, TEST_AUTH_SECRET, TEST_WEBHOOK_SECRET, type TestApp } from './support/harness';
import { captureLogs, type LogLine } from './support/logs';
import { moneyPost, onboard, settleWebhooks, withCookie } from './support/money';
import { connectSocket } from './support/sockets';
import { waitFor } from './support/wait';

/** Keeps what it was given after the provider shut down, so the tracing-off test can count. */
class KeptSpans extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const hex = (bytes: number): string => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
/** A caller's trace: the ids our root span must continue. */
const incomingTrace = () => {
  const traceId = hex(16);
  const parentId = hex(8);
  return { traceId, parentId, header: `00-${traceId}-${parentId}-01` };
};

/** A password nobody else uses: found anywhere in a span, it leaked. */
const PASSWORD = `tr4ce-${hex(12)}`;

/** A test request's init with the caller's traceparent added. */
const withTrace = (init: ReturnType<typeof moneyPost>, traceparent: string) => ({ ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), traceparent } });

const inTrace = (spans: ReadableSpan[], traceId: string) => spans.filter((span) => span.spanContext().traceId === traceId);
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

/** Whether `span` is `ancestor` or below it. */
function descendsFrom(spans: ReadableSpan[], span: ReadableSpan, ancestor: ReadableSpan): boolean {
  const byId = new Map(spans.map((each) => [each.spanContext().spanId, each]));
  for (let current: ReadableSpan | undefined = span; current; current = byId.get(parentOf(current) ?? '')) {
    if (current.spanContext().spanId === ancestor.spanContext().spanId) return true;
  }
  return false;
}

/** Everything a span holds as text: name, attributes (keys and values), events, links, status. */
function spanText(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
    links: span.links.map((link) => link.attributes ?? {}),
    status: span.status,
  });
}

describe.skipIf(!hasCluster)('tracing on (in-memory exporter)', () => {
  const exporter = new KeptSpans();
  const logs = captureLogs('info');
  let t: TestApp;
  let server: Server<unknown>;
  let account: TestAccount;
  const spans = () => exporter.getFinishedSpans();
  const requestLine = (requestId: string | null): LogLine | undefined => logs.lines.find((line) => line.msg === 'request' && line.requestId === requestId);

  beforeAll(async () => {
    // Before the app: pg-boss's telemetry is decided when its queue is built, as in src/server.ts.
    await startTracing({ serviceName: 'bountyexpo-test', serviceVersion: '0.0.0-test', exporter });
    t = await startTestApp({}, { logger: logs.logger, work: true });
    server = t.listen();
  });
  afterAll(async () => {
    await t.close();
    await stopTracing();
  });

  test('a request continues the incoming traceparent: a SERVER root span named by its route, its statements under it, its log line with the trace id', async () => {
    const caller = incomingTrace();
    const email = uniqueEmail('traced');
    const jar = new CookieJar();
    // Through the listening server, as production serves it (src/serve.ts).
    const response = jar.store(
      await fetch(new URL('/auth/signup', server.url), {
        method: 'POST',
        headers: { 'content-type': 'application/json', traceparent: caller.header },
        body: JSON.stringify({ email, password: PASSWORD, name: 'Traced' }),
      }),
    );
    expect(response.status).toBe(201);
    const { data } = (await response.json()) as { data: { id: string } };
    account = { id: data.id, email, name: 'Traced', password: PASSWORD, jar };
    const requestId = response.headers.get('x-request-id');

    const root = await waitFor('the sign-up root span', () => inTrace(spans(), caller.traceId).find((span) => span.kind === SpanKind.SERVER));
    expect(parentOf(root)).toBe(caller.parentId);
    expect(root.name).toBe('POST /auth/signup');
    expect(root.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/auth/signup',
      'http.response.status_code': 201,
      'url.scheme': 'http',
      'bountyexpo.request_id': requestId,
    });
    const traced = inTrace(spans(), caller.traceId);
    const statements = traced.filter((span) => span.attributes['db.system.name'] === 'postgresql');
    expect(statements.map((span) => span.attributes['db.operation.name'])).toContain('INSERT');
    for (const statement of statements) {
      expect(statement.kind).toBe(SpanKind.CLIENT);
      expect(descendsFrom(traced, statement, root)).toBe(true);
      expect(['primary', 'primary-auth', 'replica1']).toContain(String(statement.attributes['bountyexpo.db.target']));
      // The kind only: never the statement's text or its values.
      expect(Object.keys(statement.attributes).sort()).toEqual(['bountyexpo.db.target', 'db.operation.name', 'db.system.name']);
    }

    // Better-Auth traces itself through the global API: its spans land in the request's trace.
    const betterAuth = traced.find((span) => span.instrumentationScope.name === 'better-auth' && span.name === 'handler /sign-up/email');
    expect(betterAuth && descendsFrom(traced, betterAuth, root)).toBe(true);
    // The per-request line is written after the response, still in the request's context.
    const line = await waitFor('the request log line', () => requestLine(requestId));
    expect(line).toMatchObject({ trace_id: caller.traceId, span_id: root.spanContext().spanId, route: '/auth/signup', status: 201 });

    // Signing in again (the password once more inside a traced request) for the scan below.
    const again = incomingTrace();
    const login = await fetch(new URL('/auth/login', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent: again.header },
      body: JSON.stringify({ email, password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    jar.store(login);
    await waitFor('the sign-in root span', () => inTrace(spans(), again.traceId).find((span) => span.kind === SpanKind.SERVER));
  });

  test('requests answered before routing end their spans too: a CORS preflight (onRequest) and a refusal in front of the app (431)', async () => {
    const preflight = incomingTrace();
    const answered = await fetch(new URL('/wallet/deposits', server.url), {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', traceparent: preflight.header },
    });
    expect(answered.status).toBe(204);
    const refused = incomingTrace();
    const tooLarge = await fetch(new URL('/health', server.url), { headers: { 'x-filler': 'x'.repeat(13 * 1024), traceparent: refused.header } });
    expect(tooLarge.status).toBe(431);
    const [preflightSpan] = inTrace(spans(), preflight.traceId);
    expect(preflightSpan).toMatchObject({ kind: SpanKind.SERVER, name: 'OPTIONS', attributes: { 'http.response.status_code': 204 } });
    const [refusedSpan] = inTrace(spans(), refused.traceId);
    expect(refusedSpan).toMatchObject({ kind: SpanKind.SERVER, name: 'GET', attributes: { 'http.response.status_code': 431, 'bountyexpo.request_id': tooLarge.headers.get('x-request-id') } });
    // The refusal's log line (src/serve.ts) is in its trace as well.
    expect(logs.lines.find((line) => line.msg === 'request' && line.status === 431)?.trace_id).toBe(refused.traceId);
  });

  test('a deposit: its Stripe call is a CLIENT span in the request trace, by path template, with the status Stripe answered', async () => {
    const caller = incomingTrace();
    const response = account.jar.store(
      await t.request('/wallet/deposits', withTrace(moneyPost(account, { amount: { amount: 5_000, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_visa' }), caller.header)),
    );
    expect(response.status).toBe(201);
    await settleWebhooks(t);
    const traced = inTrace(spans(), caller.traceId);
    const root = traced.find((span) => span.kind === SpanKind.SERVER);
    expect(root?.name).toBe('POST /wallet/deposits');
    const stripeCalls = traced.filter((span) => span.name.startsWith('stripe '));
    expect(stripeCalls.length).toBeGreaterThan(0);
    const created = stripeCalls.find((span) => span.attributes['url.template'] === '/v1/payment_intents');
    expect(created).toMatchObject({ kind: SpanKind.CLIENT, name: 'stripe POST /v1/payment_intents' });
    expect(created?.attributes['http.response.status_code']).toBe(200);
    if (root && created) expect(descendsFrom(traced, created, root)).toBe(true);
    // The ledger posting is a transaction: its statements are its children.
    const transaction = traced.find((span) => span.name === 'transaction');
    expect(transaction?.attributes).toMatchObject({ 'db.operation.name': 'transaction', 'bountyexpo.db.target': 'primary' });
    if (transaction) expect(traced.some((span) => parentOf(span) === transaction.spanContext().spanId && span.attributes['db.system.name'] === 'postgresql')).toBe(true);
  });

  test("a withdrawal's payout job continues the request's trace: pg-boss's send and process spans, our job span, the job's Stripe transfer under it", async () => {
    await onboard(t, account);
    const caller = incomingTrace();
    const response = await t.request('/wallet/withdrawals', withTrace(moneyPost(account, { amount: { amount: 2_000, currency: 'usd' } }), caller.header));
    expect(response.status).toBe(201);
    const job = await waitFor('the payout job span', () =>
      inTrace(spans(), caller.traceId).find((span) => span.name === `job ${PAYOUT_JOB}` && span.attributes['bountyexpo.job.outcome'] === 'completed'),
    );
    const traced = inTrace(spans(), caller.traceId);
    const root = traced.find((span) => span.kind === SpanKind.SERVER);
    const sent = traced.find((span) => span.kind === SpanKind.PRODUCER && span.name === `send ${PAYOUT_JOB}`);
    const processed = traced.find((span) => span.name === `process ${PAYOUT_JOB}`);
    expect(root && sent && descendsFrom(traced, sent, root)).toBe(true);
    expect(processed?.kind).toBe(SpanKind.CONSUMER);
    expect(parentOf(job)).toBe(processed?.spanContext().spanId);
    expect(job).toMatchObject({ kind: SpanKind.CONSUMER, attributes: { 'messaging.destination.name': PAYOUT_JOB } });
    const transfer = traced.find((span) => span.name === 'stripe POST /v1/transfers');
    expect(transfer && descendsFrom(traced, transfer, job)).toBe(true);
    await settleWebhooks(t);
  });

  test('a fan-out of events to local sockets is a span of its own trace, with the events and sockets it reached', async () => {
    const socket = await connectSocket(server.url.href, { cookie: account.jar.header() });
    try {
      await socket.waitFor('ready', (frame) => frame.type === 'ready');
      await t.database.primary.transaction((tx) =>
        appendUserEvents(tx, new Date(), [
          { userId: account.id, type: 'message.created', data: { n: 1 } },
          { userId: account.id, type: 'message.created', data: { n: 2 } },
        ]),
      );
      await socket.waitFor('the events', (frame) => frame.type === 'event' && (frame.data as { n?: number }).n === 2);
      const fanOut = await waitFor('the fan-out span', () =>
        spans().find((span) => span.name === 'realtime fan-out' && span.attributes['bountyexpo.realtime.events'] === 2),
      );
      expect(fanOut.attributes['bountyexpo.realtime.sockets']).toBe(1);
      expect(fanOut.parentSpanContext).toBeUndefined();
      const reads = spans().filter((span) => parentOf(span) === fanOut.spanContext().spanId);
      expect(reads.map((span) => span.attributes['db.operation.name'])).toContain('SELECT');
    } finally {
      socket.close();
    }
  });

  test('no span carries the password, the email, a cookie, the session token, an authorization header or a secret', async () => {
    const all = spans();
    expect(all.length).toBeGreaterThan(20);
    const cookies = account.jar.names().map((name) => account.jar.get(name) ?? '');
    // The signed cookie's value, its token (before the signature), URL-decoded and not.
    const secrets = [
      PASSWORD,
      account.email,
      ...cookies,
      ...cookies.map((value) => decodeURIComponent(value)),
      ...cookies.map((value) => decodeURIComponent(value).split('.')[0] ?? ''),
      LOCAL_STRIPE_SECRET_KEY,
      TEST_WEBHOOK_SECRET,
      TEST_AUTH_SECRET,
    ].filter((secret) => secret.length >= 8);
    expect(secrets.length).toBeGreaterThanOrEqual(5);
    for (const span of all) {
      const text = spanText(span);
      for (const secret of secrets) expect(text).not.toContain(secret);
      expect(text.toLowerCase()).not.toContain('bearer');
      for (const key of Object.keys(span.attributes)) expect(key).not.toMatch(/header|cookie|body|query|params|password|token/i);
    }
  });

  test("an exception a library records keeps its type but loses drizzle's \"params: ...\" on the way out", () => {
    const span = trace.getTracer('a-library').startSpan('failing');
    span.recordException(new Error('Failed query: select * from session where token = $1\nparams: the-session-token-value'));
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'Failed query: select 1\nparams: the-session-token-value' });
    span.end();
    const exported = spans().find((each) => each.name === 'failing');
    if (!exported) throw new Error('the span was not exported');
    expect(exported.events[0]?.attributes?.['exception.type']).toBe('Error');
    expect(exported.status.message).toContain('params: [omitted]');
    expect(spanText(exported)).not.toContain('the-session-token-value');
  });

  test('pure helpers: the OTLP traces URL and Stripe path templates', () => {
    expect(otlpTracesUrl(new URL('http://collector:4318'))).toBe('http://collector:4318/v1/traces');
    expect(otlpTracesUrl(new URL('http://collector:4318/otlp/'))).toBe('http://collector:4318/otlp/v1/traces');
    expect(otlpTracesUrl(new URL('http://collector:4318/v1/traces'))).toBe('http://collector:4318/v1/traces');
    expect(stripePathTemplate('/v1/payment_intents/pi_3MtwBwLkdIwHu7ix28a3tqPa/confirm?expand[]=latest_charge')).toBe('/v1/payment_intents/{id}/confirm');
    expect(stripePathTemplate('/v1/accounts/acct_1Nv0FGQ9RKHgCVdK/login_links')).toBe('/v1/accounts/{id}/login_links');
    expect(stripePathTemplate('/v1/customers?email=someone%40example.com')).toBe('/v1/customers');
  });

  describe('then tracing off', () => {
    let off: TestApp;
    const offLogs = captureLogs('info');
    beforeAll(async () => {
      await stopTracing();
      off = await startTestApp({}, { logger: offLogs.logger, work: true });
    });
    afterAll(() => off.close());

    test('nothing is recorded (a traceparent, a sign-up, a Stripe call, a job), and the log line is as before, without trace ids', async () => {
      expect(tracingActive()).toBe(false);
      const before = spans().length;
      const offServer = off.listen();
      const email = uniqueEmail('untraced');
      const jar = new CookieJar();
      const response = jar.store(
        await fetch(new URL('/auth/signup', offServer.url), {
          method: 'POST',
          headers: { 'content-type': 'application/json', traceparent: incomingTrace().header },
          body: JSON.stringify({ email, password: PASSWORD, name: 'Untraced' }),
        }),
      );
      expect(response.status).toBe(201);
      const deposit = await off.request('/wallet/deposits', withCookie({ id: '', email, name: '', password: PASSWORD, jar }, {
        method: 'POST',
        json: { amount: { amount: 1_000, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_visa' },
        headers: { 'idempotency-key': crypto.randomUUID() },
      }));
      expect(deposit.status).toBe(201);
      await settleWebhooks(off);
      const line = await waitFor('the request log line', () => offLogs.lines.find((each) => each.msg === 'request' && each.requestId === response.headers.get('x-request-id')));
      expect(line).toMatchObject({ route: '/auth/signup', status: 201 });
      expect(offLogs.lines.some((each) => 'trace_id' in each || 'span_id' in each)).toBe(false);
      expect(spans().length).toBe(before);
    });
  });
});
