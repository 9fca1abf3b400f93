/**
 * The one posting function: the only code that writes ledger entries and balances. It runs inside
 * the caller's transaction, so the money moves and the state change that caused it (a bounty
 * approved, a withdrawal paid) commit together or not at all.
 */
import { createHash } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { ledgerAccounts, ledgerEntries, ledgerTransactions, type Transaction } from '../../db';
import { type AccountRef, accountKey, lockAccounts } from './accounts';
import { LEDGER_ERRORS, LedgerConflictError } from './errors';

export type Leg = Readonly<{ account: AccountRef; amount: number }>;

export type Posting = Readonly<{
  /** What kind of movement ("deposit", "withdrawal.hold", "escrow.release", ...). */
  kind: string;
  /** The effect, once: a second posting with this key posts nothing (see `duplicate`). */
  effectKey: string;
  description: string;
  legs: readonly Leg[];
  holdId?: string | undefined;
  reference?: Readonly<{ type: string; id: string }> | undefined;
}>;

export type PostingResult = { transactionId: number; duplicate: boolean };

/** The same legs always give the same digest, whatever their order. */
function fingerprintOf(posting: Posting): string {
  const legs = posting.legs.map((leg) => `${accountKey(leg.account)}=${leg.amount}`).sort();
  return createHash('sha256').update(`${posting.kind}\n${legs.join('\n')}`).digest('base64url');
}

function assertBalanced(posting: Posting): void {
  const totals = new Map<string, number>();
  for (const leg of posting.legs) {
    if (!Number.isSafeInteger(leg.amount) || leg.amount === 0) throw new Error(`ledger: leg amount ${leg.amount} is not a non-zero integer`);
    totals.set(leg.account.currency, (totals.get(leg.account.currency) ?? 0) + leg.amount);
  }
  for (const [currency, total] of totals) if (total !== 0) throw new Error(`ledger: ${posting.effectKey} does not balance in ${currency} (${total})`);
}

/**
 * Posts a balanced set of legs once. Locks every account it touches (ascending ids), refuses a
 * debit past zero on an account that may not go negative (409 INSUFFICIENT_FUNDS, before the
 * CHECK would), then writes the transaction, its entries (each with the balance after it) and the
 * new balances. The database re-checks all of it at commit (drizzle/0004_money_invariants.sql).
 */
export async function post(tx: Transaction, posting: Posting): Promise<PostingResult> {
  assertBalanced(posting);
  if (posting.legs.length < 2) throw new Error(`ledger: ${posting.effectKey} needs at least two legs`);
  const accounts = await lockAccounts(tx, posting.legs.map((leg) => leg.account));
  const fingerprint = fingerprintOf(posting);
  const [inserted] = await tx
    .insert(ledgerTransactions)
    .values({
      kind: posting.kind,
      effectKey: posting.effectKey,
      fingerprint,
      description: posting.description,
      holdId: posting.holdId ?? null,
      referenceType: posting.reference?.type ?? null,
      referenceId: posting.reference?.id ?? null,
    })
    .onConflictDoNothing({ target: ledgerTransactions.effectKey })
    .returning({ id: ledgerTransactions.id });
  if (!inserted) {
    const [existing] = await tx
      .select({ id: ledgerTransactions.id, fingerprint: ledgerTransactions.fingerprint })
      .from(ledgerTransactions)
      .where(eq(ledgerTransactions.effectKey, posting.effectKey));
    if (!existing || existing.fingerprint !== fingerprint) throw new LedgerConflictError(posting.effectKey);
    return { transactionId: existing.id, duplicate: true };
  }

  const balances = new Map([...accounts].map(([key, account]) => [key, account.balance]));
  const entries = posting.legs.map((leg) => {
    const key = accountKey(leg.account);
    const account = accounts.get(key);
    if (!account) throw new Error(`ledger account ${key} is not locked`);
    const after = (balances.get(key) ?? 0) + leg.amount;
    if (after < 0 && !account.allowNegative) throw LEDGER_ERRORS.error('INSUFFICIENT_FUNDS');
    balances.set(key, after);
    return { transactionId: inserted.id, accountId: account.id, currency: account.currency, amount: leg.amount, balanceAfter: after };
  });
  const changed = [...accounts.values()].filter((account) => balances.get(account.key) !== account.balance);
  if (changed.length > 0) {
    const rows = sql.join(
      changed.map((account) => sql`(${account.id}::bigint, ${balances.get(account.key) ?? 0}::bigint)`),
      sql`, `,
    );
    await tx.execute(
      sql`update ${ledgerAccounts} set balance = next.balance, updated_at = now()
          from (values ${rows}) as next(id, balance) where ${ledgerAccounts.id} = next.id`,
    );
  }
  await tx.insert(ledgerEntries).values(entries);
  return { transactionId: inserted.id, duplicate: false };
}
