/**
 * The reports over a range of UTC days. What adds up (counts, money) is summed from the daily
 * rollups; what does not (distinct active people, medians) is computed from the range's events,
 * through the indexes on (name, occurred_at) and (poster_id, name, occurred_at). A poster's report
 * reads only their own rows: the poster is in every WHERE (`poster:<id>` rollups, `poster_id`
 * events), so nobody else's bounties can reach it. Reads go to a replica like any report.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type AnalyticsMetric, analyticsMetrics, type Database, type DatabaseSession, selectRows } from '../../db';
import { ANALYTICS_ERRORS } from './errors';
import { addDays, bigintValue, dayStart, daysBetween, HUNTER_ACTIVITY, instant, MEDIAN_METRIC, names, POSTER_ACTIVITY, posterDimension, utcDay } from './rollup';
import { DEFAULT_RANGE_DAYS, MAX_RANGE_DAYS, type OverviewView, type PosterOverviewView, type SeriesView } from './schemas';

export type DayRange = Readonly<{ from: string; to: string }>;

/** The range a query names: `to` defaults to today (by `now`), `from` to DEFAULT_RANGE_DAYS before it. */
export function resolveRange(query: { from?: string | undefined; to?: string | undefined }, now: Date): DayRange {
  const to = query.to ?? utcDay(now);
  const from = query.from ?? addDays(to, -(DEFAULT_RANGE_DAYS - 1));
  if (from > to) throw ANALYTICS_ERRORS.error('INVALID_RANGE', undefined, [{ path: 'from', message: `${from} is after ${to}` }]);
  if (daysBetween(from, to) + 1 > MAX_RANGE_DAYS) throw ANALYTICS_ERRORS.error('RANGE_TOO_LONG', undefined, [{ path: 'from', message: `${daysBetween(from, to) + 1} days` }]);
  return { from, to };
}

const totalRow = z.object({ metric: z.string(), currency: z.string(), value: bigintValue });
const coverageRow = z.object({ days: bigintValue, computedAt: z.coerce.date().nullable() });
const mediansRow = z.object({ toAccept: z.number().nullable(), toApprove: z.number().nullable() });
const liveRow = mediansRow.extend({ posters: bigintValue, hunters: bigintValue });
const pointRow = z.object({ day: z.string(), currency: z.string(), value: bigintValue });

/** What a range sums from the rollups: every figure but distinct people and medians (computed from the events instead). */
const NOT_ADDITIVE: ReadonlySet<AnalyticsMetric> = new Set<AnalyticsMetric>(['active_posters', 'active_hunters', ...Object.values(MEDIAN_METRIC)]);
const ADDITIVE: readonly AnalyticsMetric[] = analyticsMetrics.filter((metric) => !NOT_ADDITIVE.has(metric));

/** Summed figures of one dimension over the range: counts by metric, money by metric and currency. */
class Totals {
  constructor(private readonly rows: z.infer<typeof totalRow>[]) {}
  count(metric: AnalyticsMetric): number {
    return this.rows.filter((row) => row.metric === metric).reduce((sum, row) => sum + row.value, 0);
  }
  money(metric: AnalyticsMetric, currency: string): number {
    return this.rows.find((row) => row.metric === metric && row.currency === currency)?.value ?? 0;
  }
  currencies(): string[] {
    return [...new Set(this.rows.filter((row) => row.currency !== '').map((row) => row.currency))].sort();
  }
}

async function totals(db: Database, dimension: string, range: DayRange): Promise<Totals> {
  const rows = await selectRows(
    db,
    sql`select metric, currency, sum(value) as value from analytics_daily
        where dimension = ${dimension} and day >= ${range.from} and day <= ${range.to} and metric in (${names(ADDITIVE)})
        group by metric, currency`,
    totalRow,
  );
  return new Totals(rows);
}

async function coverage(db: Database, range: DayRange) {
  const [row] = await selectRows(
    db,
    sql`select count(*) as days, max(computed_at) as "computedAt" from analytics_daily
        where dimension = 'all' and day >= ${range.from} and day <= ${range.to} and metric = 'events' and currency = ''`,
    coverageRow,
  );
  return { from: range.from, to: range.to, daysComputed: row?.days ?? 0, computedAt: row?.computedAt ?? null };
}

const ratio = (numerator: number, denominator: number): number | null => (denominator === 0 ? null : Math.round((numerator / denominator) * 10_000) / 10_000);
const whole = (value: number | null | undefined): number | null => (value === null || value === undefined ? null : Math.round(value));

