/**
 * Blocks, write and list side: a person blocks or unblocks someone, and reads whom they blocked.
 * What a block does is decided by the one check beside this file (check.ts: "either blocked"),
 * read by chat, bounties (canSee, browse) and reviews; nothing here repeats it.
 *
 * Blocking twice is not an error: the second call returns the block that exists (200 instead of
 * 201), so a client retrying a lost response cannot tell the difference and need not care.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import { type DatabaseSession, profiles, type Transaction, userBlocks, users } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { BLOCKS_ERRORS } from './errors';

export type BlockView = { userId: string; name: string | null; createdAt: Date };

/** The name a block is listed with: the profile's display name, else the account's. */
const nameSql = sql<string | null>`coalesce(${profiles.displayName}, ${users.name})`;

async function blockView(tx: Transaction, blockerId: string, blockedId: string): Promise<BlockView | null> {
  const [row] = await tx
    .select({ userId: userBlocks.blockedId, name: nameSql, createdAt: userBlocks.createdAt })
    .from(userBlocks)
    .leftJoin(users, eq(users.id, userBlocks.blockedId))
    .leftJoin(profiles, eq(profiles.userId, userBlocks.blockedId))
    .where(and(eq(userBlocks.blockerId, blockerId), eq(userBlocks.blockedId, blockedId)));
  return row ?? null;
}

/**
 * `blockerId` blocks `blockedId`: 422 for oneself, 404 for no such account. `created` is false
 * when the block existed already (it is returned as it was).
 */
export async function blockUser(db: DatabaseSession, blockerId: string, blockedId: string, now: Date): Promise<{ block: BlockView; created: boolean }> {
  if (blockerId === blockedId) throw BLOCKS_ERRORS.error('CANNOT_BLOCK_SELF');
  return db.transaction(async (tx) => {
    const [exists] = await tx.select({ id: users.id }).from(users).where(eq(users.id, blockedId));
    if (!exists) throw BLOCKS_ERRORS.error('BLOCKED_USER_NOT_FOUND');
    const inserted = await tx
      .insert(userBlocks)
      .values({ blockerId, blockedId, createdAt: now })
      .onConflictDoNothing()
      .returning({ blockedId: userBlocks.blockedId });
    const block = await blockView(tx, blockerId, blockedId);
    if (!block) throw new Error(`the block of ${blockedId} by ${blockerId} vanished`);
    return { block, created: inserted.length > 0 };
  });
}

/** Lifts a block; false when there was none (404). */
export async function unblockUser(db: DatabaseSession, blockerId: string, blockedId: string): Promise<boolean> {
  const deleted = await db.write((writer) =>
    writer
      .delete(userBlocks)
      .where(and(eq(userBlocks.blockerId, blockerId), eq(userBlocks.blockedId, blockedId)))
      .returning({ blockedId: userBlocks.blockedId }),
  );
  return deleted.length > 0;
}

/** Whom `blockerId` blocked, newest first, keyset on (created_at, blocked id) over user_blocks_blocker_created_idx. */
export async function listBlocks(db: DatabaseSession, blockerId: string, options: { limit: number; cursor: KeysetCursor | null }) {
  const { cursor } = options;
  const rows = await db.read((reader) =>
    reader
      .select({ userId: userBlocks.blockedId, name: nameSql, createdAt: userBlocks.createdAt, cursorAt: sql<string>`${userBlocks.createdAt}::text` })
      .from(userBlocks)
      .leftJoin(users, eq(users.id, userBlocks.blockedId))
      .leftJoin(profiles, eq(profiles.userId, userBlocks.blockedId))
      .where(
        and(
          eq(userBlocks.blockerId, blockerId),
          cursor ? sql`(${userBlocks.createdAt}, ${userBlocks.blockedId}) < (${cursor.t}::timestamptz, ${cursor.i})` : undefined,
        ),
      )
      .orderBy(desc(userBlocks.createdAt), desc(userBlocks.blockedId))
      .limit(options.limit + 1),
  );
  return keysetPage(rows, options.limit, ({ userId, name, createdAt }) => ({ userId, name, createdAt }), (row) => ({ t: row.cursorAt, i: row.userId }));
}
