/** Better-Auth's rate limits (sign-in / sign-up per client IP) and the headers of a 429. */
type RateRule = { window: number; max: number };

/**
 * In-memory, PER AUTH INSTANCE (so per process): N instances behind a load balancer allow N times
 * the limit. Better-Auth's built-in memory store is module-global, which made separately built
 * instances (tests) share buckets. Fixed window per key, pruned as it goes.
 */
export function memoryRateLimitStorage() {
  const buckets = new Map<string, { count: number; startedAt: number; windowMs: number }>();
  let lastPrune = Date.now();
  return {
    async consume(key: string, rule: RateRule) {
      const now = Date.now();
      if (now - lastPrune > 60_000 || buckets.size > 100_000) {
        for (const [name, bucket] of buckets) if (now - bucket.startedAt >= bucket.windowMs) buckets.delete(name);
        lastPrune = now;
      }
      const windowMs = rule.window * 1000;
      const bucket = buckets.get(key);
      if (!bucket || now - bucket.startedAt >= windowMs) {
        buckets.set(key, { count: 1, startedAt: now, windowMs });
        return { allowed: true, retryAfter: null };
      }
      if (bucket.count >= rule.max) {
        return { allowed: false, retryAfter: Math.max(1, Math.ceil((bucket.startedAt + windowMs - now) / 1000)) };
      }
      bucket.count += 1;
      return { allowed: true, retryAfter: null };
    },
  };
}

/** Sign-in and sign-up: 3 attempts per 10 s per client IP (Better-Auth's own default, made explicit). */
export const CREDENTIAL_RATE_LIMIT: RateRule = { window: 10, max: 3 };
/** Every other Better-Auth endpoint. */
export const DEFAULT_RATE_LIMIT: RateRule = { window: 60, max: 100 };

const isCredentialPath = (path: string): boolean => /\/(sign-in|sign-up)\//.test(path);

/** Retry-After plus the IETF draft RateLimit header, for a 429 on `path`. */
export function rateLimitHeaders(retryAfterS: number, path: string): Record<string, string> {
  const rule = isCredentialPath(path) ? CREDENTIAL_RATE_LIMIT : DEFAULT_RATE_LIMIT;
  return { 'retry-after': String(retryAfterS), ratelimit: `limit=${rule.max}, remaining=0, reset=${retryAfterS}` };
}
