/**
 * Conversations, read side, and their creation with a request. Who may read is part of each
 * statement's WHERE (see posts/service.ts): a conversation one is not a member of is the same 404
 * as one that does not exist; admins read any (moderation, disputes).
 */
import { and, asc, desc, eq, gt, lt, lte, type SQL, sql } from 'drizzle-orm';
import { conversationMembers, conversations, type DatabaseSession, type Message, messages, type Transaction } from '../../db';
import { type KeysetCursor, keysetPage } from '../../lib/validation';
import { CONVERSATIONS_ERRORS } from './errors';
import type { ConversationView, MessageView } from './schemas';
import { type ChatActor, conversationViews, type Reader, readableBy, unreadSql, viewsFor } from './views';

export type Page<T> = { items: T[]; nextCursor: string | null };

/** My conversations, newest activity first, walking conversation_members_user_activity_idx. */
export async function listConversations(db: DatabaseSession, viewer: ChatActor, options: { limit: number; cursor: KeysetCursor | null }): Promise<Page<ConversationView>> {
  const { cursor, limit } = options;
  return db.read(async (reader) => {
    const rows = await reader
      .select({ id: conversationMembers.conversationId, cursorAt: sql<string>`${conversationMembers.activityAt}::text` })
      .from(conversationMembers)
      .where(
        and(
          eq(conversationMembers.userId, viewer.id),
          cursor ? sql`(${conversationMembers.activityAt}, ${conversationMembers.conversationId}) < (${cursor.t}::timestamptz, ${cursor.i}::uuid)` : undefined,
        ),
      )
      // NULLS LAST as the index says (drizzle's .desc() there): a plain DESC would not match it.
      .orderBy(sql`${conversationMembers.activityAt} desc nulls last`, sql`${conversationMembers.conversationId} desc nulls last`)
      .limit(limit + 1);
    const page = keysetPage(rows, limit, (row) => row.id, (row) => ({ t: row.cursorAt, i: row.id }));
    return { items: await conversationViews(reader, viewer, page.items), nextCursor: page.nextCursor };
  });
}

/** One conversation, or 404 when the viewer may not read it. */
export async function getConversation(db: DatabaseSession, viewer: ChatActor, conversationId: string): Promise<ConversationView> {
  return db.read(async (reader) => {
    await assertReadable(reader, viewer, conversationId);
    const [view] = await conversationViews(reader, viewer, [conversationId]);
    if (!view) throw CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
    return view;
  });
}

export async function assertReadable(db: Reader, viewer: ChatActor, conversationId: string): Promise<void> {
  const [found] = await db.select({ id: conversations.id }).from(conversations).where(and(eq(conversations.id, conversationId), readableBy(viewer)));
  if (!found) throw CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
}

export type UnreadSummary = { total: number; conversations: Array<{ conversationId: string; unreadCount: number }> };

/** My unread messages (not sent by me) per conversation with any, and in total. */
export async function unreadSummary(db: DatabaseSession, viewer: ChatActor): Promise<UnreadSummary> {
  const rows = await db.read((reader) =>
    reader
      .select({ conversationId: conversationMembers.conversationId, unreadCount: unreadSql })
      .from(conversationMembers)
      .where(eq(conversationMembers.userId, viewer.id)),
  );
  const unread = rows.filter((row) => row.unreadCount > 0);
  return { total: unread.reduce((sum, row) => sum + row.unreadCount, 0), conversations: unread.slice(0, 1000) };
}

/** A member's unread count in one conversation (0 when not a member): for reminders and read receipts. */
export async function unreadCountFor(db: Reader, conversationId: string, userId: string): Promise<number> {
  const [row] = await db
    .select({ unread: unreadSql })
    .from(conversationMembers)
    .where(and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, userId)));
  return row?.unread ?? 0;
}

// --- Messages, keyset by id --------------------------------------------------------------------

export type MessageAnchor = { before: number } | { after: number } | { around: number } | null;
export type MessagePage = { items: MessageView[]; nextBefore: number | null; nextAfter: number | null };

