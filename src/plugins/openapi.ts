/**
 * The OpenAPI 3.1 document at /swagger/json and Swagger UI at /swagger (src/plugins/swagger-ui.ts,
 * from the pinned package, not a CDN), built from the routes' zod schemas. Dates become date-time
 * strings (zod cannot represent Date in JSON Schema).
 *
 * The document is assembled here with @elysiajs/openapi's generator rather than by its plugin,
 * because it needs things the plugin cannot do: Better-Auth's paths merged in (generated asynchronously),
 * and the headers every response can carry (CORS, rate limit, Retry-After) declared once.
 */
import { toOpenAPISchema } from '@elysiajs/openapi';
import { Elysia } from 'elysia';
import { z } from 'zod';
import { COMMON_ERRORS, type ErrorCatalog } from '../lib/errors';
import { errorSchema } from '../lib/http';
import type { ModuleInfo } from '../modules/module';
import { SWAGGER_UI_PATHS, swaggerUi } from './swagger-ui';

/** " Error codes: A (409), B (403)." for a tag's description. */
const errorCodeList = (catalog: ErrorCatalog): string => {
  const entries = Object.entries(catalog);
  return entries.length === 0 ? '' : ` Error codes: ${entries.map(([code, entry]) => `${code} (${entry.status})`).join(', ')}.`;
};

const INT32 = { min: -2_147_483_648, max: 2_147_483_647 };

export const toJsonSchema = (schema: z.ZodType) =>
  z.toJSONSchema(schema, {
    unrepresentable: 'any',
    io: 'output',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def;
      if (def.type === 'date') {
        ctx.jsonSchema.type = 'string';
        ctx.jsonSchema.format = 'date-time';
        ctx.jsonSchema.maxLength = 40;
      }
      // A nullable enum as one schema whose enum lists null: the document's generator folds
      // zod's `anyOf: [enum, null]` into `type: [string, null]` and keeps the enum without null.
      const inner = ctx.zodSchema instanceof z.ZodNullable ? ctx.zodSchema.unwrap() : null;
      if (inner instanceof z.ZodEnum) {
        const values: unknown[] = inner.options;
        for (const key of Object.keys(ctx.jsonSchema)) delete ctx.jsonSchema[key];
        Object.assign(ctx.jsonSchema, { type: ['string', 'null'], enum: [...values, null] });
      }
      // OpenAPI wants the integer width spelled out; zod only emits the bounds.
      if (ctx.jsonSchema.type === 'integer' && ctx.jsonSchema.format === undefined) {
        const { minimum, maximum } = ctx.jsonSchema;
        const fitsInt32 = typeof minimum === 'number' && typeof maximum === 'number' && minimum >= INT32.min && maximum <= INT32.max;
        ctx.jsonSchema.format = fitsInt32 ? 'int32' : 'int64';
      }
    },
  });

export type OpenApiObject = Record<string, unknown>;
/** Paths and component schemas from elsewhere (Better-Auth), already prefixed and bounded. */
export type ExtraOpenApi = { paths: Record<string, OpenApiObject>; schemas: Record<string, OpenApiObject> };

type OpenapiPluginOptions = {
  version: string;
  /** The module list (src/modules/index.ts): the document's tags and error codes. */
  modules: readonly ModuleInfo[];
  enabled: boolean;
  /** The session cookie's name, for the security schemes. */
  sessionCookie: string;
  extraPaths?: () => Promise<ExtraOpenApi>;
};

const SPEC_PATH = '/swagger/json';
const OPENAPI_VERSION = '3.1.0';
const mapJsonSchema = { zod: toJsonSchema };
const exclude = { paths: [...SWAGGER_UI_PATHS, SPEC_PATH] };

