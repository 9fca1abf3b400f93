/**
 * Accounts in the admin console: GET /admin/users (search), GET /admin/users/:id (the detail),
 * and the actions ban, unban, role, freeze and unfreeze. Reads need `users.read`; actions
 * `users.manage` (`users.role` for roles), a recent sign-in and a reason, and each writes one
 * audit row (src/modules/admin/accounts.ts).
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { type Permission, rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import { requestIdOf } from '../../plugins/request-context';
import type { StaffContext } from '../audit/service';
import { privateUserSchema } from '../users/schemas';
import { accountDetail, banAccount, changeRole, freezeWallet, listAccounts, unbanAccount, unfreezeWallet } from './accounts';
import type { AdminDeps } from './deps';
import { ADMIN_ERRORS } from './errors';
import {
  accountDetailSchema,
  accountParams,
  accountSummarySchema,
  banBody,
  banResultSchema,
  freezeResultSchema,
  listAccountsQuery,
  reasonBody,
  roleBody,
} from './users-schemas';

const staffOf = (user: { id: string; role: string }, request: Request): StaffContext => ({ actor: { id: user.id, role: user.role }, requestId: requestIdOf(request) });

/** What every account action shares: who may, a recent sign-in, a retry-safe key, the refusals. */
const action = (permission: Permission) => ({
  auth: { role: rolesFor(permission), fresh: 'sign-in' as const },
  idempotency: 'optional' as const,
  params: accountParams,
});
const actionErrors = { ...authErrors, 409: errorSchema, ...commonErrors };
const ACTION_NOTE = ' Needs a recent sign-in (403 SESSION_NOT_FRESH) and a `reason`; never on your own account (403 CANNOT_ACT_ON_SELF).';

const parseBoolean = (value: 'true' | 'false' | undefined): boolean | undefined => (value === undefined ? undefined : value === 'true');

