/**
 * The requests routes' edges. A client sends only what it writes (message, approach, ETA, a
 * portfolio link); the hunter, bounty, status and timestamps are ours, so a body carrying them has
 * them ignored.
 */
import { z } from 'zod';
import { bountyStates, requestCloseReasons, requestStatuses } from '../../db';
import { cursorQuery, limitQuery, safeText, userIdSchema } from '../../lib/validation';
import { bountySummarySchema, linkSchema } from '../bounties/schemas';
import { moneySchema } from '../ledger';

export const REQUEST_TEXT_MAX = 5_000;

export const requestIdParams = z.object({ id: z.uuid().max(36) });

export const createRequestBody = z.object({
  message: safeText(REQUEST_TEXT_MAX).describe('Why you, for this bounty'),
  approach: safeText(REQUEST_TEXT_MAX).optional().describe('How you would do it'),
  etaDays: z.number().int().min(1).max(365).optional().describe('Days you expect to need, 1..365'),
  portfolioUrl: linkSchema.optional().describe('An http(s) link to earlier work'),
});

export const listBountyRequestsQuery = z.object({ limit: limitQuery, cursor: cursorQuery });
export const listMyRequestsQuery = z.object({
  limit: limitQuery,
  cursor: cursorQuery,
  status: z.enum(requestStatuses).optional().describe('Only requests in this status'),
});

export const requestSchema = z.object({
  id: z.uuid().max(36),
  bountyId: z.uuid().max(36),
  hunterId: userIdSchema,
  hunterName: z.string().max(200).nullable().describe("The hunter's display name (null once their account is deleted)"),
  status: z.enum(requestStatuses),
  closedReason: z
    .enum(requestCloseReasons)
    .nullable()
    .describe('poster: rejected; filled: another hunter was accepted; hunter: withdrawn; unassigned; closed: the bounty closed'),
  message: z.string().max(REQUEST_TEXT_MAX),
  approach: z.string().max(REQUEST_TEXT_MAX).nullable(),
  etaDays: z.number().int().nullable(),
  portfolioUrl: z.string().max(2048).nullable(),
  payoutsReady: z.boolean().describe('Whether the hunter can be paid now (payouts enabled); accepting needs it'),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type RequestView = z.infer<typeof requestSchema>;

export const createdRequestSchema = requestSchema.extend({
  warning: z.string().max(500).nullable().describe('Set when something will stand in the way later (e.g. payouts not set up yet)'),
});

export const myRequestSchema = requestSchema.extend({
  bounty: z.object({ id: z.uuid().max(36), title: z.string().max(200), state: z.enum(bountyStates), reward: moneySchema }),
});
export type MyRequestView = z.infer<typeof myRequestSchema>;

export const acceptedRequestSchema = z.object({
  request: requestSchema,
  bounty: bountySummarySchema.describe('The bounty after acceptance: in_progress, with this hunter'),
});
