/**
 * An admin's review of a withdrawal the risk rules held: approve (it is paid) or reject (the
 * money returns to the balance). The routes sit in the risk console's path and tag, but in the
 * wallet module, which owns withdrawals and their money: the wallet imports risk (to be judged),
 * so risk cannot import the wallet back (tests/structure.test.ts).
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, errorSchema, ok, successSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { requestIdOf } from '../../plugins/request-context';
import { riskModule } from '../risk';
import { approveWithdrawalBody, rejectWithdrawalBody, reviewedWithdrawalSchema, withdrawalReviewParams } from './schemas';
import { approveHeldWithdrawal, type EnqueuePayout, rejectHeldWithdrawal, type Reviewer } from './withdrawals';

export type WithdrawalReviewDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  enqueuePayout: EnqueuePayout;
  now: () => Date;
};

const reviewerOf = (user: { id: string; role: string }, request: Request): Reviewer => ({ actor: { id: user.id, role: user.role }, requestId: requestIdOf(request) });

const responses = { 200: successSchema(reviewedWithdrawalSchema), ...authErrors, ...commonErrors, 409: errorSchema };

export const withdrawalReviewRoutes = (deps: WithdrawalReviewDeps) =>
  new Elysia({ prefix: '/admin/risk/withdrawals', tags: [riskModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .post(
      '/:id/approve',
      async ({ params, body, user, db, request }) =>
        ok(await approveHeldWithdrawal({ db, enqueuePayout: deps.enqueuePayout, now: deps.now() }, reviewerOf(user, request), params.id, body.note)),
      {
        auth: { role: rolesFor('risk.decide'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: withdrawalReviewParams,
        body: approveWithdrawalBody,
        response: responses,
        detail: {
          summary: 'Release a held withdrawal (admin)',
          security: staffSecurity('risk.decide'),
          description:
            'Only a withdrawal held for review (409 WITHDRAWAL_NOT_HELD otherwise, with its status: a second approval, or one racing a ' +
            'rejection, finds it decided). It goes to `pending` and its payout job pays it once (the transfer is keyed by the withdrawal). ' +
            'Audited (`withdrawal.approve`, with the note); the user is told. Needs a recent sign-in.',
        },
      },
    )
    .post(
      '/:id/reject',
      async ({ params, body, user, db, request }) =>
        ok(await rejectHeldWithdrawal({ db, enqueuePayout: deps.enqueuePayout, now: deps.now() }, reviewerOf(user, request), params.id, body.reason)),
      {
        auth: { role: rolesFor('risk.decide'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: withdrawalReviewParams,
        body: rejectWithdrawalBody,
        response: responses,
        detail: {
          summary: 'Reject a held withdrawal (admin)',
          security: staffSecurity('risk.decide'),
          description:
            'Only a withdrawal held for review (409 WITHDRAWAL_NOT_HELD otherwise). The held amount returns to the available balance ' +
            '(the hold is voided), the withdrawal becomes `rejected` with the reason, which the user reads. Audited (`withdrawal.reject`). ' +
            'Needs a recent sign-in.',
        },
      },
    );
