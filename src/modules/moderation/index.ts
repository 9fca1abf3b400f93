/**
 * Moderation: reports (anyone signed in files one; moderators and admins work the queue) and
 * blocks (a person's own list). Resolutions are audited; a ban goes through the admin console's
 * account service, so it does exactly what the admin's ban does. Who may do what is the statement
 * table in src/lib/permissions.ts: the routes ask for `reports.read` / `reports.resolve`, and a
 * resolution that bans or removes a bounty checks `reports.ban` / `reports.remove_bounty` itself.
 */
import { Elysia } from 'elysia';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery } from '../../lib/validation';
import { requestIdOf } from '../../plugins/request-context';
import { ADMIN_ERRORS } from '../admin/errors';
import type { AdminDeps } from '../admin/deps';
import { BLOCKS_ERRORS } from '../blocks/errors';
import { blockUser, listBlocks, unblockUser } from '../blocks/service';
import { BOUNTIES_ERRORS } from '../bounties/errors';
import type { ModuleInfo } from '../module';
import { MODERATION_ERRORS } from './errors';
import { fileReport, listReports, reportDetail, resolveReport } from './reports';
import {
  blockBody,
  blockParams,
  blockSchema,
  createReportBody,
  filedReportSchema,
  listBlocksQuery,
  listReportsQuery,
  reportDetailSchema,
  reportParams,
  reportSchema,
  resolvedReportSchema,
  resolveReportBody,
  unblockedSchema,
} from './schemas';

const { USER_NOT_FOUND, CANNOT_ACT_ON_SELF, ALREADY_BANNED } = ADMIN_ERRORS.codes;
const { NOT_YOUR_TRANSITION } = BOUNTIES_ERRORS.codes;

export const moderationModule: ModuleInfo = {
  tag: { name: 'moderation', description: 'Reports of bounties, users, messages and reviews; the moderation queue; blocking people' },
  // A ban and a bounty's removal answer with the admin console's and the lifecycle's codes too.
  errors: { ...MODERATION_ERRORS.codes, ...BLOCKS_ERRORS.codes, USER_NOT_FOUND, CANNOT_ACT_ON_SELF, ALREADY_BANNED, NOT_YOUR_TRANSITION },
};

export type ModerationDeps = AdminDeps;

