/**
 * Money Stripe takes back after it reached a wallet: a refund to the card, a chargeback. The
 * wallet gives what it has; a shortfall is booked on the user's receivable (the platform's
 * claim on them) and freezes the wallet, so no account that must stay non-negative goes below
 * zero and the books still balance. A won dispute reverses the chargeback's posting exactly.
 */
import { and, eq, lt } from 'drizzle-orm';
import { ledgerAccounts, ledgerEntries, ledgerTransactions, type Transaction, walletFreezes } from '../../db';
import { accountKey, accountRefColumns, lockAccounts, platformAccount, userAccount } from './accounts';
import { type Leg, post, type PostingResult } from './posting';

export type Reclaim = Readonly<{
  userId: string;
  amount: number;
  currency: string;
  kind: string;
  effectKey: string;
  description: string;
  reference: Readonly<{ type: string; id: string }>;
  /** Why the wallet is frozen if it cannot cover the amount. */
  freezeReason: string;
}>;

export async function reclaim(tx: Transaction, input: Reclaim): Promise<PostingResult & { shortfall: number }> {
  const external = platformAccount('external', input.currency);
  const available = userAccount(input.userId, 'available', input.currency);
  const receivable = userAccount(input.userId, 'receivable', input.currency);
  // Every account the posting may touch, in one ordered lock: locking the wallet alone first
  // would take it before `external` (a lower id), the opposite of every other posting's order.
  const locked = await lockAccounts(tx, [external, available, receivable]);
  const balance = locked.get(accountKey(available))?.balance ?? 0;
  const taken = Math.min(Math.max(balance, 0), input.amount);
  const shortfall = input.amount - taken;
  const legs: Leg[] = [{ account: external, amount: input.amount }];
  if (taken > 0) legs.push({ account: available, amount: -taken });
  if (shortfall > 0) legs.push({ account: receivable, amount: -shortfall });
  const result = await post(tx, { kind: input.kind, effectKey: input.effectKey, description: input.description, reference: input.reference, legs });
  if (!result.duplicate && shortfall > 0) {
    await tx.insert(walletFreezes).values({ userId: input.userId, source: 'chargeback', reason: input.freezeReason }).onConflictDoNothing();
  }
  return { ...result, shortfall };
}

/**
 * Posts the exact opposite of the transaction with `originalKey` (a won dispute gives back what
 * the chargeback took, to the same accounts). Null when the original was never posted.
 */
export async function reverseTransaction(
  tx: Transaction,
  input: { originalKey: string; effectKey: string; kind: string; description: string },
): Promise<PostingResult | null> {
  const [original] = await tx.select().from(ledgerTransactions).where(eq(ledgerTransactions.effectKey, input.originalKey));
  if (!original) return null;
  const entries = await tx
    .select({ amount: ledgerEntries.amount, ...accountRefColumns })
    .from(ledgerEntries)
    .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.accountId))
    .where(eq(ledgerEntries.transactionId, original.id));
  return post(tx, {
    kind: input.kind,
    effectKey: input.effectKey,
    description: input.description,
    reference: original.referenceType && original.referenceId ? { type: original.referenceType, id: original.referenceId } : undefined,
    legs: entries.map(({ amount, ...account }) => ({ account, amount: -amount })),
  });
}

/** Lifts a chargeback's freeze once the user owes nothing in any currency (an admin's freeze stays). */
export async function unfreezeIfSettled(tx: Transaction, userId: string): Promise<boolean> {
  const owing = await tx
    .select({ id: ledgerAccounts.id })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.ownerType, 'user'), eq(ledgerAccounts.ownerId, userId), eq(ledgerAccounts.kind, 'receivable'), lt(ledgerAccounts.balance, 0)));
  if (owing.length > 0) return false;
  const removed = await tx
    .delete(walletFreezes)
    .where(and(eq(walletFreezes.userId, userId), eq(walletFreezes.source, 'chargeback')))
    .returning({ userId: walletFreezes.userId });
  return removed.length > 0;
}
