/**
 * Product analytics (src/modules/analytics): one row per outbox event the analytics recorder took
 * (append-only, keyed by the outbox event's id, so a retried dispatch records it once), the daily
 * rollups the rollup job recomputes from them, and the events waiting to be forwarded to Mixpanel.
 *
 * What a row may hold is fixed by its columns: ids, amounts in minor units, durations. No email,
 * name, title or message text is ever stored here (nor, therefore, forwarded). Like payments and
 * trust, nothing references `users`: the figures outlive an account.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, date, index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { inList } from './checks';

/** What happened, as analytics names it (src/modules/analytics/events.ts maps outbox topics to these). */
export const analyticsEventNames = [
  'user.signed_up',
  'bounty.created',
  'bounty.published',
  'bounty.accepted',
  'bounty.completed',
  'bounty.settled',
  'bounty.disputed',
  'request.created',
  'message.sent',
  'deposit.succeeded',
  'payout.paid',
] as const;
export type AnalyticsEventName = (typeof analyticsEventNames)[number];

export const analyticsEvents = pgTable(
  'analytics_events',
  {
    /** The outbox event it was recorded from: the key that makes recording idempotent. */
    eventId: bigint('event_id', { mode: 'number' }).primaryKey(),
    name: text('name').$type<AnalyticsEventName>().notNull(),
    /** When it happened (the outbox event's time, the writer's clock). */
    occurredAt: timestamp('occurred_at', { withTimezone: true }).notNull(),
    /** When the recorder took it: a day's rollup is recomputed when an event of it arrives late. */
    recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull(),
    /** Whom it is about (the one who acted; the poster for a timer's step): Mixpanel's distinct_id. */
    userId: text('user_id').notNull(),
    /** The bounty's poster and hunter, when it is about a bounty. */
    posterId: text('poster_id'),
    hunterId: text('hunter_id'),
    bountyId: uuid('bounty_id'),
    /** Money in minor units: a reward, the hunter's gross share, a deposit or a payout; the platform fee on it. */
    amount: bigint('amount', { mode: 'number' }),
    fee: bigint('fee', { mode: 'number' }),
    currency: text('currency'),
    /** Seconds from publication to acceptance (accepted), from the last submission to approval (completed). */
    seconds: bigint('seconds', { mode: 'number' }),
  },
  (table) => [
    // A day's rollup reads its day; the range reports (actives, medians) read names over a range;
    // a poster's report reads their own rows; late arrivals are found by when they were recorded.
    index('analytics_events_occurred_idx').on(table.occurredAt),
    index('analytics_events_name_occurred_idx').on(table.name, table.occurredAt),
    index('analytics_events_poster_idx').on(table.posterId, table.name, table.occurredAt).where(sql`${table.posterId} is not null`),
    index('analytics_events_recorded_idx').on(table.recordedAt),
    check('analytics_events_name_check', sql`${table.name} in (${inList(analyticsEventNames)})`),
    check('analytics_events_money_check', sql`(${table.amount} is null or ${table.amount} >= 0) and (${table.fee} is null or ${table.fee} >= 0)`),
    check('analytics_events_currency_check', sql`(${table.amount} is null) = (${table.currency} is null) and (${table.currency} is null or ${table.currency} ~ '^[a-z]{3}$')`),
    check('analytics_events_seconds_check', sql`${table.seconds} is null or ${table.seconds} >= 0`),
  ],
);

export type AnalyticsEvent = typeof analyticsEvents.$inferSelect;
export type NewAnalyticsEvent = typeof analyticsEvents.$inferInsert;

/** The figures a day's rollup holds (src/modules/analytics/rollup.ts says how each is computed). */
export const analyticsMetrics = [
  /** Every event of the day; its row also marks the day as computed (computed_at). */
  'events',
  'signups',
  'bounties_created',
  'bounties_published',
  'bounties_accepted',
  'bounties_completed',
  'bounties_settled',
  'disputes_opened',
  'requests_created',
  'messages_sent',
  'deposits',
  'payouts',
  'gmv',
  'platform_fees',
  'deposit_volume',
  'payout_volume',
  'active_posters',
  'active_hunters',
  'median_seconds_to_accept',
  'median_seconds_to_approve',
] as const;
export type AnalyticsMetric = (typeof analyticsMetrics)[number];

/**
 * One figure of one UTC day, for everyone (`all`) or for one poster's bounties (`poster:<id>`).
 * A day is recomputed whole (its rows deleted and written again in one transaction).
 */
export const analyticsDaily = pgTable(
  'analytics_daily',
  {
    dimension: text('dimension').notNull(),
    day: date('day', { mode: 'string' }).notNull(),
    metric: text('metric').$type<AnalyticsMetric>().notNull(),
    /** The currency of a money figure; '' for counts and durations. */
    currency: text('currency').notNull().default(''),
    value: bigint('value', { mode: 'number' }).notNull(),
    computedAt: timestamp('computed_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    // Reports read one dimension over a range of days; a recompute deletes one day.
    primaryKey({ columns: [table.dimension, table.day, table.metric, table.currency] }),
    index('analytics_daily_day_idx').on(table.day),
    check('analytics_daily_metric_check', sql`${table.metric} in (${inList(analyticsMetrics)})`),
    check('analytics_daily_dimension_check', sql`${table.dimension} = 'all' or ${table.dimension} like 'poster:_%'`),
    check('analytics_daily_currency_check', sql`${table.currency} = '' or ${table.currency} ~ '^[a-z]{3}$'`),
  ],
);

export type AnalyticsDailyRow = typeof analyticsDaily.$inferSelect;

/**
 * Events waiting to be forwarded to Mixpanel: written with the event only when a token is
 * configured, deleted once sent (so an instance without a token keeps nothing here).
 */
export const analyticsForwards = pgTable('analytics_forwards', {
  eventId: bigint('event_id', { mode: 'number' })
    .primaryKey()
    .references(() => analyticsEvents.eventId),
  attempts: integer('attempts').notNull().default(0),
  queuedAt: timestamp('queued_at', { withTimezone: true }).notNull(),
});
