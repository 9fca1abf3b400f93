/**
 * The bounties routes' edges: what a client may send (every field bounded; state, poster, hunter,
 * escrow and counters are never accepted, so a body carrying them has them ignored) and what it
 * gets back.
 */
import { z } from 'zod';
import { bountyParties, bountyStates, cancelReasons, depositMethods, disputeOutcomes, fundingMethods } from '../../db';
import { safeText, userIdSchema } from '../../lib/validation';
import { amountInputSchema, moneySchema } from '../ledger';
import { paymentMethodIdSchema } from '../payments/schemas';
import { depositSchema } from '../wallet/schemas';

export const BOUNTY_CATEGORIES = ['development', 'design', 'writing', 'marketing', 'research', 'data', 'errands', 'other'] as const;
export const MAX_CRITERIA = 20;
export const MAX_TAGS = 10;
/** The smallest reward: below a dollar the fee rounding dominates and nobody applies. */
export const MIN_REWARD = 100;

export const bountyIdParams = z.object({ id: z.uuid().max(36) });

const tagSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(32)
  .regex(/^[a-z0-9][a-z0-9+#.-]{0,31}$/, 'tags are 1-32 characters: letters, digits, + # . -');

/** http(s) only: a `javascript:` link in a client's <a href> is an XSS vector. */
export const linkSchema = z.url({ protocol: /^https?$/ }).max(2048);

const criterionText = safeText(500);

const locationInput = z.object({
  name: safeText(200).optional(),
  latitude: z.number().min(-90).max(90),
  longitude: z.number().min(-180).max(180),
  radiusKm: z.number().int().min(1).max(500).describe('Where the work may be done, around the point'),
});

/** A moment in the future, ISO 8601 with a zone (the service checks it against its clock). */
const deadlineSchema = z.iso.datetime({ offset: true }).max(40).describe('ISO 8601 with a zone, e.g. 2027-01-31T17:00:00Z');

export const createBountyBody = (maxAmount: number) =>
  z
    .object({
      title: safeText(200, 5),
      description: safeText(10_000, 20),
      criteria: z.array(criterionText).min(1).max(MAX_CRITERIA).describe('Acceptance criteria: a checklist that change requests and disputes cite by number (1..n)'),
      reward: amountInputSchema(maxAmount, MIN_REWARD),
      category: z.enum(BOUNTY_CATEGORIES),
      tags: z.array(tagSchema).max(MAX_TAGS).default([]),
      remote: z.boolean().describe('true: anywhere; false: give a location'),
      location: locationInput.optional(),
      deadline: deadlineSchema,
      maxRevisions: z.number().int().min(0).max(10).default(2).describe('How many times the poster may request changes'),
    })
    .refine((body) => body.remote || body.location !== undefined, { message: 'An in-person bounty needs a location', path: ['location'] });

/**
 * A draft's fields; once open, only `deadline` (later only), `tags` and `category` (the rest
 * is what hunters applied to).
 */
export const updateBountyBody = (maxAmount: number) =>
  z
    .object({
      title: safeText(200, 5).optional(),
      description: safeText(10_000, 20).optional(),
      criteria: z.array(criterionText).min(1).max(MAX_CRITERIA).optional(),
      reward: amountInputSchema(maxAmount, MIN_REWARD).optional(),
      category: z.enum(BOUNTY_CATEGORIES).optional(),
      tags: z.array(tagSchema).max(MAX_TAGS).optional(),
      remote: z.boolean().optional(),
      location: locationInput.nullable().optional(),
      deadline: deadlineSchema.optional(),
      maxRevisions: z.number().int().min(0).max(10).optional(),
    })
    .refine((body) => Object.values(body).some((value) => value !== undefined), { message: 'Send at least one field to change' });

export const EDITABLE_WHEN_OPEN = ['deadline', 'tags', 'category'] as const;

export const publishBody = z.discriminatedUnion('funding', [
  z.object({ funding: z.literal('wallet').describe('Hold the reward from your wallet now') }),
  z.object({
    funding: z.literal('card').describe('Pay the reward by card or Apple Pay; the bounty opens when the payment succeeds'),
    method: z.enum(depositMethods).default('card'),
    paymentMethodId: paymentMethodIdSchema.optional().describe('Confirm now with a saved card (or a Stripe test card such as pm_card_visa)'),
  }),
]);

export const reasonBody = z.object({ reason: safeText(2_000) });
export const optionalReasonBody = z.object({ reason: safeText(2_000).optional() });

export const submitBody = z.object({
  message: safeText(5_000),
  links: z.array(linkSchema).min(1).max(10).describe('At least one link to the deliverable'),
});

const citedCriteria = z.array(z.number().int().min(1).max(MAX_CRITERIA)).min(1).max(MAX_CRITERIA).describe('Ids of the acceptance criteria (1..n)');

export const requestChangesBody = z.object({ message: safeText(5_000), criteria: citedCriteria });
export const disputeBody = z.object({ reason: safeText(5_000), criteria: citedCriteria });
export const respondDisputeBody = z.object({ message: safeText(5_000) });

export const resolveBody = z
  .object({
    outcome: z.enum(disputeOutcomes).describe('release: all to the hunter (completed); refund: all to the poster; split: hunterAmount to the hunter, the rest back'),
    hunterAmount: z.number().int().min(0).optional().describe('For split: minor units to the hunter (the fee is taken on this part)'),
    reason: safeText(5_000),
  })
  .refine((body) => (body.outcome === 'split') === (body.hunterAmount !== undefined), {
    message: 'hunterAmount is given with split, and only with split',
    path: ['hunterAmount'],
  });

export const proposeCancelBody = z.object({
  hunterAmount: z.number().int().min(0).describe("The hunter's share of the escrow in minor units (0: all back to the poster)"),
  reason: safeText(2_000).optional(),
});

// --- Views -----------------------------------------------------------------------------------------

export const criterionSchema = z.object({ id: z.number().int(), text: z.string().max(500) });

export const locationSchema = z.object({
  name: z.string().max(200).nullable(),
  latitude: z.number(),
  longitude: z.number(),
  radiusKm: z.number().int().nullable(),
});

/** What lists show of a bounty. */
export const bountySummarySchema = z.object({
  id: z.uuid().max(36),
  posterId: userIdSchema,
  hunterId: userIdSchema.nullable(),
  state: z.enum(bountyStates),
  cancelReason: z.enum(cancelReasons).nullable(),
  title: z.string().max(200),
  reward: moneySchema,
  category: z.enum(BOUNTY_CATEGORIES),
  tags: z.array(z.string().max(32)).max(MAX_TAGS),
  remote: z.boolean(),
  location: locationSchema.nullable(),
  deadline: z.date(),
  publishedAt: z.date().nullable(),
  nextDeadlineAt: z.date().nullable().describe('When the next step is due (expiry, auto-approval, a dispute answer); null when nothing is'),
  nextActionBy: z.enum(bountyParties).describe('Who acts next'),
  createdAt: z.date(),
});
export type BountySummary = z.infer<typeof bountySummarySchema>;

export const bountySchema = bountySummarySchema.extend({
  description: z.string().max(10_000),
  criteria: z.array(criterionSchema).max(MAX_CRITERIA),
  maxRevisions: z.number().int(),
  revisionsUsed: z.number().int(),
  funding: z.enum(fundingMethods).nullable(),
  acceptedAt: z.date().nullable(),
  lastSubmittedAt: z.date().nullable(),
  closedAt: z.date().nullable(),
  cancelProposal: z
    .object({ proposedBy: userIdSchema, hunterAmount: z.number().int(), expiresAt: z.date() })
    .nullable()
    .describe('A pending mutual-cancel proposal'),
  version: z.number().int().describe('Counts transitions: a view whose version moved on is stale'),
  allowedTransitions: z.array(z.string().max(32)).max(20).describe("What you may do now: the paths under /bounties/:id/ (accept a request at /requests/:id/accept)"),
  updatedAt: z.date(),
});
export type BountyView = z.infer<typeof bountySchema>;

export const publishResultSchema = z.object({
  bounty: bountySchema,
  deposit: depositSchema.nullable().describe('For card funding: the payment to confirm (its clientSecret); the bounty opens when it succeeds'),
});

export const transitionSchema = z.object({
  id: z.number().int(),
  action: z.string().max(32),
  from: z.enum(bountyStates),
  to: z.enum(bountyStates),
  actorId: userIdSchema.nullable().describe('null for a timer'),
  actorRole: z.enum(['poster', 'hunter', 'admin', 'system']),
  reason: z.string().max(5_000).nullable(),
  details: z.record(z.string().max(64), z.unknown()),
  at: z.date(),
});

export const submissionSchema = z.object({
  id: z.uuid().max(36),
  hunterId: userIdSchema,
  message: z.string().max(5_000),
  links: z.array(z.string().max(2048)).max(10),
  createdAt: z.date(),
});

export const disputeSchema = z.object({
  id: z.uuid().max(36),
  openedBy: userIdSchema,
  openedByRole: z.enum(['poster', 'hunter']),
  reason: z.string().max(5_000),
  criteria: z.array(z.number().int()).max(MAX_CRITERIA),
  respondBy: z.date(),
  response: z.string().max(5_000).nullable(),
  respondedAt: z.date().nullable(),
  escalatedAt: z.date().nullable(),
  outcome: z.enum(disputeOutcomes).nullable(),
  hunterAmount: z.number().int().nullable(),
  resolution: z.string().max(5_000).nullable(),
  resolvedAt: z.date().nullable(),
  createdAt: z.date(),
});

export const lifecycleRowSchema = z.object({
  name: z.string().max(32),
  path: z.string().max(32).nullable().describe('POST /bounties/:id/<path>; null for timers and accept (POST /requests/:id/accept)'),
  from: z.array(z.enum(bountyStates)).max(8),
  to: z.string().max(32).describe('A state; `same` (no change) or `outcome` (chosen by the ruling)'),
  cancelReason: z.enum(cancelReasons).nullable(),
  by: z.array(z.enum(['poster', 'hunter', 'admin', 'system'])).max(4),
  escrow: z.enum(['hold', 'release', 'refund', 'settle', 'none']),
  starts: z.array(z.string().max(32)).max(6).describe('Timers the transition starts'),
  summary: z.string().max(500),
});
