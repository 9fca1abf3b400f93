/**
 * The ledger's self-check: every cached balance equals the sum of its account's entries, every
 * transaction sums to zero per currency. The triggers keep both true at every commit; this finds
 * what they could not (a trigger dropped by hand, a restore gone wrong) and runs as a periodic job.
 */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, selectRows } from '../../db';

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
