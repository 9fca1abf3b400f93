/**
 * Analytics: events recorded from the outbox (recorder.ts), daily rollups (rollup.ts, a job),
 * optional forwarding to Mixpanel (sink.ts, forward.ts, a job) and the reports here: the whole
 * marketplace for staff holding `analytics.read`, and any signed-in poster about their own bounties.
 *
 * With ENABLE_ANALYTICS=false nothing is recorded and every route answers 404 ANALYTICS_DISABLED
 * (after the session check: who may not call it still gets 401/403).
 *
 * The shape of the imports: the modules that write events (bounties, conversations) import
 * events.ts to build them; analytics imports none of them.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, ok, successSchema } from '../../lib/http';
import { roleSecurity, rolesFor } from '../../lib/permissions';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { ModuleInfo } from '../module';
import { ANALYTICS_ERRORS } from './errors';
import { overview, posterOverview, resolveRange, series } from './reports';
import { dailyQuery, MAX_RANGE_DAYS, overviewSchema, posterDailyQuery, posterOverviewSchema, rangeQuery, seriesSchema } from './schemas';
import type { AnalyticsSettings } from './settings';

export const analyticsModule: ModuleInfo = {
  tag: { name: 'analytics', description: 'Marketplace figures by day (staff), and a poster\'s figures about their own bounties' },
  errors: ANALYTICS_ERRORS.codes,
};

export type AnalyticsDeps = Readonly<{ databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; settings: AnalyticsSettings; now: () => Date }>;

const RANGE_TEXT =
  `Over UTC days \`from\`..\`to\` (both included; default the 30 days up to today; at most ${MAX_RANGE_DAYS}: more is 422 RANGE_TOO_LONG, ` +
  '`from` after `to` 422 INVALID_RANGE). Money in integer minor units, per currency. Counts and money come from the daily rollups ' +
  '(recomputed every 15 minutes: `daysComputed` and `computedAt` say how far they are); active people and medians from the events. ' +
  '404 ANALYTICS_DISABLED when the service runs with ENABLE_ANALYTICS=false.';

export const analyticsRoutes = (deps: AnalyticsDeps) => {
  const enabled = () => {
    if (!deps.settings.enabled) throw ANALYTICS_ERRORS.error('ANALYTICS_DISABLED');
  };
  return new Elysia({ tags: [analyticsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/analytics/overview',
      async ({ query, db }) => {
        enabled();
        return ok(await overview(db, resolveRange(query, deps.now())));
      },
      {
        auth: { role: rolesFor('analytics.read') },
        query: rangeQuery,
        response: { 200: successSchema(overviewSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'The marketplace over a range of days (staff)',
          security: roleSecurity('analytics.read'),
          description:
            'GMV, platform fees and the take rate per currency; deposit and payout volumes; signups and active posters and hunters; the funnel ' +
            `from publication to acceptance to completion; the median time to accept and to approve; the dispute rate. ${RANGE_TEXT}`,
        },
      },
    )
    .get(
      '/analytics/daily',
      async ({ query, db }) => {
        enabled();
        return ok(await series(db, 'all', query.metric, resolveRange(query, deps.now())));
      },
      {
        auth: { role: rolesFor('analytics.read') },
        query: dailyQuery,
        response: { 200: successSchema(seriesSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'One figure of the marketplace by day (staff)',
          security: roleSecurity('analytics.read'),
          description: `The daily rollup of \`metric\`, oldest day first (money per currency). ${RANGE_TEXT}`,
        },
      },
    )
    .get(
      '/analytics/me',
      async ({ query, user, db }) => {
        enabled();
        return ok(await posterOverview(db, user.id, resolveRange(query, deps.now())));
      },
      {
        auth: true,
        query: rangeQuery,
        response: { 200: successSchema(posterOverviewSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Your bounties over a range of days',
          description:
            'As a poster, about your own bounties only: created, published, accepted, completed; requests received; messages in their ' +
            'conversations; money paid out to hunters and its fee; the median time to accept and to approve; disputes. Someone who posted ' +
            `nothing reads zeros. ${RANGE_TEXT}`,
        },
      },
    )
    .get(
      '/analytics/me/daily',
      async ({ query, user, db }) => {
        enabled();
        return ok(await series(db, { posterId: user.id }, query.metric, resolveRange(query, deps.now())));
      },
      {
        auth: true,
        query: posterDailyQuery,
        response: { 200: successSchema(seriesSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'One figure of your bounties by day',
          description: `The daily rollup of \`metric\` over your own bounties, oldest day first. ${RANGE_TEXT}`,
        },
      },
    );
};
