/** GET /admin/audit: the audit log, newest first, filtered by actor, target, action and time. */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { authErrors, commonErrors, page, pageSchema } from '../../lib/http';
import { rolesFor, staffSecurity } from '../../lib/permissions';
import { clampLimit, cursorFromQuery, cursorQuery, limitQuery, safeText, userIdSchema } from '../../lib/validation';
import { AUDIT_ACTION_NAMES, AUDIT_ACTIONS } from '../audit/actions';
import { listAudit } from '../audit/service';
import type { AdminDeps } from './deps';

const summaryValue = z.union([z.string().max(2_000), z.number(), z.boolean(), z.null()]);
const summarySchema = z.record(z.string().max(64), summaryValue).nullable();

export const auditEntrySchema = z.object({
  id: z.string().max(20),
  at: z.date(),
  actorId: z.string().max(64).nullable().describe('Null when the service acted (a risk rule)'),
  actorRole: z.enum(['user', 'moderator', 'admin', 'system']),
  action: z.string().max(64),
  targetType: z.string().max(32),
  targetId: z.string().max(64),
  // The longest reason any audited action takes (a dispute ruling's).
  reason: z.string().max(5_000),
  before: summarySchema,
  after: summarySchema,
  requestId: z.string().max(128).nullable().describe("The acting request's x-request-id: its log line has the same id"),
});

const auditQuery = z.object({
  actorId: userIdSchema.optional(),
  targetType: safeText(32).optional(),
  targetId: safeText(64).optional(),
  action: z.enum(AUDIT_ACTION_NAMES as [string, ...string[]]).optional(),
  from: z.iso.datetime({ offset: true }).max(40).optional().describe('At or after this instant'),
  to: z.iso.datetime({ offset: true }).max(40).optional().describe('Before this instant'),
  limit: limitQuery,
  cursor: cursorQuery,
});

export const adminAuditRoutes = (deps: AdminDeps) =>
  new Elysia()
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .get(
      '/admin/audit',
      async ({ query, db }) => {
        const result = await listAudit(
          db,
          {
            actorId: query.actorId,
            targetType: query.targetType,
            targetId: query.targetId,
            action: query.action as keyof typeof AUDIT_ACTIONS | undefined,
            from: query.from ? new Date(query.from) : undefined,
            to: query.to ? new Date(query.to) : undefined,
          },
          { limit: clampLimit(query.limit), cursor: cursorFromQuery(query.cursor, { ids: 'integer' }) },
        );
        return page(result.items, result.nextCursor);
      },
      {
        auth: { role: rolesFor('audit.read') },
        query: auditQuery,
        response: { 200: pageSchema(auditEntrySchema), ...authErrors, ...commonErrors },
        detail: {
          summary: 'The audit log (admin)',
          security: staffSecurity('audit.read'),
          description:
            'Every staff action, risk decision, manual adjustment and dispute ruling, newest first: who, what, on what, why, ' +
            'a summary before and after, and the request id. Append-only: nothing can change or remove an entry. ' +
            `Actions: ${AUDIT_ACTION_NAMES.map((name) => `\`${name}\``).join(', ')}.`,
        },
      },
    );
