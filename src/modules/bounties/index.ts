/**
 * Bounties: drafts, reading one (with who acts next and what the viewer may do), its history,
 * browsing, and every lifecycle transition as POST /bounties/:id/<action>. Who may take each
 * transition, from which states, and what it does with the escrow is the table in lifecycle.ts;
 * each route's description is generated from it, so the document cannot drift from the rules.
 */
import { Elysia } from 'elysia';
import { requestIdOf } from '../../plugins/request-context';
import { roleSecurity, rolesFor, staffSecurity } from '../../lib/permissions';
import { z } from 'zod';
import type { MarketplaceSettings, RiskSettings } from '../../config/env';
import { forbidden } from '../../lib/errors';
import { authErrors, commonErrors, errorSchema, ok, optionalSession, page, pageSchema, successSchema } from '../../lib/http';
import type { Viewer } from '../../lib/auth';
import type { Stripe } from '../../lib/stripe';
import { clampLimit, cursorFromQuery, cursorQuery, limitQuery } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { HttpCachePlugin } from '../../plugins/http-cache';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { LEDGER_ERRORS } from '../ledger';
import type { ModuleInfo } from '../module';
import { RISK_ERRORS } from '../risk/errors';
import { recordingDenials } from '../risk/service';
import {
  acceptMutualCancel,
  adminCancel,
  approveWork,
  cancelBounty,
  declineMutualCancel,
  type LifecycleDeps,
  openDisputeOn,
  proposeMutualCancel,
  publishFromWallet,
  requestChanges,
  resolveDispute,
  respondToDispute,
  submitWork,
  unassignHunter,
  withdrawFromBounty,
} from './actions';
import { BROWSE_DESCRIPTION, browseBounties, browseQuerySchema } from './browse';
import { BOUNTIES_ERRORS } from './errors';
import { publishByCard } from './funding';
import { LIFECYCLE, lifecycleRows, type TransitionName } from './lifecycle';
import {
  bountyIdParams,
  bountySchema,
  bountySummarySchema,
  createBountyBody,
  disputeBody,
  disputeSchema,
  lifecycleRowSchema,
  proposeCancelBody,
  publishBody,
  publishResultSchema,
  reasonBody,
  requestChangesBody,
  resolveBody,
  respondDisputeBody,
  submissionSchema,
  submitBody,
  transitionSchema,
  updateBountyBody,
} from './schemas';
import {
  bountyView,
  createBounty,
  deleteDraft,
  deleteRefusal,
  disputesOf,
  findVisibleBounty,
  history,
  isParticipant,
  ownBounties,
  submissionsOf,
  updateBounty,
} from './service';

export const bountiesModule: ModuleInfo = {
  tag: { name: 'bounties', description: 'Bounties: drafts, browsing, and the escrowed lifecycle from publish to paid' },
  errors: { ...BOUNTIES_ERRORS.codes, ...LEDGER_ERRORS.codes, ...RISK_ERRORS.codes },
};

export type BountiesDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  httpCachePlugin: HttpCachePlugin;
  stripe: Stripe;
  liveMode: boolean;
  maxAmount: number;
  settings: MarketplaceSettings;
  /** The marketplace's clock (timers, deadlines, history); tests move it. */
  now: () => Date;
  /** The risk rules judge a new account's drafts and publishing (and a card payment's deposit). */
  risk: RiskSettings;
};

/** A transition's documentation, from the lifecycle table. */
function transitionDetail(name: TransitionName, extra = '') {
  const rule = LIFECYCLE[name];
  return {
    summary: rule.summary.split(':')[0]?.split(';')[0] ?? name,
    description:
      `${rule.summary}. Who: ${rule.by.join(' or ')}. From: ${rule.from.join(', ')}. ` +
      `409 INVALID_TRANSITION (the current state in details) from any other state; 403 NOT_YOUR_TRANSITION for another party; ` +
      `404 when you cannot see the bounty.${extra ? ` ${extra}` : ''}`,
  };
}

const transitionErrors = { ...authErrors, ...commonErrors, 409: errorSchema };

const historyQuery = z.object({ limit: limitQuery, after: z.coerce.number().int().min(0).optional().describe('The last history id seen (pages ascend)') });

