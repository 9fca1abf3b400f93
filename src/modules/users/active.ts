/**
 * The account a piece of new work belongs to, locked for the work's transaction. A ban locks the
 * same row for update (src/modules/admin/accounts.ts), so the two happen one after the other: an
 * application or a publish that commits first is withdrawn or cancelled by the ban, one that comes
 * second is refused. Without it, work whose session check passed just before a ban could commit
 * just after the ban read the account's open work, and stay.
 */
import { eq } from 'drizzle-orm';
import { type Transaction, users } from '../../db';
import { isBanActive } from '../../lib/auth';
import { COMMON_ERRORS } from '../../lib/errors';

/** Whether the account exists; 403 USER_BANNED while a ban is in force. */
export async function lockActiveAccount(tx: Transaction, userId: string, now: Date): Promise<boolean> {
  const [account] = await tx.select({ banned: users.banned, banExpires: users.banExpires }).from(users).where(eq(users.id, userId)).for('share');
  if (account && isBanActive(account, now)) throw COMMON_ERRORS.error('USER_BANNED');
  return account !== undefined;
}
