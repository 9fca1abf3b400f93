/**
 * Money operations for admins: ledger accounts with their entries, a user's accounts and postings
 * (`ledger.read`), and manual adjustments (`ledger.adjust`): created with an Idempotency-Key,
 * posted at once up to ADJUSTMENT_DUAL_CONTROL_CENTS, above it approved or rejected by a second
 * admin. Every adjustment action needs a recent sign-in and writes one audit row.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { type Permission, rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import { IDEMPOTENCY_KEY_HEADER } from '../../plugins/idempotency';
import { requestIdOf } from '../../plugins/request-context';
import type { StaffContext } from '../audit/service';
import { createAdjustment, decideAdjustment, findAdjustment, listAdjustments } from './adjustments';
import type { AdminDeps } from './deps';
import { accountWithEntries, userAccounts, userPostings } from './ledger-reads';
import {
  accountPageSchema,
  accountParams,
  adjustmentParams,
  adjustmentSchema,
  adjustmentsQuery,
  createAdjustmentBody,
  decisionBody,
  LEDGER_ADMIN_ERRORS,
  ledgerAccountSchema,
  ledgerEntrySchema,
  pageQuery,
  userParams,
} from './ledger-schemas';

const staffOf = (user: { id: string; role: string }, request: Request): StaffContext => ({ actor: { id: user.id, role: user.role }, requestId: requestIdOf(request) });

const read = (permission: Permission) => ({ auth: { role: rolesFor(permission) } });
const decisionErrors = { ...authErrors, 409: errorSchema, ...commonErrors };
const DECISION_NOTE =
  ' Another admin than its creator (403 FOUR_EYES_REQUIRED) and than the person it is made out to (403 OWN_ADJUSTMENT), ' +
  'only while it waits (409 ADJUSTMENT_ALREADY_DECIDED, also for the second of two decisions at once). Needs a recent sign-in (403 SESSION_NOT_FRESH) and a `note`.';

export const adminLedgerRoutes = (deps: AdminDeps) =>
  new Elysia()
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '/admin/ledger/accounts/:id',
      async ({ params, query, db }) => {
        const found = await accountWithEntries(db, Number(params.id), { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'integer' }) });
        if (!found) throw LEDGER_ADMIN_ERRORS.error('ACCOUNT_NOT_FOUND');
        return { success: true as const, data: { account: found.account, entries: found.entries }, pagination: { nextCursor: found.nextCursor } };
      },
      {
        ...read('ledger.read'),
        params: accountParams,
        query: pageQuery,
        response: { 200: accountPageSchema, ...authErrors, ...commonErrors },
        detail: {
          summary: 'A ledger account and its entries (admin)',
          description:
            'The account (owner, kind, currency, balance, whether it may go negative) and its entries newest first, each with ' +
            'the balance after it and its transaction (kind, effect key, description, reference). Cursor-paginated over the ' +
            'entries. 404 ACCOUNT_NOT_FOUND.',
          security: staffSecurity('ledger.read'),
        },
      },
    )
    .get(
      '/admin/ledger/users/:userId',
      async ({ params, query, db }) => {
        const result = await userAccounts(db, params.userId, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'integer' }) });
        return page(result.items, result.nextCursor);
      },
      {
        ...read('ledger.read'),
        params: userParams,
        query: pageQuery,
        response: { 200: pageSchema(ledgerAccountSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: "A user's ledger accounts (admin)",
          description:
            'Every account held for the user, oldest first: available, held for withdrawals, owed (receivable), and the escrow ' +
            'of each bounty they funded. An unknown user has none (an empty page).',
          security: staffSecurity('ledger.read'),
        },
      },
    )
    .get(
      '/admin/ledger/users/:userId/postings',
      async ({ params, query, db }) => {
        const result = await userPostings(db, params.userId, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'integer' }) });
        return page(result.items, result.nextCursor);
      },
      {
        ...read('ledger.read'),
        params: userParams,
        query: pageQuery,
        response: { 200: pageSchema(ledgerEntrySchema), ...authErrors, ...commonErrors },
        detail: {
          summary: "A user's postings (admin)",
          description:
            "Every entry on the user's own accounts (available, held for withdrawals, owed), newest first, each naming its " +
            'account and transaction. The escrow of their bounties: GET /admin/ledger/accounts/{id}.',
          security: staffSecurity('ledger.read'),
        },
      },
    )
    .post(
      '/admin/ledger/adjustments',
      async ({ body, user, db, request, set }) => {
        const adjustment = await createAdjustment(
          db,
          staffOf(user, request),
          deps.now(),
          { ...body, requestKey: request.headers.get(IDEMPOTENCY_KEY_HEADER) ?? '' },
          deps.dualControlCents,
        );
        set.status = 201;
        return ok(adjustment);
      },
      {
        auth: { role: rolesFor('ledger.adjust'), fresh: 'sign-in' },
        idempotency: 'required',
        body: createAdjustmentBody(deps.maxAmount),
        response: { 201: successSchema(adjustmentSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: "Correct a user's balance (admin)",
          description:
            "A balanced ledger transaction between the user's `available` or `receivable` account and the platform's " +
            '`adjustments` account: never an edit of an entry. `amount` is signed (credit +, debit -). It is posted at once and ' +
            "the user notified (`ledger.adjusted`, with the reason) while the absolute sum of this admin's posted and waiting " +
            'adjustments for this user over the last 24 hours, this one included, stays at or under ADJUSTMENT_DUAL_CONTROL_CENTS ' +
            `(${deps.dualControlCents}); past it, it waits (\`pending_approval\`, nothing posted) for a second admin, so small ` +
            "pieces of a large correction wait too. One admin's adjustments for one user are taken one at a time (a transaction " +
            'lock), so concurrent ones cannot each miss the others. An admin\'s own account is 403 OWN_ADJUSTMENT. A debit past ' +
            'zero on `available` is 409 INSUFFICIENT_FUNDS and writes nothing; 404 USER_NOT_FOUND. One adjustment per ' +
            'Idempotency-Key and admin: the same key again gives the same adjustment, also after the stored answer expired; ' +
            'with another user, account, currency, amount or reason it is 422 IDEMPOTENCY_KEY_REUSED. Audited ' +
            '(`ledger.adjustment.create`); needs a recent sign-in (403 SESSION_NOT_FRESH).',
          security: staffSecurity('ledger.adjust'),
        },
      },
    )
    .get(
      '/admin/ledger/adjustments',
      async ({ query, db }) => {
        const result = await listAdjustments(
          db,
          { status: query.status, userId: query.userId },
          { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) },
        );
        return page(result.items, result.nextCursor);
      },
      {
        ...read('ledger.read'),
        query: adjustmentsQuery,
        response: { 200: pageSchema(adjustmentSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Manual adjustments (admin)',
          description:
            'The adjustments waiting for a second admin, oldest first (`status=pending_approval`, the default; `userId` narrows ' +
            "it). With `userId`: that user's adjustments newest first, all of them or those with `status`. Posted or rejected " +
            'ones without `userId` are 422 ADJUSTMENT_LIST_NEEDS_USER (the audit log lists every adjustment).',
          security: staffSecurity('ledger.read'),
        },
      },
    )
    .get(
      '/admin/ledger/adjustments/:id',
      async ({ params, db }) => {
        const adjustment = await findAdjustment(db, params.id);
        if (!adjustment) throw LEDGER_ADMIN_ERRORS.error('ADJUSTMENT_NOT_FOUND');
        return ok(adjustment);
      },
      {
        ...read('ledger.read'),
        params: adjustmentParams,
        response: { 200: successSchema(adjustmentSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'A manual adjustment (admin)', description: '404 ADJUSTMENT_NOT_FOUND.', security: staffSecurity('ledger.read') },
      },
    )
    .post(
      '/admin/ledger/adjustments/:id/approve',
      async ({ params, body, user, db, request }) =>
        ok(await decideAdjustment(db, staffOf(user, request), deps.now(), { id: params.id, decision: 'approve', note: body.note })),
      {
        auth: { role: rolesFor('ledger.adjust'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: adjustmentParams,
        body: decisionBody,
        response: { 200: successSchema(adjustmentSchema), ...decisionErrors },
        detail: {
          summary: 'Approve an adjustment (admin)',
          description:
            'Posts it (the same legs, once: its effect key is the adjustment\'s) and notifies the user (`ledger.adjusted`). A debit ' +
            'the balance no longer covers is 409 INSUFFICIENT_FUNDS and leaves it waiting. Audited (`ledger.adjustment.approve`).' +
            DECISION_NOTE,
          security: staffSecurity('ledger.adjust'),
        },
      },
    )
    .post(
      '/admin/ledger/adjustments/:id/reject',
      async ({ params, body, user, db, request }) =>
        ok(await decideAdjustment(db, staffOf(user, request), deps.now(), { id: params.id, decision: 'reject', note: body.note })),
      {
        auth: { role: rolesFor('ledger.adjust'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: adjustmentParams,
        body: decisionBody,
        response: { 200: successSchema(adjustmentSchema), ...decisionErrors },
        detail: {
          summary: 'Reject an adjustment (admin)',
          description: 'Nothing is posted; the user is not told. Audited (`ledger.adjustment.reject`).' + DECISION_NOTE,
          security: staffSecurity('ledger.adjust'),
        },
      },
    );
