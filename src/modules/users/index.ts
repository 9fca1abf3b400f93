/**
 * Accounts. Listing and creating are admin-only; anyone signed in sees public profiles; an
 * account's owner and admins see and change the rest. Authorization is decided before any lookup,
 * so a non-admin gets the same 403 for someone else's id as for an id that does not exist.
 */
import { Elysia } from 'elysia';
import { type Auth, signOut } from '../../lib/auth';
import { COMMON_ERRORS } from '../../lib/errors';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { ModuleInfo } from '../module';
import { USERS_ERRORS } from './errors';
import { appendSetCookies } from '../../lib/cookies';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { requestIdOf } from '../../plugins/request-context';
import {
  createUserBody,
  deletedSchema,
  deleteUserBody,
  listUsersQuery,
  MOVED_TO_ADMIN_USERS,
  privateUserSchema,
  updateUserBody,
  userParams,
  userViewSchema,
} from './schemas';
import { createUser, deleteUser, findUser, listUsers, toPrivateUser, toPublicUser, updateUser } from './service';

/** OpenAPI 3.1 lets a cookie scheme list the roles it needs: these operations need admin. */
const ADMIN_SECURITY: Array<Record<string, string[]>> = [{ sessionCookie: ['admin'] }];

export const usersModule: ModuleInfo = {
  tag: { name: 'users', description: 'Accounts: public profiles, self-service, admin' },
  errors: USERS_ERRORS.codes,
};

export const usersRoutes = (deps: { auth: Auth; baseUrl: string; databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; idempotencyPlugin: IdempotencyPlugin; authCallBoundMs: number }) =>
  new Elysia({ prefix: '/users', tags: [usersModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '',
      async ({ query, db }) => {
        const cursor = cursorFromQuery(query.cursor);
        const result = await listUsers(db, { limit: clampLimit(query.limit), cursor, email: query.email, name: query.name });
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: 'admin' },
        query: listUsersQuery,
        response: { 200: pageSchema(privateUserSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'List users (admin)',
          description: 'Newest first, cursor-paginated. `email` and `name` filter by case-insensitive substring.',
          security: ADMIN_SECURITY,
        },
      },
    )
    .post(
      '',
      async ({ body, db, set, user, request }) => {
        const { reason, ...input } = body;
        const created = await createUser(deps.auth, db, input, { staff: { actor: user, requestId: requestIdOf(request) }, reason });
        set.status = 201;
        return ok(created);
      },
      {
        auth: { role: 'admin', fresh: 'sign-in' },
        idempotency: 'optional',
        body: createUserBody,
        response: { 201: successSchema(privateUserSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Create a user (admin)',
          description:
            'Creates an email + password account with the given role (default user). A taken email is 409. ' +
            'Needs a recent sign-in (403 SESSION_NOT_FRESH) and a `reason`; audited (`user.create`).',
          security: ADMIN_SECURITY,
        },
      },
    )
    .get(
      '/:id',
      async ({ params, user, db }) => {
        const found = await findUser(db, params.id);
        if (!found) throw USERS_ERRORS.error('NOT_FOUND');
        return ok(user.id === found.id || user.role === 'admin' ? toPrivateUser(found) : toPublicUser(found));
      },
      {
        auth: true,
        params: userParams,
        response: { 200: successSchema(userViewSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'A user',
          description: 'The public profile for anyone signed in; the full account for its owner and admins.',
        },
      },
    )
    .patch(
      '/:id',
      async ({ params, body, user, db, request }) => {
        if (user.id !== params.id && user.role !== 'admin') throw USERS_ERRORS.error('NOT_YOUR_ACCOUNT', 'You can only change your own account');
        // One way to change a role or a ban: /admin/users, audited with a reason.
        const moved = MOVED_TO_ADMIN_USERS.filter((field) => body[field] !== undefined);
        if (moved.length > 0) {
          throw USERS_ERRORS.error('USE_ADMIN_USERS', undefined, moved.map((field) => ({ path: field, message: 'changed at /admin/users' })));
        }
        const isSelf = user.id === params.id;
        if (!isSelf && body.reason === undefined) {
          throw COMMON_ERRORS.error('VALIDATION_ERROR', "An admin changing another account gives a reason", [{ path: 'reason', message: 'is required' }]);
        }
        const byAdmin = !isSelf && body.reason !== undefined ? { staff: { actor: user, requestId: requestIdOf(request) }, reason: body.reason } : null;
        const updated = await updateUser(db, params.id, { name: body.name, image: body.image }, byAdmin);
        if (!updated) throw USERS_ERRORS.error('NOT_FOUND');
        return ok(toPrivateUser(updated));
      },
      {
        // Account changes are checked against the database, not the cookie cache.
        auth: { fresh: true },
        params: userParams,
        body: updateUserBody,
        response: { 200: successSchema(privateUserSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Change a user',
          description:
            'Name and image: the owner, or an admin with a `reason` (audited, `user.update`). Roles and bans are not changed here: sending `role`, `banned`, `banReason` ' +
            'or `banExpires` is 422 USE_ADMIN_USERS, whoever sends it (admins use POST /admin/users/{id}/role, /ban and /unban, ' +
            'audited with a reason). Unknown fields are ignored.',
        },
      },
    )
    .delete(
      '/:id',
      async ({ params, body, user, db, request, set }) => {
        const isSelf = user.id === params.id;
        if (!isSelf && user.role !== 'admin') throw USERS_ERRORS.error('NOT_YOUR_ACCOUNT', 'You can only delete your own account');
        const reason = body?.reason;
        if (!isSelf && reason === undefined) {
          throw COMMON_ERRORS.error('VALIDATION_ERROR', 'An admin deleting another account gives a reason', [{ path: 'reason', message: 'is required' }]);
        }
        if (isSelf) appendSetCookies(set, await signOut({ auth: deps.auth, baseUrl: deps.baseUrl, boundMs: deps.authCallBoundMs }, request.headers.get('cookie')));
        const byAdmin = !isSelf && reason !== undefined ? { staff: { actor: user, requestId: requestIdOf(request) }, reason } : null;
        if (!(await deleteUser(db, params.id, byAdmin))) throw USERS_ERRORS.error('NOT_FOUND');
        return ok({ id: params.id, deleted: true as const });
      },
      {
        // Deleting an account cannot be undone: a recent sign-in, whoever deletes it.
        auth: { fresh: 'sign-in' },
        params: userParams,
        body: deleteUserBody,
        response: { 200: successSchema(deletedSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Delete a user',
          description:
            'The owner, or an admin. Deletes the account with its sessions and posts; deleting yourself also signs you out ' +
            '(no body needed). An admin deleting another account sends `{ "reason": ... }` (422 without it); audited ' +
            '(`user.delete`). Needs a recent sign-in (403 SESSION_NOT_FRESH). 409 ACCOUNT_IN_USE while the account has a live ' +
            'bounty (as poster or hunter) or money in its wallet: finish or cancel the work and withdraw first (or an admin bans it).',
        },
      },
    );
