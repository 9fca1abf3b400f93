/**
 * The service's rate limits, as one table: each policy allows `points` requests per `durationS`
 * seconds to one subject (a client IP, or a signed-in user) on the routes it names. It is read by
 * the plugin that counts them (src/plugins/rate-limit.ts), by Better-Auth's limiter for its own
 * endpoints (src/lib/auth/rate-limit.ts), by the README (`rateLimitsMarkdown`, kept equal by
 * tests/operator-docs.test.ts) and by tests/rate-limits.test.ts. Counters live in PostgreSQL
 * (src/lib/rate-limit-store.ts), so a limit holds across instances.
 *
 * Pure: no database, no HTTP.
 */
import { isIP } from 'node:net';

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
/** A method and an Elysia route template, as `app.routes` lists them: `POST /bounties/:id/publish`. */
export type RouteRef = `${Method} /${string}`;

export type RateLimitSubject = 'ip' | 'user' | 'viewer';

export type RateLimitPolicy = Readonly<{
  /** The policy's name: its counters' key prefix, its `RateLimit-Policy` item, its metric label. */
  name: string;
  points: number;
  durationS: number;
  /**
   * Requests an instance counts in memory before writing them to the table, together (default 1:
   * each is written). Approximate across instances; see src/lib/rate-limit-store.ts.
   */
  batch?: number;
  /**
   * `ip`: the client IP src/serve.ts stamps (an IPv6 client by its /64); `user`: the signed-in
   * user's id; `viewer`: the signed-in user's id, else the client IP (on routes with an auth macro).
   */
  subject: RateLimitSubject;
  /** The routes it counts; `every request` for the global limit (except EXEMPT_ROUTES). */
  routes: 'every request' | readonly RouteRef[];
  /** Counted only on requests whose query string carries this parameter, not blank. */
  withQuery?: string;
  /**
   * Counted by Better-Auth's own limiter (same table, through its customStorage) for these paths
   * below /api/auth, as its `customRules` keys; `*` is its default rule for every other endpoint.
   * Our sign-in and sign-up routes call Better-Auth's handler, so they share its buckets.
   */
  betterAuthPaths?: readonly string[];
  why: string;
}>;

/**
 * Not counted by the every-request policy: probes and scrapes (a 429 would take an instance out of
 * rotation). Stripe's webhook (signed, retried) and Better-Auth's endpoints (their own limits,
 * below) are mounted ahead of the plugin and never counted by it.
 */
export const EXEMPT_ROUTES: readonly RouteRef[] = ['GET /health', 'GET /health/db', 'GET /metrics'];

const MONEY_ROUTES: readonly RouteRef[] = [
  'POST /wallet/deposits',
  'POST /wallet/withdrawals',
  'POST /payments/methods',
  'POST /bounties/:id/publish',
  'POST /connect/account',
  'POST /connect/onboarding-link',
];

export const RATE_LIMIT_POLICIES = [
  {
    name: 'ip',
    points: 1200,
    durationS: 60,
    // Counted on every request: one database write per 20 of a client's requests on an instance.
    batch: 20,
    subject: 'ip',
    routes: 'every request',
    why: 'One client flooding the service; generous enough for many users behind one NAT',
  },
  {
    name: 'sign-in',
    points: 3,
    durationS: 10,
    subject: 'ip',
    routes: ['POST /auth/login', 'POST /api/auth/sign-in/email'],
    betterAuthPaths: ['/sign-in/*'],
    why: 'Password guessing (a scrypt hash per attempt)',
  },
  {
    name: 'sign-up',
    points: 3,
    durationS: 10,
    subject: 'ip',
    routes: ['POST /auth/signup', 'POST /api/auth/sign-up/email'],
    betterAuthPaths: ['/sign-up/*'],
    why: 'Mass account creation',
  },
  {
    name: 'change-password',
    points: 3,
    durationS: 10,
    subject: 'ip',
    routes: ['POST /api/auth/change-password'],
    betterAuthPaths: ['/change-password'],
    why: 'Guessing the current password with a stolen session',
  },
  {
    name: 'auth-endpoints',
    points: 100,
    durationS: 60,
    subject: 'ip',
    routes: [
      'POST /api/auth/sign-out',
      'GET /api/auth/get-session',
      'POST /api/auth/update-user',
      'GET /api/auth/list-sessions',
      'POST /api/auth/revoke-session',
      'POST /api/auth/revoke-sessions',
      'POST /api/auth/revoke-other-sessions',
    ],
    betterAuthPaths: ['*'],
    why: "Better-Auth's other endpoints, each counted on its own",
  },
  {
    name: 'money-ip',
    points: 30,
    durationS: 60,
    subject: 'ip',
    routes: MONEY_ROUTES,
    why: 'Card testing and payout probing from one address, across accounts',
  },
  {
    name: 'money-user',
    points: 10,
    durationS: 60,
    subject: 'user',
    routes: MONEY_ROUTES,
    why: 'Card testing and payout probing by one account',
  },
  {
    name: 'messages-user',
    points: 60,
    durationS: 60,
    subject: 'user',
    routes: ['POST /conversations/:id/messages', 'PATCH /messages/:id'],
    why: 'Spam in conversations',
  },
  {
    name: 'reports-user',
    points: 10,
    durationS: 3600,
    subject: 'user',
    routes: ['POST /reports'],
    why: 'Report floods against a person or a bounty',
  },
  {
    // Not the browse list itself (filters, pages, 304s): people behind one carrier NAT share an
    // IPv4, so only a text search, the costly query, is counted, and per account once signed in.
    name: 'search',
    points: 120,
    durationS: 60,
    subject: 'viewer',
    routes: ['GET /search/bounties', 'GET /bounties'],
    withQuery: 'q',
    why: 'Scraping through full-text search, the costliest read',
  },
] as const satisfies readonly RateLimitPolicy[];

