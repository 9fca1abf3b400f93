/**
 * Reports: anyone signed in reports a bounty, a user, a message or a review they can see, with a
 * snapshot of it as it was; moderators and admins work the queue, oldest first, and resolve each
 * report (with every other open report about the same content) in one transaction with exactly
 * one `report.<action>` audit row and its effect:
 * - dismiss: nothing else;
 * - remove_content: a message or a review hidden (never deleted: members see a removed message as
 *   deleted, a review is no longer listed or counted); a bounty cancelled and refunded through the
 *   lifecycle when it still can be (the engine audits `bounty.admin_cancel`), and hidden in every
 *   case; a user has nothing to remove (422). The author hears `moderation.content_removed`;
 * - warn: the author hears `moderation.warning`, with the note;
 * - ban: the admin console's own ban (src/modules/admin/accounts.ts), audited `user.ban` too.
 * A ban and a bounty's removal move accounts and money: admins only (403 ADMIN_REQUIRED for a moderator).
 */
import { and, asc, desc, eq, isNull, type SQL, sql } from 'drizzle-orm';
import {
  type AuditSummary,
  bounties,
  bountyReviews,
  type BountyState,
  conversationMembers,
  type DatabaseSession,
  messages,
  type Report,
  type ReportResolution,
  reports,
  type ReportStatus,
  type ReportTargetType,
  type Transaction,
} from '../../db';
import { toRole } from '../../lib/auth';
import { constraintOf } from '../../lib/errors';
import { can } from '../../lib/permissions';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { banInTransaction } from '../admin/accounts';
import type { AuditAction } from '../audit/actions';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';
import { adminCancelStep } from '../bounties/actions';
import { type Marketplace, lockBounty, transition } from '../bounties/engine';
import { LIFECYCLE } from '../bounties/lifecycle';
import { memberView, membersOf } from '../conversations/views';
import { type OutboxMessage, recordEvents } from '../outbox';
import { appendUserEvents, type StreamEvent } from '../realtime/stream';
import { MODERATION_ERRORS } from './errors';
import type { FiledReportView, NewReport, ReportDetailView, ReportView, ResolvedReportView } from './schemas';
import { canonicalTargetId, currentContent, reportableTarget, type Reporter } from './targets';

const ONE_OPEN_PER_REPORTER = 'reports_one_open_per_reporter';

/** Each resolution's audit action. */
const AUDITED: Record<ReportResolution, AuditAction> = {
  dismiss: 'report.dismiss',
  remove_content: 'report.remove_content',
  warn: 'report.warn',
  ban: 'report.ban',
};

/**
 * The open reports about a report's target, for the row in scope. Every report about a target has
 * the same subject (its author), so `subject_user_id` narrows the count to reports_subject_idx.
 */
const openOnTargetSql = sql<number>`(select count(*)::int from ${reports} as other
  where other.subject_user_id = ${sql.identifier('reports')}.subject_user_id
    and other.target_type = ${sql.identifier('reports')}.target_type
    and other.target_id = ${sql.identifier('reports')}.target_id
    and other.status = 'open')`;

const toReportView = (report: Report, openReportsOnTarget: number): ReportView => ({
  id: report.id,
  targetType: report.targetType,
  targetId: report.targetId,
  subjectUserId: report.subjectUserId,
  reporterId: report.reporterId,
  reason: report.reason,
  text: report.text,
  snapshot: report.snapshot,
  status: report.status,
  resolution: report.resolution,
  resolutionNote: report.resolutionNote,
  resolvedBy: report.resolvedBy,
  resolvedAt: report.resolvedAt,
  createdAt: report.createdAt,
  openReportsOnTarget,
});

// --- Filing ----------------------------------------------------------------------------------------

/**
 * Files `reporter`'s report. Refusals, in order: a target they cannot see (or none) 404; their own
 * account or content 422 CANNOT_REPORT_OWN; an open report of theirs about it already 409
 * REPORT_ALREADY_OPEN (two at once included: the partial unique index decides).
 */
export async function fileReport(db: DatabaseSession, reporter: Reporter, input: NewReport, now: Date): Promise<FiledReportView> {
  const targetId = canonicalTargetId(input.targetType, input.targetId);
  try {
    return await db.transaction(async (tx) => {
      const target = await reportableTarget(tx, reporter, input.targetType, targetId, now);
      if (!target) throw MODERATION_ERRORS.error('REPORT_TARGET_NOT_FOUND');
      if (target.subjectUserId === reporter.id) throw MODERATION_ERRORS.error('CANNOT_REPORT_OWN');
      const [report] = await tx
        .insert(reports)
        .values({
          reporterId: reporter.id,
          targetType: input.targetType,
          targetId,
          subjectUserId: target.subjectUserId,
          reason: input.reason,
          text: input.text,
          snapshot: target.snapshot,
          createdAt: now,
        })
        .returning();
      if (!report) throw new Error('insert into reports returned no row');
      return { id: report.id, targetType: report.targetType, targetId: report.targetId, reason: report.reason, status: report.status, createdAt: report.createdAt };
    });
  } catch (error) {
    if (constraintOf(error) === ONE_OPEN_PER_REPORTER) throw MODERATION_ERRORS.error('REPORT_ALREADY_OPEN');
    throw error;
  }
}

