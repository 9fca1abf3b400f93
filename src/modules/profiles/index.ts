/**
 * Profiles and reviews. `/profiles/me` is the signed-in owner's; `/profiles/:userId` is public,
 * with statistics computed from the bounty history; reviews are written and read under
 * `/bounties/:id/reviews` (served here, beside the rest of reputation) and listed per person under
 * `/profiles/:userId/reviews`. One instance without a prefix, so both paths live in one place.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, errorSchema, ok, optionalSession, page, pageSchema, successSchema } from '../../lib/http';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import type { ModuleInfo } from '../module';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import type { HttpCachePlugin } from '../../plugins/http-cache';
import type { IdempotencyPlugin } from '../../plugins/idempotency';
import { PROFILES_ERRORS } from './errors';
import { createReview, listBountyReviews, listUserReviews } from './reviews';
import {
  bountyParams,
  createReviewBody,
  listReviewsQuery,
  profileSchema,
  publicProfileSchema,
  reviewSchema,
  updateProfileBody,
  userParams,
} from './schemas';
import { findOwnProfile, findPublicProfile, updateOwnProfile } from './service';

export const profilesModule: ModuleInfo = {
  tag: { name: 'profiles', description: 'Profiles, reputation computed from the bounty history, and double-blind reviews' },
  errors: PROFILES_ERRORS.codes,
};

export type ProfilesDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  httpCachePlugin: HttpCachePlugin;
  /** The clock reviews and their visibility are judged by (tests move it). */
  now: () => Date;
  reviewWindowDays: number;
};

export const profilesRoutes = (deps: ProfilesDeps) =>
  new Elysia({ tags: [profilesModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .use(deps.httpCachePlugin)
    .get('/profiles/me', async ({ user, db }) => ok(await findOwnProfile(db, user)), {
      auth: true,
      response: { 200: successSchema(profileSchema), ...authErrors, ...commonErrors },
      detail: { summary: 'Your profile', description: 'Everything you can edit, with exact coordinates.' },
    })
    .patch('/profiles/me', async ({ body, user, db }) => ok(await updateOwnProfile(db, user, body, deps.now())), {
      auth: true,
      body: updateProfileBody,
      response: { 200: successSchema(profileSchema), ...authErrors, ...commonErrors },
      detail: {
        summary: 'Change your profile',
        description:
          'Only the fields sent change; null clears a nullable one. Lists (skills, links) are replaced whole. URLs are http(s) only. ' +
          'Other fields in the body (userId, email, stats) are ignored.',
      },
    })
    .get(
      '/profiles/:userId',
      async ({ params, db }) => {
        const profile = await findPublicProfile(db, params.userId, deps.now());
        if (!profile) throw PROFILES_ERRORS.error('USER_NOT_FOUND');
        return ok(profile);
      },
      {
        optionalAuth: true,
        // The same body for every viewer (the session is not read for it).
        httpCache: 'public',
        params: userParams,
        response: { 200: successSchema(publicProfileSchema), ...commonErrors },
        detail: {
          summary: 'A public profile',
          description:
            'No email, wallet or exact location. Statistics are computed from the bounty history: as hunter (completion and ' +
            'on-time rates, disputes lost), as poster (bounties posted, median time to review a submission, share auto-approved, ' +
            'disputes lost), and ratings from visible reviews only.',
          security: optionalSession,
        },
      },
    )
    .get(
      '/profiles/:userId/reviews',
      async ({ params, query, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listUserReviews(db, params.userId, { limit: clampLimit(query.limit), cursor, now: deps.now() });
        if (!result) throw PROFILES_ERRORS.error('USER_NOT_FOUND');
        return page(result.items, result.nextCursor);
      },
      {
        // The same page for everyone; the session only says how long a reader may reuse it.
        optionalAuth: true,
        httpCache: 'public',
        params: userParams,
        query: listReviewsQuery,
        response: { 200: pageSchema(reviewSchema), ...commonErrors },
        detail: {
          summary: "Reviews about a person",
          description: 'Visible reviews only (both sides reviewed, or the review window closed), newest first, cursor-paginated.',
          security: optionalSession,
        },
      },
    )
    .post(
      '/bounties/:id/reviews',
      async ({ params, body, user, db, set }) => {
        const review = await createReview(db, user, params.id, body, { now: deps.now(), windowDays: deps.reviewWindowDays });
        set.status = 201;
        return ok(review);
      },
      {
        auth: true,
        idempotency: 'optional',
        params: bountyParams,
        body: createReviewBody,
        response: { 201: successSchema(reviewSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Review the other side of a bounty',
          description:
            'Once the work has ended (completed, or cancelled after a hunter was accepted), the poster and the hunter may each rate ' +
            `the other 1-5 with a text, once, within REVIEW_WINDOW_DAYS of the close (409 ALREADY_REVIEWED, REVIEW_NOT_OPEN, ` +
            'REVIEW_WINDOW_CLOSED). Double-blind: hidden until the other side reviews too or the window closes. Anyone else: 403.',
        },
      },
    )
    .get(
      '/bounties/:id/reviews',
      async ({ params, viewer, db }) => {
        const reviews = await listBountyReviews(db, viewer, params.id, deps.now());
        if (!reviews) throw PROFILES_ERRORS.error('BOUNTY_NOT_FOUND');
        return ok(reviews);
      },
      {
        optionalAuth: true,
        params: bountyParams,
        response: { 200: successSchema(reviewSchema.array().max(10)), ...commonErrors },
        detail: {
          summary: "A bounty's reviews",
          description: 'The visible ones, plus your own while it is still hidden (`visible: false`). 404 for a bounty you cannot see.',
          security: optionalSession,
        },
      },
    );
