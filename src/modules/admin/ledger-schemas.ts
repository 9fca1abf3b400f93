/**
 * The admin's money operations as the API takes and shows them: ledger accounts with their
 * entries, a user's postings, and manual adjustments under dual control; and their refusals.
 */
import { z } from 'zod';
import { accountKinds, accountOwnerTypes, adjustmentAccountKinds, adjustmentStatuses } from '../../db';
import { defineErrors } from '../../lib/errors';
import { cursorQuery, limitQuery, numericIdParam, safeText, userIdSchema } from '../../lib/validation';
import { currencySchema, moneySchema } from '../ledger';

export const LEDGER_ADMIN_ERRORS = defineErrors({
  ACCOUNT_NOT_FOUND: { status: 404, message: 'No such ledger account' },
  ADJUSTMENT_NOT_FOUND: { status: 404, message: 'No such adjustment' },
  FOUR_EYES_REQUIRED: { status: 403, message: 'Another admin must approve or reject this adjustment: its creator cannot decide it' },
  OWN_ADJUSTMENT: {
    status: 403,
    message: 'An admin cannot adjust their own account, nor approve or reject an adjustment made out to them: another admin does it',
  },
  ADJUSTMENT_ALREADY_DECIDED: { status: 409, message: 'This adjustment was approved or rejected already' },
  ADJUSTMENT_LIST_NEEDS_USER: {
    status: 422,
    message: 'Posted and rejected adjustments are listed per user (userId); GET /admin/audit?action=ledger.adjustment.create lists them all',
  },
});

export const accountParams = z.object({ id: numericIdParam });
export const userParams = z.object({ userId: userIdSchema });
export const adjustmentParams = z.object({ id: z.uuid().max(36) });
export const pageQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const ledgerAccountSchema = z.object({
  id: z.number().int(),
  ownerType: z.enum(accountOwnerTypes),
  ownerId: z.string().max(64).describe('A user id, a bounty id (escrow) or `platform`'),
  userId: userIdSchema.nullable().describe("The person the account is for (an escrow account: its funder); null for the platform's"),
  kind: z.enum(accountKinds),
  balance: moneySchema.describe('Cached, equal to the sum of its entries (the ledger check proves it)'),
  allowNegative: z.boolean().describe('external, receivable and adjustments may go negative; every other account never does'),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type LedgerAccountView = z.infer<typeof ledgerAccountSchema>;

export const ledgerTransactionSchema = z.object({
  id: z.number().int(),
  kind: z.string().max(64).describe('deposit, withdrawal.hold, escrow.release, adjustment, ...'),
  effectKey: z.string().max(255).describe('What it did, once: a second posting of the same effect posts nothing'),
  description: z.string().max(500),
  reference: z.object({ type: z.string().max(64), id: z.string().max(255) }).nullable(),
  holdId: z.uuid().max(36).nullable().describe('The two-phase hold it opened or resolved'),
  createdAt: z.date(),
});

export const ledgerEntrySchema = z.object({
  id: z.number().int(),
  account: z.object({ id: z.number().int(), kind: z.enum(accountKinds), currency: z.string().max(3) }),
  amount: moneySchema.describe('Signed: positive credits the account, negative debits it'),
  balanceAfter: moneySchema.describe("The account's balance right after this entry"),
  createdAt: z.date(),
  transaction: ledgerTransactionSchema,
});
export type LedgerEntryView = z.infer<typeof ledgerEntrySchema>;

/** One account and a page of its entries (the page's cursor is in `pagination`). */
export const accountPageSchema = z.object({
  success: z.literal(true),
  data: z.object({ account: ledgerAccountSchema, entries: z.array(ledgerEntrySchema).max(100).describe('Newest first') }),
  pagination: z.object({
    nextCursor: z.string().max(512).nullable().describe('Pass as ?cursor= for the next page of entries; null on the last page'),
  }),
});

export const adjustmentSchema = z.object({
  id: z.uuid().max(36),
  userId: userIdSchema,
  accountKind: z.enum(adjustmentAccountKinds),
  amount: moneySchema.describe("Signed: positive credits the user's account, negative debits it"),
  reason: z.string().max(2_000),
  status: z.enum(adjustmentStatuses),
  createdBy: userIdSchema,
  createdAt: z.date(),
  decidedBy: userIdSchema.nullable().describe('The second admin who approved or rejected it; null when it was posted at once or waits'),
  decisionNote: z.string().max(2_000).nullable(),
  decidedAt: z.date().nullable(),
  transactionId: z.number().int().nullable().describe('The ledger transaction that posted it (GET /admin/ledger/accounts/{id} shows its entries)'),
});
export type AdjustmentView = z.infer<typeof adjustmentSchema>;

export const createAdjustmentBody = (maxAmount: number) =>
  z.object({
    userId: userIdSchema,
    accountKind: z.enum(adjustmentAccountKinds).describe('available: what the user can spend; receivable: what they owe (negative means owed)'),
    currency: currencySchema,
    amount: z
      .number()
      .int('must be a whole number of minor units (cents)')
      .min(-maxAmount, `must be at least -${maxAmount}`)
      .max(maxAmount, `must be at most ${maxAmount}`)
      .refine((amount) => amount !== 0, 'must not be zero')
      .describe('Signed minor units, not zero: +500 credits $5.00, -500 debits it'),
    reason: safeText(2_000).describe('Why: recorded in the audit log and shown to the user when it is posted'),
  });

export const decisionBody = z.object({ note: safeText(2_000).describe('Why it was approved or rejected (the audit log keeps it)') });

export const adjustmentsQuery = z.object({
  status: z
    .enum(adjustmentStatuses)
    .optional()
    .describe('pending_approval: the queue, oldest first. Left out: the queue, or with userId all of that user\'s. posted, rejected: with userId, newest first'),
  userId: userIdSchema.optional(),
  limit: limitQuery,
  cursor: cursorQuery,
});
