/**
 * The OpenAPI document: every served route is in it with its schemas, Better-Auth's paths are
 * merged, and the Swagger UI flow a newcomer follows (sign up, create a post, read it back) works
 * with the browser's Origin header and the Origin check on. Spectral itself runs in `bun run lint:api`.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createAuth } from '../src/lib/auth';
import { MODULES } from '../src/modules';
import { SWAGGER_UI_PATHS } from '../src/plugins/swagger-ui';
import { PASSWORD, uniqueEmail } from './support/accounts';
import { CookieJar } from './support/cookies';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

describe.skipIf(!hasCluster)('OpenAPI document and Swagger UI', () => {
  let t: TestApp;
  let doc: unknown;
  beforeAll(async () => {
    t = await startTestApp({}, { auth: (deps) => createAuth({ ...deps, advanced: { disableOriginCheck: false } }) });
    const response = await t.request('/swagger/json');
    expect(response.status).toBe(200);
    doc = await readJson(response);
  });
  afterAll(() => t.close());

  const operation = (path: string, method: string) => at(doc, 'paths', path, method);

  test('the tags are the module list: every operation belongs to a listed module, every module has operations, each lists its error codes', () => {
    const listed = MODULES.flatMap((module) => [module.tag.name, ...(module.extraTags ?? []).map((tag) => tag.name)]);
    const used = new Set<string>();
    for (const item of Object.values((at(doc, 'paths') ?? {}) as Record<string, Record<string, unknown>>)) {
      for (const method of METHODS) for (const tag of items(at(item, method, 'tags'))) used.add(String(tag));
    }
    expect([...used].sort()).toEqual([...listed].sort());
    const described = new Map(items(at(doc, 'tags')).map((tag) => [String(at(tag, 'name')), String(at(tag, 'description'))]));
    for (const module of MODULES) {
      for (const [code, entry] of Object.entries(module.errors)) expect(described.get(module.tag.name)).toContain(`${code} (${entry.status})`);
    }
    expect(String(at(doc, 'info', 'description'))).toContain('DATABASE_UNAVAILABLE (503)');
  });

  test('is OpenAPI 3.1 with the tags and the session cookie as a security scheme', () => {
    expect(String(at(doc, 'openapi'))).toStartWith('3.1');
    const tags = items(at(doc, 'tags')).map((tag) => at(tag, 'name'));
    for (const tag of ['auth', 'users', 'posts', 'health']) expect(tags).toContain(tag);
    expect(at(doc, 'components', 'securitySchemes', 'sessionCookie')).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'bountyexpo.session_token' });
  });

  test('documents every route the app serves, with request and response schemas', () => {
    // The Apple Pay association file is a file for Apple's verifier, not an API (README: Payments).
    const hidden = new Set([...SWAGGER_UI_PATHS, '/swagger/json', '*', '/*', '/api/auth/*', '/.well-known/apple-developer-merchantid-domain-association']);
    // OPTIONS are CORS preflights, answered by the CORS plugin for every path.
    // WebSocket routes (method WS) have no place in OpenAPI: GET /realtime/protocol describes them.
    const served = t.app.routes.filter((route) => !hidden.has(route.path) && route.method !== 'OPTIONS' && route.method !== 'WS');
    expect(served.length).toBeGreaterThanOrEqual(15);
    for (const route of served) {
      const path = route.path.replace(/:(\w+)/g, '{$1}') || '/';
      const op = operation(path, route.method.toLowerCase());
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(at(op, 'responses', '200') ?? at(op, 'responses', '201')).toBeDefined();
      expect(at(op, 'tags', 0)).toBeDefined();
      // Bodiless actions, and Stripe's webhook (its raw body is Stripe's event, read unparsed).
      const bodiless = [
        '/auth/logout',
        '/connect/account',
        '/connect/onboarding-link',
        '/webhooks/stripe',
        '/bounties/:id/cancel',
        '/bounties/:id/approve',
        '/bounties/:id/accept-cancel',
        '/bounties/:id/decline-cancel',
        '/requests/:id/accept',
        '/requests/:id/reject',
        '/requests/:id/withdraw',
        '/notifications/seen',
        '/notifications/read-all',
        '/notifications/:id/read',
      ];
      if (['POST', 'PATCH'].includes(route.method) && !bodiless.includes(route.path)) {
        expect(Object.keys(Object(at(op, 'requestBody', 'content')))).toEqual(['application/json']);
      }
    }
    expect(at(operation('/users', 'get'), 'security')).toEqual([{ sessionCookie: ['admin'] }]);
    expect(at(operation('/auth/signup', 'post'), 'responses', '409')).toBeDefined();
    expect(at(operation('/auth/login', 'post'), 'responses', '429', 'headers', 'Retry-After')).toBeDefined();
  });

  test("merges Better-Auth's own paths under /api/auth, without the flows we switched off", () => {
    const paths = Object.keys(Object(at(doc, 'paths')));
    for (const path of ['/api/auth/sign-up/email', '/api/auth/sign-in/email', '/api/auth/get-session', '/api/auth/sign-out']) {
      expect(paths).toContain(path);
    }
    expect(paths).not.toContain('/api/auth/reset-password');
    expect(paths).not.toContain('/api/auth/sign-in/social');
    expect(at(operation('/api/auth/sign-in/email', 'post'), 'tags')).toEqual(['better-auth']);
    for (const path of paths) {
      for (const method of METHODS) {
        const op = operation(path, method);
        if (op !== undefined) expect(at(op, 'responses'), `${method} ${path}`).toBeDefined();
      }
    }
  });

  test('serves the Swagger UI page', async () => {
    const page = await t.request('/swagger');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('swagger-ui');
  });

  test('the Swagger UI flow works from the browser (same Origin, cookies only): sign up, create a post, read it back', async () => {
    // What the browser sends from the page at BETTER_AUTH_URL: its Origin, and its cookies.
    const browser = { origin: 'http://localhost:3000' };
    const jar = new CookieJar();
    const signup = jar.store(
      await t.request('/auth/signup', { method: 'POST', json: { email: uniqueEmail('newcomer'), password: PASSWORD, name: 'Newcomer' }, headers: browser }),
    );
    expect(signup.status).toBe(201);
    const created = jar.store(
      await t.request('/posts', { method: 'POST', json: { title: 'My first post', content: 'Hello from Swagger' }, headers: { ...browser, cookie: jar.header() } }),
    );
    expect(created.status).toBe(201);
    const id = String(at(await readJson(created), 'data', 'id'));
    const read = await t.request(`/posts/${id}`, { headers: { ...browser, cookie: jar.header() } });
    expect(read.status).toBe(200);
    expect(at(await readJson(read), 'data', 'content')).toBe('Hello from Swagger');
  });
});