// --- The queue -------------------------------------------------------------------------------------

export type QueueFilters = Readonly<{ targetType?: ReportTargetType | undefined; status: ReportStatus }>;

/**
 * Open reports oldest first, keyset on (created_at, id) walking reports_open_queue_idx; resolved
 * ones (dismissed or actioned) most recently resolved first, keyset on (resolved_at, id). The
 * target type is a filter on the same walk.
 */
export async function listReports(db: DatabaseSession, filters: QueueFilters, page: { limit: number; cursor: KeysetCursor | null }) {
  const open = filters.status === 'open';
  const at = open ? reports.createdAt : reports.resolvedAt;
  const conditions: SQL[] = [eq(reports.status, filters.status)];
  if (filters.targetType) conditions.push(eq(reports.targetType, filters.targetType));
  if (page.cursor) {
    conditions.push(
      open
        ? sql`(${reports.createdAt}, ${reports.id}) > (${page.cursor.t}::timestamptz, ${page.cursor.i}::uuid)`
        : sql`(${reports.resolvedAt}, ${reports.id}) < (${page.cursor.t}::timestamptz, ${page.cursor.i}::uuid)`,
    );
  }
  const rows = await db.read((reader) =>
    reader
      .select({ report: reports, openOnTarget: openOnTargetSql, cursorAt: sql<string>`${at}::text` })
      .from(reports)
      .where(and(...conditions))
      .orderBy(...(open ? [asc(reports.createdAt), asc(reports.id)] : [desc(reports.resolvedAt), desc(reports.id)]))
      .limit(page.limit + 1),
  );
  return keysetPage(rows, page.limit, (row) => toReportView(row.report, row.openOnTarget), (row) => ({ t: row.cursorAt, i: row.report.id }));
}

/** One report with its snapshot and the target as it is now; null when there is none. */
export async function reportDetail(db: DatabaseSession, reportId: string): Promise<ReportDetailView | null> {
  return db.read(async (reader) => {
    const [row] = await reader.select({ report: reports, openOnTarget: openOnTargetSql }).from(reports).where(eq(reports.id, reportId));
    if (!row) return null;
    return { ...toReportView(row.report, row.openOnTarget), current: await currentContent(reader, row.report.targetType, row.report.targetId) };
  });
}

// --- Resolving -------------------------------------------------------------------------------------

export type Resolution = Readonly<{ action: ReportResolution; note: string; banExpiresAt: Date | null }>;

export type ResolveContext = Readonly<{ marketplace: Marketplace; staff: StaffContext; now: Date }>;

/** What an action did beyond closing reports, for the audit row. */
type Effect = { summary: AuditSummary; events: OutboxMessage[]; stream: StreamEvent[] };

/**
 * The statement table's say, beyond `reports.resolve` (the route's): banning needs `reports.ban`,
 * removing a bounty (a cancel and a refund) `reports.remove_bounty`. Nobody resolves a report
 * against themselves.
 */
function assertMayResolve(staff: StaffContext, report: Report, action: ReportResolution): void {
  const { role, id } = staff.actor;
  if (action === 'ban' && !can(role, 'reports.ban')) {
    throw MODERATION_ERRORS.error('ADMIN_REQUIRED', 'Only an admin bans: ask an admin to resolve this report');
  }
  if (action === 'remove_content' && report.targetType === 'bounty' && !can(role, 'reports.remove_bounty')) {
    throw MODERATION_ERRORS.error('ADMIN_REQUIRED', 'Only an admin removes a bounty (it is cancelled and refunded): ask an admin to resolve this report');
  }
  if (report.subjectUserId === id) throw MODERATION_ERRORS.error('OWN_REPORT_SUBJECT');
}

