/**
 * Search: GET /search/bounties, the same browse as GET /bounties (src/modules/bounties/browse.ts:
 * one query schema, one implementation, one response), under the name clients look for.
 */
import { Elysia } from 'elysia';
import { commonErrors, optionalSession, page, pageSchema } from '../../lib/http';
import { clampLimit } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import { browseBounties, browseQuerySchema, DEFAULT_RADIUS_KM } from '../bounties/browse';
import { bountySummarySchema } from '../bounties/schemas';
import type { ModuleInfo } from '../module';

export const searchModule: ModuleInfo = {
  tag: { name: 'search', description: 'Search: public bounties by text, filters and sorts' },
  errors: {},
};

const DESCRIPTION = [
  'Public bounties only: drafts and cancelled bounties are never listed (status=draft or cancelled is 422).',
  '`q`: full text over title (weighted higher) and description, web-search syntax ("a phrase", or, -word).',
  `Filters, all optional and combined: category; tags (comma-separated, all must match); rewardMin/rewardMax (minor units); status (default open); remote (true/false); near=lat,lng with radiusKm (1-500, default ${DEFAULT_RADIUS_KM}: in-person bounties within that distance); deadlineBefore; postedSince (ISO 8601).`,
  'Sorts: newest (default without q), reward (highest first), deadline (soonest first), relevance (default with q; only with q).',
  'Pages: pass pagination.nextCursor as cursor with the same query; a cursor of another sort is 422 INVALID_CURSOR.',
].join(' ');

export const searchRoutes = (deps: { databasePlugin: DatabasePlugin; authPlugin: AuthPlugin }) =>
  new Elysia({ prefix: '/search', tags: [searchModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/bounties',
      async ({ query, db }) => {
        const result = await browseBounties(db, query, { limit: clampLimit(query.limit) });
        return page(result.items, result.nextCursor);
      },
      {
        optionalAuth: true,
        query: browseQuerySchema,
        response: { 200: pageSchema(bountySummarySchema), ...commonErrors },
        detail: { summary: 'Search bounties', description: DESCRIPTION, security: optionalSession },
      },
    );