export const bountiesRoutes = (deps: BountiesDeps) => {
  const lifecycle = (db: LifecycleDeps['db'], request?: Request): LifecycleDeps => ({
    db,
    marketplace: { settings: deps.settings },
    now: deps.now,
    requestId: request ? requestIdOf(request) : null,
  });
  const visible = async (db: LifecycleDeps['db'], viewer: Viewer, id: string) => {
    const bounty = await findVisibleBounty(db, viewer, id);
    if (!bounty) throw BOUNTIES_ERRORS.error('BOUNTY_NOT_FOUND');
    return bounty;
  };
  return (
    new Elysia({ prefix: '/bounties', tags: [bountiesModule.tag.name] })
      .use(deps.databasePlugin)
      .use(deps.authPlugin)
      .use(deps.idempotencyPlugin)
      .use(deps.httpCachePlugin)
      .get(
        '',
        async ({ query, db, viewer }) => {
          const result = await browseBounties(db, query, { limit: clampLimit(query.limit), viewer });
          return page(result.items, result.nextCursor);
        },
        {
          optionalAuth: true,
          // Blocks hide bounties from a signed-in viewer; staff see what others do not.
          httpCache: 'per-viewer',
          query: browseQuerySchema,
          response: { 200: pageSchema(bountySummarySchema), ...commonErrors },
          detail: {
            summary: 'Browse and search bounties',
            description: `The same list as GET /search/bounties. ${BROWSE_DESCRIPTION}`,
            security: optionalSession,
          },
        },
      )
      .get(
        '/mine',
        async ({ query, db, user }) => {
          const result = await ownBounties(db, user.id, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) });
          return page(result.items, result.nextCursor);
        },
        {
          auth: true,
          query: z.object({ limit: limitQuery, cursor: cursorQuery }),
          response: { 200: pageSchema(bountySummarySchema), ...authErrors, ...commonErrors },
          detail: { summary: 'Your bounties', description: 'Every bounty you posted, drafts and cancelled ones too, newest first.' },
        },
      )
      .post(
        '',
        async ({ body, user, db, set }) => {
          const bounty = await createBounty(db, user.id, body, deps.now(), deps.risk);
          set.status = 201;
          return ok(await bountyView(db, user, bounty));
        },
        {
          auth: true,
          idempotency: 'optional',
          body: createBountyBody(deps.maxAmount),
          response: { 201: successSchema(bountySchema), ...authErrors, ...commonErrors },
          detail: {
            summary: 'Create a draft bounty',
            description:
              'A draft only you can see. The poster is you; state, hunter, escrow and counters in the body are ignored. ' +
              'Publish it (POST /bounties/:id/publish) to hold the reward in escrow and list it. A new account (no completed bounty yet) ' +
              'offers at most RISK_NEW_ACCOUNT_MAX_REWARD_CENTS: 403 NEW_ACCOUNT_LIMIT, with the cap and when it lifts in `details`.',
          },
        },
      )
      .get('/lifecycle', () => ok(lifecycleRows()), {
        response: { 200: successSchema(z.array(lifecycleRowSchema).max(40)), ...commonErrors },
        detail: {
          summary: 'The lifecycle table',
          description:
            'Every transition: its route, the states it leaves from, where it goes, who may take it, what it does with the escrow and which timers it starts. ' +
            "The same table the service enforces; a bounty's `allowedTransitions` is this table applied to you and its state.",
          security: [{}],
        },
      })
      .get(
        '/:id',
        async ({ params, viewer, db }) => ok(await bountyView(db, viewer, await visible(db, viewer, params.id))),
        {
          optionalAuth: true,
          // Drafts are visible to their poster, and `allowedTransitions` is the viewer's.
          httpCache: 'per-viewer',
          params: bountyIdParams,
          response: { 200: successSchema(bountySchema), ...commonErrors },
          detail: {
            summary: 'A bounty',
            description:
              'With its state, `nextActionBy` and `nextDeadlineAt`, and `allowedTransitions`: what you may do now. Drafts and cancelled bounties are 404 except to their poster, hunter, applicants and staff.',
            security: optionalSession,
          },
        },
      )
      .patch(
        '/:id',
        async ({ params, body, user, db }) => ok(await bountyView(db, user, await updateBounty(db, deps.settings, user, params.id, body, deps.now()))),
        {
          auth: true,
          params: bountyIdParams,
          body: updateBountyBody(deps.maxAmount),
          response: { 200: successSchema(bountySchema), ...authErrors, ...commonErrors, 409: errorSchema },
          detail: {
            summary: 'Change a bounty',
            description: 'A draft: any field. Open: only `deadline` (later), `tags` and `category`; otherwise 409 NOT_EDITABLE. Not yours: 404.',
          },
        },
      )
      .delete(
        '/:id',
        async ({ params, user, db }) => {
          if (!(await deleteDraft(db, user, params.id))) throw await deleteRefusal(db, user, params.id);
          return ok({ id: params.id, deleted: true as const });
        },
        {
          auth: true,
          params: bountyIdParams,
          response: { 200: successSchema(z.object({ id: z.uuid().max(36), deleted: z.literal(true) })), ...authErrors, ...commonErrors, 409: errorSchema },
          detail: { summary: 'Delete a draft', description: 'Only a draft, only yours (else 404); a published bounty is cancelled instead (409).' },
        },
      )
      .get(
        '/:id/history',
        async ({ params, query, viewer, db }) => {
          const bounty = await visible(db, viewer, params.id);
          const result = await history(db, params.id, { limit: clampLimit(query.limit, 50), afterId: query.after ?? null, private: isParticipant(bounty, viewer) });
          return { success: true as const, data: result.items, pagination: { nextAfter: result.nextAfter } };
        },
        {
          optionalAuth: true,
          params: bountyIdParams,
          query: historyQuery,
          response: {
            200: z.object({ success: z.literal(true), data: z.array(transitionSchema).max(100), pagination: z.object({ nextAfter: z.number().int().nullable() }) }),
            ...commonErrors,
          },
          detail: {
            summary: "A bounty's history",
            description: 'Every transition, oldest first: from, to, who and when; why (`reason`, `details`) only for the poster, the hunter and staff.',
            security: optionalSession,
          },
        },
      )
      .get(
        '/:id/submissions',
        async ({ params, user, db }) => {
          const bounty = await visible(db, user, params.id);
          if (!isParticipant(bounty, user)) throw forbidden('Only the poster, the hunter and staff see the work');
          return ok(await submissionsOf(db, bounty.id));
        },
        {
          auth: true,
          params: bountyIdParams,
          response: { 200: successSchema(z.array(submissionSchema).max(100)), ...authErrors, ...commonErrors },
          detail: { summary: "A bounty's submissions", description: 'The deliverables, oldest first: for the poster, the hunter and staff.' },
        },
      )
      .get(
        '/:id/disputes',
        async ({ params, user, db }) => {
          const bounty = await visible(db, user, params.id);
          if (!isParticipant(bounty, user)) throw forbidden('Only the poster, the hunter and staff see disputes');
          return ok(await disputesOf(db, bounty.id));
        },
        {
          auth: true,
          params: bountyIdParams,
          response: { 200: successSchema(z.array(disputeSchema).max(50)), ...authErrors, ...commonErrors },
          detail: { summary: "A bounty's disputes", description: 'Each dispute with the cited criteria, the answer and the ruling.' },
        },
      )
      // --- Transitions (LIFECYCLE in lifecycle.ts) -------------------------------------------------
      .post(
        '/:id/publish',
        async ({ params, body, user, db, request, set }) => {
          if (body.funding === 'wallet') {
            const bounty = await publishFromWallet({ ...lifecycle(db, request), risk: deps.risk }, user, params.id);
            return ok({ bounty: await bountyView(db, user, bounty), deposit: null });
          }
          // A risk denial in the publish transaction is recorded once that transaction rolled back.
          const funded = await recordingDenials(db, () =>
            publishByCard(
              { ...lifecycle(db, request), stripe: deps.stripe, liveMode: deps.liveMode, risk: deps.risk },
              { id: user.id, email: user.email, name: user.name, role: user.role },
              params.id,
              { method: body.method, paymentMethodId: body.paymentMethodId },
              request.headers.get('idempotency-key') ?? '',
            ),
          );
          set.status = 202;
          return ok({ bounty: await bountyView(db, user, await visible(db, user, funded.bountyId)), deposit: funded.deposit });
        },
        {
          auth: true,
          idempotency: 'required',
          params: bountyIdParams,
          body: publishBody,
          response: { 200: successSchema(publishResultSchema), 202: successSchema(publishResultSchema), 402: errorSchema, ...transitionErrors },
          detail: transitionDetail(
            'publish',
            'Needs an Idempotency-Key. `wallet`: 200, open now; 409 INSUFFICIENT_FUNDS when the wallet is short, 403 WALLET_FROZEN. ' +
              'A new account past its caps (reward, bounties published at once): 403 NEW_ACCOUNT_LIMIT. ' +
              '`card`: 202 with the deposit to confirm; the bounty opens when Stripe reports the payment succeeded (402 PAYMENT_DECLINED for a declined saved card).',
          ),
        },
      )
      .post('/:id/cancel', async ({ params, user, db }) => ok(await bountyView(db, user, await cancelBounty(lifecycle(db), user, params.id))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('cancel'),
      })
      .post(
        '/:id/withdraw',
        async ({ params, user, db, body }) => ok(await bountyView(db, user, await withdrawFromBounty(lifecycle(db), user, params.id, body.reason))),
        {
          auth: true,
          idempotency: 'optional',
          params: bountyIdParams,
          body: reasonBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: transitionDetail('withdraw'),
        },
      )
      .post(
        '/:id/unassign',
        async ({ params, user, db, body }) => ok(await bountyView(db, user, await unassignHunter(lifecycle(db), user, params.id, body.reason))),
        {
          auth: true,
          idempotency: 'optional',
          params: bountyIdParams,
          body: reasonBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: transitionDetail('unassign', 'Only before a submission: once the hunter submits the bounty leaves in_progress for good (409 INVALID_TRANSITION).'),
        },
      )
      .post('/:id/submit', async ({ params, user, db, body }) => ok(await bountyView(db, user, await submitWork(lifecycle(db), user, params.id, body))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        body: submitBody,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('submit', `Starts the auto-approve clock (AUTO_APPROVE_DAYS, ${deps.settings.autoApproveDays} days), with reminders to the poster 3 and 1 days before.`),
      })
      .post(
        '/:id/request-changes',
        async ({ params, user, db, body }) => ok(await bountyView(db, user, await requestChanges(lifecycle(db), user, params.id, body))),
        {
          auth: true,
          idempotency: 'optional',
          params: bountyIdParams,
          body: requestChangesBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: transitionDetail('request_changes', '422 UNKNOWN_CRITERIA for criteria the bounty does not have; 409 TRANSITION_REFUSED past max revisions.'),
        },
      )
      .post('/:id/approve', async ({ params, user, db }) => ok(await bountyView(db, user, await approveWork(lifecycle(db), user, params.id))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('approve', `The fee is PLATFORM_FEE_BPS (${deps.settings.platformFeeBps} basis points), rounded half up.`),
      })
      .post('/:id/dispute', async ({ params, user, db, body }) => ok(await bountyView(db, user, await openDisputeOn(lifecycle(db), user, params.id, body))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        body: disputeBody,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('dispute', `The other side has DISPUTE_RESPONSE_DAYS (${deps.settings.disputeResponseDays}) to answer; silence escalates to an admin.`),
      })
      .post(
        '/:id/respond-dispute',
        async ({ params, user, db, body }) => ok(await bountyView(db, user, await respondToDispute(lifecycle(db), user, params.id, body))),
        {
          auth: true,
          idempotency: 'optional',
          params: bountyIdParams,
          body: respondDisputeBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: transitionDetail('respond_dispute'),
        },
      )
      .post('/:id/resolve', async ({ params, user, db, body, request }) => ok(await bountyView(db, user, await resolveDispute(lifecycle(db, request), user, params.id, body))), {
        auth: { role: rolesFor('disputes.resolve'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: bountyIdParams,
        body: resolveBody,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: {
          ...transitionDetail('resolve', '422 INVALID_SPLIT for a share outside 0..reward. GET /admin/disputes/{bountyId} has the evidence. Audited (`dispute.resolve`); needs a recent sign-in.'),
          security: roleSecurity('disputes.resolve'),
        },
      })
      .post(
        '/:id/propose-cancel',
        async ({ params, user, db, body }) => ok(await bountyView(db, user, await proposeMutualCancel(lifecycle(db), user, params.id, { hunterAmount: body.hunterAmount, reason: body.reason ?? null }))),
        {
          auth: true,
          idempotency: 'optional',
          params: bountyIdParams,
          body: proposeCancelBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: transitionDetail('propose_cancel', '422 INVALID_SPLIT for a share above the reward.'),
        },
      )
      .post('/:id/accept-cancel', async ({ params, user, db }) => ok(await bountyView(db, user, await acceptMutualCancel(lifecycle(db), user, params.id))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('accept_cancel'),
      })
      .post('/:id/decline-cancel', async ({ params, user, db }) => ok(await bountyView(db, user, await declineMutualCancel(lifecycle(db), user, params.id))), {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        response: { 200: successSchema(bountySchema), ...transitionErrors },
        detail: transitionDetail('decline_cancel'),
      })
      .post(
        '/:id/admin-cancel',
        async ({ params, user, db, body, request }) => ok(await bountyView(db, user, await adminCancel(lifecycle(db, request), user, params.id, body.reason))),
        {
          auth: { role: rolesFor('bounties.cancel'), fresh: 'sign-in' },
          idempotency: 'optional',
          params: bountyIdParams,
          body: reasonBody,
          response: { 200: successSchema(bountySchema), ...transitionErrors },
          detail: { ...transitionDetail('admin_cancel', 'Audited (`bounty.admin_cancel`); needs a recent sign-in.'), security: staffSecurity('bounties.cancel') },
        },
      )
  );
};
