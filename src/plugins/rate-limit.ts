/**
 * The service's rate limits (src/lib/rate-limits.ts), counted in the shared store
 * (src/lib/rate-limit-store.ts) at two points of a request:
 * - once routed: the every-request policy and the route's per-IP policies, in one round trip. A
 *   POST, PUT, PATCH or DELETE is counted by a parse hook the error handler runs ahead of its
 *   parser (`beforeParse`), so a body that is malformed, too large or not JSON counts too; a GET
 *   or HEAD (Elysia parses no body there) by a global transform hook. Each request once;
 * - once the session is known (`countViewer`, called by the auth and optionalAuth macros in
 *   src/plugins/auth.ts): the route's per-user policies by user id, and its per-viewer ones by
 *   user id or, anonymous, by client IP; at no extra session lookup.
 * Not in onRequest: Elysia 1.4.30 renders an error thrown there with an empty body whenever a
 * global mapResponse hook exists (src/plugins/database.ts has one), so the 429 would lose our format.
 *
 * Each counted policy adds an item to `RateLimit-Policy` and `RateLimit`; a refusal is 429
 * TOO_MANY_REQUESTS in the one error format with `Retry-After`, counted in
 * rate_limit_rejections_total. With RATE_LIMITS_ENABLED=false the plugin adds no hook and
 * `countViewer` does nothing (Better-Auth's own limits still apply).
 *
 * The client IP is the header src/serve.ts stamps (X-Forwarded-For only past TRUSTED_PROXIES).
 */
import { Elysia } from 'elysia';
import { CLIENT_IP_HEADER } from '../lib/auth';
import type { HeaderSink } from '../lib/cookies';
import { COMMON_ERRORS, HttpError } from '../lib/errors';
import { rateLimitRejections } from '../lib/metrics';
import type { BeforeParse } from './error-handler';
import type { RateLimitStore } from '../lib/rate-limit-store';
import { ipSubject, limitItem, policyItem, policiesFor, type RateLimitPolicy } from '../lib/rate-limits';

/** What the auth macros call once they know the session (src/plugins/auth.ts); `userId` null: anonymous. */
export type CountViewer = (context: { request: Request; route: string; set: HeaderSink; userId: string | null }) => Promise<void>;

export type RateLimiting = {
  /** Mount after request-context, cors and the error handler: its 429 is then logged and in our format. */
  plugin: Elysia;
  /** The error handler runs it ahead of its parser (routes that read their own body are not counted here). */
  beforeParse: BeforeParse | undefined;
  countViewer: CountViewer;
};

/** Appends structured-field list items to a header already set by an earlier stage of the request. */
function appendItems(set: HeaderSink, name: string, items: readonly string[]): string {
  const existing = set.headers[name];
  const value = typeof existing === 'string' && existing !== '' ? `${existing}, ${items.join(', ')}` : items.join(', ');
  set.headers[name] = value;
  return value;
}

/**
 * Counts `subject` against each policy (at once: one round trip), records the RateLimit fields, and
 * throws the 429 when any refused it (Retry-After: the longest wait among those that refused).
 */
async function count(store: RateLimitStore, policies: readonly RateLimitPolicy[], subject: string, set: HeaderSink): Promise<void> {
  const counted = await Promise.all(policies.map(async (policy) => ({ policy, verdict: await store.consume(policy, subject) })));
  const headers = {
    'ratelimit-policy': appendItems(set, 'ratelimit-policy', policies.map(policyItem)),
    ratelimit: appendItems(set, 'ratelimit', counted.map(({ policy, verdict }) => limitItem(policy, verdict.remaining, verdict.resetS))),
  };
  const refused = counted.filter(({ verdict }) => !verdict.allowed);
  if (refused.length === 0) return;
  for (const { policy } of refused) rateLimitRejections.inc({ policy: policy.name });
  const retryAfterS = Math.max(...refused.map(({ verdict }) => verdict.resetS));
  const names = refused.map(({ policy }) => `${policy.name} (${policy.points} per ${policy.durationS} s)`).join(', ');
  throw new HttpError(429, 'TOO_MANY_REQUESTS', `${COMMON_ERRORS.codes.TOO_MANY_REQUESTS.message}: ${names}; retry in ${retryAfterS} s`, undefined, {
    ...headers,
    'retry-after': String(retryAfterS),
  });
}

const clientSubject = (request: Request): string => ipSubject(request.headers.get(CLIENT_IP_HEADER));

export function rateLimiting(options: { enabled: boolean; store: RateLimitStore }): RateLimiting {
  const plugin = new Elysia({ name: 'rate-limit' });
  if (!options.enabled) return { plugin, beforeParse: undefined, countViewer: async () => undefined };
  const { store } = options;
  // Requests the parse hook counted (Elysia runs it only on methods with a body): the transform skips them.
  const counted = new WeakSet<Request>();
  const countIp: BeforeParse = async ({ request, route, set }) => {
    if (counted.has(request)) return;
    counted.add(request);
    const policies = policiesFor(request.method, route, 'ip');
    if (policies.length > 0) await count(store, policies, clientSubject(request), set);
  };
  plugin.onTransform({ as: 'global' }, countIp);
  return {
    plugin,
    beforeParse: countIp,
    countViewer: async ({ request, route, set, userId }) => {
      const viewer = policiesFor(request.method, route, 'viewer', request.url);
      // One subject per request: a user id and an IP never collide within a policy's keys.
      const policies = userId === null ? viewer : [...policiesFor(request.method, route, 'user'), ...viewer];
      if (policies.length > 0) await count(store, policies, userId ?? clientSubject(request), set);
    },
  };
}
