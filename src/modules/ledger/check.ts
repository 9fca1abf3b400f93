/**
 * The ledger's self-check: every cached balance equals the sum of its account's entries, every
 * transaction sums to zero per currency. The triggers keep both true at every commit; this finds
 * what they could not (a trigger dropped by hand, a restore gone wrong) and runs as a periodic job.
 */
import { desc, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, ledgerChecks, selectRows } from '../../db';
import type { Logger } from '../../lib/logger';

const mismatchRow = z.object({ account_id: z.coerce.number(), cached: z.coerce.number(), summed: z.coerce.number() });
const unbalancedRow = z.object({ transaction_id: z.coerce.number(), currency: z.string(), total: z.coerce.number() });

export type LedgerCheck = {
  balanceMismatches: Array<{ accountId: number; cached: number; summed: number }>;
  unbalancedTransactions: Array<{ transactionId: number; currency: string; total: number }>;
};

export async function checkLedger(db: Database): Promise<LedgerCheck> {
  const [mismatches, unbalanced] = await Promise.all([
    selectRows(
      db,
      sql`select a.id as account_id, a.balance as cached, coalesce(sum(e.amount), 0) as summed
          from ledger_accounts a left join ledger_entries e on e.account_id = a.id
          group by a.id having a.balance <> coalesce(sum(e.amount), 0)`,
      mismatchRow,
    ),
    selectRows(
      db,
      sql`select transaction_id, currency, sum(amount) as total from ledger_entries
          group by transaction_id, currency having sum(amount) <> 0`,
      unbalancedRow,
    ),
  ]);
  return {
    balanceMismatches: mismatches.map((row) => ({ accountId: row.account_id, cached: row.cached, summed: row.summed })),
    unbalancedTransactions: unbalanced.map((row) => ({ transactionId: row.transaction_id, currency: row.currency, total: row.total })),
  };
}

/** Runs the check, records it (for /metrics) and logs any mismatch at error level. */
export async function runLedgerCheck(db: Database, logger: Logger): Promise<LedgerCheck> {
  const result = await checkLedger(db);
  await db.insert(ledgerChecks).values({ balanceMismatches: result.balanceMismatches.length, unbalancedTransactions: result.unbalancedTransactions.length });
  if (result.balanceMismatches.length > 0 || result.unbalancedTransactions.length > 0) {
    logger.error({ ...result }, 'ledger check: cached balances or transactions do not match their entries');
  } else {
    logger.info('ledger check: every balance matches its entries');
  }
  return result;
}

/** The latest check, for /metrics (null before the first). */
export async function latestLedgerCheck(db: Database) {
  const [row] = await db.select().from(ledgerChecks).orderBy(desc(ledgerChecks.id)).limit(1);
  return row ?? null;
}