export type PolicyName = (typeof RATE_LIMIT_POLICIES)[number]['name'];

const policies: readonly RateLimitPolicy[] = RATE_LIMIT_POLICIES;
const byName = new Map<string, RateLimitPolicy>(policies.map((policy) => [policy.name, policy]));

/** A policy of the table by name. */
export function ratePolicy(name: PolicyName): RateLimitPolicy {
  const policy = byName.get(name);
  if (!policy) throw new Error(`no rate-limit policy ${name}`);
  return policy;
}

/** Whether this service's plugin counts it (else Better-Auth's limiter does). */
const countedByService = (policy: RateLimitPolicy): boolean => policy.betterAuthPaths === undefined;

const everyRequest = policies.filter((policy) => countedByService(policy) && policy.routes === 'every request');
const exempt = new Set<string>(EXEMPT_ROUTES);
const byRoute = new Map<string, Record<RateLimitSubject, RateLimitPolicy[]>>();
for (const policy of policies) {
  if (!countedByService(policy) || policy.routes === 'every request') continue;
  for (const route of policy.routes) {
    const entry = byRoute.get(route) ?? { ip: [], user: [], viewer: [] };
    entry[policy.subject].push(policy);
    byRoute.set(route, entry);
  }
}

const hasQueryParameter = (url: string, name: string): boolean => {
  const query = url.indexOf('?');
  return query !== -1 && (new URLSearchParams(url.slice(query + 1)).get(name)?.trim() ?? '') !== '';
};

/**
 * The policies this service counts for a request to `route` (its Elysia template, `url` its URL)
 * by `subject`: per IP, the every-request policy (unless exempt) and the route's, counted once the
 * route is known; per user and per viewer, the route's, counted once the session is (the auth
 * step). Better-Auth counts its own endpoints.
 */
export function policiesFor(method: string, route: string, subject: RateLimitSubject, url = ''): readonly RateLimitPolicy[] {
  // A HEAD runs the GET's handler (and its query) without sending the body: the same cost.
  const key = `${method === 'HEAD' ? 'GET' : method} ${route}`;
  const listed = byRoute.get(key)?.[subject] ?? [];
  const own = listed.some((policy) => policy.withQuery !== undefined)
    ? listed.filter((policy) => policy.withQuery === undefined || hasQueryParameter(url, policy.withQuery))
    : listed;
  if (subject !== 'ip' || exempt.has(key)) return own;
  return own.length === 0 ? everyRequest : [...everyRequest, ...own];
}

const matchesBetterAuthPath = (pattern: string, path: string): boolean =>
  pattern.endsWith('/*') ? path.startsWith(pattern.slice(0, -1)) : pattern === path;

/** The policy Better-Auth applies to `path` (below /api/auth): the first that names it, else its default (`*`). */
export function betterAuthPolicy(path: string): RateLimitPolicy {
  const named = policies.find((policy) => policy.betterAuthPaths?.some((pattern) => pattern !== '*' && matchesBetterAuthPath(pattern, path)));
  return named ?? ratePolicy('auth-endpoints');
}

/**
 * The subject key of a client IP: IPv4 as is, IPv6 by its /64 (one host usually holds a whole
 * /64, as Better-Auth assumes too); no IP (a request that bypassed src/serve.ts) is one shared bucket.
 */
export function ipSubject(ip: string | null): string {
  if (!ip) return 'unknown';
  if (isIP(ip) !== 6) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') && tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => Number.parseInt(group, 16).toString(16)).join(':')}::/64`;
}

// --- Header fields -------------------------------------------------------------------------------
// The syntax of draft-ietf-httpapi-ratelimit-headers-11 (structured-field lists, sections 3 and 4):
//   RateLimit-Policy: "ip";q=1200;w=60        the policy: quota q per window w seconds
//   RateLimit: "ip";r=1187;t=42               what is left of it: r requests for t more seconds

/** A `RateLimit-Policy` item. */
export const policyItem = (policy: RateLimitPolicy): string => `"${policy.name}";q=${policy.points};w=${policy.durationS}`;

/** A `RateLimit` item. */
export const limitItem = (policy: RateLimitPolicy, remaining: number, resetS: number): string => `"${policy.name}";r=${remaining};t=${resetS}`;

// --- README ----------------------------------------------------------------------------------------

const fmtRoutes = (policy: RateLimitPolicy): string =>
  policy.routes === 'every request'
    ? `every route except ${EXEMPT_ROUTES.map((route) => `\`${route}\``).join(', ')}, Stripe's webhook and Better-Auth's endpoints`
    : `${policy.routes.map((route) => `\`${route}\``).join(', ')}${policy.withQuery ? `, with \`${policy.withQuery}\`` : ''}`;

const SUBJECTS: Record<RateLimitSubject, string> = { ip: 'client IP', user: 'signed-in user', viewer: 'signed-in user, else client IP' };

/** The README's table of policies (between `<!-- rate-limits:start -->` and `<!-- rate-limits:end -->`). */
export function rateLimitsMarkdown(): string {
  const rows = policies.map((policy) =>
    [
      `\`${policy.name}\``,
      `${policy.points} per ${policy.durationS} s${policy.batch ? ` (written ${policy.batch} at a time)` : ''}`,
      SUBJECTS[policy.subject],
      countedByService(policy) ? 'this service' : 'Better-Auth',
      fmtRoutes(policy),
      policy.why,
    ].join(' | '),
  );
  return ['| policy | limit | per | counted by | routes | against |', '| --- | --- | --- | --- | --- | --- |', ...rows.map((row) => `| ${row} |`)].join('\n');
}
