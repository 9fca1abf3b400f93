/**
 * Withdrawals: cash-out through Stripe Connect, in two steps so a payout happens at most once.
 * 1. The request holds the amount (a pending ledger transfer: available -> withdrawal_hold),
 *    writes the withdrawal and enqueues its payout job, all in one transaction.
 * 2. The job (executePayout) calls Stripe's transfer with the idempotency key `withdrawal:<id>`,
 *    fixed by the withdrawal, then posts the hold (paid) or, on a definitive refusal, voids it
 *    (the money is available again and the reason is kept). A timeout or a crash is retried by
 *    the queue with the SAME key: Stripe answers the retry with the first transfer; and a retry
 *    first looks the transfer up by its group, which still holds after Stripe forgets the key.
 * Stripe is never called inside a database transaction.
 *
 * The risk rules (src/modules/risk) judge a request inside its transaction, with the wallet's
 * accounts locked: a deny refuses it (nothing held); a hold opens the hold as usual but the
 * withdrawal waits as `held`, without a payout job, until an admin approves it (then `pending`,
 * and the job pays it) or rejects it (`rejected`, the hold voided: the money is available again).
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { RiskSettings } from '../../config/env';
import { connectAccounts, type Database, type DatabaseSession, type Transaction, type Withdrawal, withdrawals } from '../../db';
import type { Logger } from '../../lib/logger';
import { isDefinitiveRefusal, type Stripe } from '../../lib/stripe';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { actorOf, recordAudit, type StaffContext } from '../audit/service';
import { assertNotFrozen, type HoldSelector, isWalletFrozen, openHold, platformAccount, resolveHold, userAccount } from '../ledger';
import { lockAccounts } from '../ledger/accounts';
import { recordEvents } from '../outbox';
import { judgeWithdrawal, recordingDenials } from '../risk/service';
import { WALLET_ERRORS } from './errors';
import type { ReviewedWithdrawalView, WithdrawalView } from './schemas';
import { toReviewedWithdrawalView, toWithdrawalView } from './views';

/** Puts the payout job for a withdrawal on the queue, inside the caller's transaction. */
export type EnqueuePayout = (tx: Transaction, withdrawalId: string) => Promise<void>;

export type WithdrawalDeps = {
  db: DatabaseSession;
  enqueuePayout: EnqueuePayout;
  risk: RiskSettings;
  now: Date;
  requestId?: string | null;
};

export async function requestWithdrawal(deps: WithdrawalDeps, userId: string, request: { amount: number; currency: string; requestKey: string }): Promise<WithdrawalView> {
  const { db, now } = deps;
  return recordingDenials(db, () =>
    db.transaction(async (tx) => {
      const [existing] = await tx.select().from(withdrawals).where(and(eq(withdrawals.userId, userId), eq(withdrawals.requestKey, request.requestKey)));
      if (existing) return toWithdrawalView(existing);
      const [account] = await tx.select().from(connectAccounts).where(eq(connectAccounts.userId, userId));
      if (!account?.payoutsEnabled) throw WALLET_ERRORS.error('PAYOUTS_NOT_ENABLED');
      const id = crypto.randomUUID();
      const from = userAccount(userId, 'available', request.currency);
      const to = userAccount(userId, 'withdrawal_hold', request.currency);
      // The rules read the balance and the day's withdrawals under the accounts' lock (the same
      // lock, in the same order, as the hold takes): two racing withdrawals are judged one after
      // the other. A frozen wallet is refused first: that is the answer, not a risk rule's.
      await lockAccounts(tx, [from, to]);
      await assertNotFrozen(tx, userId);
      const verdict = await judgeWithdrawal(tx, {
        settings: deps.risk,
        userId,
        withdrawalId: id,
        amount: request.amount,
        currency: request.currency,
        now,
        requestId: deps.requestId,
      });
      const held = verdict.outcome === 'hold';
      // The balance check is the posting's own, on the locked account inside this transaction.
      const { hold } = await openHold(tx, { kind: 'withdrawal', referenceId: id, userId, from, to, amount: request.amount, description: 'Withdrawal to your bank account' });
      const [created] = await tx
        .insert(withdrawals)
        .values({
          id,
          userId,
          requestKey: request.requestKey,
          holdId: hold.id,
          amount: request.amount,
          currency: request.currency,
          stripeAccountId: account.stripeAccountId,
          ...(held ? { status: 'held' as const, heldReason: verdict.fired.map((result) => result.reason).join('; ') } : {}),
        })
        .returning();
      if (!created) throw new Error('withdrawal insert returned no row');
      if (held) {
        await recordEvents(tx, now, [
          { topic: 'risk.withdrawal_held', recipientId: userId, subject: { type: 'withdrawal', id }, payload: { amount: request.amount, currency: request.currency } },
        ]);
      } else {
        await deps.enqueuePayout(tx, id);
      }
      return toWithdrawalView(created);
    }),
  );
}

