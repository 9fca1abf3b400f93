/** The edges of the admin console's account routes (users.ts): queries, bodies and answers. */
import { z } from 'zod';
import { freezeSources, reportReasons, reportResolutions, reportStatuses, reportTargetTypes, requestCloseReasons, requestStatuses, riskLevels, riskOutcomes, userRoles } from '../../db';
import { cursorQuery, limitQuery, queryText, safeText, userIdSchema } from '../../lib/validation';
import { bountySummarySchema } from '../bounties/schemas';
import { profileSchema } from '../profiles/schemas';
import { privateUserSchema } from '../users/schemas';
import { walletSchema } from '../wallet/schemas';

/** Why, in a sentence or two: every account action needs one (the audit log keeps it). */
export const REASON_MAX = 2_000;
const reasonSchema = safeText(REASON_MAX).describe('Why: kept in the audit log with the action');

export const accountParams = z.object({ id: userIdSchema });

const booleanQuery = z.enum(['true', 'false']).optional();

export const listAccountsQuery = z.object({
  q: queryText(safeText(254)).optional().describe('A case-insensitive substring of the email or the name'),
  role: z.enum(userRoles).optional(),
  banned: booleanQuery.describe('true: a ban in force; false: none (an expired ban counts as none)'),
  frozen: booleanQuery.describe('true: the wallet is frozen (by an admin or a chargeback); false: it is not'),
  riskLevel: z.enum(riskLevels).optional().describe('The risk score\'s level (accounts never scored match none)'),
  limit: limitQuery,
  cursor: cursorQuery,
});

export const accountSummarySchema = z.object({
  id: z.string().max(64),
  email: z.string().max(254),
  name: z.string().max(100),
  role: z.enum(userRoles),
  banned: z.boolean().describe('A ban is in force'),
  banExpires: z.date().nullable(),
  frozen: z.boolean().describe('The wallet is frozen (any source)'),
  riskLevel: z.enum(riskLevels).nullable().describe('null: not scored yet'),
  createdAt: z.date(),
});
export type AccountSummary = z.infer<typeof accountSummarySchema>;

const freezeSchema = z.object({
  source: z.enum(freezeSources).describe('admin: lifted by POST /admin/users/{id}/unfreeze; chargeback: by the ledger once the debt is settled'),
  reason: z.string().max(REASON_MAX),
  createdAt: z.date(),
});

const requestSummarySchema = z.object({
  id: z.uuid().max(36),
  bountyId: z.uuid().max(36),
  bountyTitle: z.string().max(200),
  status: z.enum(requestStatuses),
  closedReason: z.enum(requestCloseReasons).nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});

const reportSummarySchema = z.object({
  id: z.uuid().max(36),
  targetType: z.enum(reportTargetTypes),
  targetId: z.string().max(64),
  reporterId: z.string().max(64),
  subjectUserId: z.string().max(64),
  reason: z.enum(reportReasons),
  status: z.enum(reportStatuses),
  resolution: z.enum(reportResolutions).nullable(),
  createdAt: z.date(),
  resolvedAt: z.date().nullable(),
});

const reportsSchema = z.object({
  open: z.number().int().min(0).describe('How many are open (all of them, not only the latest)'),
  latest: z.array(reportSummarySchema).max(20),
});

const scalar = z.union([z.string().max(2_000), z.number(), z.boolean(), z.null()]);

const riskEventSchema = z.object({
  id: z.string().max(20),
  rule: z.string().max(64),
  outcome: z.enum(riskOutcomes),
  subjectType: z.string().max(32),
  subjectId: z.string().max(64).nullable(),
  detail: z.record(z.string().max(64), scalar),
  createdAt: z.date(),
});

const riskScoreSchema = z.object({
  score: z.number().int().min(0).max(100),
  level: z.enum(riskLevels),
  factors: z.record(z.string().max(64), z.number()).describe('The points each rule contributed'),
  computedAt: z.date(),
});

export const accountDetailSchema = z.object({
  account: privateUserSchema,
  banInForce: z.boolean().describe('The ban fields describe a ban still in force (not expired)'),
  profile: profileSchema.nullable(),
  wallet: walletSchema,
  freezes: z.array(freezeSchema).max(2),
  bountiesPosted: z.array(bountySummarySchema).max(20).describe('The latest 20, newest first'),
  bountiesHunted: z.array(bountySummarySchema).max(20).describe('The latest 20 where the account is the hunter, newest first'),
  requests: z.array(requestSummarySchema).max(20).describe('The latest 20 requests it made, newest first'),
  reportsAgainst: reportsSchema,
  reportsBy: reportsSchema,
  riskEvents: z.array(riskEventSchema).max(20).describe('The latest 20, newest first'),
  riskScore: riskScoreSchema.nullable(),
});
export type AccountDetail = z.infer<typeof accountDetailSchema>;

export const banBody = z.object({
  reason: reasonSchema,
  expiresAt: z.iso.datetime({ offset: true }).max(40).optional().describe('When the ban ends by itself; left out, it lasts until an admin lifts it'),
});

export const reasonBody = z.object({ reason: reasonSchema });

export const roleBody = z.object({ role: z.enum(userRoles), reason: reasonSchema });

export const banResultSchema = z.object({
  userId: z.string().max(64),
  banExpires: z.date().nullable(),
  sessionsRevoked: z.number().int().min(0),
  requestsWithdrawn: z.array(z.uuid().max(36)).max(1_000).describe('Its pending requests, withdrawn (each poster is told)'),
  bountiesCancelled: z.array(z.uuid().max(36)).max(10_000).describe('Its open bounties without a hunter, cancelled and refunded to its wallet'),
});
export type BanResult = z.infer<typeof banResultSchema>;

export const freezeResultSchema = z.object({
  userId: z.string().max(64),
  frozen: z.boolean().describe('Whether the wallet is still frozen (a chargeback freeze outlives an admin unfreeze)'),
  freezes: z.array(z.enum(freezeSources)).max(2),
});
export type FreezeResult = z.infer<typeof freezeResultSchema>;
