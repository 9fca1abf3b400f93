/**
 * GET /admin/dead-letters and POST /admin/dead-letters/:id/retry (`operations.dead_letters`):
 * jobs and webhook events that failed for good, and sending one again (audited, once).
 * Push and email deliveries marked dead are GET /admin/notifications/dead-letters.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { webhookEventStatuses } from '../../db';
import { authErrors, commonErrors, errorSchema, ok, page, pageSchema, successSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery, safeText } from '../../lib/validation';
import { requestIdOf } from '../../plugins/request-context';
import { listDeadLetters, retryDeadLetter } from './dead-letters-service';
import type { AdminDeps } from './deps';
import { pageQuery } from './ledger-schemas';

/** pg-boss ids: UUID-shaped, not always RFC 4122 (some jobs fix theirs from their subject). */
const jobIdSchema = z.guid().max(36);

const deadLetterSchema = z.object({
  id: jobIdSchema.describe("The dead letter's own id: POST /admin/dead-letters/{id}/retry"),
  job: z.string().max(100).describe('The job that failed, e.g. `payouts.execute`, `webhooks.reconcile`'),
  jobId: jobIdSchema.nullable().describe("The failed job's id (its log lines carry it)"),
  payload: z.record(z.string().max(64), z.unknown()).describe('What the job was sent with; a retry sends the same'),
  error: z
    .object({ type: z.string().max(2_000).nullable(), message: z.string().max(2_000).nullable(), code: z.string().max(100).nullable() })
    .nullable()
    .describe('What its last attempt ended with (the stack is in the logs)'),
  attempts: z.number().int().nullable(),
  firstQueuedAt: z.date().nullable(),
  deadAt: z.date(),
  retryable: z.boolean().describe('false for the few seconds until its dead-letter handling has run (a retry then is 409 DEAD_LETTER_NOT_SETTLED)'),
  webhookEvent: z
    .object({ id: z.string().max(255), type: z.string().max(100), objectId: z.string().max(255).nullable(), status: z.enum(webhookEventStatuses) })
    .nullable()
    .describe('For `webhooks.reconcile`: the Stripe event it was reconciling'),
});

const retryResultSchema = z.object({
  deadLetterId: jobIdSchema,
  job: z.string().max(100),
  jobId: jobIdSchema.describe('The new job: the same payload, its retries afresh'),
});

export const adminDeadLetterRoutes = (deps: AdminDeps) =>
  new Elysia()
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get(
      '/admin/dead-letters',
      async ({ query, db }) => {
        const result = await listDeadLetters(db, deps.jobs, { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'uuid' }) });
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('operations.dead_letters') },
        query: pageQuery,
        response: { 200: pageSchema(deadLetterSchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'Jobs that failed for good (admin)',
          description:
            'Every job past its last retry, newest first: payouts (their money stays held until one succeeds), webhook ' +
            'reconciliations (with the Stripe event: type and object id), notification dispatch and deliveries. Each with its ' +
            'payload, how it ended and how many attempts it had. Cursor-paginated.',
          security: staffSecurity('operations.dead_letters'),
        },
      },
    )
    .post(
      '/admin/dead-letters/:id/retry',
      async ({ params, body, user, db, request }) =>
        ok(await retryDeadLetter(db, deps.jobs, { actor: { id: user.id, role: user.role }, requestId: requestIdOf(request) }, { id: params.id, reason: body.reason })),
      {
        auth: { role: rolesFor('operations.dead_letters'), fresh: 'sign-in' },
        idempotency: 'optional',
        params: z.object({ id: jobIdSchema }),
        body: z.object({ reason: safeText(2_000) }),
        response: { 200: successSchema(retryResultSchema), ...authErrors, 409: errorSchema, ...commonErrors },
        detail: {
          summary: 'Send a dead-lettered job again (admin)',
          description:
            'Sends the job again with the same payload (a new job id, its retries afresh) and removes the dead letter, in one ' +
            'transaction: safe for every job here (a payout is keyed by its withdrawal at Stripe and looks for an earlier ' +
            'transfer first; a reconciliation does nothing once its event is settled). A push or email delivery marked dead ' +
            'stays dead (its job finds nothing pending). 409 DEAD_LETTER_ALREADY_RETRIED for one sent again already, ' +
            '409 DEAD_LETTER_NOT_SETTLED in the seconds before its dead-letter handling ran, 409 DEAD_LETTER_PAYLOAD_INVALID ' +
            'when the payload is one the job refuses; 404 DEAD_LETTER_NOT_FOUND. Audited (`dead_letter.retry`); needs a recent ' +
            'sign-in (403 SESSION_NOT_FRESH) and a `reason`.',
          security: staffSecurity('operations.dead_letters'),
        },
      },
    );
