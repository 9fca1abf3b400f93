/**
 * What each Stripe event does, inside the transaction that records it. Each money effect is
 * keyed by object and effect (`pi:<id>:succeeded`, `dp:<id>:created`, ...), so two different
 * events that carry the same effect (Stripe may send both, or an event and its reconciliation)
 * post it once. An effect about an object we do not know yet answers `unknown`: the event is
 * deferred and reconciled by a job that retrieves the object (reconcileEvent in service.ts).
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import { bounties, connectAccounts, type Deposit, deposits, ledgerTransactions, type Transaction, withdrawals } from '../../db';
import type { Stripe } from '../../lib/stripe';
import { applyAccountEvent } from '../connect/service';
import { creditFromStripe, platformAccount, post, reclaim, reverseTransaction, unfreezeIfSettled, userAccount } from '../ledger';
import { recordEvents } from '../outbox';

export type EffectOutcome = 'processed' | 'unknown' | 'ignored';

/** A Stripe reference field: an id, or the object itself when expanded. */
export const idOf = (value: string | { id: string } | null | undefined): string | null => (typeof value === 'string' ? value : (value?.id ?? null));

/** Our deposit behind a PaymentIntent, locked: by the id in its metadata, else by the intent's id. */
async function depositOfIntent(tx: Transaction, intent: Pick<Stripe.PaymentIntent, 'id' | 'metadata'>): Promise<Deposit | undefined> {
  const depositId = intent.metadata?.deposit_id;
  const where = depositId && /^[0-9a-f-]{36}$/i.test(depositId) ? eq(deposits.id, depositId) : eq(deposits.paymentIntentId, intent.id);
  const [row] = await tx.select().from(deposits).where(where).for('update');
  return row;
}

async function depositOfCharge(tx: Transaction, chargeId: string, paymentIntentId: string | null): Promise<Deposit | undefined> {
  const [row] = await tx
    .select()
    .from(deposits)
    .where(paymentIntentId ? eq(deposits.paymentIntentId, paymentIntentId) : eq(deposits.chargeId, chargeId))
    .for('update');
  return row;
}

/**
 * Opens the bounty a deposit paid for, in the webhook's transaction (src/modules/bounties/funding.ts):
 * holds the reward in escrow and publishes it, or leaves the money available. Whether it opened.
 */
export type FundBounty = (tx: Transaction, deposit: Deposit, amount: number, currency: string) => Promise<boolean>;

/** Credits the wallet (and, for a bounty funded by card, holds the reward and opens it) once per intent. */
export async function paymentSucceeded(tx: Transaction, intent: Stripe.PaymentIntent, fundBounty: FundBounty): Promise<EffectOutcome> {
  const deposit = await depositOfIntent(tx, intent);
  if (!deposit) return intent.metadata?.deposit_id ? 'unknown' : 'ignored';
  // The bounty before the wallet, as a wallet publish locks them: the two never wait in a circle.
  if (deposit.bountyId) await tx.select({ id: bounties.id }).from(bounties).where(eq(bounties.id, deposit.bountyId)).for('update');
  const amount = intent.amount_received || intent.amount;
  const credited = await creditFromStripe(tx, {
    userId: deposit.userId,
    amount,
    currency: intent.currency,
    effectKey: `pi:${intent.id}:succeeded`,
    description: deposit.method === 'apple_pay' ? 'Deposit with Apple Pay' : 'Deposit by card',
    reference: { type: 'deposit', id: deposit.id },
  });
  if (!credited.duplicate && deposit.bountyId) await fundBounty(tx, deposit, amount, intent.currency);
  // Told once, with the credit (a duplicate effect moved nothing and tells nothing).
  if (!credited.duplicate) {
    await recordEvents(tx, new Date(), [
      { topic: 'deposit.succeeded', recipientId: deposit.userId, subject: { type: 'deposit', id: deposit.id }, payload: { amount, currency: intent.currency, bountyId: deposit.bountyId } },
    ]);
  }
  await tx
    .update(deposits)
    .set({
      status: 'succeeded',
      paymentIntentId: sql`coalesce(${deposits.paymentIntentId}, ${intent.id})`,
      chargeId: idOf(intent.latest_charge),
      failureReason: null,
      updatedAt: new Date(),
    })
    .where(eq(deposits.id, deposit.id));
  return 'processed';
}

export async function paymentFailed(tx: Transaction, intent: Stripe.PaymentIntent): Promise<EffectOutcome> {
  const deposit = await depositOfIntent(tx, intent);
  if (!deposit) return 'ignored';
  if (deposit.status === 'succeeded') return 'processed';
  await tx
    .update(deposits)
    .set({
      status: 'failed',
      paymentIntentId: sql`coalesce(${deposits.paymentIntentId}, ${intent.id})`,
      failureReason: intent.last_payment_error?.message ?? 'The payment failed',
      updatedAt: new Date(),
    })
    .where(eq(deposits.id, deposit.id));
  return 'processed';
}

