/**
 * Better-Auth's own paths for our OpenAPI document: prefixed with /api/auth, tagged, given our
 * security schemes, and bounded. Better-Auth declares no string lengths or array sizes; the bound
 * written in is the real one, the request body limit (no field can be longer than the body).
 */
import { AUTH_BASE_PATH, type Auth, rateLimitHeaders } from '../../lib/auth';
import type { ExtraOpenApi, OpenApiObject } from '../../plugins/openapi';

/** Endpoints that work without a session (the rest require one, admin/* an admin's). */
const ANONYMOUS_PATHS = new Set([
  '/sign-up/email',
  '/sign-in/email',
  '/sign-in/social',
  '/callback/{id}',
  '/get-session',
  '/request-password-reset',
  '/reset-password',
  '/reset-password/{token}',
  '/verify-email',
  '/send-verification-email',
  '/verify-password',
  '/ok',
  '/error',
]);

const isObject = (value: unknown): value is OpenApiObject => typeof value === 'object' && value !== null && !Array.isArray(value);

const hasType = (node: OpenApiObject, type: string): boolean =>
  node.type === type || (Array.isArray(node.type) && node.type.includes(type));

/** Walks every schema node and writes in the bounds Better-Auth leaves out. */
function bound(node: unknown, limit: number): void {
  if (Array.isArray(node)) {
    for (const item of node) bound(item, limit);
    return;
  }
  if (!isObject(node)) return;
  if (hasType(node, 'string') && node.maxLength === undefined && node.enum === undefined && node.const === undefined) {
    node.maxLength = limit;
  }
  if (hasType(node, 'array') && node.maxItems === undefined) node.maxItems = Math.floor(limit / 2);
  if (hasType(node, 'integer')) {
    node.format ??= 'int64';
    if (node.minimum === undefined && node.exclusiveMinimum === undefined) node.minimum = Number.MIN_SAFE_INTEGER;
    if (node.maximum === undefined && node.exclusiveMaximum === undefined) node.maximum = Number.MAX_SAFE_INTEGER;
  }
  for (const value of Object.values(node)) bound(value, limit);
}

const errorJson = (description: string): OpenApiObject => ({
  description,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        properties: { code: { type: 'string', maxLength: 100 }, message: { type: 'string', maxLength: 1000 } },
      },
    },
  },
});

export async function betterAuthOpenApi(auth: Auth, bodyLimitBytes: number): Promise<ExtraOpenApi> {
  const generated: unknown = await auth.api.generateOpenAPISchema();
  if (!isObject(generated) || !isObject(generated.paths)) return { paths: {}, schemas: {} };
  const paths: Record<string, OpenApiObject> = {};
  for (const [path, item] of Object.entries(generated.paths)) {
    if (!isObject(item)) continue;
    for (const operation of Object.values(item)) {
      if (!isObject(operation)) continue;
      operation.tags = ['better-auth'];
      operation.security = ANONYMOUS_PATHS.has(path) ? [{}] : path.startsWith('/admin/') ? [{ adminSession: [] }] : [{ sessionCookie: [] }];
      const responses: OpenApiObject = isObject(operation.responses) ? operation.responses : {};
      // Better-Auth's rate limiter and session checks answer these on any endpoint.
      responses['401'] ??= errorJson('No or an invalid session');
      responses['429'] ??= errorJson(`Too many requests (sign-in and sign-up: ${rateLimitHeaders(10, '/sign-in/').ratelimit})`);
      operation.responses = responses;
    }
    paths[`${AUTH_BASE_PATH}${path}`] = item;
  }
  const components = isObject(generated.components) && isObject(generated.components.schemas) ? generated.components.schemas : {};
  const schemas: Record<string, OpenApiObject> = {};
  for (const [name, schema] of Object.entries(components)) if (isObject(schema)) schemas[name] = schema;
  bound(paths, bodyLimitBytes);
  bound(schemas, bodyLimitBytes);
  return { paths, schemas };
}
