/**
 * Search: GET /search/bounties, the same browse as GET /bounties (src/modules/bounties/browse.ts:
 * one query schema, one implementation, one response), under the name clients look for.
 */
import { Elysia } from 'elysia';
import { commonErrors, optionalSession, page, pageSchema } from '../../lib/http';
import { clampLimit } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { HttpCachePlugin } from '../../plugins/http-cache';
import { BROWSE_DESCRIPTION, browseBounties, browseQuerySchema } from '../bounties/browse';
import { bountySummarySchema } from '../bounties/schemas';
import type { ModuleInfo } from '../module';

export const searchModule: ModuleInfo = {
  tag: { name: 'search', description: 'Search: public bounties by text, filters and sorts' },
  errors: {},
};


export const searchRoutes = (deps: { databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; httpCachePlugin: HttpCachePlugin }) =>
  new Elysia({ prefix: '/search', tags: [searchModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.httpCachePlugin)
    .get(
      '/bounties',
      async ({ query, db, viewer }) => {
        const result = await browseBounties(db, query, { limit: clampLimit(query.limit), viewer });
        return page(result.items, result.nextCursor);
      },
      {
        optionalAuth: true,
        // As GET /bounties: blocks and staff visibility shape the list per viewer.
        httpCache: 'per-viewer',
        query: browseQuerySchema,
        response: { 200: pageSchema(bountySummarySchema), ...commonErrors },
        detail: { summary: 'Search bounties', description: BROWSE_DESCRIPTION, security: optionalSession },
      },
    );