/** Whether the intent's success is on the books (a refund or chargeback needs it first). */
async function isCredited(tx: Transaction, paymentIntentId: string): Promise<boolean> {
  const rows = await tx
    .select({ id: ledgerTransactions.id })
    .from(ledgerTransactions)
    .where(eq(ledgerTransactions.effectKey, `pi:${paymentIntentId}:succeeded`));
  return rows.length > 0;
}

/** A refund to the card (from our API or Stripe's dashboard): the refunded part leaves the wallet. */
export async function chargeRefunded(tx: Transaction, charge: Stripe.Charge): Promise<EffectOutcome> {
  const paymentIntentId = idOf(charge.payment_intent);
  const deposit = await depositOfCharge(tx, charge.id, paymentIntentId);
  if (!deposit || !paymentIntentId || !(await isCredited(tx, paymentIntentId))) return 'unknown';
  const delta = charge.amount_refunded - deposit.refundedAmount;
  if (delta <= 0) return 'processed';
  await reclaim(tx, {
    userId: deposit.userId,
    amount: delta,
    currency: charge.currency,
    kind: 'refund',
    effectKey: `ch:${charge.id}:refunded:${charge.amount_refunded}`,
    description: 'Deposit refunded to your card',
    reference: { type: 'deposit', id: deposit.id },
    freezeReason: 'A deposit was refunded after its money had been spent',
  });
  await tx.update(deposits).set({ refundedAmount: charge.amount_refunded, updatedAt: new Date() }).where(eq(deposits.id, deposit.id));
  return 'processed';
}

/** A chargeback: Stripe took the disputed amount; the wallet gives it back, a shortfall freezes it. */
export async function disputeCreated(tx: Transaction, dispute: Stripe.Dispute): Promise<EffectOutcome> {
  const paymentIntentId = idOf(dispute.payment_intent);
  const deposit = await depositOfCharge(tx, idOf(dispute.charge) ?? '', paymentIntentId);
  if (!deposit || !paymentIntentId || !(await isCredited(tx, paymentIntentId))) return 'unknown';
  const reclaimed = await reclaim(tx, {
    userId: deposit.userId,
    amount: dispute.amount,
    currency: dispute.currency,
    kind: 'chargeback',
    effectKey: `dp:${dispute.id}:created`,
    description: 'Card payment disputed (chargeback)',
    reference: { type: 'dispute', id: dispute.id },
    freezeReason: 'A card payment was disputed and the wallet could not cover it',
  });
  if (!reclaimed.duplicate) {
    await recordEvents(tx, new Date(), [
      {
        topic: 'wallet.chargeback',
        recipientId: deposit.userId,
        subject: { type: 'deposit', id: deposit.id },
        payload: { amount: dispute.amount, currency: dispute.currency, shortfall: reclaimed.shortfall },
      },
    ]);
  }
  return 'processed';
}

/** Won: the chargeback's posting is reversed exactly (and the wallet unfrozen once nothing is owed). */
export async function disputeClosed(tx: Transaction, dispute: Stripe.Dispute): Promise<EffectOutcome> {
  if (dispute.status !== 'won') return 'processed';
  const reversed = await reverseTransaction(tx, {
    originalKey: `dp:${dispute.id}:created`,
    effectKey: `dp:${dispute.id}:won`,
    kind: 'chargeback.reversal',
    description: 'Dispute won: the chargeback was returned',
  });
  if (!reversed) return 'unknown';
  const paymentIntentId = idOf(dispute.payment_intent);
  const deposit = await depositOfCharge(tx, idOf(dispute.charge) ?? '', paymentIntentId);
  if (deposit) await unfreezeIfSettled(tx, deposit.userId);
  return 'processed';
}

/** A tie with the stored state, or an account we have no row for: reconciled from Stripe's current state. */
export async function accountUpdated(tx: Transaction, account: Stripe.Account, eventAt: Date): Promise<EffectOutcome> {
  const outcome = await applyAccountEvent(tx, account, eventAt);
  return outcome === 'applied' || outcome === 'stale' ? 'processed' : 'unknown';
}

