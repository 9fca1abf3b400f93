/**
 * Daily rollups: a UTC day's figures, for everyone (`all`) and for each poster's bounties
 * (`poster:<id>`), computed from that day's analytics events. A day is recomputed whole, in one
 * transaction (its rows deleted and written again, under an advisory lock per day), so running a
 * day again gives the same rows, whatever ran before.
 *
 * A run (the rollup job, every 15 minutes, on the injected clock) recomputes: any older day that
 * got an event recorded since the previous run (a dispatch that waited out an outage); the last
 * RECENT_DAYS days and today (events dispatched a little late land there); and the days no run
 * computed (the job was down), oldest first. At most MAX_DAYS_PER_RUN days a run (daysToRoll says
 * why the next run still finds the rest); days without an event are only marked, all at once.
 *
 * The figures (src/db/schema/analytics.ts lists them): counts of each event; money per currency
 * (GMV: the reward of a completed bounty and the hunter's share of a settled one, before the
 * platform fee; the fee; deposit and payout volumes); posters and hunters active that day (a
 * poster created, published, accepted or completed a bounty; a hunter applied, was accepted or
 * completed); the median seconds from publication to acceptance and from the last submission to
 * approval. The `events` row (every event of the day, 0 included) marks the day as computed.
 */
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type AnalyticsEventName, type AnalyticsMetric, analyticsDaily, type Database, selectRows, type Transaction } from '../../db';

const DAY_MS = 86_400_000;
/** Days before today recomputed on every run. */
export const RECENT_DAYS = 2;
export const MAX_DAYS_PER_RUN = 62;
/** A dispatch may commit this long after the clock it stamped: a run looks back this far for late events. */
const LATE_MARGIN_MS = 10 * 60_000;
const INSERT_CHUNK = 1_000;

/** The UTC day of an instant, as YYYY-MM-DD. */
export const utcDay = (at: Date): string => at.toISOString().slice(0, 10);
export const dayStart = (day: string): Date => new Date(`${day}T00:00:00.000Z`);
export const addDays = (day: string, days: number): string => utcDay(new Date(dayStart(day).getTime() + days * DAY_MS));
/** Whole days from `from` to `to` (0 for the same day). */
export const daysBetween = (from: string, to: string): number => Math.round((dayStart(to).getTime() - dayStart(from).getTime()) / DAY_MS);

/** The count each event adds to. */
export const COUNT_METRIC: Readonly<Record<AnalyticsEventName, AnalyticsMetric>> = {
  'user.signed_up': 'signups',
  'bounty.created': 'bounties_created',
  'bounty.published': 'bounties_published',
  'bounty.accepted': 'bounties_accepted',
  'bounty.completed': 'bounties_completed',
  'bounty.settled': 'bounties_settled',
  'bounty.disputed': 'disputes_opened',
  'request.created': 'requests_created',
  'message.sent': 'messages_sent',
  'deposit.succeeded': 'deposits',
  'payout.paid': 'payouts',
};

/** The money each event adds to (its amount, and its fee when it has one). */
const MONEY_METRIC: Partial<Record<AnalyticsEventName, { amount: AnalyticsMetric; fee?: AnalyticsMetric }>> = {
  'bounty.completed': { amount: 'gmv', fee: 'platform_fees' },
  'bounty.settled': { amount: 'gmv', fee: 'platform_fees' },
  'deposit.succeeded': { amount: 'deposit_volume' },
  'payout.paid': { amount: 'payout_volume' },
};

/** The durations whose median is kept. */
export const MEDIAN_METRIC: Partial<Record<AnalyticsEventName, AnalyticsMetric>> = {
  'bounty.accepted': 'median_seconds_to_accept',
  'bounty.completed': 'median_seconds_to_approve',
};

/** What makes a poster, or a hunter, active. */
export const POSTER_ACTIVITY: readonly AnalyticsEventName[] = ['bounty.created', 'bounty.published', 'bounty.accepted', 'bounty.completed'];
export const HUNTER_ACTIVITY: readonly AnalyticsEventName[] = ['request.created', 'bounty.accepted', 'bounty.completed'];

export const posterDimension = (posterId: string): string => `poster:${posterId}`;

/** An instant as a typed parameter (the driver does not take a Date inside raw SQL). */
export const instant = (at: Date) => sql`${at.toISOString()}::timestamptz`;
/** `'a', 'b'` as parameters, for `name in (...)`. */
export const names = (list: readonly string[]) => sql.join(list.map((name) => sql`${name}`), sql`, `);
/** A count or a sum as the driver returns it (a bigint arrives as a string). */
export const bigintValue = z.union([z.number(), z.string()]).transform(Number);

