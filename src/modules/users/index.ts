/**
 * Accounts. Listing and creating are admin-only; anyone signed in sees public profiles; an
 * account's owner and admins see and change the rest. Authorization is decided before any lookup,
 * so a non-admin gets the same 403 for someone else's id as for an id that does not exist.
 */
import { Elysia } from 'elysia';
import { type Auth, signOut } from '../../lib/auth';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { ModuleInfo } from '../module';
import { USERS_ERRORS } from './errors';
import { appendSetCookies } from '../../lib/cookies';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import {
  ADMIN_ONLY_FIELDS,
  createUserBody,
  deletedSchema,
  listUsersQuery,
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
      async ({ body, db, set }) => {
        const user = await createUser(deps.auth, db, body);
        set.status = 201;
        return ok(user);
      },
      {
        auth: { role: 'admin' },
        idempotency: 'optional',
        body: createUserBody,
        response: { 201: successSchema(privateUserSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Create a user (admin)',
          description: 'Creates an email + password account with the given role (default user). A taken email is 409.',
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
      async ({ params, body, user, db }) => {
        const isSelf = user.id === params.id;
        const isAdmin = user.role === 'admin';
        if (!isSelf && !isAdmin) throw USERS_ERRORS.error('NOT_YOUR_ACCOUNT', 'You can only change your own account');
        const adminFields = ADMIN_ONLY_FIELDS.filter((field) => body[field] !== undefined);
        if (adminFields.length > 0 && !isAdmin) {
          throw USERS_ERRORS.error('ADMIN_ONLY_FIELDS', `Only an admin can change ${adminFields.join(', ')}`);
        }
        // An admin demoting or banning themselves could leave nobody able to undo it.
        if (isSelf && ((body.role !== undefined && body.role !== user.role) || body.banned === true)) {
          throw USERS_ERRORS.error('CANNOT_MODIFY_SELF');
        }
        const updated = await updateUser(db, params.id, {
          name: body.name,
          image: body.image,
          role: body.role,
          banned: body.banned,
          banReason: body.banReason,
          banExpires: body.banExpires === undefined ? undefined : body.banExpires === null ? null : new Date(body.banExpires),
        });
        if (!updated) throw USERS_ERRORS.error('NOT_FOUND');
        return ok(toPrivateUser(updated));
      },
      {
        // Account and role changes are checked against the database, not the cookie cache.
        auth: { fresh: true },
        params: userParams,
        body: updateUserBody,
        response: { 200: successSchema(privateUserSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Change a user',
          description:
            'Owner: name and image. Admin: also role and ban (banning revokes every session). ' +
            'Admin-only fields sent by anyone else are refused with 403 ADMIN_ONLY_FIELDS; unknown fields are ignored.',
        },
      },
    )
    .delete(
      '/:id',
      async ({ params, user, db, request, set }) => {
        const isSelf = user.id === params.id;
        if (!isSelf && user.role !== 'admin') throw USERS_ERRORS.error('NOT_YOUR_ACCOUNT', 'You can only delete your own account');
        if (isSelf) appendSetCookies(set, await signOut({ auth: deps.auth, baseUrl: deps.baseUrl, boundMs: deps.authCallBoundMs }, request.headers.get('cookie')));
        if (!(await deleteUser(db, params.id))) throw USERS_ERRORS.error('NOT_FOUND');
        return ok({ id: params.id, deleted: true as const });
      },
      {
        auth: { fresh: true },
        params: userParams,
        response: { 200: successSchema(deletedSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Delete a user',
          description: 'The owner or an admin. Deletes the account with its sessions and posts; deleting yourself also signs you out.',
        },
      },
    );