/** Stripe pulled back (part of) a payout transfer: that part returns to the wallet. */
export async function transferReversed(tx: Transaction, transfer: Stripe.Transfer): Promise<EffectOutcome> {
  const [withdrawal] = await tx.select().from(withdrawals).where(eq(withdrawals.stripeTransferId, transfer.id)).for('update');
  if (!withdrawal) return 'unknown';
  const delta = transfer.amount_reversed - withdrawal.reversedAmount;
  if (delta <= 0) return 'processed';
  await post(tx, {
    kind: 'withdrawal.reversal',
    effectKey: `tr:${transfer.id}:reversed:${transfer.amount_reversed}`,
    description: 'Withdrawal reversed: returned to your balance',
    reference: { type: 'withdrawal', id: withdrawal.id },
    legs: [
      { account: platformAccount('external', transfer.currency), amount: -delta },
      { account: userAccount(withdrawal.userId, 'available', transfer.currency), amount: delta },
    ],
  });
  await tx
    .update(withdrawals)
    .set({ status: 'reversed', reversedAmount: transfer.amount_reversed, failureReason: 'The transfer was reversed; the money is back in your balance', updatedAt: new Date() })
    .where(eq(withdrawals.id, withdrawal.id));
  return 'processed';
}

/**
 * The bank refused a payout from the user's Stripe balance. The money is on their Connect account
 * (Stripe pays it again once the bank details are fixed), so nothing moves in our ledger: the
 * reason is shown on the payout account, and on the withdrawal the payout was for when one matches
 * it (a paid withdrawal of the same amount and currency; a payout of several shows on the account).
 */
export async function payoutFailed(tx: Transaction, payout: Stripe.Payout, accountId: string | null, eventAt: Date): Promise<EffectOutcome> {
  const account = await payoutAccount(tx, accountId);
  if (account === 'none') return 'ignored';
  if (!account) return 'unknown';
  if (isOlderPayoutEvent(account.payoutEventAt, eventAt)) return 'processed';
  const reason = `Your bank refused the payout: ${payout.failure_message ?? payout.failure_code ?? 'no reason given'}. Update your bank details through an onboarding link.`;
  await tx.update(connectAccounts).set({ payoutFailureReason: reason, payoutEventAt: eventAt, updatedAt: new Date() }).where(eq(connectAccounts.userId, account.userId));
  const withdrawal = await withdrawalOfPayout(tx, account.userId, payout, 'paid');
  if (withdrawal) {
    await tx.update(withdrawals).set({ status: 'payout_failed', failureReason: reason, updatedAt: new Date() }).where(eq(withdrawals.id, withdrawal));
    // Only on the change from paid: the same failure heard again finds no paid withdrawal.
    await recordEvents(tx, new Date(), [
      {
        topic: 'withdrawal.failed',
        recipientId: account.userId,
        subject: { type: 'withdrawal', id: withdrawal },
        payload: { amount: payout.amount, currency: payout.currency, reason },
      },
    ]);
  }
  return 'processed';
}

/** A payout reached the bank: a failure shown before is over (the retried payout of the same amount). */
export async function payoutPaid(tx: Transaction, payout: Stripe.Payout, accountId: string | null, eventAt: Date): Promise<EffectOutcome> {
  const account = await payoutAccount(tx, accountId);
  if (account === 'none') return 'ignored';
  if (!account) return 'unknown';
  // A success older than the failure shown (events come in any order) does not end it.
  if (isOlderPayoutEvent(account.payoutEventAt, eventAt)) return 'processed';
  await tx.update(connectAccounts).set({ payoutFailureReason: null, payoutEventAt: eventAt, updatedAt: new Date() }).where(eq(connectAccounts.userId, account.userId));
  const withdrawal = await withdrawalOfPayout(tx, account.userId, payout, 'payout_failed');
  if (withdrawal) await tx.update(withdrawals).set({ status: 'paid', failureReason: null, updatedAt: new Date() }).where(eq(withdrawals.id, withdrawal));
  return 'processed';
}

const isOlderPayoutEvent = (stored: Date | null, eventAt: Date): boolean => stored !== null && stored.getTime() > eventAt.getTime();

/** The payout account a connected account's event is about: 'none' without one, undefined when unknown (yet). */
async function payoutAccount(tx: Transaction, accountId: string | null) {
  if (!accountId) return 'none' as const;
  const [account] = await tx.select().from(connectAccounts).where(eq(connectAccounts.stripeAccountId, accountId)).for('update');
  return account;
}

/** The latest withdrawal in `status` whose amount and currency are the payout's. */
async function withdrawalOfPayout(tx: Transaction, userId: string, payout: Stripe.Payout, status: 'paid' | 'payout_failed'): Promise<string | null> {
  const [match] = await tx
    .select({ id: withdrawals.id })
    .from(withdrawals)
    .where(and(eq(withdrawals.userId, userId), eq(withdrawals.status, status), eq(withdrawals.amount, payout.amount), eq(withdrawals.currency, payout.currency)))
    .orderBy(desc(withdrawals.createdAt))
    .limit(1);
  return match?.id ?? null;
}
