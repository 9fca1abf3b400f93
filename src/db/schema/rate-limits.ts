/**
 * Rate-limit counters shared by every instance (src/lib/rate-limits.ts): rate-limiter-flexible's
 * RateLimiterDrizzle upserts one row per key (`<policy>:<subject>`) and reads `points` back in the
 * same statement, so concurrent consumers on any pool count exactly. Better-Auth's own limiter
 * (sign-in, sign-up) keeps its buckets here too, through its customStorage.
 */
import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const rateLimits = pgTable(
  'rate_limits',
  {
    key: text('key').primaryKey(),
    points: integer('points').notNull().default(0),
    /** The end of the current window; null never expires (not used by our policies). */
    expire: timestamp('expire', { withTimezone: true, mode: 'date' }),
  },
  // The library sweeps rows expired an hour ago; the index keeps that sweep off a table scan.
  (table) => [index('rate_limits_expire_idx').on(table.expire)],
);