/** Headers any response may carry; declared on every response so clients (and linters) know. */
const HEADERS = {
  'Access-Control-Allow-Origin': {
    description: 'The request Origin, echoed when it is one of the configured CORS origins (absent otherwise).',
    schema: { type: 'string', maxLength: 2048 },
  },
  // src/lib/rate-limits.ts: the policies; the syntax of draft-ietf-httpapi-ratelimit-headers-11.
  RateLimit: {
    description:
      'What is left of each rate-limit policy this request counted against: `"<policy>";r=<requests left>;t=<seconds until the ' +
      'window resets>`, comma-separated (e.g. `"ip";r=1187;t=42, "money-ip";r=29;t=42`). On a 429, the refusing policy has r=0 ' +
      'and t equal to Retry-After. Better-Auth\'s endpoints send it only on their 429.',
    schema: { type: 'string', maxLength: 500, pattern: '^"[\\w-]+";r=\\d+;t=\\d+(, "[\\w-]+";r=\\d+;t=\\d+)*$' },
  },
  'RateLimit-Policy': {
    description:
      'The rate-limit policies this request counted against: `"<policy>";q=<requests>;w=<window seconds>`, comma-separated, in ' +
      'the order of RateLimit (e.g. `"ip";q=1200;w=60`). The README lists every policy.',
    schema: { type: 'string', maxLength: 500, pattern: '^"[\\w-]+";q=\\d+;w=\\d+(, "[\\w-]+";q=\\d+;w=\\d+)*$' },
  },
  'Retry-After': {
    description: 'Seconds to wait before retrying.',
    schema: { type: 'integer', format: 'int32', minimum: 0, maximum: 86_400 },
  },
  // src/plugins/http-cache.ts: no-store unless the operation takes If-None-Match.
  'Cache-Control': {
    description:
      '`no-store`, except on a 200 or 304 of an operation that takes If-None-Match: `public, max-age=30` when anonymous, ' +
      '`no-cache` (revalidate each time) when signed in, and `private` when the session shapes the body.',
    schema: { type: 'string', maxLength: 100, pattern: '^[\\w=, -]+$' },
  },
  ETag: {
    description: 'A strong entity tag over the body. Send it back as If-None-Match: 304 with no body while it is unchanged.',
    schema: { type: 'string', maxLength: 100, pattern: '^"[\\w-]+"$' },
  },
  Vary: {
    description: 'The request headers the answer depends on (`Origin, Cookie`): a cache keeps their answers apart.',
    schema: { type: 'string', maxLength: 100, pattern: '^[\\w, -]+$' },
  },
};
const headerRef = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

const isObject = (value: unknown): value is OpenApiObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** zod stamps `$schema` on every converted schema; inside an OpenAPI document it is noise. */
function dropSchemaKeyword(node: unknown): void {
  if (Array.isArray(node)) for (const item of node) dropSchemaKeyword(item);
  if (!isObject(node)) return;
  delete node.$schema;
  for (const value of Object.values(node)) dropSchemaKeyword(value);
}

const ERROR_JSON = (() => {
  const schema: unknown = toJsonSchema(errorSchema);
  dropSchemaKeyword(schema);
  return schema;
})();
const ERROR_KEY = JSON.stringify(ERROR_JSON);

/**
 * Per operation: the one error schema becomes a $ref, request bodies are JSON only (the only type
 * the error handler parses), and every response declares the standard headers.
 */
function finishOperations(paths: Record<string, OpenApiObject>): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      if (!isObject(operation)) continue;
      dropSchemaKeyword(operation);
      const content = isObject(operation.requestBody) ? operation.requestBody.content : undefined;
      if (isObject(content) && 'application/json' in content) {
        for (const type of Object.keys(content)) if (type !== 'application/json') delete content[type];
      }
      if (!isObject(operation.responses)) continue;
      const conditional = takesIfNoneMatch(operation);
      if (conditional) operation.responses['304'] ??= { description: 'Not Modified: your copy (If-None-Match) is current; no body.' };
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!isObject(response)) continue;
        const json = isObject(response.content) ? response.content['application/json'] : undefined;
        if (isObject(json) && JSON.stringify(json.schema) === ERROR_KEY) json.schema = { $ref: '#/components/schemas/Error' };
        const headers: OpenApiObject = isObject(response.headers) ? response.headers : {};
        headers['Access-Control-Allow-Origin'] ??= headerRef('Access-Control-Allow-Origin');
        if (status.startsWith('2') || status.startsWith('4')) {
          headers.RateLimit ??= headerRef('RateLimit');
          headers['RateLimit-Policy'] ??= headerRef('RateLimit-Policy');
        }
        if (status === '429' || status === '503') headers['Retry-After'] ??= headerRef('Retry-After');
        headers['Cache-Control'] ??= headerRef('Cache-Control');
        if (conditional && (status === '200' || status === '304')) {
          headers.ETag ??= headerRef('ETag');
          headers.Vary ??= headerRef('Vary');
        }
        response.headers = headers;
      }
    }
  }
}

/** The http-cache option's header parameter (its operations may answer 304). */
const takesIfNoneMatch = (operation: OpenApiObject): boolean =>
  Array.isArray(operation.parameters) && operation.parameters.some((parameter) => isObject(parameter) && parameter.in === 'header' && parameter.name === 'If-None-Match');

/**
 * The generator replaces a route's `detail.parameters` with its path and query parameters: the
 * header parameters macros declare (If-None-Match, Idempotency-Key) are put back from the routes.
 */
