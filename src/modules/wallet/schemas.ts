import { z } from 'zod';
import { depositMethods, depositStatuses, withdrawalStatuses } from '../../db';
import { cursorQuery, limitQuery, safeText, userIdSchema } from '../../lib/validation';
import { amountInputSchema, currencySchema, moneySchema } from '../ledger';
import { paymentMethodIdSchema } from '../payments/schemas';

/** Stripe's smallest charge in USD is 50 cents. */
const MIN_DEPOSIT = 50;

export const walletSchema = z.object({
  currency: z.string().max(3),
  available: moneySchema.describe('Yours to spend, fund bounties with, or withdraw'),
  heldForWithdrawals: moneySchema.describe('On its way to your bank: withdrawals not yet paid'),
  inEscrow: moneySchema.describe("Held for your open bounties' rewards"),
  owed: moneySchema.describe('What you owe after a chargeback your balance could not cover (0 normally)'),
  frozen: z.boolean().describe('A frozen wallet takes deposits but sends nothing out until support reviews it'),
  frozenReason: z.string().max(500).nullable(),
});
export type WalletView = z.infer<typeof walletSchema>;

const walletTransactionStatuses = ['pending', 'completed', 'returned'] as const;

export const walletTransactionSchema = z.object({
  id: z.string().max(32),
  kind: z.string().max(64).describe('deposit, withdrawal.hold, withdrawal.void, escrow.hold, escrow.release, escrow.refund, refund, chargeback, ...'),
  amount: moneySchema.describe('Signed: negative left your available balance'),
  description: z.string().max(500).describe('Who or what the money moved to or from'),
  status: z.enum(walletTransactionStatuses).describe('pending: held, not yet paid out or released; returned: the held money came back (a separate entry)'),
  createdAt: z.date(),
});
export type WalletTransactionView = z.infer<typeof walletTransactionSchema>;

export const listQuery = z.object({ limit: limitQuery, cursor: cursorQuery });

export const depositBody = (maxAmount: number) =>
  z.object({
    amount: amountInputSchema(maxAmount, MIN_DEPOSIT),
    method: z.enum(depositMethods).describe('card or apple_pay: the same PaymentIntent, confirmed by the app with a card or an Apple Pay token'),
    paymentMethodId: paymentMethodIdSchema
      .optional()
      .describe('Confirm now with a saved card (GET /payments/methods); with test keys also Stripe test cards such as pm_card_visa'),
  });

export const depositSchema = z.object({
  id: z.uuid().max(36),
  amount: moneySchema,
  method: z.enum(depositMethods),
  status: z.enum(depositStatuses).describe('succeeded once the wallet is credited (by the payment_intent.succeeded webhook)'),
  paymentIntentId: z.string().max(255).nullable(),
  clientSecret: z.string().max(512).nullable().describe("The PaymentIntent's client secret for the app to confirm with; only in the creating response"),
  failureReason: z.string().max(500).nullable(),
  bountyId: z.string().max(64).nullable(),
  createdAt: z.date(),
});
export type DepositView = z.infer<typeof depositSchema>;

export const withdrawalBody = (maxAmount: number) => z.object({ amount: amountInputSchema(maxAmount) });

export const withdrawalSchema = z.object({
  id: z.uuid().max(36),
  amount: moneySchema,
  status: z
    .enum(withdrawalStatuses)
    .describe(
      'held: under review before it is sent (the amount stays held); pending: held and being paid; paid; failed: returned to your balance ' +
        '(see failureReason); reversed; payout_failed: your bank refused the payout (see failureReason); rejected: not approved on review, ' +
        'the amount is back in your balance (see failureReason)',
    ),
  failureReason: z.string().max(500).nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type WithdrawalView = z.infer<typeof withdrawalSchema>;

export const walletQuery = z.object({ currency: currencySchema.optional() });

/** A withdrawal as the reviewing admin sees it. */
export const reviewedWithdrawalSchema = z.object({
  id: z.uuid().max(36),
  userId: userIdSchema,
  amount: moneySchema,
  status: z.enum(withdrawalStatuses),
  heldReason: z.string().max(2_000).nullable().describe('Why the risk rules held it'),
  failureReason: z.string().max(500).nullable().describe('On a rejection: the reason the user was given'),
  reviewedBy: userIdSchema.nullable(),
  reviewedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
});
export type ReviewedWithdrawalView = z.infer<typeof reviewedWithdrawalSchema>;

export const withdrawalReviewParams = z.object({ id: z.uuid().max(36) });
export const approveWithdrawalBody = z.object({ note: safeText(500).describe('Why it may go (kept in the audit log)') });
export const rejectWithdrawalBody = z.object({ reason: safeText(500).describe('Why it may not: the user reads it, and the audit log keeps it') });
