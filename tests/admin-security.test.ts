/**
 * The BFLA matrix over every staff route (issue 12): each operation the API document marks with
 * roles (`security: [{ adminSession: [roles] }]` under /admin, `sessionCookie: [roles]` elsewhere,
 * from src/lib/permissions.ts) is called by an
 * anonymous client, a user, a moderator and an admin with a request that is otherwise valid
 * (built from the document's own schemas, so validation never decides), and only the roles the
 * document names get past authorization. Every path under /admin must name its roles. Then the
 * path variants a router may normalise differently (`//admin`, `/ADMIN`, `/admin/`, an encoded
 * slash or letter) over a real socket: never a 2xx for anyone but the intended role.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { IDEMPOTENCY_KEY_HEADER } from '../src/plugins/idempotency';
import { createStaff, signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';

type Role = 'user' | 'moderator' | 'admin';
type Caller = 'anonymous' | Role;
type JsonSchema = Record<string, unknown>;
type StaffOperation = { method: string; path: string; roles: readonly string[]; operation: unknown };

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/** Strings that satisfy the patterns the API uses (ids, cursors, codes), tried in order. */
const PATTERN_CANDIDATES = ['1', 'usd', 'abc', 'a1b2c3d4e5f6', crypto.randomUUID(), 'ExponentPushToken[abc]'];

/** A value the schema accepts: the least that passes validation, so authorization alone decides. */
function sample(schema: JsonSchema | undefined, doc: unknown, depth = 0): unknown {
  if (!schema || depth > 8) return null;
  if (typeof schema.$ref === 'string') return sample(at(doc, ...schema.$ref.replace('#/', '').split('/')) as JsonSchema, doc, depth + 1);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const options = schema[key];
    if (Array.isArray(options) && options.length > 0) {
      const usable = options.find((option: JsonSchema) => option.type !== 'null') ?? options[0];
      return sample(usable as JsonSchema, doc, depth + 1);
    }
  }
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type.find((candidate) => candidate !== 'null') : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set(items(schema.required).map(String));
      const value: Record<string, unknown> = {};
      for (const [name, property] of Object.entries(properties)) if (required.has(name)) value[name] = sample(property, doc, depth + 1);
      return value;
    }
    case 'array': {
      const minItems = typeof schema.minItems === 'number' ? schema.minItems : 0;
      return Array.from({ length: minItems }, () => sample(schema.items as JsonSchema, doc, depth + 1));
    }
    case 'integer':
    case 'number': {
      const minimum = typeof schema.minimum === 'number' ? schema.minimum : typeof schema.exclusiveMinimum === 'number' ? schema.exclusiveMinimum + 1 : 1;
      return Math.max(1, Math.ceil(minimum));
    }
    case 'boolean':
      return false;
    case 'string':
      return sampleString(schema);
    default:
      return null;
  }
}

function sampleString(schema: JsonSchema): string {
  switch (schema.format) {
    case 'uuid':
      return crypto.randomUUID();
    case 'date-time':
      return new Date(Date.now() + 86_400_000).toISOString();
    case 'email':
      return `bfla-${crypto.randomUUID().slice(0, 8)}@example.com`;
    case 'uri':
      return 'https://example.com/evidence';
  }
  const minLength = typeof schema.minLength === 'number' ? schema.minLength : 1;
  if (typeof schema.pattern === 'string') {
    const pattern = new RegExp(schema.pattern, 'u');
    const found = PATTERN_CANDIDATES.find((candidate) => pattern.test(candidate) && candidate.length >= minLength);
    if (found) return found;
  }
  return 'A reason written for the BFLA matrix'.padEnd(minLength, '.');
}

/** The roles an operation's security names, in either cookie scheme (empty: a public or any-session route). */
function rolesOf(operation: unknown): string[] {
  return items(at(operation, 'security')).flatMap((requirement) =>
    ['sessionCookie', 'adminSession'].flatMap((scheme) => items(at(requirement, scheme)).map(String)),
  );
}

