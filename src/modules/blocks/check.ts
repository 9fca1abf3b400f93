/**
 * The one block check: whether either of two people blocked the other (user_blocks). Chat reads it
 * as an SQL condition inside its own statements or as a call over a transaction; the trust issue
 * adds the routes that write blocks, and every other check of a block goes through here.
 */
import { and, eq, or, type SQL, sql } from 'drizzle-orm';
import { type Database, userBlocks } from '../../db';

type Reader = Pick<Database, 'select'>;

/** `exists` a block between `a` and `b` either way: columns, placeholders or values. */
export function eitherBlockedSql(a: SQL | string, b: SQL | string): SQL {
  // Qualified by hand: drizzle leaves names bare in a one-table SELECT, which would shadow `a` and `b`.
  const blocker = sql.raw('"user_blocks"."blocker_id"');
  const blocked = sql.raw('"user_blocks"."blocked_id"');
  return sql`exists (select 1 from ${userBlocks} where (${blocker} = ${a} and ${blocked} = ${b}) or (${blocker} = ${b} and ${blocked} = ${a}))`;
}

/** Whether `a` blocked `b` or `b` blocked `a` (two primary-key lookups). */
export async function eitherBlocked(db: Reader, a: string, b: string): Promise<boolean> {
  if (a === b) return false;
  const [row] = await db
    .select({ blockerId: userBlocks.blockerId })
    .from(userBlocks)
    .where(or(and(eq(userBlocks.blockerId, a), eq(userBlocks.blockedId, b)), and(eq(userBlocks.blockerId, b), eq(userBlocks.blockedId, a))))
    .limit(1);
  return row !== undefined;
}