/** Whether `userId` takes part in the reported content (beyond being its subject, checked before). */
async function involves(tx: Transaction, report: Report, userId: string): Promise<boolean> {
  switch (report.targetType) {
    case 'review': {
      const [row] = await tx.select({ id: bountyReviews.id }).from(bountyReviews)
        .where(and(eq(bountyReviews.id, report.targetId), eq(bountyReviews.revieweeId, userId)));
      return row !== undefined;
    }
    case 'message': {
      const [row] = await tx
        .select({ id: messages.id })
        .from(messages)
        .innerJoin(conversationMembers, and(eq(conversationMembers.conversationId, messages.conversationId), eq(conversationMembers.userId, userId)))
        .where(eq(messages.id, Number(report.targetId)));
      return row !== undefined;
    }
    case 'bounty': {
      const [row] = await tx.select({ id: bounties.id }).from(bounties)
        .where(and(eq(bounties.id, report.targetId), sql`${userId} in (${bounties.posterId}, ${bounties.hunterId})`));
      return row !== undefined;
    }
    case 'user':
      return false;
  }
}

/**
 * Resolves a report, and every other open report about the same content with it. Refusals, in
 * order: no such report 404; a permission the action needs 403; remove_content on a user 422;
 * a ban expiry not in the future 422; the report resolved already 409 (also when another
 * resolution got there first: the open reports are locked in id order, so two resolutions of one
 * target queue instead of crossing, and the second finds it closed).
 */
export async function resolveReport(db: DatabaseSession, context: ResolveContext, reportId: string, resolution: Resolution): Promise<ResolvedReportView> {
  const { staff, now } = context;
  const { action, note } = resolution;
  return db.transaction(async (tx) => {
    const [report] = await tx.select().from(reports).where(eq(reports.id, reportId));
    if (!report) throw MODERATION_ERRORS.error('REPORT_NOT_FOUND');
    assertMayResolve(staff, report, action);
    if (action === 'remove_content' && report.targetType === 'user') throw MODERATION_ERRORS.error('NOTHING_TO_REMOVE');
    if (resolution.banExpiresAt !== null && resolution.banExpiresAt.getTime() <= now.getTime()) throw MODERATION_ERRORS.error('INVALID_BAN_EXPIRY');

    const sameTarget = and(
      eq(reports.subjectUserId, report.subjectUserId),
      eq(reports.targetType, report.targetType),
      eq(reports.targetId, report.targetId),
      eq(reports.status, 'open'),
    );
    const open = await tx.select({ id: reports.id, reporterId: reports.reporterId }).from(reports).where(sameTarget).orderBy(asc(reports.id)).for('update');
    if (!open.some((row) => row.id === reportId)) {
      throw MODERATION_ERRORS.error('REPORT_ALREADY_RESOLVED', undefined, [{ path: 'status', message: report.status === 'open' ? 'resolved' : report.status }]);
    }
    // Nobody rules on content they are part of: a report they filed (this or another closed with it),
    // a review about them, a conversation they are in, a bounty they post or work on.
    if (open.some((row) => row.reporterId === staff.actor.id) || (await involves(tx, report, staff.actor.id))) {
      throw MODERATION_ERRORS.error('OWN_REPORT_SUBJECT', 'You are part of this content or filed a report on it: another moderator resolves it');
    }

    const effect = await applyResolution(tx, context, report, resolution);
    const status: ReportStatus = action === 'dismiss' ? 'dismissed' : 'actioned';
    const closed = await tx
      .update(reports)
      .set({ status, resolution: action, resolutionNote: note, resolvedBy: staff.actor.id, resolvedAt: now })
      .where(sameTarget)
      .returning();
    const resolved = closed.find((row) => row.id === reportId);
    if (!resolved) throw new Error(`report ${reportId} changed under its lock`);

    await recordAudit(tx, {
      actor: actorOf(staff.actor),
      action: AUDITED[action],
      targetId: report.id,
      reason: note,
      before: { status: report.status, targetType: report.targetType, targetId: report.targetId, subjectUserId: report.subjectUserId, reason: report.reason },
      after: { status, resolution: action, reportsClosed: closed.length, ...effect.summary },
      requestId: staff.requestId,
    });
    await recordEvents(tx, now, effect.events);
    // Last: the members' stream events hold their cursors until commit.
    await appendUserEvents(tx, now, effect.stream);
    return { ...toReportView(resolved, 0), closedReports: closed.length };
  });
}

/** What the person the report is against is told, about what (the subject their client opens). */
function noticeSubject(report: Report, extra: { conversationId?: string; bountyId?: string }): { type: string; id: string } {
  switch (report.targetType) {
    case 'bounty':
      return { type: 'bounty', id: report.targetId };
    case 'message':
      return extra.conversationId ? { type: 'conversation', id: extra.conversationId } : { type: 'user', id: report.subjectUserId };
    case 'review':
      return extra.bountyId ? { type: 'bounty', id: extra.bountyId } : { type: 'user', id: report.subjectUserId };
    case 'user':
      return { type: 'user', id: report.subjectUserId };
  }
}