function bountyFigures(sums: Totals, live: z.infer<typeof mediansRow> | undefined) {
  const published = sums.count('bounties_published');
  const accepted = sums.count('bounties_accepted');
  const completed = sums.count('bounties_completed');
  const opened = sums.count('disputes_opened');
  return {
    funnel: { published, accepted, completed, acceptRate: ratio(accepted, published), completionRate: ratio(completed, accepted) },
    timing: { medianSecondsToAccept: whole(live?.toAccept), medianSecondsToApprove: whole(live?.toApprove) },
    disputes: { opened, rate: ratio(opened, accepted) },
  };
}

/** Instants of the range: from the first day's start to the end of the last. */
const bounds = (range: DayRange) => ({ start: dayStart(range.from), end: dayStart(addDays(range.to, 1)) });

/** The admin's report: the whole marketplace over the range. */
export async function overview(session: DatabaseSession, range: DayRange): Promise<OverviewView> {
  const { start, end } = bounds(range);
  const activity = [...new Set([...POSTER_ACTIVITY, ...HUNTER_ACTIVITY])];
  return session.read(async (db) => {
    const sums = await totals(db, 'all', range);
    const [live] = await selectRows(
      db,
      sql`select count(distinct poster_id) filter (where name in (${names(POSTER_ACTIVITY)})) as posters,
                 count(distinct hunter_id) filter (where name in (${names(HUNTER_ACTIVITY)})) as hunters,
                 percentile_cont(0.5) within group (order by seconds) filter (where name = 'bounty.accepted') as "toAccept",
                 percentile_cont(0.5) within group (order by seconds) filter (where name = 'bounty.completed') as "toApprove"
          from analytics_events where name in (${names(activity)}) and occurred_at >= ${instant(start)} and occurred_at < ${instant(end)}`,
      liveRow,
    );
    return {
      ...(await coverage(db, range)),
      money: sums.currencies().map((currency) => {
        const gmv = sums.money('gmv', currency);
        const platformFees = sums.money('platform_fees', currency);
        return {
          currency,
          gmv,
          platformFees,
          takeRate: ratio(platformFees, gmv),
          depositVolume: sums.money('deposit_volume', currency),
          payoutVolume: sums.money('payout_volume', currency),
        };
      }),
      activity: {
        signups: sums.count('signups'),
        activePosters: live?.posters ?? 0,
        activeHunters: live?.hunters ?? 0,
        bountiesCreated: sums.count('bounties_created'),
        bountiesSettled: sums.count('bounties_settled'),
        requests: sums.count('requests_created'),
        messages: sums.count('messages_sent'),
        deposits: sums.count('deposits'),
        payouts: sums.count('payouts'),
      },
      ...bountyFigures(sums, live),
    };
  });
}

/** A poster's report about their own bounties over the range. */
export async function posterOverview(session: DatabaseSession, posterId: string, range: DayRange): Promise<PosterOverviewView> {
  const { start, end } = bounds(range);
  return session.read(async (db) => {
    const sums = await totals(db, posterDimension(posterId), range);
    const [live] = await selectRows(
      db,
      sql`select percentile_cont(0.5) within group (order by seconds) filter (where name = 'bounty.accepted') as "toAccept",
                 percentile_cont(0.5) within group (order by seconds) filter (where name = 'bounty.completed') as "toApprove"
          from analytics_events
          where poster_id = ${posterId} and name in ('bounty.accepted', 'bounty.completed') and occurred_at >= ${instant(start)} and occurred_at < ${instant(end)}`,
      mediansRow,
    );
    return {
      ...(await coverage(db, range)),
      money: sums.currencies().map((currency) => ({ currency, paidOut: sums.money('gmv', currency), platformFees: sums.money('platform_fees', currency) })),
      activity: {
        bountiesCreated: sums.count('bounties_created'),
        bountiesSettled: sums.count('bounties_settled'),
        requestsReceived: sums.count('requests_created'),
        messages: sums.count('messages_sent'),
      },
      ...bountyFigures(sums, live),
    };
  });
}

/** One figure by day, for everyone (`all`) or one poster's bounties. */
export async function series(session: DatabaseSession, dimension: 'all' | { posterId: string }, metric: AnalyticsMetric, range: DayRange): Promise<SeriesView> {
  const key = dimension === 'all' ? 'all' : posterDimension(dimension.posterId);
  const rows = await session.read((db) =>
    selectRows(
      db,
      sql`select day::text as day, currency, value from analytics_daily
          where dimension = ${key} and day >= ${range.from} and day <= ${range.to} and metric = ${metric}
          order by day, currency`,
      pointRow,
    ),
  );
  return { from: range.from, to: range.to, metric, points: rows.map((row) => ({ day: row.day, currency: row.currency === '' ? null : row.currency, value: row.value })) };
}