export const adminUsersRoutes = (deps: AdminDeps) =>
  new Elysia()
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '/admin/users',
      async ({ query, db }) => {
        const result = await listAccounts(
          db,
          { q: query.q, role: query.role, banned: parseBoolean(query.banned), frozen: parseBoolean(query.frozen), riskLevel: query.riskLevel },
          { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor) },
          deps.now(),
        );
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('users.read') },
        query: listAccountsQuery,
        response: { 200: pageSchema(accountSummarySchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Search accounts (admin)',
          description:
            'Newest first, cursor-paginated. `q` matches a substring of the email or the name; `role`, `banned`, `frozen` and ' +
            '`riskLevel` narrow the list. Each row says whether a ban is in force, whether the wallet is frozen and the risk level.',
          security: staffSecurity('users.read'),
        },
      },
    )
    .get(
      '/admin/users/:id',
      async ({ params, db }) => {
        const detail = await accountDetail(db, params.id, deps.now());
        if (!detail) throw ADMIN_ERRORS.error('USER_NOT_FOUND');
        return ok(detail);
      },
      {
        auth: { role: rolesFor('users.read') },
        params: accountParams,
        response: { 200: successSchema(accountDetailSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'An account in full (admin)',
          description:
            'The account with its role and ban, its profile, wallet and freezes, the latest 20 bounties it posted and hunts, its ' +
            'latest 20 requests, the latest 20 reports against it and by it (with how many are open), its latest 20 risk events ' +
            'and its risk score. 404 USER_NOT_FOUND.',
          security: staffSecurity('users.read'),
        },
      },
    )
    .post(
      '/admin/users/:id/ban',
      async ({ params, body, user, db, request }) =>
        ok(
          await banAccount(
            db,
            { settings: deps.settings },
            staffOf(user, request),
            { userId: params.id, reason: body.reason, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null },
            deps.now(),
          ),
        ),
      {
        ...action('users.manage'),
        body: banBody,
        response: { 200: successSchema(banResultSchema), ...actionErrors },
        detail: {
          summary: 'Ban an account (admin)',
          description:
            'At once: every session ends (the cookie stops working, open sockets close with 4403 on every instance), its pending ' +
            'requests are withdrawn (each poster is told), its open bounties without a hunter are cancelled and their escrow ' +
            'refunded to its wallet (each audited `bounty.admin_cancel`; the other people on the bounty read only that the ' +
            "poster's account was suspended). Work already under way is left to the lifecycle: an admin can cancel or rule on it. " +
            'Signing in is refused until the ban ends: `expiresAt` (in the future, else 422 BAN_EXPIRY_PAST) or an unban. ' +
            '409 ALREADY_BANNED while a ban is in force. Audited (`user.ban`).' + ACTION_NOTE,
          security: staffSecurity('users.manage'),
        },
      },
    )
    .post(
      '/admin/users/:id/unban',
      async ({ params, body, user, db, request }) => ok(await unbanAccount(db, staffOf(user, request), { userId: params.id, reason: body.reason }, deps.now())),
      {
        ...action('users.manage'),
        body: reasonBody,
        response: { 200: successSchema(privateUserSchema), ...actionErrors },
        detail: {
          summary: 'Lift a ban (admin)',
          description:
            'The account can sign in again and is told so; what the ban withdrew or cancelled stays so. 409 NOT_BANNED. ' +
            'Audited (`user.unban`).' + ACTION_NOTE,
          security: staffSecurity('users.manage'),
        },
      },
    )
    .post(
      '/admin/users/:id/role',
      async ({ params, body, user, db, request }) =>
        ok(await changeRole(db, staffOf(user, request), { userId: params.id, role: body.role, reason: body.reason }, deps.now())),
      {
        ...action('users.role'),
        body: roleBody,
        response: { 200: successSchema(privateUserSchema), ...actionErrors },
        detail: {
          summary: 'Change a role (admin)',
          description:
            'user, moderator or admin. Takes effect on the next request (staff powers are always read from the database); the ' +
            'person is told. 409 ROLE_UNCHANGED when it is their role already. Moderators cannot grant roles. Audited (`user.role`).' + ACTION_NOTE,
          security: staffSecurity('users.role'),
        },
      },
    )
    .post(
      '/admin/users/:id/freeze',
      async ({ params, body, user, db, request }) => ok(await freezeWallet(db, staffOf(user, request), { userId: params.id, reason: body.reason }, deps.now())),
      {
        ...action('users.manage'),
        body: reasonBody,
        response: { 200: successSchema(freezeResultSchema), ...actionErrors },
        detail: {
          summary: 'Freeze a wallet (admin)',
          description:
            'No money leaves it: withdrawals are refused (403 WALLET_FROZEN) and one waiting for its payout fails and returns to ' +
            'the balance; deposits, escrow refunds and rewards still arrive. The `reason` is shown to the account holder (their ' +
            'wallet and a notification). 409 WALLET_ALREADY_FROZEN. Audited (`wallet.freeze`).' + ACTION_NOTE,
          security: staffSecurity('users.manage'),
        },
      },
    )
    .post(
      '/admin/users/:id/unfreeze',
      async ({ params, body, user, db, request }) => ok(await unfreezeWallet(db, staffOf(user, request), { userId: params.id, reason: body.reason }, deps.now())),
      {
        ...action('users.manage'),
        body: reasonBody,
        response: { 200: successSchema(freezeResultSchema), ...actionErrors },
        detail: {
          summary: 'Lift an admin freeze (admin)',
          description:
            "Lifts the admin's freeze only: a chargeback's freeze stays until the ledger settles the debt (`frozen` in the answer " +
            'says whether the wallet is still frozen). 409 WALLET_NOT_FROZEN without an admin freeze. Audited (`wallet.unfreeze`).' + ACTION_NOTE,
          security: staffSecurity('users.manage'),
        },
      },
    );
