/** CORS (src/plugins/cors.ts): credentials only for the configured origins, preflights answered. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { captureLogs } from './support/logs';
import { waitFor } from './support/wait';
import { startTestApp, type TestApp } from './support/harness';

const TRUSTED = 'https://app.bountyexpo.test';

describe('CORS', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: TRUSTED });
  });
  afterAll(() => t.close());

  const corsHeaders = (response: Response) =>
    Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary'));

  test('a trusted origin gets its origin back with credentials and the exposed headers', async () => {
    const response = await t.request('/health', { headers: { origin: TRUSTED } });
    expect(corsHeaders(response)).toEqual({
      'access-control-allow-origin': TRUSTED,
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id, x-db-lsn, x-db-target, retry-after, ratelimit, ratelimit-policy, idempotent-replayed, etag',
      vary: 'Origin',
    });
  });

  test('another origin, or none, gets no CORS header at all (only Vary), so a browser refuses to share', async () => {
    const variants: Array<Record<string, string>> = [{ origin: 'https://evil.example' }, { origin: 'null' }, { origin: `${TRUSTED}.evil.example` }, {}];
    for (const headers of variants) {
      expect(corsHeaders(await t.request('/health', { headers }))).toEqual({ vary: 'Origin' });
    }
  });

  test('a preflight from a trusted origin is 204 with the methods and headers; from another origin, 204 without them', async () => {
    const preflight = (origin: string) =>
      t.request('/posts', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    const ok = await preflight(TRUSTED);
    expect(ok.status).toBe(204);
    expect(corsHeaders(ok)).toMatchObject({
      'access-control-allow-origin': TRUSTED,
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET, POST, PATCH, PUT, DELETE, OPTIONS',
      'access-control-max-age': '600',
    });
    expect(corsHeaders(ok)['access-control-allow-headers']).toContain('content-type');
    // A web client revalidates cached reads (src/plugins/http-cache.ts).
    expect(corsHeaders(ok)['access-control-allow-headers']).toContain('if-none-match');
    const refused = await preflight('https://evil.example');
    expect([refused.status, corsHeaders(refused)]).toEqual([204, { vary: 'Origin' }]);
  });

  // Regression (issue 13 review): a preflight is answered from onRequest, which skips Elysia's
  // after-response hook; it wrote no log line and left the unlogged count one higher each time,
  // so a graceful shutdown waited out its whole deadline for lines that never came.
  test('a preflight writes its request line, and leaves no request counted as unlogged', async () => {
    const { logger, lines } = captureLogs();
    const logged = await startTestApp({ CORS_ORIGINS: TRUSTED }, { logger });
    try {
      const unloggedBefore = logged.lifecycle.unlogged.count;
      const id = `preflight-${crypto.randomUUID()}`;
      const response = await logged.request('/posts', { method: 'OPTIONS', headers: { origin: TRUSTED, 'access-control-request-method': 'POST', 'x-request-id': id } });
      expect(response.status).toBe(204);
      expect(lines.filter((line) => line.msg === 'request' && line.requestId === id)).toMatchObject([{ method: 'OPTIONS', route: '/posts', status: 204 }]);
      // Other requests' lines are written just after their responses: wait for the count to settle.
      await waitFor('no request left unlogged', () => logged.lifecycle.unlogged.count === unloggedBefore, 2_000);
    } finally {
      await logged.close();
    }
  });
});
