/**
 * GET /admin/disputes and GET /admin/disputes/:bountyId (`disputes.read`): the open disputes and
 * the evidence an admin rules from. The ruling is the marketplace's POST /bounties/:id/resolve.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { bountyStates, disputeOutcomes } from '../../db';
import { authErrors, commonErrors, ok, page, pageSchema, successSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery, cursorQuery, limitQuery, userIdSchema } from '../../lib/validation';
import { bountySchema, disputeSchema, submissionSchema, transitionSchema } from '../bounties/schemas';
import { messageSchema } from '../conversations/schemas';
import { moneySchema } from '../ledger';
import type { AdminDeps } from './deps';
import { DISPUTE_ADMIN_ERRORS, disputeEvidence, EVIDENCE_HISTORY, EVIDENCE_MESSAGES, openDisputes } from './disputes-service';

const person = z.object({ id: userIdSchema, name: z.string().max(200).nullable() });

const openDisputeSchema = z.object({
  disputeId: z.uuid().max(36),
  bounty: z.object({ id: z.uuid().max(36), title: z.string().max(200), state: z.enum(bountyStates), reward: moneySchema }),
  poster: person,
  hunter: person.nullable(),
  openedBy: person.extend({ role: z.enum(['poster', 'hunter']) }),
  openedAt: z.date(),
  respondBy: z.date().describe('When the other side must answer by; unanswered, it escalates to an admin'),
  answered: z.boolean(),
  escalated: z.boolean(),
});

const disputesQuery = z.object({
  escalated: z.enum(['true', 'false']).optional().describe('true: past the answer window, waiting for an admin; false: still within it'),
  limit: limitQuery,
  cursor: cursorQuery,
});

const evidenceSchema = z.object({
  bounty: bountySchema.describe('With its acceptance criteria; allowedTransitions are yours (resolve while disputed)'),
  disputes: z.array(disputeSchema).max(50).describe('Oldest first, with the grounds, the cited criteria, the answer and any ruling'),
  history: z.array(transitionSchema).max(EVIDENCE_HISTORY).describe(`The latest ${EVIDENCE_HISTORY} transitions, oldest first`),
  earlierHistory: z.boolean().describe('Older transitions exist: GET /bounties/{id}/history pages them all'),
  submissions: z.array(submissionSchema).max(100),
  cancelProposal: bountySchema.shape.cancelProposal,
  conversation: z
    .object({
      id: z.uuid().max(36),
      messages: z
        .array(messageSchema.extend({ hiddenAt: z.date().nullable().describe('Removed by a moderator (the text is kept)') }))
        .max(EVIDENCE_MESSAGES)
        .describe(`The latest ${EVIDENCE_MESSAGES}, oldest first, deleted and removed text included`),
      earlierMessages: z.boolean().describe('Older messages exist: GET /conversations/{id}/messages?before= pages them'),
    })
    .nullable()
    .describe('Between the poster and the hunter the dispute is with'),
  ruling: z.object({
    open: z.boolean().describe('Whether a ruling can be made now (the bounty is disputed)'),
    disputeId: z.uuid().max(36).nullable(),
    action: z.string().max(100).describe('The marketplace action that rules'),
    outcomes: z.array(z.enum(disputeOutcomes)).max(3),
  }),
});

export const adminDisputeRoutes = (deps: AdminDeps) =>
  new Elysia()
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/admin/disputes',
      async ({ query, db }) => {
        const result = await openDisputes(
          db,
          { escalated: query.escalated === undefined ? undefined : query.escalated === 'true' },
          { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) },
        );
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('disputes.read') },
        query: disputesQuery,
        response: { 200: pageSchema(openDisputeSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Open disputes (admin)',
          description:
            'Disputes not yet ruled on, oldest first: the bounty (title, reward), the poster and the hunter, who opened it and ' +
            'when, the answer deadline, whether it was answered and whether it escalated. Cursor-paginated. The evidence: ' +
            'GET /admin/disputes/{bountyId}.',
          security: staffSecurity('disputes.read'),
        },
      },
    )
    .get(
      '/admin/disputes/:bountyId',
      async ({ params, user, db }) => {
        const evidence = await disputeEvidence(db, user, params.bountyId);
        if (!evidence) throw DISPUTE_ADMIN_ERRORS.error('DISPUTE_NOT_FOUND');
        return ok(evidence);
      },
      {
        auth: { role: rolesFor('disputes.read') },
        params: z.object({ bountyId: z.uuid().max(36) }),
        response: { 200: successSchema(evidenceSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: "A dispute's evidence (admin)",
          description:
            'Everything to rule from: the bounty and its acceptance criteria, every dispute on it (grounds, cited criteria, the ' +
            'answer), the history, the submissions, a pending cancel proposal, and the conversation between the poster and the ' +
            'hunter with deleted and removed text and edits. Rule with POST /bounties/{id}/resolve: `release` (all to the ' +
            'hunter), `refund` (all back to the poster) or `split` (`hunterAmount` to the hunter, the rest back), with a reason; ' +
            'it is audited (`dispute.resolve`). 404 DISPUTE_NOT_FOUND for a bounty that never had a dispute.',
          security: staffSecurity('disputes.read'),
        },
      },
    );
