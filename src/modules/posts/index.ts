/**
 * Posts: public reading (drafts only for their author and admins), signed-in writing, and
 * changes by the author or an admin. Anyone else gets the same 404 as for a post that does not
 * exist, so ids of other people's drafts cannot be probed.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, ok, optionalSession, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { ModuleInfo } from '../module';
import { POSTS_ERRORS } from './errors';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { createPostBody, deletedPostSchema, listPostsQuery, postParams, postSchema, updatePostBody } from './schemas';
import { createPost, deletePost, findVisiblePost, listPosts, updatePost } from './service';

export const postsModule: ModuleInfo = {
  tag: { name: 'posts', description: 'Posts: public reading, drafts for their authors' },
  errors: POSTS_ERRORS.codes,
};

export const postsRoutes = (deps: { databasePlugin: DatabasePlugin; authPlugin: AuthPlugin; idempotencyPlugin: IdempotencyPlugin }) =>
  new Elysia({ prefix: '/posts', tags: [postsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '',
      async ({ query, viewer, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listPosts(db, viewer, { limit: clampLimit(query.limit), cursor });
        return page(result.items, result.nextCursor);
      },
      {
        optionalAuth: true,
        query: listPostsQuery,
        response: { 200: pageSchema(postSchema), ...commonErrors },
        detail: {
          summary: 'List posts',
          description: 'Newest first. Published posts for everyone, plus your own drafts when signed in (all drafts for admins).',
          security: optionalSession,
        },
      },
    )
    .get(
      '/:id',
      async ({ params, viewer, db }) => {
        const post = await findVisiblePost(db, viewer, params.id);
        if (!post) throw POSTS_ERRORS.error('NOT_FOUND');
        return ok(post);
      },
      {
        optionalAuth: true,
        params: postParams,
        response: { 200: successSchema(postSchema), ...commonErrors },
        detail: { summary: 'A post', description: 'A draft is 404 for anyone but its author and admins.', security: optionalSession },
      },
    )
    .post(
      '',
      async ({ body, user, db, set }) => {
        const post = await createPost(db, user.id, body);
        set.status = 201;
        return ok(post);
      },
      {
        auth: true,
        idempotency: 'optional',
        body: createPostBody,
        response: { 201: successSchema(postSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Create a post', description: 'The author is the signed-in user; `authorId` in the body is ignored.' },
      },
    )
    .patch(
      '/:id',
      async ({ params, body, user, db }) => {
        const post = await updatePost(db, user, params.id, body);
        if (!post) throw POSTS_ERRORS.error('NOT_FOUND');
        return ok(post);
      },
      {
        auth: true,
        params: postParams,
        body: updatePostBody,
        response: { 200: successSchema(postSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Change a post', description: 'Author or admin; for anyone else the post does not exist (404).' },
      },
    )
    .delete(
      '/:id',
      async ({ params, user, db }) => {
        if (!(await deletePost(db, user, params.id))) throw POSTS_ERRORS.error('NOT_FOUND');
        return ok({ id: params.id, deleted: true as const });
      },
      {
        auth: true,
        params: postParams,
        response: { 200: successSchema(deletedPostSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Delete a post', description: 'Author or admin; for anyone else the post does not exist (404).' },
      },
    );
