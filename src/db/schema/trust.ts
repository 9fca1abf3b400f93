/**
 * Trust and safety: the audit log, reports, risk events and scores, the links between accounts
 * (a shared device or payout destination) and admin ledger adjustments.
 *
 * The audit log is append-only where the data lives (drizzle/0012_trust_rules.sql refuses UPDATE,
 * DELETE and TRUNCATE): an admin who can run statements through the app still cannot rewrite it.
 * Like payments, none of these tables reference `users` with a foreign key: the record of what
 * was done to an account outlives the account.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { inList } from './checks';

/** Who acted: a signed-in staff member (or user, for their own report), or the service itself (risk rules, timers). */
export const auditActorRoles = ['user', 'moderator', 'admin', 'system'] as const;
export type AuditActorRole = (typeof auditActorRoles)[number];

/** A bounded summary of a row before or after an action (a few named fields, never a whole row). */
export type AuditSummary = Record<string, string | number | boolean | null>;

export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** The transaction's own time: the entry commits with the action or not at all. */
    at: timestamp('at', { withTimezone: true }).notNull(),
    /** Null for the service itself (actorRole `system`). */
    actorId: text('actor_id'),
    actorRole: text('actor_role').$type<AuditActorRole>().notNull(),
    /** From the catalog in src/modules/audit/actions.ts (`user.ban`, `ledger.adjustment.approve`, ...). */
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    reason: text('reason').notNull(),
    before: jsonb('before').$type<AuditSummary | null>(),
    after: jsonb('after').$type<AuditSummary | null>(),
    /** The x-request-id of the request that acted: the audit row and the request's log line meet on it. */
    requestId: text('request_id'),
  },
  (table) => [
    // Newest first, per filter: each list shape walks one index (tests/query-plans.test.ts).
    index('audit_log_at_idx').on(table.at.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('audit_log_actor_idx').on(table.actorId, table.at.desc().nullsFirst(), table.id.desc().nullsFirst()),
    // By target id alone (ids do not repeat across kinds; a targetType filter rides along).
    index('audit_log_target_id_idx').on(table.targetId, table.at.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('audit_log_action_idx').on(table.action, table.at.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check('audit_log_actor_role_check', sql`${table.actorRole} in (${inList(auditActorRoles)})`),
    check('audit_log_actor_present', sql`(${table.actorRole} = 'system') = (${table.actorId} is null)`),
  ],
);

export const reportTargetTypes = ['bounty', 'user', 'message', 'review'] as const;
export type ReportTargetType = (typeof reportTargetTypes)[number];
export const reportReasons = ['spam', 'scam', 'harassment', 'off_platform_payment', 'inappropriate', 'impersonation', 'other'] as const;
export type ReportReason = (typeof reportReasons)[number];
export const reportStatuses = ['open', 'dismissed', 'actioned'] as const;
export type ReportStatus = (typeof reportStatuses)[number];
export const reportResolutions = ['dismiss', 'remove_content', 'warn', 'ban'] as const;
export type ReportResolution = (typeof reportResolutions)[number];

/** What the reported content said when it was reported (it may be edited or removed later). */
export type ReportSnapshot = Record<string, string | number | boolean | null | string[]>;

export const reports = pgTable(
  'reports',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    reporterId: text('reporter_id').notNull(),
    targetType: text('target_type').$type<ReportTargetType>().notNull(),
    targetId: text('target_id').notNull(),
    /** The person the report is against: the author of the content, or the reported user. */
    subjectUserId: text('subject_user_id').notNull(),
    reason: text('reason').$type<ReportReason>().notNull(),
    text: text('text').notNull(),
    snapshot: jsonb('snapshot').$type<ReportSnapshot>().notNull(),
    status: text('status').$type<ReportStatus>().notNull().default('open'),
    resolution: text('resolution').$type<ReportResolution>(),
    resolutionNote: text('resolution_note'),
    resolvedBy: text('resolved_by'),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    // One open report per reporter and target: a second is 409, a resolved one does not block a new one.
    uniqueIndex('reports_one_open_per_reporter').on(table.reporterId, table.targetType, table.targetId).where(sql`${table.status} = 'open'`),
    // The moderation queue, oldest first; by target type; every open report on one target (resolved together).
    index('reports_open_queue_idx').on(table.createdAt, table.id).where(sql`${table.status} = 'open'`),
    index('reports_open_type_idx').on(table.targetType, table.createdAt, table.id).where(sql`${table.status} = 'open'`),
    index('reports_open_target_idx').on(table.targetType, table.targetId).where(sql`${table.status} = 'open'`),
    // Resolved reports, most recently resolved first.
    index('reports_resolved_idx').on(table.resolvedAt.desc().nullsFirst(), table.id.desc().nullsFirst()).where(sql`${table.status} <> 'open'`),
    index('reports_subject_idx').on(table.subjectUserId, table.createdAt.desc().nullsFirst()),
    index('reports_reporter_idx').on(table.reporterId, table.createdAt.desc().nullsFirst()),
    check('reports_target_type_check', sql`${table.targetType} in (${inList(reportTargetTypes)})`),
    check('reports_reason_check', sql`${table.reason} in (${inList(reportReasons)})`),
    check('reports_status_check', sql`${table.status} in (${inList(reportStatuses)})`),
    check('reports_resolution_check', sql`${table.resolution} is null or ${table.resolution} in (${inList(reportResolutions)})`),
    check('reports_resolved_fields', sql`(${table.status} = 'open') = (${table.resolvedAt} is null)`),
  ],
);

export const riskOutcomes = ['allow', 'warn', 'flag', 'hold', 'deny'] as const;
export type RiskOutcome = (typeof riskOutcomes)[number];

/**
 * A rule that fired (anything but `allow`): what it judged, its outcome and the facts it saw.
 * The risk score (risk_scores) is recomputed from these by a job.
 */
export const riskEvents = pgTable(
  'risk_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: text('user_id').notNull(),
    /** The rule's name in src/modules/risk/rules.ts. */
    rule: text('rule').notNull(),
    outcome: text('outcome').$type<RiskOutcome>().notNull(),
    /** What was judged: a deposit, a withdrawal, a bounty, a request, a message, a device. */
    subjectType: text('subject_type').notNull(),
    subjectId: text('subject_id'),
    detail: jsonb('detail').$type<Record<string, string | number | boolean | null>>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('risk_events_user_idx').on(table.userId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check('risk_events_outcome_check', sql`${table.outcome} in (${inList(riskOutcomes)})`),
  ],
);

export const riskLevels = ['low', 'medium', 'high'] as const;
export type RiskLevel = (typeof riskLevels)[number];

/** Each user's current score, recomputed by a job from recent risk events and account facts. */
export const riskScores = pgTable(
  'risk_scores',
  {
    userId: text('user_id').primaryKey(),
    score: integer('score').notNull(),
    level: text('level').$type<RiskLevel>().notNull(),
    /** The points each contribution gave, by rule: why the score is what it is. */
    factors: jsonb('factors').$type<Record<string, number>>().notNull(),
    computedAt: timestamp('computed_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    index('risk_scores_level_idx').on(table.level, table.score.desc()),
    check('risk_scores_level_check', sql`${table.level} in (${inList(riskLevels)})`),
    check('risk_scores_score_range', sql`${table.score} between 0 and 100`),
  ],
);

export const accountLinkKinds = ['device', 'payout_destination'] as const;
export type AccountLinkKind = (typeof accountLinkKinds)[number];

/**
 * Things several accounts can share: a device (its push token) or a payout destination (a bank
 * account's fingerprint). Stored as a sha256 of the value, so the table holds no token or account number.
 */
export const accountLinks = pgTable(
  'account_links',
  {
    kind: text('kind').$type<AccountLinkKind>().notNull(),
    fingerprint: text('fingerprint').notNull(),
    userId: text('user_id').notNull(),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull(),
  },
  (table) => [
    primaryKey({ name: 'account_links_pkey', columns: [table.kind, table.fingerprint, table.userId] }),
    index('account_links_user_idx').on(table.userId),
    check('account_links_kind_check', sql`${table.kind} in (${inList(accountLinkKinds)})`),
  ],
);

export const adjustmentStatuses = ['pending_approval', 'posted', 'rejected'] as const;
export type AdjustmentStatus = (typeof adjustmentStatuses)[number];
export const adjustmentAccountKinds = ['available', 'receivable'] as const;
export type AdjustmentAccountKind = (typeof adjustmentAccountKinds)[number];

/**
 * A manual correction of a user's balance by an admin: never an edit of an entry, always a
 * balanced ledger transaction against the platform's `adjustments` account. Above
 * ADJUSTMENT_DUAL_CONTROL_CENTS it waits for a second admin (never its creator) to approve it.
 */
export const ledgerAdjustments = pgTable(
  'ledger_adjustments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The creating admin's Idempotency-Key: one adjustment per key and admin. */
    requestKey: text('request_key').notNull(),
    userId: text('user_id').notNull(),
    accountKind: text('account_kind').$type<AdjustmentAccountKind>().notNull(),
    currency: text('currency').notNull(),
    /** Signed: positive credits the user's account, negative debits it. */
    amount: bigint('amount', { mode: 'number' }).notNull(),
    reason: text('reason').notNull(),
    status: text('status').$type<AdjustmentStatus>().notNull(),
    createdBy: text('created_by').notNull(),
    decidedBy: text('decided_by'),
    decisionNote: text('decision_note'),
    transactionId: bigint('transaction_id', { mode: 'number' }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    decidedAt: timestamp('decided_at', { withTimezone: true }),
  },
  (table) => [
    uniqueIndex('ledger_adjustments_request_key').on(table.createdBy, table.requestKey),
    index('ledger_adjustments_pending_idx').on(table.createdAt, table.id).where(sql`${table.status} = 'pending_approval'`),
    index('ledger_adjustments_user_idx').on(table.userId, table.createdAt.desc().nullsFirst()),
    check('ledger_adjustments_amount_nonzero', sql`${table.amount} <> 0`),
    check('ledger_adjustments_status_check', sql`${table.status} in (${inList(adjustmentStatuses)})`),
    check('ledger_adjustments_account_kind_check', sql`${table.accountKind} in (${inList(adjustmentAccountKinds)})`),
    // Dual control where the data lives: whoever decides is never the creator, and nobody adjusts or
    // approves their own balance.
    check('ledger_adjustments_four_eyes', sql`${table.decidedBy} is null or ${table.decidedBy} <> ${table.createdBy}`),
    check('ledger_adjustments_not_own', sql`${table.userId} <> ${table.createdBy} and (${table.decidedBy} is null or ${table.decidedBy} <> ${table.userId})`),
    check('ledger_adjustments_posted_has_transaction', sql`(${table.status} = 'posted') = (${table.transactionId} is not null)`),
  ],
);

export type AuditEntry = typeof auditLog.$inferSelect;
export type Report = typeof reports.$inferSelect;
export type RiskEvent = typeof riskEvents.$inferSelect;
export type RiskScore = typeof riskScores.$inferSelect;
export type LedgerAdjustment = typeof ledgerAdjustments.$inferSelect;