function attachHeaderParameters(app: Elysia, paths: Record<string, OpenApiObject>): void {
  for (const route of app['getGlobalRoutes']()) {
    const declared: unknown = route.hooks?.detail?.parameters;
    if (!Array.isArray(declared)) continue;
    const operation = paths[route.path.replace(/:([^/]+)/g, '{$1}')]?.[route.method.toLowerCase()];
    if (!isObject(operation)) continue;
    const parameters: unknown[] = Array.isArray(operation.parameters) ? operation.parameters : [];
    const present = new Set(parameters.filter(isObject).map((parameter) => `${String(parameter.in)} ${String(parameter.name)}`));
    for (const parameter of declared) {
      if (isObject(parameter) && !present.has(`${String(parameter.in)} ${String(parameter.name)}`)) parameters.push(parameter);
    }
    operation.parameters = parameters;
  }
}

/**
 * toOpenAPISchema lists a request body only under the parsers a route names, and skips parser
 * functions: with the error handler's global onParse every body came out as `content: {}`. The
 * zod body schemas are attached from the routes instead (JSON, the only type we parse).
 */
function attachRequestBodies(app: Elysia, paths: Record<string, OpenApiObject>): void {
  // The same (type-level protected) accessor @elysiajs/openapi uses to see the root's routes.
  for (const route of app['getGlobalRoutes']()) {
    const body: unknown = route.hooks?.body;
    if (!(body instanceof z.ZodType)) continue;
    const operation = paths[route.path.replace(/:([^/]+)/g, '{$1}')]?.[route.method.toLowerCase()];
    if (!isObject(operation)) continue;
    operation.requestBody = { required: true, content: { 'application/json': { schema: toJsonSchema(body) } } };
  }
}

export const openapiPlugin = (options: OpenapiPluginOptions) => {
  const documentation = {
    info: {
      title: 'BOUNTYExpo API',
      version: options.version,
      description:
        'The one BOUNTYExpo backend. Errors: { success: false, message, error, details? }; `error` is a stable code. ' +
        `Any route may answer:${errorCodeList(COMMON_ERRORS.codes)} Each tag lists the codes its routes add.\n\n` +
        'Try it here: POST /auth/signup (sets the session cookie in this browser), then POST /posts, then GET /posts/{id}.',
    },
    tags: options.modules.flatMap((module) => [
      { name: module.tag.name, description: `${module.tag.description}.${errorCodeList(module.errors)}` },
      ...(module.extraTags ?? []),
    ]),
    components: {
      securitySchemes: {
        sessionCookie: {
          type: 'apiKey' as const,
          in: 'cookie' as const,
          name: options.sessionCookie,
          description: 'The HttpOnly session cookie set by sign-up and sign-in (SameSite=Lax; Secure over https).',
        },
        adminSession: {
          type: 'apiKey' as const,
          in: 'cookie' as const,
          name: options.sessionCookie,
          description:
            'The same session cookie, for the staff console under /admin: each operation lists the roles that may call it ' +
            '(src/lib/permissions.ts). Staff actions (anything but a read) also need a sign-in within the last day ' +
            '(403 SESSION_NOT_FRESH: sign in again).',
        },
        metricsToken: {
          type: 'http' as const,
          scheme: 'bearer',
          description: "GET /metrics: the operators' METRICS_TOKEN (required in production), for Prometheus's `authorization` setting.",
        },
      },
    },
    // Signed in unless an operation says otherwise.
    security: [{ sessionCookie: [] }],
  };

  if (!options.enabled) return new Elysia({ name: 'openapi' });

  // Typed as a plain Elysia: the generator reads routes from it (the whole app's, once mounted).
  const plugin = new Elysia({ name: 'openapi' });
  plugin.use(swaggerUi({ title: documentation.info.title, specPath: SPEC_PATH }));

  async function buildDocument(): Promise<OpenApiObject> {
    const generated = toOpenAPISchema(plugin, exclude, undefined, mapJsonSchema, OPENAPI_VERSION);
    const extra = options.extraPaths ? await options.extraPaths() : { paths: {}, schemas: {} };
    const paths: Record<string, OpenApiObject> = {};
    for (const [path, item] of Object.entries(generated.paths)) if (isObject(item)) paths[path] = item;
    attachRequestBodies(plugin, paths);
    attachHeaderParameters(plugin, paths);
    Object.assign(paths, extra.paths);
    finishOperations(paths);
    return {
      openapi: OPENAPI_VERSION,
      ...documentation,
      paths,
      components: {
        ...documentation.components,
        headers: HEADERS,
        schemas: { ...generated.components.schemas, ...extra.schemas, Error: ERROR_JSON },
      },
    };
  }

  let built: Promise<OpenApiObject> | null = null;
  return plugin.get(
    SPEC_PATH,
    () => {
      // Built on first request, when every route is registered; a failure is retried next time.
      built ??= buildDocument().catch((error: unknown) => {
        built = null;
        throw error;
      });
      return built;
    },
    { detail: { hide: true } },
  );
};
