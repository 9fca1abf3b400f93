/** Better-Auth's own paths for our OpenAPI document (see betterAuthOpenApi). */
import { AUTH_BASE_PATH, type Auth, rateLimitHeaders } from '../../lib/auth';
import type { ExtraOpenApi, OpenApiObject } from '../../plugins/openapi';
import { EXPOSED_AUTH_ENDPOINTS } from './exposed-endpoints';

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

export const BETTER_AUTH_TAG = 'better-auth';

/** Our error format, plus Better-Auth's own `code` (its official client reads it). */
const errorJson = (description: string): OpenApiObject => ({
  description,
  content: {
    'application/json': {
      schema: {
        type: 'object',
        required: ['success', 'message', 'error'],
        properties: {
          success: { const: false },
          message: { type: 'string', maxLength: 2000 },
          error: { type: 'string', maxLength: 200, description: 'A stable machine-readable code' },
          code: { type: 'string', maxLength: 200, description: "Better-Auth's code, for its official client" },
          details: {
            type: 'array',
            maxItems: 100,
            items: { type: 'object', properties: { path: { type: 'string', maxLength: 500 }, message: { type: 'string', maxLength: 1000 } } },
          },
        },
      },
    },
  },
});

/** The refusals our handler (and Better-Auth behind it) can give on any exposed endpoint. */
const ERROR_RESPONSES: Record<string, string> = {
  '400': 'Malformed request',
  '401': 'No or an invalid session',
  '403': 'Refused (origin, ban, permissions)',
  '422': 'Invalid values (e.g. the password policy, a taken email)',
  '429': `Too many requests (e.g. sign-in: RateLimit-Policy ${rateLimitHeaders(10, '/sign-in/email')['ratelimit-policy']}); retry after Retry-After seconds`,
  '500': 'Our fault; the message is hidden',
  '503': 'The database is unavailable, busy or too slow; retry after Retry-After seconds',
};
const BODY_ERROR_RESPONSES: Record<string, string> = {
  '413': 'The body is larger than BODY_LIMIT_BYTES',
  '415': 'The body is not JSON',
};

/**
 * OpenAPI 3.0's `nullable: true` (Better-Auth writes it) as 3.1 spells it, and the fields of
 * Better-Auth's models that are not required as nullable: those are its nullable columns
 * (image, banReason, banExpires, impersonatedBy, ipAddress, userAgent), which it returns as null.
 */
function allowNulls(node: unknown): void {
  if (Array.isArray(node)) {
    for (const item of node) allowNulls(item);
    return;
  }
  if (!isObject(node)) return;
  if (node.nullable === true) {
    delete node.nullable;
    if (typeof node.type === 'string') node.type = [node.type, 'null'];
  }
  for (const value of Object.values(node)) allowNulls(value);
}

function nullableOptionalProperties(model: OpenApiObject): void {
  if (!isObject(model.properties)) return;
  const required = new Set(Array.isArray(model.required) ? model.required : []);
  for (const [name, property] of Object.entries(model.properties)) {
    if (required.has(name) || !isObject(property) || typeof property.type !== 'string') continue;
    property.type = [property.type, 'null'];
  }
}

/**
 * Better-Auth's paths for the endpoints we expose (./exposed-endpoints.ts), as our handler
 * answers them: prefixed with /api/auth, tagged, with our security schemes, our error format,
 * nulls where Better-Auth returns them, and bounds (Better-Auth declares no string lengths or
 * array sizes; the bound written in is the real one, the request body limit).
 */
export async function betterAuthOpenApi(auth: Auth, bodyLimitBytes: number): Promise<ExtraOpenApi> {
  const generated: unknown = await auth.api.generateOpenAPISchema();
  if (!isObject(generated) || !isObject(generated.paths)) return { paths: {}, schemas: {} };
  const paths: Record<string, OpenApiObject> = {};
  for (const endpoint of EXPOSED_AUTH_ENDPOINTS) {
    const item = generated.paths[endpoint.path];
    const method = endpoint.method.toLowerCase();
    const operation = isObject(item) ? item[method] : undefined;
    if (!isObject(operation)) throw new Error(`Better-Auth documents no ${endpoint.method} ${endpoint.path}`);
    operation.tags = [BETTER_AUTH_TAG];
    operation.security = endpoint.needsSession ? [{ sessionCookie: [] }] : [{}];
    const responses: OpenApiObject = isObject(operation.responses) ? operation.responses : {};
    for (const status of Object.keys(responses)) if (Number(status) >= 400) delete responses[status];
    const errors = endpoint.method === 'POST' ? { ...ERROR_RESPONSES, ...BODY_ERROR_RESPONSES } : ERROR_RESPONSES;
    for (const [status, description] of Object.entries(errors)) responses[status] = errorJson(description);
    operation.responses = responses;
    paths[`${AUTH_BASE_PATH}${endpoint.path}`] = { [method]: operation };
  }
  const components = isObject(generated.components) && isObject(generated.components.schemas) ? generated.components.schemas : {};
  const schemas: Record<string, OpenApiObject> = {};
  for (const [name, schema] of Object.entries(components)) {
    if (!isObject(schema)) continue;
    nullableOptionalProperties(schema);
    schemas[name] = schema;
  }
  allowNulls(paths);
  allowNulls(schemas);
  bound(paths, bodyLimitBytes);
  bound(schemas, bodyLimitBytes);
  return { paths, schemas };
}
