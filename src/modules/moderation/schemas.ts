/**
 * The moderation routes' edges: reports as a reporter files them and as staff read and resolve
 * them, and blocks. The reporter, the subject, the snapshot and the status are ours to set: a body
 * carrying them has them ignored.
 */
import { z } from 'zod';
import { reportReasons, reportResolutions, reportStatuses, reportTargetTypes, type ReportTargetType } from '../../db';
import { cursorQuery, limitQuery, numericIdParam, safeText, userIdSchema } from '../../lib/validation';

export const REPORT_TEXT_MAX = 2_000;
export const RESOLUTION_NOTE_MAX = 2_000;

/** What a target id looks like per kind of target: anything else is a 422, never a database error. */
const TARGET_ID_FORMATS: Record<ReportTargetType, z.ZodType<string>> = {
  bounty: z.uuid(),
  review: z.uuid(),
  user: userIdSchema,
  message: numericIdParam,
};

export const createReportBody = z
  .object({
    targetType: z.enum(reportTargetTypes),
    targetId: z.string().trim().min(1).max(64).describe('A bounty or review id (uuid), a user id, or a message id (digits)'),
    reason: z.enum(reportReasons),
    text: safeText(REPORT_TEXT_MAX).describe('What is wrong, in your words, for the moderators'),
  })
  .superRefine((body, ctx) => {
    if (!TARGET_ID_FORMATS[body.targetType].safeParse(body.targetId).success) {
      ctx.addIssue({ code: 'custom', path: ['targetId'], message: `is not a valid ${body.targetType} id` });
    }
  });
export type NewReport = z.infer<typeof createReportBody>;

/** What the reporter gets back: their own report, never anyone else's. */
export const filedReportSchema = z.object({
  id: z.uuid().max(36),
  targetType: z.enum(reportTargetTypes),
  targetId: z.string().max(64),
  reason: z.enum(reportReasons),
  status: z.enum(reportStatuses),
  createdAt: z.date(),
});
export type FiledReportView = z.infer<typeof filedReportSchema>;

const contentValue = z.union([z.string().max(20_000), z.number(), z.boolean(), z.null(), z.array(z.string().max(2_048)).max(20)]);
/** A few named fields of a bounty, user, message or review (never a whole row). */
const contentSchema = z.record(z.string().max(64), contentValue);

export const reportSchema = z.object({
  id: z.uuid().max(36),
  targetType: z.enum(reportTargetTypes),
  targetId: z.string().max(64),
  subjectUserId: z.string().max(64).describe("The person the report is against: the content's author, or the reported user"),
  reporterId: z.string().max(64),
  reason: z.enum(reportReasons),
  text: z.string().max(REPORT_TEXT_MAX),
  snapshot: contentSchema.describe('The content as it was when reported (it may have been edited or deleted since)'),
  status: z.enum(reportStatuses),
  resolution: z.enum(reportResolutions).nullable(),
  resolutionNote: z.string().max(RESOLUTION_NOTE_MAX).nullable(),
  resolvedBy: z.string().max(64).nullable(),
  resolvedAt: z.date().nullable(),
  createdAt: z.date(),
  openReportsOnTarget: z.number().int().min(0).describe('Open reports about the same content (this one included while open), from everyone'),
});
export type ReportView = z.infer<typeof reportSchema>;

export const reportDetailSchema = reportSchema.extend({
  current: contentSchema
    .nullable()
    .describe("The content as it is now (a message's body and whether it is deleted or hidden, a bounty's state, ...); null when it no longer exists"),
});
export type ReportDetailView = z.infer<typeof reportDetailSchema>;

export const resolvedReportSchema = reportSchema.extend({
  closedReports: z.number().int().min(1).describe('Open reports about the same content resolved with this one (this one included)'),
});
export type ResolvedReportView = z.infer<typeof resolvedReportSchema>;

export const reportParams = z.object({ id: z.uuid().max(36) });

export const listReportsQuery = z.object({
  targetType: z.enum(reportTargetTypes).optional(),
  status: z.enum(reportStatuses).optional().describe('Default open: the queue, oldest first. dismissed or actioned: resolved ones, most recently resolved first'),
  limit: limitQuery,
  cursor: cursorQuery,
});

export const resolveReportBody = z
  .object({
    action: z.enum(reportResolutions).describe('dismiss, remove_content (hide the message or review; cancel, refund and hide the bounty), warn the author, or ban them'),
    note: safeText(RESOLUTION_NOTE_MAX).describe('Why: kept in the audit log, and sent to the author with a warning'),
    banExpiresAt: z.iso.datetime({ offset: true }).max(40).optional().describe('With ban: when it ends (ISO 8601 with a zone); left out, the ban lasts until lifted'),
  })
  .superRefine((body, ctx) => {
    if (body.banExpiresAt !== undefined && body.action !== 'ban') {
      ctx.addIssue({ code: 'custom', path: ['banExpiresAt'], message: 'only with action ban' });
    }
  });
export type ResolveReportInput = z.infer<typeof resolveReportBody>;

// --- Blocks ------------------------------------------------------------------------------------

export const blockBody = z.object({ userId: userIdSchema.describe('Whom to block') });
export const blockParams = z.object({ userId: userIdSchema });
export const listBlocksQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const blockSchema = z.object({
  userId: z.string().max(64).describe('The blocked person'),
  name: z.string().max(200).nullable(),
  createdAt: z.date(),
});
export const unblockedSchema = z.object({ userId: z.string().max(64), blocked: z.literal(false) });
