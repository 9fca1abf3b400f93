/** The risk routes' edges: the review queue and a user's risk record, as staff read them. */
import { z } from 'zod';
import { riskLevels, riskOutcomes, withdrawalStatuses } from '../../db';
import { cursorQuery, limitQuery, userIdSchema } from '../../lib/validation';
import { moneySchema } from '../ledger';
import { RULE_NAMES } from './rules';

const detailValue = z.union([z.string().max(2_000), z.number(), z.boolean(), z.null()]);

export const riskEventSchema = z.object({
  id: z.string().max(20),
  rule: z.string().max(64).describe(`A rule of src/modules/risk/rules.ts: ${RULE_NAMES.join(', ')}`),
  outcome: z.enum(riskOutcomes),
  subjectType: z.string().max(32).describe('What was judged: deposit, withdrawal, bounty, message, device'),
  subjectId: z.string().max(64).nullable(),
  detail: z.record(z.string().max(64), detailValue).describe('What the rule saw'),
  createdAt: z.date(),
});
export type RiskEventView = z.infer<typeof riskEventSchema>;

const scoreSummarySchema = z.object({
  score: z.number().int().min(0).max(100),
  level: z.enum(riskLevels),
  computedAt: z.date(),
});

export const queueItemSchema = z.object({
  withdrawal: z.object({
    id: z.uuid().max(36),
    amount: moneySchema,
    status: z.enum(withdrawalStatuses),
    heldReason: z.string().max(2_000).nullable().describe('Why the rules held it (staff only: the user is told only that it is under review)'),
    createdAt: z.date(),
  }),
  user: z.object({
    id: userIdSchema,
    name: z.string().max(200).nullable(),
    email: z.string().max(320).nullable(),
    createdAt: z.date().nullable(),
  }).describe('null name, email and createdAt: the account was deleted since'),
  risk: scoreSummarySchema.nullable().describe('The score job has not scored this user yet: null'),
  latestEvents: z.array(riskEventSchema).max(5).describe("The user's five newest risk events"),
});
export type QueueItem = z.infer<typeof queueItemSchema>;

export const userRiskSchema = z.object({
  userId: userIdSchema,
  score: z.number().int().min(0).max(100).nullable().describe('null until the score job has scored the user'),
  level: z.enum(riskLevels).nullable(),
  factors: z.record(z.string().max(64), z.number()).describe('The points each contribution gave (rules and account facts)'),
  computedAt: z.date().nullable(),
  events: z.array(riskEventSchema).max(100).describe('Newest first; the next page with ?cursor=pagination.nextCursor'),
});
export type UserRiskView = z.infer<typeof userRiskSchema>;

export const userRiskPageSchema = z.object({
  success: z.literal(true),
  data: userRiskSchema,
  pagination: z.object({ nextCursor: z.string().max(512).nullable().describe('Pass as ?cursor= for older events; null on the last page') }),
});

export const pageQuery = z.object({ limit: limitQuery, cursor: cursorQuery });
export const userParams = z.object({ userId: userIdSchema });