const groupedRow = z.object({ posterId: z.string().nullable(), everyone: z.boolean(), name: z.string(), currency: z.string().nullable(), n: bigintValue, amount: bigintValue, fee: bigintValue });
const medianRow = z.object({ posterId: z.string().nullable(), everyone: z.boolean(), name: z.string(), median: z.number().nullable() });
const activeRow = z.object({ posters: bigintValue, hunters: bigintValue, events: bigintValue });

type Figure = { dimension: string; metric: AnalyticsMetric; currency: string; value: number };

/** Recomputes one day's rollups; returns how many rows it wrote. */
export async function rollupDay(db: Database, day: string, now: Date): Promise<number> {
  const from = dayStart(day);
  const to = new Date(from.getTime() + DAY_MS);
  return db.transaction(async (tx) => {
    // Two runs of the same day (a retry beside the cron) take turns: the second writes the same rows.
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('analytics.rollup'), ${Math.round(from.getTime() / DAY_MS)}::int)`);
    const figures = await dayFigures(tx, from, to);
    await tx.delete(analyticsDaily).where(eq(analyticsDaily.day, day));
    for (let start = 0; start < figures.length; start += INSERT_CHUNK) {
      await tx.insert(analyticsDaily).values(figures.slice(start, start + INSERT_CHUNK).map((figure) => ({ ...figure, day, computedAt: now })));
    }
    return figures.length;
  });
}

/** The figures every computed day has, 0 included: its active people and its `events` marker. */
const dayTotals = (counts: { posters: number; hunters: number; events: number }): Figure[] => [
  { dimension: 'all', metric: 'active_posters', currency: '', value: counts.posters },
  { dimension: 'all', metric: 'active_hunters', currency: '', value: counts.hunters },
  { dimension: 'all', metric: 'events', currency: '', value: counts.events },
];

async function dayFigures(tx: Transaction, from: Date, to: Date): Promise<Figure[]> {
  const inDay = sql`occurred_at >= ${instant(from)} and occurred_at < ${instant(to)}`;
  const grouped = await selectRows(
    tx,
    sql`select poster_id as "posterId", grouping(poster_id) = 1 as everyone, name, currency, count(*) as n,
               coalesce(sum(amount), 0) as amount, coalesce(sum(fee), 0) as fee
        from analytics_events where ${inDay}
        group by grouping sets ((name, currency), (poster_id, name, currency))`,
    groupedRow,
  );
  const medians = await selectRows(
    tx,
    sql`select poster_id as "posterId", grouping(poster_id) = 1 as everyone, name,
               percentile_cont(0.5) within group (order by seconds) as median
        from analytics_events where ${inDay} and seconds is not null and name in (${names(Object.keys(MEDIAN_METRIC))})
        group by grouping sets ((name), (poster_id, name))`,
    medianRow,
  );
  const [active] = await selectRows(
    tx,
    sql`select count(distinct poster_id) filter (where name in (${names(POSTER_ACTIVITY)})) as posters,
               count(distinct hunter_id) filter (where name in (${names(HUNTER_ACTIVITY)})) as hunters,
               count(*) as events
        from analytics_events where ${inDay}`,
    activeRow,
  );

  const sums = new Map<string, Figure>();
  const add = (dimension: string, metric: AnalyticsMetric, currency: string, value: number) => {
    const key = `${dimension}\n${metric}\n${currency}`;
    const figure = sums.get(key) ?? { dimension, metric, currency, value: 0 };
    figure.value += value;
    sums.set(key, figure);
  };
  const dimensionOf = (row: { everyone: boolean; posterId: string | null }): string | null =>
    row.everyone ? 'all' : row.posterId === null ? null : posterDimension(row.posterId);

  for (const row of grouped) {
    const dimension = dimensionOf(row);
    const name = row.name as AnalyticsEventName;
    if (dimension === null) continue;
    add(dimension, COUNT_METRIC[name], '', row.n);
    const money = MONEY_METRIC[name];
    if (money && row.currency !== null) {
      add(dimension, money.amount, row.currency, row.amount);
      if (money.fee) add(dimension, money.fee, row.currency, row.fee);
    }
  }
  for (const row of medians) {
    const dimension = dimensionOf(row);
    const metric = MEDIAN_METRIC[row.name as AnalyticsEventName];
    if (dimension !== null && metric && row.median !== null) add(dimension, metric, '', Math.round(row.median));
  }
  const totals = dayTotals({ posters: active?.posters ?? 0, hunters: active?.hunters ?? 0, events: active?.events ?? 0 });
  for (const figure of totals) add(figure.dimension, figure.metric, figure.currency, figure.value);
  return [...sums.values()];
}

const markerRow = z.object({ computedAt: z.coerce.date() });
const dayRow = z.object({ day: z.string() });
const uncomputedRow = z.object({ day: z.string(), hasEvents: z.boolean() });

/** The days a run recomputes, in order, at most MAX_DAYS_PER_RUN; and the days without an event it only marks. */
export type RollupPlan = { days: string[]; empty: string[] };

/**
 * What a run at `now` does. Nothing is remembered between runs but the rollups themselves, so a
 * day a run leaves out is found again by the next one:
 * - late: days before the recent ones with an event recorded since the previous run (the newest
 *   day's marker says when that was; each run writes its today) and since their own computation.
 *   They come first, oldest first. When they fill the run, no recent or empty day is written, so
 *   the newest marker still dates the previous whole run and the next run finds the rest (a late
 *   day newer than that marker had none of its own: it is also an uncomputed day).
 * - the recent days (today and RECENT_DAYS before it);
 * - uncomputed: days since the first event without a marker (the job was down), oldest first. A
 *   day with no event is only marked, all of them in one statement; the rest wait for later runs.
 */
export async function daysToRoll(db: Database, now: Date): Promise<RollupPlan> {
  const today = utcDay(now);
  const windowStart = addDays(today, -RECENT_DAYS);
  const recent = Array.from({ length: RECENT_DAYS + 1 }, (_, index) => addDays(windowStart, index));
  const [newest] = await selectRows(
    db,
    sql`select computed_at as "computedAt" from analytics_daily
        where dimension = 'all' and metric = 'events' and currency = '' order by dimension, day desc limit 1`,
    markerRow,
  );
  const late = newest
    ? await selectRows(
        db,
        sql`select recorded.day::text as day
            from (select (occurred_at at time zone 'UTC')::date as day, max(recorded_at) as last from analytics_events
                  where recorded_at >= ${instant(new Date(newest.computedAt.getTime() - LATE_MARGIN_MS))} and occurred_at < ${instant(dayStart(windowStart))}
                  group by 1) as recorded
            left join analytics_daily marker
              on marker.dimension = 'all' and marker.day = recorded.day and marker.metric = 'events' and marker.currency = ''
            where marker.day is null or recorded.last >= marker.computed_at - ${LATE_MARGIN_MS}::int * interval '1 millisecond'
            order by recorded.day`,
        dayRow,
      )
    : [];
  if (late.length >= MAX_DAYS_PER_RUN) return { days: late.slice(0, MAX_DAYS_PER_RUN).map((row) => row.day), empty: [] };
  const uncomputed = await selectRows(
    db,
    sql`select series.day::date::text as day,
               exists (select 1 from analytics_events
                       where occurred_at >= series.day at time zone 'UTC' and occurred_at < (series.day + interval '1 day') at time zone 'UTC') as "hasEvents"
        from generate_series(
               (select (min(occurred_at) at time zone 'UTC')::date from analytics_events)::timestamp,
               (${windowStart}::date - 1)::timestamp, interval '1 day') as series(day)
        where not exists (select 1 from analytics_daily marker
                          where marker.dimension = 'all' and marker.day = series.day::date and marker.metric = 'events' and marker.currency = '')
        order by series.day`,
    uncomputedRow,
  );
  const withEvents = uncomputed.filter((row) => row.hasEvents).map((row) => row.day);
  const days = [...new Set([...late.map((row) => row.day), ...recent, ...withEvents])].slice(0, MAX_DAYS_PER_RUN);
  return { days, empty: uncomputed.filter((row) => !row.hasEvents).map((row) => row.day) };
}

/** Marks days that have no event as computed: the rows rollupDay writes for such a day, in one statement per chunk. */
async function markEmptyDays(db: Database, days: readonly string[], now: Date): Promise<void> {
  const zeros = dayTotals({ posters: 0, hunters: 0, events: 0 });
  for (let start = 0; start < days.length; start += INSERT_CHUNK) {
    const rows = days.slice(start, start + INSERT_CHUNK).flatMap((day) => zeros.map((figure) => ({ ...figure, day, computedAt: now })));
    // A day that got its first event meanwhile was computed by rollupDay, or is found late by the next run.
    await db.insert(analyticsDaily).values(rows).onConflictDoNothing();
  }
}

/** One run: recomputes the days daysToRoll names and marks the empty ones; returns the days done, in order. */
export async function runRollups(db: Database, now: Date, signal?: AbortSignal): Promise<string[]> {
  const plan = await daysToRoll(db, now);
  const done: string[] = [];
  for (const day of plan.days) {
    if (signal?.aborted) return done.sort();
    await rollupDay(db, day, now);
    done.push(day);
  }
  await markEmptyDays(db, plan.empty, now);
  return [...done, ...plan.empty].sort();
}
