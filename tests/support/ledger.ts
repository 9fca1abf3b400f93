/**
 * Ledger helpers for tests: a database of the test cluster, money put into a wallet the way a
 * deposit would (the ledger's own posting function), and balances read from the primary.
 */
import { and, eq } from 'drizzle-orm';
import { type AccountKind, DatabaseCluster, ledgerAccounts } from '../../src/db';
import { createLogger } from '../../src/lib/logger';
import { creditFromStripe } from '../../src/modules/ledger';
import { testConfig } from './harness';

export async function openTestDatabase(): Promise<DatabaseCluster> {
  const config = testConfig();
  return DatabaseCluster.open(config.database, createLogger({ level: 'silent' }));
}

let fundings = 0;
/** Credits `amount` to a user's available balance as a deposit would. */
export async function fund(database: DatabaseCluster, userId: string, amount: number, currency = 'usd'): Promise<void> {
  fundings += 1;
  const key = `test-funding:${userId}:${Date.now()}:${fundings}:${Math.random()}`;
  await database.primary.transaction((tx) =>
    creditFromStripe(tx, { userId, amount, currency, effectKey: key, description: 'Test funding', reference: { type: 'test', id: key } }),
  );
}

/** A user-owned account's balance on the primary (0 when it was never opened). */
export async function balanceOf(database: DatabaseCluster, userId: string, kind: AccountKind = 'available', currency = 'usd'): Promise<number> {
  const [row] = await database.primary
    .select({ balance: ledgerAccounts.balance })
    .from(ledgerAccounts)
    .where(and(eq(ledgerAccounts.ownerType, 'user'), eq(ledgerAccounts.ownerId, userId), eq(ledgerAccounts.kind, kind), eq(ledgerAccounts.currency, currency)));
  return row?.balance ?? 0;
}

export const randomUserId = (label: string): string => `${label}_${crypto.randomUUID().replaceAll('-', '')}`;