async function applyResolution(tx: Transaction, context: ResolveContext, report: Report, resolution: Resolution): Promise<Effect> {
  const { now, staff } = context;
  const payload = { targetType: report.targetType, targetId: report.targetId, reason: report.reason };
  switch (resolution.action) {
    case 'dismiss':
      return { summary: {}, events: [], stream: [] };
    case 'warn':
      return {
        summary: { warned: report.subjectUserId },
        events: [{ topic: 'moderation.warning', recipientId: report.subjectUserId, subject: noticeSubject(report, {}), payload: { ...payload, note: resolution.note } }],
        stream: [],
      };
    case 'ban': {
      const banned = await banInTransaction(
        tx,
        context.marketplace,
        staff,
        { userId: report.subjectUserId, reason: resolution.note, expiresAt: resolution.banExpiresAt },
        now,
      );
      return {
        summary: { banned: banned.userId, banExpires: resolution.banExpiresAt?.toISOString() ?? null, bountiesCancelled: banned.bountiesCancelled.length },
        events: [],
        stream: [],
      };
    }
    case 'remove_content':
      return removeContent(tx, context, report, resolution, payload);
  }
}

async function removeContent(tx: Transaction, context: ResolveContext, report: Report, resolution: Resolution, payload: Record<string, string>): Promise<Effect> {
  const { now } = context;
  const notice = (subject: { type: string; id: string }): OutboxMessage[] => [
    { topic: 'moderation.content_removed', recipientId: report.subjectUserId, subject, payload },
  ];
  switch (report.targetType) {
    case 'message': {
      // Hidden, never deleted (a trigger refuses it): members see it as deleted, admins still read it.
      const [hidden] = await tx
        .update(messages)
        .set({ hiddenAt: now })
        .where(and(eq(messages.id, Number(report.targetId)), isNull(messages.hiddenAt)))
        .returning();
      const stream: StreamEvent[] = hidden
        ? (await membersOf(tx, hidden.conversationId)).map((member) => ({
            userId: member.userId,
            type: 'message.deleted',
            data: { conversationId: hidden.conversationId, message: memberView(hidden) },
          }))
        : [];
      const [message] = hidden ? [hidden] : await tx.select().from(messages).where(eq(messages.id, Number(report.targetId)));
      return {
        summary: { hidden: hidden !== undefined },
        events: notice(noticeSubject(report, message ? { conversationId: message.conversationId } : {})),
        stream,
      };
    }
    case 'review': {
      const [hidden] = await tx
        .update(bountyReviews)
        .set({ hiddenAt: now })
        .where(and(eq(bountyReviews.id, report.targetId), isNull(bountyReviews.hiddenAt)))
        .returning({ bountyId: bountyReviews.bountyId });
      const [review] = hidden ? [hidden] : await tx.select({ bountyId: bountyReviews.bountyId }).from(bountyReviews).where(eq(bountyReviews.id, report.targetId));
      return { summary: { hidden: hidden !== undefined }, events: notice(noticeSubject(report, review ? { bountyId: review.bountyId } : {})), stream: [] };
    }
    case 'bounty':
      return { ...(await removeBounty(tx, context, report.targetId, resolution.note)), events: notice(noticeSubject(report, {})), stream: [] };
    case 'user':
      throw MODERATION_ERRORS.error('NOTHING_TO_REMOVE');
  }
}

/**
 * A removed bounty: cancelled and refunded through the lifecycle's admin_cancel when it still can
 * be (its applications and any open dispute close with it, as an admin's cancel does), and hidden
 * in every case (a completed or cancelled one is only hidden). The engine writes the transition's
 * own audit row, `bounty.admin_cancel`, with the note as its reason.
 */
async function removeBounty(tx: Transaction, context: ResolveContext, bountyId: string, reason: string): Promise<{ summary: AuditSummary }> {
  const { now, staff, marketplace } = context;
  const bounty = await lockBounty(tx, bountyId);
  if (!bounty) return { summary: { hidden: false, cancelled: false } };
  const cancellable = (LIFECYCLE.admin_cancel.from as readonly BountyState[]).includes(bounty.state);
  let state: BountyState = bounty.state;
  if (cancellable) {
    const actor = { id: staff.actor.id, role: toRole(staff.actor.role) };
    const after = await transition(tx, marketplace, { bountyId, name: 'admin_cancel', actor, now, requestId: staff.requestId }, adminCancelStep(reason));
    state = after.state;
  }
  await tx.update(bounties).set({ hiddenAt: now, updatedAt: now }).where(and(eq(bounties.id, bountyId), isNull(bounties.hiddenAt)));
  return { summary: { hidden: true, cancelled: cancellable, bountyState: state } };
}
