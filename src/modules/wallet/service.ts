/**
 * What a user sees of their money: balances by purpose, and the history of their available
 * balance. Reads are routed (a replica, or the primary until it has the reader's own writes);
 * nothing here decides a write: those checks run inside the writes' transactions.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import { type DatabaseSession, ledgerAccounts, ledgerEntries, ledgerHolds, ledgerTransactions, walletFreezes } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { money, userBalances } from '../ledger';
import type { WalletTransactionView, WalletView } from './schemas';

export async function getWallet(db: DatabaseSession, userId: string, currency: string): Promise<WalletView> {
  const [balances, freezes] = await db.read((reader) =>
    Promise.all([userBalances(reader, userId), reader.select().from(walletFreezes).where(eq(walletFreezes.userId, userId)).orderBy(walletFreezes.createdAt)]),
  );
  const of = (kind: string) => balances.find((row) => row.kind === kind && row.currency === currency)?.balance ?? 0;
  const freeze = freezes[0];
  return {
    currency,
    available: money(of('available'), currency),
    heldForWithdrawals: money(of('withdrawal_hold'), currency),
    inEscrow: money(of('escrow'), currency),
    // The receivable is the platform's claim: -500 there is $5 the user owes.
    owed: money(Math.max(0, -of('receivable')), currency),
    frozen: freeze !== undefined,
    frozenReason: freeze?.reason ?? null,
  };
}

/**
 * The user's available balance, entry by entry, newest first. One account per currency, so
 * the page is an index range scan of (account_id, id desc), never a sort.
 */
export async function listWalletTransactions(
  db: DatabaseSession,
  userId: string,
  options: { currency: string; limit: number; cursor: KeysetCursor | null },
): Promise<{ items: WalletTransactionView[]; nextCursor: string | null }> {
  const account = sql`(select ${ledgerAccounts.id} from ${ledgerAccounts} where ${ledgerAccounts.ownerType} = 'user'
    and ${ledgerAccounts.ownerId} = ${userId} and ${ledgerAccounts.kind} = 'available' and ${ledgerAccounts.currency} = ${options.currency})`;
  const rows = await db.read((reader) =>
    reader
      .select({
        id: ledgerEntries.id,
        amount: ledgerEntries.amount,
        currency: ledgerEntries.currency,
        createdAt: ledgerEntries.createdAt,
        cursorAt: sql<string>`${ledgerEntries.createdAt}::text`,
        kind: ledgerTransactions.kind,
        description: ledgerTransactions.description,
        holdStatus: ledgerHolds.status,
        opensHold: sql<boolean>`${ledgerTransactions.effectKey} like 'hold:%:open'`,
      })
      .from(ledgerEntries)
      .innerJoin(ledgerTransactions, eq(ledgerTransactions.id, ledgerEntries.transactionId))
      .leftJoin(ledgerHolds, eq(ledgerHolds.id, ledgerTransactions.holdId))
      .where(and(sql`${ledgerEntries.accountId} = ${account}`, options.cursor ? sql`${ledgerEntries.id} < ${Number(options.cursor.i)}` : undefined))
      .orderBy(desc(ledgerEntries.id))
      .limit(options.limit + 1),
  );
  return keysetPage(
    rows,
    options.limit,
    (row) => ({
      id: String(row.id),
      kind: row.kind,
      amount: money(row.amount, row.currency),
      description: row.description,
      // The entry that opened a hold is pending until the hold is resolved; the money's return
      // after a void is an entry of its own.
      status: row.opensHold && row.holdStatus === 'pending' ? 'pending' : row.opensHold && row.holdStatus === 'voided' ? 'returned' : 'completed',
      createdAt: row.createdAt,
    }),
    (row) => ({ t: row.cursorAt, i: String(row.id) }),
  );
}
