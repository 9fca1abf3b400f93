/**
 * Risk: rules that judge money moves and marketplace actions (src/modules/risk/rules.ts, pure
 * functions over facts loaded once), their events, a score per user, and the admin's review
 * queue of held withdrawals.
 *
 * The shape of the imports (tests/structure.test.ts forbids two modules importing each other):
 * the modules that act (wallet, bounties, requests, conversations, notifications, connect) import
 * risk to be judged; risk imports none of them. So approving or rejecting a held withdrawal, a
 * change of the wallet's own rows and money, is the wallet's service and route
 * (src/modules/wallet/review.ts, POST /admin/risk/withdrawals/:id/approve|reject, tagged `risk`);
 * the reads here only read the withdrawals table. Risk's routes take their own deps type (not the
 * admin console's), so the admin module may import risk (a user's risk record) without a circle.
 */
import { Elysia } from 'elysia';
import type { RiskSettings } from '../../config/env';
import { authErrors, commonErrors, page, pageSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { ModuleInfo } from '../module';
import { RISK_ERRORS } from './errors';
import { riskQueue, userRisk } from './reads';
import { RISK_RULES } from './rules';
import { pageQuery, queueItemSchema, userParams, userRiskPageSchema } from './schemas';

export const riskModule: ModuleInfo = {
  tag: { name: 'risk', description: 'Risk rules, scores and the review queue of held withdrawals (admin)' },
  errors: RISK_ERRORS.codes,
};

export type RiskRouteDeps = Readonly<{ databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; risk: RiskSettings }>;

const rulesList = Object.entries(RISK_RULES)
  .map(([name, rule]) => `\`${name}\` (${rule.outcome})`)
  .join(', ');

export const riskRoutes = (deps: RiskRouteDeps) =>
  new Elysia({ tags: [riskModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/admin/risk/queue',
      async ({ query, db }) => {
        const result = await riskQueue(db, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('risk.read') },
        query: pageQuery,
        response: { 200: pageSchema(queueItemSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Withdrawals held for review (admin)',
          security: staffSecurity('risk.read'),
          description:
            'Withdrawals a risk rule held, oldest first: the amount (held out of the balance, no payout yet), why it was held, the user, ' +
            'their risk score and level, and their newest risk events. Release one with POST /admin/risk/withdrawals/{id}/approve, ' +
            'or return the money with .../reject.',
        },
      },
    )
    .get(
      '/admin/risk/users/:userId',
      async ({ params, query, db }) => {
        const found = await userRisk(db, params.userId, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'integer' }) });
        if (!found) throw RISK_ERRORS.error('RISK_USER_NOT_FOUND');
        return { success: true as const, data: found.view, pagination: { nextCursor: found.nextCursor } };
      },
      {
        auth: { role: rolesFor('risk.read') },
        params: userParams,
        query: pageQuery,
        response: { 200: userRiskPageSchema, ...authErrors, ...commonErrors },
        detail: {
          summary: "A user's risk record (admin)",
          security: staffSecurity('risk.read'),
          description:
            'The score (0..100), its level (low, medium from 30, high from 60), the points behind it, when the score job computed it ' +
            `(every 15 minutes for users with new events), and the user's risk events, newest first, paged by cursor. Rules: ${rulesList}.`,
        },
      },
    );
