/**
 * The API document as a contract on real traffic: every response a test receives through
 * `TestApp.request` is checked against /swagger/json (status documented for the operation, JSON
 * body valid against its schema), like a validating proxy would (issue 7: Prism proxying real
 * traffic found nulls documented as plain strings and undocumented statuses). A response that
 * breaks the document fails the test that received it.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

type Operation = { pattern: RegExp; method: string; path: string; statuses: Set<string> };

export type ContractChecker = {
  /** Problems with one response, or [] when it conforms (or its route is not documented). */
  check: (method: string, pathname: string, response: Response) => Promise<string[]>;
};

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

const pointer = (...segments: string[]): string =>
  segments.map((segment) => encodeURIComponent(segment.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/');

function buildChecker(document: Record<string, unknown>): ContractChecker {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema(document, 'api');
  const operations: Operation[] = [];
  const paths = isObject(document.paths) ? document.paths : {};
  for (const [path, item] of Object.entries(paths)) {
    if (!isObject(item)) continue;
    const pattern = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{[^}]+\}/g, '[^/]+')}$`);
    for (const [method, operation] of Object.entries(item)) {
      if (!isObject(operation) || !isObject(operation.responses)) continue;
      operations.push({ pattern, method: method.toUpperCase(), path, statuses: new Set(Object.keys(operation.responses)) });
    }
  }
  // Literal paths before templated ones (/users/me before /users/{id}).
  operations.sort((a, b) => Number(a.path.includes('{')) - Number(b.path.includes('{')));
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (operation: Operation, status: string): ValidateFunction | null => {
    const key = `${operation.method} ${operation.path} ${status}`;
    const cached = validators.get(key);
    if (cached) return cached;
    const ref = `api#/${pointer('paths', operation.path, operation.method.toLowerCase(), 'responses', status, 'content', 'application/json', 'schema')}`;
    try {
      const validate = ajv.compile({ $ref: ref });
      validators.set(key, validate);
      return validate;
    } catch {
      return null; // no JSON body documented for this status
    }
  };
  return {
    async check(method, pathname, response) {
      const operation = operations.find((candidate) => candidate.method === method && candidate.pattern.test(pathname));
      if (!operation) return [];
      const status = String(response.status);
      const documented = operation.statuses.has(status) ? status : operation.statuses.has(`${status[0]}XX`) ? `${status[0]}XX` : null;
      const where = `${method} ${operation.path} -> ${status}`;
      if (documented === null) return [`${where}: status not documented (documented: ${[...operation.statuses].join(', ')})`];
      if (!(response.headers.get('content-type') ?? '').includes('application/json')) return [];
      const validate = validatorFor(operation, documented);
      if (!validate) return [`${where}: a JSON body the document does not describe`];
      const body: unknown = await response.clone().json().catch(() => undefined);
      if (validate(body)) return [];
      return (validate.errors ?? []).map((error) => `${where}: body${error.instancePath} ${error.message ?? 'is invalid'} (${error.schemaPath})`);
    },
  };
}

const checkers = new Map<string, ContractChecker>();

/** One compiled checker per distinct document (every test app serves the same one). */
export function contractChecker(documentText: string): ContractChecker {
  let checker = checkers.get(documentText);
  if (!checker) {
    const parsed: unknown = JSON.parse(documentText);
    if (!isObject(parsed)) throw new Error('the API document is not an object');
    checker = buildChecker(parsed);
    checkers.set(documentText, checker);
  }
  return checker;
}
