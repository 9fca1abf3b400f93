/**
 * Requests (applications): a hunter applies to an open bounty, the poster accepts one (the
 * bounty's `accept` transition) or rejects it, the hunter may withdraw it while it is pending.
 * A request the viewer may not see (not theirs, not on their bounty) is the same 404 as one that
 * does not exist; a bounty they may not see is 404 BOUNTY_NOT_FOUND.
 */
import { Elysia } from 'elysia';
import type { RiskSettings } from '../../config/env';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { requestIdOf } from '../../plugins/request-context';
import type { Marketplace } from '../bounties/engine';
import { bountyIdParams } from '../bounties/schemas';
import type { ModuleInfo } from '../module';
import { RISK_ERRORS } from '../risk/errors';
import { judgeRequest } from '../risk/service';
import { REQUESTS_ERRORS } from './errors';
import {
  acceptedRequestSchema,
  createdRequestSchema,
  createRequestBody,
  listBountyRequestsQuery,
  listMyRequestsQuery,
  myRequestSchema,
  requestIdParams,
  requestSchema,
} from './schemas';
import { acceptRequest, applyToBounty, listBountyRequests, listMyRequests, rejectRequest, withdrawRequest } from './service';

export const requestsModule: ModuleInfo = {
  tag: { name: 'requests', description: 'Applications to bounties: apply, list, withdraw, reject, accept' },
  errors: { ...REQUESTS_ERRORS.codes, ...RISK_ERRORS.codes },
};

export type RequestsDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  marketplace: Marketplace;
  /** The clock every write is stamped with (tests move it). */
  now: () => Date;
  /** The risk rules: a new account's applications per day are capped. */
  risk: RiskSettings;
};

const conflicts = { 409: errorSchema } as const;

export const requestsRoutes = (deps: RequestsDeps) =>
  new Elysia({ tags: [requestsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .post(
      '/bounties/:id/requests',
      async ({ params, body, user, db, set, request }) => {
        const now = deps.now();
        // Judged before the application's own transaction (a denial is recorded in one of its own).
        await judgeRequest(db, { settings: deps.risk, userId: user.id, bountyId: params.id, now, requestId: requestIdOf(request) });
        const created = await applyToBounty(db, deps.marketplace, user, params.id, body, now);
        set.status = 201;
        return ok(created);
      },
      {
        auth: true,
        idempotency: 'optional',
        params: bountyIdParams,
        body: createRequestBody,
        response: { 201: successSchema(createdRequestSchema), ...authErrors, ...commonErrors, ...conflicts },
        detail: {
          summary: 'Apply to a bounty',
          description:
            'Only an open bounty, not your own (403 OWN_BOUNTY), one live request per bounty (409 ALREADY_REQUESTED), at most ' +
            'MAX_PENDING_REQUESTS pending at once (409 TOO_MANY_PENDING_REQUESTS). After the poster rejected you or removed you ' +
            'from it, not again (409 REAPPLY_REFUSED); after a withdrawal or another hunter was picked, again once it is open. ' +
            'Without payouts set up you may apply, but `payoutsReady` is false and `warning` says why: the poster cannot accept you until you can be paid. ' +
            'A new account (no completed bounty yet) applies at most RISK_NEW_ACCOUNT_MAX_REQUESTS_PER_DAY times a day: 403 NEW_ACCOUNT_LIMIT.',
        },
      },
    )
    .get(
      '/bounties/:id/requests',
      async ({ params, query, user, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listBountyRequests(db, user, params.id, { limit: clampLimit(query.limit), cursor });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        params: bountyIdParams,
        query: listBountyRequestsQuery,
        response: { 200: pageSchema(requestSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: "A bounty's requests",
          description: 'Oldest first. The poster and admins see every request; anyone else only their own (an empty list when none).',
        },
      },
    )
    .get(
      '/requests/me',
      async ({ query, user, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listMyRequests(db, user, { limit: clampLimit(query.limit), cursor, status: query.status });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listMyRequestsQuery,
        response: { 200: pageSchema(myRequestSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Your requests', description: 'Newest first, optionally one status, each with its bounty (title, state, reward).' },
      },
    )
    .post('/requests/:id/withdraw', async ({ params, user, db }) => ok(await withdrawRequest(db, user, params.id, deps.now())), {
      auth: true,
      params: requestIdParams,
      response: { 200: successSchema(requestSchema), ...authErrors, ...commonErrors, ...conflicts },
      detail: {
        summary: 'Withdraw your request',
        description:
          'Only while pending (409 REQUEST_NOT_PENDING otherwise). Once accepted, leave the bounty itself: POST /bounties/:id/withdraw. ' +
          'On a request that is not yours but on your bounty: 403.',
      },
    })
    .post('/requests/:id/reject', async ({ params, user, db }) => ok(await rejectRequest(db, user, params.id, deps.now())), {
      auth: true,
      params: requestIdParams,
      response: { 200: successSchema(requestSchema), ...authErrors, ...commonErrors, ...conflicts },
      detail: {
        summary: 'Reject a request',
        description: "The bounty's poster, only while pending; that hunter may not apply to this bounty again. Its hunter or an admin: 403.",
      },
    })
    .post('/requests/:id/accept', async ({ params, user, db }) => ok(await acceptRequest(db, deps.marketplace, user, params.id, deps.now())), {
      auth: true,
      idempotency: 'optional',
      params: requestIdParams,
      response: { 200: successSchema(acceptedRequestSchema), ...authErrors, ...commonErrors, ...conflicts },
      detail: {
        summary: 'Accept a request',
        description:
          'The poster picks a hunter: the bounty goes from open to in_progress and every other pending request is rejected as `filled`. ' +
          '409 INVALID_TRANSITION (with the state) when the bounty is no longer open, 409 REQUEST_NOT_PENDING (with the status), ' +
          "409 HUNTER_CANNOT_BE_PAID while the hunter's payouts are not enabled. Not the poster: 403 NOT_YOUR_TRANSITION.",
      },
    });
