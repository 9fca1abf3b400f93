/** The analytics routes' edges: a range of UTC days in, figures out (money in integer minor units). */
import { z } from 'zod';
import { type AnalyticsMetric, analyticsMetrics } from '../../db';

/** The longest range a report covers (a year, leap day included). */
export const MAX_RANGE_DAYS = 366;
/** Without `from`: this many days up to `to`. */
export const DEFAULT_RANGE_DAYS = 30;

const day = z.iso.date().max(10).describe('A UTC day, YYYY-MM-DD');
const currency = z.string().regex(/^[a-z]{3}$/).max(3);

export const rangeQuery = z.object({
  from: day.optional().describe(`The first day (default: ${DEFAULT_RANGE_DAYS} days up to \`to\`)`),
  to: day.optional().describe('The last day, included (default: today, UTC)'),
});

/** The figures a poster reads about their own bounties (the daily series of /analytics/me/daily). */
export const POSTER_METRICS = [
  'bounties_created',
  'bounties_published',
  'bounties_accepted',
  'bounties_completed',
  'bounties_settled',
  'disputes_opened',
  'requests_created',
  'messages_sent',
  'gmv',
  'platform_fees',
  'median_seconds_to_accept',
  'median_seconds_to_approve',
] as const satisfies readonly AnalyticsMetric[];

export const dailyQuery = rangeQuery.extend({ metric: z.enum(analyticsMetrics).describe('The figure to list by day') });
export const posterDailyQuery = rangeQuery.extend({ metric: z.enum(POSTER_METRICS).describe('The figure to list by day') });

const count = z.number().int().min(0);
const minor = z.number().int().min(0).describe('Integer minor units (cents)');
const rate = z.number().min(0).nullable().describe('A ratio (0.25 is 25 %), to 4 decimals; null when its denominator is 0');
const seconds = z.number().int().min(0).nullable().describe('Seconds; null when nothing was measured');

const coverage = {
  from: day,
  to: day,
  daysComputed: count.describe('Days of the range the rollup job has computed (the rest count as nothing yet)'),
  computedAt: z.date().nullable().describe('When the freshest of those days was computed (the job runs every 15 minutes)'),
};

const funnelSchema = z.object({
  published: count,
  accepted: count,
  completed: count,
  acceptRate: rate.describe('accepted / published, events of the range (not a cohort: a bounty published before the range may be accepted in it)'),
  completionRate: rate.describe('completed / accepted, events of the range'),
});

const timingSchema = z.object({
  medianSecondsToAccept: seconds.describe('From publication to acceptance, over acceptances in the range'),
  medianSecondsToApprove: seconds.describe('From the last submission to approval (automatic ones included), over approvals in the range'),
});

const disputesSchema = z.object({
  opened: count,
  rate: rate.describe('Disputes opened / bounties accepted, in the range'),
});

export const overviewSchema = z.object({
  ...coverage,
  money: z
    .array(
      z.object({
        currency,
        gmv: minor.describe("Paid out of escrow to hunters before the fee: completed bounties' rewards and hunters' shares of settlements"),
        platformFees: minor,
        takeRate: rate.describe('platformFees / gmv'),
        depositVolume: minor,
        payoutVolume: minor,
      }),
    )
    .max(20)
    .describe('One entry per currency that moved'),
  activity: z.object({
    signups: count,
    activePosters: count.describe('Distinct posters who created, published, accepted or completed a bounty in the range'),
    activeHunters: count.describe('Distinct hunters who applied, were accepted or completed in the range'),
    bountiesCreated: count,
    bountiesSettled: count.describe('Ended by a split (a ruling or a mutual cancellation) that paid the hunter a share'),
    requests: count,
    messages: count,
    deposits: count,
    payouts: count,
  }),
  funnel: funnelSchema,
  timing: timingSchema,
  disputes: disputesSchema,
});
export type OverviewView = z.infer<typeof overviewSchema>;

export const posterOverviewSchema = z.object({
  ...coverage,
  money: z
    .array(
      z.object({
        currency,
        paidOut: minor.describe('Paid out of escrow to hunters on your bounties, before the fee'),
        platformFees: minor,
      }),
    )
    .max(20),
  activity: z.object({
    bountiesCreated: count,
    bountiesSettled: count,
    requestsReceived: count,
    messages: count.describe('Messages written in your bounties\' conversations, by anyone'),
  }),
  funnel: funnelSchema,
  timing: timingSchema,
  disputes: disputesSchema,
});
export type PosterOverviewView = z.infer<typeof posterOverviewSchema>;

export const seriesSchema = z.object({
  from: day,
  to: day,
  metric: z.enum(analyticsMetrics),
  points: z
    .array(
      z.object({
        day,
        currency: currency.nullable().describe('For money figures; null for counts and durations'),
        value: z.number().int().min(0),
      }),
    )
    .max(MAX_RANGE_DAYS * 20)
    .describe('Oldest first; a day without a point had none (or is not computed yet)'),
});
export type SeriesView = z.infer<typeof seriesSchema>;
