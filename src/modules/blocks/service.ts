/**
 * Blocks, write and list side: a person blocks or unblocks someone, and reads whom they blocked.
 * What a block does is decided by the one check beside this file (check.ts: "either blocked"),
 * read by chat, bounties (canSee, browse) and reviews; nothing here repeats it.
 *
 * Blocking twice is not an error: the second call returns the block that exists (200 instead of
 * 201), so a client retrying a lost response cannot tell the difference and need not care.
 */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { type DatabaseSession, profiles, type Transaction, userBlocks, users } from '../../db';
import { COMMON_ERRORS } from '../../lib/errors';
import { userIdSchema } from '../../lib/validation';
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

/** A page of the block list: the last blocked id shown, opaque to clients. */
export const encodeBlocksCursor = (blockedId: string): string => Buffer.from(blockedId, 'utf8').toString('base64url');

/** The `?cursor=` of GET /blocks: null when absent, 422 INVALID_CURSOR when not one we issued. */
export function blocksCursorFromQuery(raw: string | undefined): string | null {
  if (!raw) return null;
  const parsed = userIdSchema.safeParse(Buffer.from(raw, 'base64url').toString('utf8'));
  if (!parsed.success) throw COMMON_ERRORS.error('INVALID_CURSOR');
  return parsed.data;
}

/**
 * Whom `blockerId` blocked, in the order user_blocks_pkey (blocker_id, blocked_id) gives: by the
 * blocked person's id, a stable order that walks the key. (Newest first needs an index on
 * (blocker_id, created_at desc); until there is one, a list sorted by time would sort every block.)
 */
export async function listBlocks(db: DatabaseSession, blockerId: string, options: { limit: number; after: string | null }) {
  const rows = await db.read((reader) =>
    reader
      .select({ userId: userBlocks.blockedId, name: nameSql, createdAt: userBlocks.createdAt })
      .from(userBlocks)
      .leftJoin(users, eq(users.id, userBlocks.blockedId))
      .leftJoin(profiles, eq(profiles.userId, userBlocks.blockedId))
      .where(and(eq(userBlocks.blockerId, blockerId), options.after !== null ? gt(userBlocks.blockedId, options.after) : undefined))
      .orderBy(asc(userBlocks.blockedId))
      .limit(options.limit + 1),
  );
  const shown = rows.slice(0, options.limit);
  const last = shown.at(-1);
  return { items: shown, nextCursor: rows.length > options.limit && last ? encodeBlocksCursor(last.userId) : null };
}
