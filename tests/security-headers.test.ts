/**
 * Security headers on every response a client can get, over a real socket (issue 13): routes,
 * errors, 404, Better-Auth's and the Stripe webhook's raw Responses, the CORS preflight, the
 * refusals before the app (src/serve.ts) and a refused WebSocket upgrade. HSTS only when the
 * public URL is https.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { API_CONTENT_SECURITY_POLICY } from '../src/plugins/security-headers';
import { SWAGGER_UI_CONTENT_SECURITY_POLICY } from '../src/plugins/swagger-ui';
import { startTestApp, type TestApp } from './support/harness';
import { raw } from './support/raw-http';

const EXPECTED = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': API_CONTENT_SECURITY_POLICY,
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'x-frame-options': 'DENY',
  'strict-transport-security': null,
};
const NAMES = Object.keys(EXPECTED);

const pick = (headers: Headers) => Object.fromEntries(NAMES.map((name) => [name, headers.get(name)]));

/** The header block of a raw response as Headers. */
function parseHead(head: string): Headers {
  const headers = new Headers();
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return headers;
}

const trustedOrigin = 'https://app.example.com';

describe('security headers', () => {
  let t: TestApp;
  let port: number;
  let base: string;
  beforeAll(async () => {
    t = await startTestApp({ CORS_ORIGINS: trustedOrigin });
    port = t.listen().port ?? 0;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => t.close());

  test('are on every kind of response, whoever produced it', async () => {
    const kinds: Array<[kind: string, status: number, send: () => Promise<{ status: number; headers: Headers }>]> = [
      ['a route', 200, () => fetch(`${base}/health`)],
      ['an error from the error handler', 400, () => fetch(`${base}/auth/signup`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })],
      ['no such route', 404, () => fetch(`${base}/no-such-route`)],
      ["Better-Auth's raw Response", 200, () => fetch(`${base}/api/auth/get-session`)],
      ['the Stripe webhook without a signature', 400, () => fetch(`${base}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })],
      [
        'a CORS preflight',
        204,
        () => fetch(`${base}/posts`, { method: 'OPTIONS', headers: { origin: trustedOrigin, 'access-control-request-method': 'POST' } }),
      ],
      ['headers too large, refused before the app', 431, () => fetch(`${base}/health`, { headers: { 'x-padding': 'p'.repeat(13_000) } })],
      [
        'an unusable Host, refused before the app',
        400,
        async () => {
          const response = await raw(port, 'GET /health HTTP/1.1\r\nhost: a/b');
          return { status: response.status, headers: parseHead(response.headers) };
        },
      ],
      [
        'a refused WebSocket upgrade',
        403,
        () =>
          fetch(`${base}/ws/messages`, {
            headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': btoa('0123456789abcdef'), 'sec-websocket-version': '13', origin: 'https://evil.example' },
          }),
      ],
    ];
    const seen = [];
    for (const [kind, , send] of kinds) {
      const response = await send();
      seen.push([kind, response.status, pick(response.headers)]);
    }
    expect(seen).toEqual(kinds.map(([kind, status]) => [kind, status, EXPECTED]));
  });

  test('the Swagger UI page keeps its own CSP, which allows only this origin', async () => {
    const page = await fetch(`${base}/swagger`);
    expect(pick(page.headers)).toEqual({ ...EXPECTED, 'content-security-policy': SWAGGER_UI_CONTENT_SECURITY_POLICY });
    expect(SWAGGER_UI_CONTENT_SECURITY_POLICY).not.toContain('unsafe');
    expect(SWAGGER_UI_CONTENT_SECURITY_POLICY).not.toMatch(/https?:/);
  });

  test('HSTS is sent when the public URL is https, and never over an http one', async () => {
    const https = await startTestApp({ BETTER_AUTH_URL: 'https://api.example.com' });
    try {
      const response = await fetch(`http://127.0.0.1:${https.listen().port}/health`);
      expect(pick(response.headers)).toEqual({ ...EXPECTED, 'strict-transport-security': 'max-age=31536000; includeSubDomains' });
    } finally {
      await https.close();
    }
    expect(t.config.auth.baseUrl).toStartWith('http://');
    expect((await fetch(`${base}/health`)).headers.get('strict-transport-security')).toBeNull();
  });
});
