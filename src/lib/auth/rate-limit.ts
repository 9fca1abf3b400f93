/**
 * Better-Auth's rate limits (sign-in, sign-up, change-password, its other endpoints per client IP)
 * from the policy table (src/lib/rate-limits.ts), counted in the shared store, and the headers of
 * its 429s.
 *
 * Better-Auth 1.7 asks a custom storage for one atomic `consume(key, rule)` (it dropped get/set,
 * which let concurrent attempts all pass one stale read): the store's upsert is that step, so the
 * limit holds in total across instances, not per instance.
 */
import { rateLimitRejections } from '../metrics';
import { type RateLimitStore } from '../rate-limit-store';
import { betterAuthPolicy, limitItem, policyItem, RATE_LIMIT_POLICIES, ratePolicy } from '../rate-limits';

type RateRule = { window: number; max: number };

/** Better-Auth's `customStorage`: its key is `<ip>|<path>`, so each endpoint has its own bucket. */
export function sharedRateLimitStorage(store: RateLimitStore) {
  return {
    async consume(key: string, rule: RateRule) {
      const policy = betterAuthPolicy(key.slice(key.lastIndexOf('|') + 1));
      const verdict = await store.consume({ name: policy.name, points: rule.max, durationS: rule.window }, key);
      if (!verdict.allowed) rateLimitRejections.inc({ policy: policy.name });
      return { allowed: verdict.allowed, retryAfter: verdict.allowed ? null : verdict.resetS };
    },
  };
}

/** Better-Auth's default rule and custom rules (its paths below /api/auth), as the table states them. */
export function betterAuthRules() {
  const fallback = ratePolicy('auth-endpoints');
  const customRules: Record<string, RateRule> = {};
  for (const policy of RATE_LIMIT_POLICIES) {
    if (!('betterAuthPaths' in policy)) continue;
    for (const path of policy.betterAuthPaths) {
      if (path !== '*') customRules[path] = { window: policy.durationS, max: policy.points };
    }
  }
  return { window: fallback.durationS, max: fallback.points, customRules };
}

/** Better-Auth's `rateLimit` option: on, the table's rules, the shared store. */
export const betterAuthRateLimit = (store: RateLimitStore) => ({ enabled: true, ...betterAuthRules(), customStorage: sharedRateLimitStorage(store) });

/** Retry-After and the RateLimit fields (./rate-limits.ts states the draft) of a 429 from Better-Auth on `path`. */
export function rateLimitHeaders(retryAfterS: number, path: string): Record<string, string> {
  const policy = betterAuthPolicy(path);
  return { 'retry-after': String(retryAfterS), 'ratelimit-policy': policyItem(policy), ratelimit: limitItem(policy, 0, retryAfterS) };
}
