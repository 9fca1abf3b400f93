/**
 * The one error format, { success: false, message, error, details? }, for every refusal the
 * foundation owns: 400 malformed JSON, 404, 413, 415, 422, and 500 without internals in production.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { Elysia } from 'elysia';
import { z } from 'zod';
import { createAuth } from '../src/lib/auth';
import { createLogger } from '../src/lib/logger';
import { errorHandler } from '../src/plugins/error-handler';
import { startTestApp, type TestApp } from './support/harness';
import { captureLogs, LOG_LEVELS } from './support/logs';

const BODY_LIMIT = 4096;

/** The real error plugin in front of one validated route and one route that crashes. */
function probeApp(isProduction: boolean) {
  return new Elysia()
    .use(errorHandler({ logger: createLogger({ level: 'silent' }), isProduction, bodyLimitBytes: BODY_LIMIT, unparsedRoutes: new Elysia() }))
    .post('/echo', ({ body }) => ({ success: true, data: body }), {
      body: z.object({ title: z.string().trim().min(1).max(20), count: z.number().int().min(0) }),
    })
    .get('/crash', () => {
      throw new Error('password=hunter2 at db.internal:5432');
    })
    // A CHECK violation as the driver reports it (wrapped like drizzle wraps it), by constraint.
    .get('/check/:constraint', ({ params }) => {
      throw new Error('Failed query', { cause: Object.assign(new Error('check violation'), { code: '23514', constraint_name: params.constraint }) });
    });
}

const post = (app: ReturnType<typeof probeApp>, body: string | ReadableStream<Uint8Array>, contentType = 'application/json') =>
  app.handle(new Request('http://localhost/echo', { method: 'POST', headers: { 'content-type': contentType }, body }));

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as Record<string, unknown>;
  expect(body.success).toBe(false);
  expect(body.error).toBe(code);
  expect(typeof body.message).toBe('string');
  return body;
}

describe('error format', () => {
  const app = probeApp(false);

  test('malformed JSON is 400 MALFORMED_JSON', async () => {
    await expectError(await post(app, '{"title": '), 400, 'MALFORMED_JSON');
  });

  test('deeply nested JSON is 400, not a stack overflow 500', async () => {
    // Regression: '['.repeat(200_000) parsed, then Elysia's validation error overflowed the stack.
    const deep = `${'['.repeat(2_000)}${']'.repeat(2_000)}`;
    await expectError(await post(app, deep), 400, 'JSON_TOO_DEEP');
    // Brackets inside strings are text, not nesting (the extra field is stripped by the schema).
    const inString = JSON.stringify({ title: 'brackets', count: 1, note: `${'['.repeat(100)}\\"${'{'.repeat(100)}` });
    expect((await post(app, inString)).status).toBe(200);
  });

  test('a body over the limit is 413, before it is parsed', async () => {
    await expectError(await post(app, JSON.stringify({ title: 'x'.repeat(BODY_LIMIT * 2), count: 1 })), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('a chunked body over the limit (no content-length) is 413 too', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(1024));
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 8; i += 1) controller.enqueue(chunk);
        controller.close();
      },
    });
    await expectError(await post(app, stream), 413, 'PAYLOAD_TOO_LARGE');
  });

  test('a non-JSON content type is 415', async () => {
    await expectError(await post(app, 'title=x', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  test('a schema violation is 422 with field paths in details', async () => {
    const body = await expectError(await post(app, JSON.stringify({ title: '', count: -1 })), 422, 'VALIDATION_ERROR');
    const paths = (body.details as Array<{ path: string }>).map((detail) => detail.path).sort();
    expect(paths).toEqual(['count', 'title']);
  });

  test('an unexpected error is 500 and, in production, says nothing about internals', async () => {
    const response = await probeApp(true).handle(new Request('http://localhost/crash'));
    const body = await expectError(response, 500, 'INTERNAL_SERVER_ERROR');
    expect(JSON.stringify(body)).not.toContain('hunter2');
    expect(JSON.stringify(body)).not.toContain('db.internal');
  });
});

describe('constraint violations', () => {
  test("a CHECK the client's input broke is 422 INVALID_VALUE; one of the ledger's (our bug, money's safety net) is a 500", async () => {
    await expectError(await probeApp(true).handle(new Request('http://localhost/check/users_role_check')), 422, 'INVALID_VALUE');
    await expectError(await probeApp(true).handle(new Request('http://localhost/check/ledger_accounts_non_negative')), 500, 'INTERNAL_SERVER_ERROR');
  });
});

describe('error format on the real app', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  test('an unknown path is 404 NOT_FOUND in our format, with a request id', async () => {
    const response = await t.request('/no/such/route');
    await expectError(response, 404, 'NOT_FOUND');
    expect(response.headers.get('x-request-id')).toBeTruthy();
  });

  test('a client request id is echoed back', async () => {
    const response = await t.request('/health', { headers: { 'x-request-id': 'client-abc-123' } });
    expect(response.headers.get('x-request-id')).toBe('client-abc-123');
  });
});

describe("Better-Auth's own endpoints when Better-Auth itself fails", () => {
  test('a crash inside /api/auth/* is a generic 500 in our format, never the raw message', async () => {
    // Regression: that route sits before the error handler, so a thrown Error reached Elysia's
    // default handler and its message (internals) went to the client as plain text.
    const t = await startTestApp(
      {},
      {
        auth: (options) => {
          const auth = createAuth(options);
          auth.handler = async () => {
            throw new Error('boom: password=hunter2 at db.internal:5432');
          };
          return auth;
        },
      },
    );
    try {
      const response = await t.request('/api/auth/get-session');
      const body = await expectError(response, 500, 'INTERNAL_SERVER_ERROR');
      expect(JSON.stringify(body)).not.toContain('hunter2');
    } finally {
      await t.close();
    }
  });
});

// Regression (issue 8): a response that failed its own schema was answered 422 VALIDATION_ERROR
// "Invalid response", blaming the client for a server bug.
describe('a response that breaks its own schema', () => {
  const appWith = (isProduction: boolean) => {
    const logs = captureLogs('info');
    const app = new Elysia()
      .use(errorHandler({ logger: logs.logger, isProduction, bodyLimitBytes: BODY_LIMIT, unparsedRoutes: new Elysia() }))
      .get('/broken', () => ({ count: 'not a number' }) as unknown as { count: number }, { response: { 200: z.object({ count: z.number() }) } });
    return { app, logs };
  };

  test('is a 500 with an error log naming the route; production hides the message', async () => {
    for (const isProduction of [false, true]) {
      const { app, logs } = appWith(isProduction);
      const body = await expectError(await app.handle(new Request('http://localhost/broken')), 500, 'INTERNAL_SERVER_ERROR');
      if (isProduction) expect(body.message).toBe('Internal server error');
      const errors = logs.lines.filter((line) => line.level === LOG_LEVELS.error);
      expect(errors.map((line) => [line.msg, line.route])).toEqual([['response does not match its schema', 'GET /broken']]);
    }
  });
});
