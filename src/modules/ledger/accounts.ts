/**
 * Ledger accounts by what they are for. An account is opened on first use, at zero; its identity
 * (owner, kind, currency) never changes. `external`, `receivable` and `adjustments` may go negative
 * (the platform's view of money outside the ledger, of what a user owes, and of what admins' manual
 * corrections gave users, net); every other may not.
 */
import { and, eq, inArray, sql } from 'drizzle-orm';
import { type AccountKind, type AccountOwnerType, type Database, ledgerAccounts, type Transaction } from '../../db';

export type AccountRef = Readonly<{
  ownerType: AccountOwnerType;
  ownerId: string;
  kind: AccountKind;
  currency: string;
  /** The person it is for (the funder of an escrow); the wallet sums by it. */
  userId: string | null;
}>;

const PLATFORM = 'platform';
const NEGATIVE_ALLOWED: ReadonlySet<AccountKind> = new Set(['external', 'receivable', 'adjustments']);

export const userAccount = (userId: string, kind: 'available' | 'withdrawal_hold' | 'receivable', currency: string): AccountRef => ({
  ownerType: 'user',
  ownerId: userId,
  kind,
  currency,
  userId,
});

export const escrowAccount = (bountyId: string, funderId: string, currency: string): AccountRef => ({
  ownerType: 'bounty',
  ownerId: bountyId,
  kind: 'escrow',
  currency,
  userId: funderId,
});

export const platformAccount = (kind: 'fees' | 'external' | 'adjustments', currency: string): AccountRef => ({
  ownerType: 'platform',
  ownerId: PLATFORM,
  kind,
  currency,
  userId: null,
});

/** The columns that say which account a row is (an AccountRef), for selects. */
export const accountRefColumns = {
  ownerType: ledgerAccounts.ownerType,
  ownerId: ledgerAccounts.ownerId,
  kind: ledgerAccounts.kind,
  currency: ledgerAccounts.currency,
  userId: ledgerAccounts.userId,
};

export const accountKey = (ref: Pick<AccountRef, 'ownerType' | 'ownerId' | 'kind' | 'currency'>): string =>
  `${ref.ownerType}:${ref.ownerId}:${ref.kind}:${ref.currency}`;

export type LockedAccount = { id: number; key: string; balance: number; allowNegative: boolean; currency: string };

/**
 * Locks the accounts `FOR UPDATE` in ascending id order (the sort runs below the lock, so rows are
 * locked in that order), opening any that do not exist yet: two postings over the same accounts
 * queue instead of deadlocking, and a balance read here is the one the write uses. Accounts
 * opened by several postings at the same moment can still deadlock (the re-lock may meet a row
 * another opened meanwhile, below ours): PostgreSQL breaks it and runTransaction runs the loser again.
 */
export async function lockAccounts(tx: Transaction, refs: readonly AccountRef[]): Promise<Map<string, LockedAccount>> {
  const unique = [...new Map(refs.map((ref) => [accountKey(ref), ref])).values()];
  let locked = await selectForUpdate(tx, unique);
  if (locked.size < unique.length) {
    // First use of an account: opened at zero (a concurrent opener's row wins), then locked.
    // Inserted in key order: two postings opening the same new accounts wait in the same order.
    const missing = unique.filter((ref) => !locked.has(accountKey(ref))).sort((a, b) => (accountKey(a) < accountKey(b) ? -1 : 1));
    await tx
      .insert(ledgerAccounts)
      .values(missing.map((ref) => ({ ...ref, allowNegative: NEGATIVE_ALLOWED.has(ref.kind) })))
      .onConflictDoNothing({ target: [ledgerAccounts.ownerType, ledgerAccounts.ownerId, ledgerAccounts.kind, ledgerAccounts.currency] });
    locked = await selectForUpdate(tx, unique);
  }
  for (const ref of unique) if (!locked.has(accountKey(ref))) throw new Error(`ledger account ${accountKey(ref)} was not opened`);
  return locked;
}

async function selectForUpdate(tx: Transaction, refs: readonly AccountRef[]): Promise<Map<string, LockedAccount>> {
  const rows = await tx
    .select({ id: ledgerAccounts.id, ...accountRefColumns, balance: ledgerAccounts.balance, allowNegative: ledgerAccounts.allowNegative })
    .from(ledgerAccounts)
    .where(
      sql`(${ledgerAccounts.ownerType}, ${ledgerAccounts.ownerId}, ${ledgerAccounts.kind}, ${ledgerAccounts.currency}) in (${sql.join(
        refs.map((ref) => sql`(${ref.ownerType}, ${ref.ownerId}, ${ref.kind}, ${ref.currency})`),
        sql`, `,
      )})`,
    )
    .orderBy(ledgerAccounts.id)
    .for('update');
  return new Map(rows.map((row) => [accountKey(row), { id: row.id, key: accountKey(row), balance: row.balance, allowNegative: row.allowNegative, currency: row.currency }]));
}

/** Balances of a user's own accounts by kind and currency (no lock: for display). */
export async function userBalances(db: Pick<Database, 'select'>, userId: string) {
  return db
    .select({ kind: ledgerAccounts.kind, currency: ledgerAccounts.currency, balance: sql<number>`sum(${ledgerAccounts.balance})::bigint`.mapWith(Number) })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.userId, userId), inArray(ledgerAccounts.kind, ['available', 'withdrawal_hold', 'receivable', 'escrow'])))
    .groupBy(ledgerAccounts.kind, ledgerAccounts.currency);
}