/**
 * A page of messages, always oldest first. Ids are handed out under the conversation's row lock
 * and commit in id order (messages.ts), so `after` the last id seen never skips one that commits later.
 */
export async function listMessages(db: DatabaseSession, viewer: ChatActor, conversationId: string, anchor: MessageAnchor, limit: number): Promise<MessagePage> {
  return db.read(async (reader) => {
    await assertReadable(reader, viewer, conversationId);
    const inConversation = eq(messages.conversationId, conversationId);
    const older = (condition: SQL | undefined, take: number) =>
      reader.select().from(messages).where(and(inConversation, condition)).orderBy(desc(messages.id)).limit(take);
    const newer = (condition: SQL, take: number) =>
      reader.select().from(messages).where(and(inConversation, condition)).orderBy(asc(messages.id)).limit(take);
    const exists = async (condition: SQL) =>
      (await reader.select({ id: messages.id }).from(messages).where(and(inConversation, condition)).limit(1)).length > 0;

    let rows: Message[];
    let moreBefore: boolean;
    let moreAfter: boolean;
    if (anchor === null || 'before' in anchor) {
      const found = await older(anchor ? lt(messages.id, anchor.before) : undefined, limit + 1);
      moreBefore = found.length > limit;
      rows = found.slice(0, limit).reverse();
      const last = rows.at(-1);
      moreAfter = anchor !== null && last !== undefined && (await exists(gt(messages.id, last.id)));
    } else if ('after' in anchor) {
      const found = await newer(gt(messages.id, anchor.after), limit + 1);
      moreAfter = found.length > limit;
      rows = found.slice(0, limit);
      const first = rows[0];
      moreBefore = first !== undefined && (await exists(lt(messages.id, first.id)));
    } else {
      // The anchor and what led to it, then what followed: the older half takes the odd one.
      const olderCount = Math.ceil(limit / 2);
      const upTo = await older(lte(messages.id, anchor.around), olderCount + 1);
      const from = await newer(gt(messages.id, anchor.around), limit - Math.min(upTo.length, olderCount) + 1);
      moreBefore = upTo.length > olderCount;
      const head = upTo.slice(0, olderCount).reverse();
      const tail = from.slice(0, limit - head.length);
      moreAfter = from.length > tail.length;
      rows = [...head, ...tail];
    }
    const items = await viewsFor(reader, viewer, rows);
    return {
      items,
      nextBefore: moreBefore ? (rows[0]?.id ?? null) : null,
      nextAfter: moreAfter ? (rows.at(-1)?.id ?? null) : null,
    };
  });
}

// --- Created with the request ------------------------------------------------------------------

/**
 * The conversation of (bounty, hunter), created with the hunter's first request with its two
 * members; a later request of the same hunter on the same bounty reuses it. Inside the apply's
 * transaction, so a request never exists without its conversation.
 */
export async function openConversation(tx: Transaction, input: { bountyId: string; posterId: string; hunterId: string; now: Date }): Promise<string> {
  const { bountyId, posterId, hunterId, now } = input;
  const [created] = await tx
    .insert(conversations)
    .values({ bountyId, posterId, hunterId, createdAt: now })
    .onConflictDoNothing({ target: [conversations.bountyId, conversations.hunterId] })
    .returning({ id: conversations.id });
  const id =
    created?.id ??
    (await tx.select({ id: conversations.id }).from(conversations).where(and(eq(conversations.bountyId, bountyId), eq(conversations.hunterId, hunterId))))[0]?.id;
  if (!id) throw new Error(`conversation of bounty ${bountyId} and hunter ${hunterId} vanished`);
  await tx
    .insert(conversationMembers)
    .values([
      { conversationId: id, userId: posterId, role: 'poster', activityAt: now, joinedAt: now },
      { conversationId: id, userId: hunterId, role: 'hunter', activityAt: now, joinedAt: now },
    ])
    .onConflictDoNothing();
  return id;
}