export async function listWithdrawals(db: DatabaseSession, userId: string, options: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = options;
  const rows = await db.read((reader) =>
    reader
      .select({ withdrawal: withdrawals, cursorAt: sql<string>`${withdrawals.createdAt}::text` })
      .from(withdrawals)
      .where(
        and(
          eq(withdrawals.userId, userId),
          cursor ? sql`(${withdrawals.createdAt}, ${withdrawals.id}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      .orderBy(desc(withdrawals.createdAt), desc(withdrawals.id))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, (row) => toWithdrawalView(row.withdrawal), (row) => ({ t: row.cursorAt, i: row.withdrawal.id }));
}

export async function findWithdrawal(db: DatabaseSession, userId: string, id: string): Promise<WithdrawalView | null> {
  const [row] = await db.read((reader) => reader.select().from(withdrawals).where(and(eq(withdrawals.id, id), eq(withdrawals.userId, userId))));
  return row ? toWithdrawalView(row) : null;
}

export type PayoutDeps = { database: Database; stripe: Stripe; logger: Logger };
export type PayoutOutcome = 'paid' | 'failed' | 'already-done';

/**
 * What the user reads when Stripe refused the transfer for good: the code, never Stripe's whole
 * message (it may speak of our keys or accounts); the log keeps the message.
 */
const refusalReason = (error: { code?: string | undefined }): string =>
  `The transfer to your payout account was refused${error.code ? ` (${error.code})` : ''}; the amount is back in your balance. Check your payout account, then try again.`;

/**
 * The payout job's work for one withdrawal. Throws on anything a retry may fix (the queue retries
 * with backoff, and the idempotency key makes every retry the same transfer).
 */
export async function executePayout(deps: PayoutDeps, withdrawalId: string): Promise<PayoutOutcome> {
  const [withdrawal] = await deps.database
    .update(withdrawals)
    .set({ attempts: sql`${withdrawals.attempts} + 1`, updatedAt: new Date() })
    .where(eq(withdrawals.id, withdrawalId))
    .returning();
  if (!withdrawal) throw new Error(`withdrawal ${withdrawalId} does not exist`);
  if (withdrawal.status !== 'pending') return 'already-done';
  // A wallet frozen by a chargeback sends nothing out. Only on a first attempt: after one, Stripe
  // may have made the transfer already, and only the same key again can tell.
  if (withdrawal.attempts === 1 && (await isWalletFrozen(deps.database, withdrawal.userId))) {
    await settle(deps.database, withdrawal, { outcome: 'failed', reason: FROZEN_REASON });
    return 'failed';
  }

  // A retry first looks for the transfer an earlier attempt may have made: the idempotency key
  // alone protects only for the 24 h Stripe keeps it (an operator may re-send a dead letter later).
  // Any failure of this lookup is retried: it must never be mistaken for a refused transfer.
  const earlier = withdrawal.attempts > 1 ? await findTransfer(deps.stripe, withdrawal.id) : null;
  let transfer: Stripe.Transfer;
  try {
    transfer = earlier ?? await deps.stripe.transfers.create(
      {
        amount: withdrawal.amount,
        currency: withdrawal.currency,
        destination: withdrawal.stripeAccountId,
        transfer_group: transferGroupOf(withdrawal.id),
        description: 'BOUNTYExpo withdrawal',
        metadata: { withdrawal_id: withdrawal.id, user_id: withdrawal.userId },
      },
      { idempotencyKey: `withdrawal:${withdrawal.id}` },
    );
  } catch (error) {
    if (!isDefinitiveRefusal(error)) throw error;
    await settle(deps.database, withdrawal, { outcome: 'failed', reason: refusalReason(error) });
    deps.logger.warn({ withdrawalId, code: error.code, message: error.message, requestId: error.requestId }, 'withdrawal refused by the payment provider: returned to the balance');
    return 'failed';
  }
  await settle(deps.database, withdrawal, { outcome: 'paid', transferId: transfer.id });
  return 'paid';
}

const transferGroupOf = (withdrawalId: string): string => `withdrawal_${withdrawalId}`;

async function findTransfer(stripe: Stripe, withdrawalId: string): Promise<Stripe.Transfer | null> {
  const found = await stripe.transfers.list({ transfer_group: transferGroupOf(withdrawalId), limit: 1 });
  return found.data[0] ?? null;
}

const FROZEN_REASON = 'Your wallet was frozen after a card payment was disputed; the amount is back in your balance.';

/** Posts (paid) or voids (failed) the withdrawal's hold and records it, in one transaction. */
async function settle(
  database: Database,
  withdrawal: Withdrawal,
  result: { outcome: 'paid'; transferId: string } | { outcome: 'failed'; reason: string },
): Promise<void> {
  await database.transaction(async (tx) => {
    // The row lock orders this against a concurrent settle of the same withdrawal (a retry).
    const [current] = await tx.select().from(withdrawals).where(eq(withdrawals.id, withdrawal.id)).for('update');
    if (!current || current.status !== 'pending') return;
    // Pending withdrawal, pending hold: they are resolved together, in this transaction.
    if (result.outcome === 'paid') {
      await resolveHold(tx, { id: withdrawal.holdId }, (hold) => ({
        status: 'posted',
        kind: 'withdrawal.paid',
        description: 'Withdrawal paid to your payout account',
        destinations: [{ account: platformAccount('external', hold.currency), amount: hold.amount }],
      }));
    } else {
      await returnToBalance(tx, { id: withdrawal.holdId });
    }
    await tx
      .update(withdrawals)
      .set(
        result.outcome === 'paid'
          ? { status: 'paid', stripeTransferId: result.transferId, failureReason: null, updatedAt: new Date() }
          : { status: 'failed', failureReason: result.reason, updatedAt: new Date() },
      )
      .where(eq(withdrawals.id, withdrawal.id));
    await recordEvents(tx, new Date(), [
      {
        topic: result.outcome === 'paid' ? 'withdrawal.paid' : 'withdrawal.failed',
        recipientId: withdrawal.userId,
        subject: { type: 'withdrawal', id: withdrawal.id },
        payload: { amount: withdrawal.amount, currency: withdrawal.currency, ...(result.outcome === 'failed' ? { reason: result.reason } : {}) },
      },
    ]);
  });
}

/** A withdrawal's held money back to the balance it came from (a refused payout, a rejected review). */
async function returnToBalance(tx: Transaction, hold: HoldSelector): Promise<void> {
  await resolveHold(tx, hold, (opened, accounts) => ({
    status: 'voided',
    kind: 'withdrawal.void',
    description: 'Withdrawal returned to your balance',
    destinations: [{ account: accounts.source, amount: opened.amount }],
  }));
}

// --- Review of held withdrawals (admins; routes in review.ts) --------------------------------------

export type ReviewDeps = { db: DatabaseSession; enqueuePayout: EnqueuePayout; now: Date };

/** The admin reviewing, and the request that carries the decision (for the audit log). */
export type Reviewer = StaffContext;

/**
 * Locks the withdrawal; only a held one can be reviewed (a second review finds it decided: 409),
 * and never by the admin whose money it is.
 */
async function lockHeld(tx: Transaction, id: string, reviewer: Reviewer): Promise<Withdrawal> {
  const [row] = await tx.select().from(withdrawals).where(eq(withdrawals.id, id)).for('update');
  if (!row) throw WALLET_ERRORS.error('WITHDRAWAL_NOT_FOUND');
  if (row.userId === reviewer.actor.id) throw WALLET_ERRORS.error('OWN_WITHDRAWAL_REVIEW');
  if (row.status !== 'held') {
    throw WALLET_ERRORS.error('WITHDRAWAL_NOT_HELD', `This withdrawal is ${row.status}: only a held one can be approved or rejected`, [{ path: 'status', message: row.status }]);
  }
  return row;
}

const reviewSummary = (withdrawal: Withdrawal) => ({
  status: withdrawal.status,
  userId: withdrawal.userId,
  amount: withdrawal.amount,
  currency: withdrawal.currency,
  heldReason: withdrawal.heldReason?.slice(0, 500) ?? null,
});

/**
 * Releases a held withdrawal: `pending`, and its payout job is sent (one per withdrawal: the job's
 * singleton key and the transfer's idempotency key are the withdrawal's id), audited, the user told.
 */
export async function approveHeldWithdrawal(deps: ReviewDeps, reviewer: Reviewer, id: string, note: string): Promise<ReviewedWithdrawalView> {
  return deps.db.transaction(async (tx) => {
    const held = await lockHeld(tx, id, reviewer);
    const [approved] = await tx
      .update(withdrawals)
      .set({ status: 'pending', reviewedBy: reviewer.actor.id, reviewedAt: deps.now, updatedAt: deps.now })
      .where(and(eq(withdrawals.id, id), eq(withdrawals.status, 'held')))
      .returning();
    if (!approved) throw new Error(`withdrawal ${id} changed under its lock`);
    await deps.enqueuePayout(tx, id);
    await recordAudit(tx, {
      actor: actorOf(reviewer.actor),
      action: 'withdrawal.approve',
      targetId: id,
      reason: note,
      before: reviewSummary(held),
      after: { status: approved.status },
      requestId: reviewer.requestId,
    });
    await recordEvents(tx, deps.now, [
      { topic: 'risk.withdrawal_released', recipientId: held.userId, subject: { type: 'withdrawal', id }, payload: { amount: held.amount, currency: held.currency } },
    ]);
    return toReviewedWithdrawalView(approved);
  });
}

/**
 * Refuses a held withdrawal: the hold is voided (the amount is available again), the withdrawal is
 * `rejected` with the reason (the user reads it), audited, the user told.
 */
export async function rejectHeldWithdrawal(deps: ReviewDeps, reviewer: Reviewer, id: string, reason: string): Promise<ReviewedWithdrawalView> {
  return deps.db.transaction(async (tx) => {
    const held = await lockHeld(tx, id, reviewer);
    await returnToBalance(tx, { id: held.holdId });
    const [rejected] = await tx
      .update(withdrawals)
      .set({ status: 'rejected', failureReason: reason, reviewedBy: reviewer.actor.id, reviewedAt: deps.now, updatedAt: deps.now })
      .where(and(eq(withdrawals.id, id), eq(withdrawals.status, 'held')))
      .returning();
    if (!rejected) throw new Error(`withdrawal ${id} changed under its lock`);
    await recordAudit(tx, {
      actor: actorOf(reviewer.actor),
      action: 'withdrawal.reject',
      targetId: id,
      reason,
      before: reviewSummary(held),
      after: { status: rejected.status },
      requestId: reviewer.requestId,
    });
    await recordEvents(tx, deps.now, [
      { topic: 'risk.withdrawal_rejected', recipientId: held.userId, subject: { type: 'withdrawal', id }, payload: { amount: held.amount, currency: held.currency, reason } },
    ]);
    return toReviewedWithdrawalView(rejected);
  });
}