describe.skipIf(!hasCluster)('BFLA: who may call each staff route', () => {
  let t: TestApp;
  let doc: unknown;
  const callers = {} as Record<Role, TestAccount>;
  let staffOperations: StaffOperation[] = [];

  beforeAll(async () => {
    t = await startTestApp();
    doc = await readJson(await t.request('/swagger/json'));
    [callers.user, callers.moderator, callers.admin] = await Promise.all([signUp(t, 'bfla-user'), createStaff(t, 'moderator', 'bfla-mod'), createStaff(t, 'admin', 'bfla-admin')]);
    const paths = (at(doc, 'paths') ?? {}) as Record<string, Record<string, unknown>>;
    staffOperations = Object.entries(paths).flatMap(([path, item]) =>
      METHODS.filter((method) => item[method] !== undefined).map((method) => ({ method: method.toUpperCase(), path, roles: rolesOf(item[method]), operation: item[method] })),
    ).filter((entry) => entry.roles.length > 0);
  });
  afterAll(() => t.close());

  /** The operation's path with each parameter filled from its schema (ids that exist nowhere). */
  const concretePath = (entry: StaffOperation): string => {
    const parameters = items(at(entry.operation, 'parameters'));
    let path = entry.path;
    for (const parameter of parameters) {
      if (at(parameter, 'in') !== 'path') continue;
      path = path.replace(`{${String(at(parameter, 'name'))}}`, encodeURIComponent(String(sample(at(parameter, 'schema') as JsonSchema, doc))));
    }
    const query = new URLSearchParams();
    for (const parameter of parameters) {
      if (at(parameter, 'in') === 'query' && at(parameter, 'required') === true) query.set(String(at(parameter, 'name')), String(sample(at(parameter, 'schema') as JsonSchema, doc)));
    }
    return query.size > 0 ? `${path}?${query}` : path;
  };

  const bodyOf = (entry: StaffOperation): unknown => {
    const schema = at(entry.operation, 'requestBody', 'content', 'application/json', 'schema') as JsonSchema | undefined;
    return schema ? sample(schema, doc) : undefined;
  };

  const call = async (entry: StaffOperation, caller: Caller) => {
    const headers: Record<string, string> = { [IDEMPOTENCY_KEY_HEADER]: crypto.randomUUID() };
    if (caller !== 'anonymous') headers.cookie = callers[caller].jar.header();
    const body = bodyOf(entry);
    const response = await t.request(concretePath(entry), { method: entry.method, headers, ...(body !== undefined ? { json: body } : {}), skipContract: true });
    return { status: response.status, body: await response.text() };
  };

  test('every path under /admin names the roles that may call it', () => {
    const paths = (at(doc, 'paths') ?? {}) as Record<string, Record<string, unknown>>;
    const unnamed = Object.entries(paths)
      .filter(([path]) => path.startsWith('/admin'))
      .flatMap(([path, item]) => METHODS.filter((method) => item[method] !== undefined && rolesOf(item[method]).length === 0).map((method) => `${method.toUpperCase()} ${path}`));
    expect(unnamed).toEqual([]);
    // A floor, so a document that lost its admin routes fails here rather than passing an empty matrix.
    expect(staffOperations.filter((entry) => entry.path.startsWith('/admin')).length).toBeGreaterThanOrEqual(3);
  });

  test('anonymous is 401, and a role the document does not name is 403, on every staff route; a named role gets past authorization', async () => {
    const outcomes: string[] = [];
    for (const entry of staffOperations) {
      for (const caller of ['anonymous', 'user', 'moderator', 'admin'] as const) {
        const { status, body } = await call(entry, caller);
        const allowed = caller !== 'anonymous' && entry.roles.includes(caller);
        const expected = caller === 'anonymous' ? '401' : allowed ? 'past authorization' : '403';
        const actual = status === 401 || status === 403 ? String(status) : status >= 500 ? `${status} ${body.slice(0, 120)}` : 'past authorization';
        // A 403 that is not about the role (SESSION_NOT_FRESH, a rule of the action) is still authorization.
        if (actual !== expected) outcomes.push(`${entry.method} ${entry.path} as ${caller}: expected ${expected}, got ${status} ${body.slice(0, 160)}`);
      }
    }
    expect(outcomes).toEqual([]);
  }, 120_000);

  test('path variants over a real socket never give a staff route to anyone else', async () => {
    const server = t.listen();
    const base = `http://127.0.0.1:${server.port}`;
    const reads = staffOperations.filter((entry) => entry.method === 'GET' && entry.path.startsWith('/admin'));
    expect(reads.length).toBeGreaterThan(0);
    const variants = (path: string): string[] => {
      const rest = path.slice('/admin'.length);
      return [`//admin${rest}`, `/ADMIN${rest}`, `/Admin${rest}`, `/admin${rest}/`, `/admin%2F${rest.slice(1)}`, `/%61dmin${rest}`, `/admin/.${rest}`, `/./admin${rest}`];
    };
    const leaks: string[] = [];
    for (const entry of reads) {
      for (const variant of variants(concretePath(entry))) {
        for (const caller of ['anonymous', 'user', 'moderator'] as const) {
          if (caller !== 'anonymous' && entry.roles.includes(caller)) continue;
          const headers: Record<string, string> = caller === 'anonymous' ? {} : { cookie: callers[caller].jar.header() };
          const response = await fetch(`${base}${variant}`, { headers, redirect: 'manual' });
          const text = await response.text();
          if ((response.status >= 200 && response.status < 300) || response.status >= 500) leaks.push(`${variant} as ${caller}: ${response.status} ${text.slice(0, 120)}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  }, 120_000);
});