export const moderationRoutes = (deps: ModerationDeps) =>
  new Elysia({ tags: [moderationModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .post(
      '/reports',
      async ({ body, user, db, set }) => {
        const report = await fileReport(db, user, body, deps.now());
        set.status = 201;
        return ok(report);
      },
      {
        auth: true,
        idempotency: 'optional',
        body: createReportBody,
        response: { 201: successSchema(filedReportSchema), ...authErrors, ...commonErrors, 409: errorSchema },
        detail: {
          summary: 'Report a bounty, a user, a message or a review',
          description:
            'Anyone signed in, about something they can see (else 404 REPORT_TARGET_NOT_FOUND, as for nothing there): a bounty, ' +
            'a user, a message of a conversation you are a member of, or a visible review. Not yourself or your own content ' +
            '(422 CANNOT_REPORT_OWN). One open report per person and target: another is 409 REPORT_ALREADY_OPEN. The moderators ' +
            'see the content as it is now, even if it is edited or deleted later. You get your report back, never anyone else\'s.',
        },
      },
    )
    .get(
      '/admin/reports',
      async ({ query, db }) => {
        const cursor = cursorFromQuery(query.cursor, { ids: 'uuid' });
        const result = await listReports(db, { targetType: query.targetType, status: query.status ?? 'open' }, { limit: clampLimit(query.limit), cursor });
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('reports.read') },
        query: listReportsQuery,
        response: { 200: pageSchema(reportSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'The moderation queue (moderators, admins)',
          security: staffSecurity('reports.read'),
          description:
            'Open reports, oldest first, each with the content as it was when reported, the reporter, the person it is against ' +
            'and how many open reports there are about the same content. Filter by targetType; status=dismissed or actioned ' +
            'lists resolved reports, most recently resolved first.',
        },
      },
    )
    .get(
      '/admin/reports/:id',
      async ({ params, db }) => {
        const report = await reportDetail(db, params.id);
        if (!report) throw MODERATION_ERRORS.error('REPORT_NOT_FOUND');
        return ok(report);
      },
      {
        auth: { role: rolesFor('reports.read') },
        params: reportParams,
        response: { 200: successSchema(reportDetailSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'A report (moderators, admins)',
          security: staffSecurity('reports.read'),
          description:
            'The report with the content as it was when reported (`snapshot`) and as it is now (`current`: a message\'s ' +
            'body and whether it is deleted or hidden, a bounty\'s state and whether it is hidden, ...).',
        },
      },
    )
    .post(
      '/admin/reports/:id/resolve',
      async ({ params, body, user, db, request }) => {
        const resolved = await resolveReport(
          db,
          {
            marketplace: { settings: deps.settings },
            staff: { actor: { id: user.id, role: user.role }, requestId: requestIdOf(request) },
            now: deps.now(),
          },
          params.id,
          { action: body.action, note: body.note, banExpiresAt: body.banExpiresAt ? new Date(body.banExpiresAt) : null },
        );
        return ok(resolved);
      },
      {
        auth: { role: rolesFor('reports.resolve'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: reportParams,
        body: resolveReportBody,
        response: { 200: successSchema(resolvedReportSchema), ...authErrors, ...commonErrors, 409: errorSchema },
        detail: {
          summary: 'Resolve a report (moderators; ban and removing a bounty: admins)',
          security: staffSecurity('reports.resolve'),
          description:
            'With a note (the reason, kept in the audit log). Every open report about the same content is resolved with it. ' +
            'dismiss: nothing else. remove_content: a message or review is hidden (members see the message as deleted; the ' +
            'review is no longer listed or counted); a bounty is cancelled and refunded when it still can be, and hidden ' +
            '(admins only: 403 ADMIN_REQUIRED); a user has no content (422 NOTHING_TO_REMOVE). warn: the author is notified ' +
            'with the note. ban: the admin ban of the person the report is against, with an optional banExpiresAt (admins ' +
            'only; 409 ALREADY_BANNED when they are). Each writes one `report.<action>` audit row. 409 REPORT_ALREADY_RESOLVED once resolved; 403 ' +
            'OWN_REPORT_SUBJECT for a report against yourself. Needs a recent sign-in.',
        },
      },
    )
    .post(
      '/blocks',
      async ({ body, user, db, set }) => {
        const { block, created } = await blockUser(db, user.id, body.userId, deps.now());
        set.status = created ? 201 : 200;
        return ok(block);
      },
      {
        auth: true,
        idempotency: 'optional',
        body: blockBody,
        response: { 200: successSchema(blockSchema), 201: successSchema(blockSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Block someone',
          description:
            'Either way, a block means: no messages between you, neither sees nor applies to the other\'s bounties (404, ' +
            'left out of browse and search), and neither reviews the other. Staff are never hidden by a block. 201 when new; ' +
            'blocking again is 200 with the same block. Yourself: 422 CANNOT_BLOCK_SELF; no such user: 404.',
        },
      },
    )
    .delete(
      '/blocks/:userId',
      async ({ params, user, db }) => {
        if (!(await unblockUser(db, user.id, params.userId))) throw BLOCKS_ERRORS.error('BLOCK_NOT_FOUND');
        return ok({ userId: params.userId, blocked: false as const });
      },
      {
        auth: true,
        params: blockParams,
        response: { 200: successSchema(unblockedSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Unblock someone', description: '404 BLOCK_NOT_FOUND when you have not blocked them.' },
      },
    )
    .get(
      '/blocks',
      async ({ query, user, db }) => {
        const result = await listBlocks(db, user.id, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: true,
        query: listBlocksQuery,
        response: { 200: pageSchema(blockSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Whom you blocked', description: 'Your blocks, newest first, cursor-paginated.' },
      },
    );
