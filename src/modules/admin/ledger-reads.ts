/**
 * The ledger as admins read it: an account with its entries, a user's accounts, and a user's
 * postings across their own accounts, newest first. Every page walks
 * ledger_entries_account_id_idx (account_id, id desc): an entry names its account, not its
 * person, so a user's postings merge one walk per account of theirs (a Merge Append of index
 * ranges, never a sort), and the page's rows are then read by id.
 */
import { and, asc, desc, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import {
  type DatabaseSession,
  type LedgerAccount,
  type LedgerEntry,
  type LedgerTransaction,
  ledgerAccounts,
  ledgerEntries,
  ledgerTransactions,
  selectRows,
} from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { money } from '../ledger';
import type { LedgerAccountView, LedgerEntryView } from './ledger-schemas';

type Page = { limit: number; cursor: KeysetCursor | null };
type EntryRow = { entry: LedgerEntry; transaction: LedgerTransaction; cursorAt: string };
type AccountRef = Pick<LedgerAccount, 'id' | 'kind' | 'currency'>;

export const toAccountView = (account: LedgerAccount): LedgerAccountView => ({
  id: account.id,
  ownerType: account.ownerType,
  ownerId: account.ownerId,
  userId: account.userId,
  kind: account.kind,
  balance: money(account.balance, account.currency),
  allowNegative: account.allowNegative,
  createdAt: account.createdAt,
  updatedAt: account.updatedAt,
});

const toEntryView = ({ entry, transaction }: EntryRow, account: AccountRef): LedgerEntryView => ({
  id: entry.id,
  account: { id: account.id, kind: account.kind, currency: account.currency },
  amount: money(entry.amount, entry.currency),
  balanceAfter: money(entry.balanceAfter, entry.currency),
  createdAt: entry.createdAt,
  transaction: {
    id: transaction.id,
    kind: transaction.kind,
    effectKey: transaction.effectKey,
    description: transaction.description,
    reference: transaction.referenceType !== null && transaction.referenceId !== null ? { type: transaction.referenceType, id: transaction.referenceId } : null,
    holdId: transaction.holdId,
    createdAt: transaction.createdAt,
  },
});

const entryColumns = { entry: ledgerEntries, transaction: ledgerTransactions, cursorAt: sql<string>`${ledgerEntries.createdAt}::text` };
const entryCursorOf = (row: EntryRow): KeysetCursor => ({ t: row.cursorAt, i: String(row.entry.id) });

/** The account and a page of its entries, newest first; null when there is no such account. */
export async function accountWithEntries(db: DatabaseSession, accountId: number, page: Page) {
  return db.read(async (reader) => {
    const [account] = await reader.select().from(ledgerAccounts).where(eq(ledgerAccounts.id, accountId));
    if (!account) return null;
    const rows = await reader
      .select(entryColumns)
      .from(ledgerEntries)
      .innerJoin(ledgerTransactions, eq(ledgerTransactions.id, ledgerEntries.transactionId))
      .where(and(eq(ledgerEntries.accountId, accountId), page.cursor ? lt(ledgerEntries.id, Number(page.cursor.i)) : undefined))
      .orderBy(desc(ledgerEntries.id))
      .limit(page.limit + 1);
    const entries = keysetPage(rows, page.limit, (row) => toEntryView(row, account), entryCursorOf);
    return { account: toAccountView(account), entries: entries.items, nextCursor: entries.nextCursor };
  });
}

/**
 * Every account for the user (user_id): their own, and the escrow of each bounty they funded,
 * oldest first. A walk once ledger_accounts has an index on (user_id, id); until then PostgreSQL
 * filters the primary key's walk or sorts the user's own rows (never a sort of the table).
 */
export async function userAccounts(db: DatabaseSession, userId: string, page: Page) {
  const rows = await db.read((reader) =>
    reader
      .select({ account: ledgerAccounts, cursorAt: sql<string>`${ledgerAccounts.createdAt}::text` })
      .from(ledgerAccounts)
      .where(and(eq(ledgerAccounts.userId, userId), page.cursor ? gt(ledgerAccounts.id, Number(page.cursor.i)) : undefined))
      .orderBy(asc(ledgerAccounts.id))
      .limit(page.limit + 1),
  );
  return keysetPage(rows, page.limit, (row) => toAccountView(row.account), (row) => ({ t: row.cursorAt, i: String(row.account.id) }));
}

const entryIdRow = z.object({ id: z.coerce.number() });

/**
 * The entries of the user's own accounts (available, held for withdrawals, owed; every currency),
 * newest first. Escrow accounts are the bounty's: GET /admin/ledger/accounts/:id shows them.
 */
export async function userPostings(db: DatabaseSession, userId: string, page: Page) {
  return db.read(async (reader) => {
    const accounts = await reader
      .select({ id: ledgerAccounts.id, kind: ledgerAccounts.kind, currency: ledgerAccounts.currency })
      .from(ledgerAccounts)
      .where(and(eq(ledgerAccounts.ownerType, 'user'), eq(ledgerAccounts.ownerId, userId)));
    if (accounts.length === 0) return { items: [], nextCursor: null };
    const take = page.limit + 1;
    const before = page.cursor ? sql` and ${ledgerEntries.id} < ${Number(page.cursor.i)}` : sql``;
    // One index range per account, each already newest first: the planner merges them.
    const walks = accounts.map(
      (account) =>
        sql`(select ${ledgerEntries.id} as id from ${ledgerEntries} where ${ledgerEntries.accountId} = ${account.id}${before} order by ${ledgerEntries.id} desc limit ${take})`,
    );
    const ids = (await selectRows(reader, sql`${sql.join(walks, sql` union all `)} order by id desc limit ${take}`, entryIdRow)).map((row) => row.id);
    if (ids.length === 0) return { items: [], nextCursor: null };
    const found = await reader
      .select(entryColumns)
      .from(ledgerEntries)
      .innerJoin(ledgerTransactions, eq(ledgerTransactions.id, ledgerEntries.transactionId))
      .where(inArray(ledgerEntries.id, ids));
    const byId = new Map(found.map((row) => [row.entry.id, row]));
    const rows = ids.flatMap((id) => byId.get(id) ?? []);
    const accountById = new Map(accounts.map((account) => [account.id, account]));
    return keysetPage(
      rows,
      page.limit,
      (row) => {
        const account = accountById.get(row.entry.accountId);
        if (!account) throw new Error(`ledger entry ${row.entry.id} is not on one of the user's accounts`);
        return toEntryView(row, account);
      },
      entryCursorOf,
    );
  });
}
