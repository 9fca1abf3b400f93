/**
 * What a reader is shown of messages and conversations. Members see a deleted message, or one a
 * moderator removed (hidden_at), without its text; admins (moderation, disputes) see the text and
 * every message's edit history.
 */
import { and, asc, type Column, eq, getTableName, inArray, type SQL, sql } from 'drizzle-orm';
import {
  bountyRequests,
  bounties,
  type Conversation,
  conversationMembers,
  conversations,
  type Database,
  type Message,
  messageEdits,
  messages,
  profiles,
  type UserRole,
  users,
} from '../../db';
import type { ConversationView, MemberView, MessageView } from './schemas';

export type Reader = Pick<Database, 'select'>;

/** A signed-in person. */
export type ChatActor = Readonly<{ id: string; role: UserRole }>;

export const isAdmin = (actor: ChatActor): boolean => actor.role === 'admin';

type Edit = NonNullable<MessageView['edits']>[number];

/** A message as a member sees it (what the stream events carry); removed by a moderator reads as deleted. */
export function memberView(message: Message): MessageView {
  const removedAt = message.deletedAt ?? message.hiddenAt;
  const deleted = removedAt !== null;
  return {
    id: message.id,
    conversationId: message.conversationId,
    senderId: message.senderId,
    kind: message.kind,
    body: deleted ? null : message.body,
    links: deleted ? [] : message.links,
    clientMessageId: message.clientMessageId,
    systemEvent: message.systemEvent,
    createdAt: message.createdAt,
    editedAt: message.editedAt,
    deleted,
    deletedAt: removedAt,
  };
}

/** An admin's view: the text even once deleted, and what it said before each edit. */
export const adminView = (message: Message, edits: Edit[]): MessageView => ({ ...memberView(message), body: message.body, links: message.links, edits });

/** The messages as `viewer` sees them (admins get the edit history, read in one query). */
export async function viewsFor(db: Reader, viewer: ChatActor, rows: Message[]): Promise<MessageView[]> {
  if (!isAdmin(viewer) || rows.length === 0) return rows.map(memberView);
  const edits = await db
    .select()
    .from(messageEdits)
    .where(inArray(messageEdits.messageId, rows.map((row) => row.id)))
    .orderBy(asc(messageEdits.messageId), asc(messageEdits.id));
  const byMessage = new Map<number, Edit[]>();
  for (const edit of edits) {
    const list = byMessage.get(edit.messageId) ?? [];
    list.push({ body: edit.previousBody, links: edit.previousLinks, editedAt: edit.editedAt });
    byMessage.set(edit.messageId, list);
  }
  return rows.map((row) => adminView(row, byMessage.get(row.id) ?? []));
}

/**
 * A column with its table's name: drizzle leaves names bare in a one-table SELECT, where a
 * correlated subquery's `"conversation_id"` would then mean its own table's column.
 */
export const q = (column: Column): SQL => sql`${sql.identifier(getTableName(column.table))}.${sql.identifier(column.name)}`;

/**
 * Messages not sent by the member after their last read one (deleted or removed ones do not count), for the
 * member row in scope: a correlated count over messages_conversation_id_idx.
 */
export const unreadSql = sql<number>`(select count(*)::int from ${messages} where ${q(messages.conversationId)} = ${q(conversationMembers.conversationId)} and ${q(messages.id)} > ${q(conversationMembers.lastReadMessageId)} and ${q(messages.senderId)} is distinct from ${q(conversationMembers.userId)} and ${q(messages.deletedAt)} is null and ${q(messages.hiddenAt)} is null)`;

/**
 * Whether the hunter may still write: a live (pending or accepted) request, or the bounty's hunter
 * (in progress, submitted, disputed, completed). A rejected or withdrawn hunter's thread is read-only.
 */
export const openSql: SQL<boolean> = sql<boolean>`(${q(bounties.hunterId)} is not distinct from ${q(conversations.hunterId)} or exists (select 1 from ${bountyRequests} where ${q(bountyRequests.bountyId)} = ${q(conversations.bountyId)} and ${q(bountyRequests.hunterId)} = ${q(conversations.hunterId)} and ${q(bountyRequests.status)} in ('pending', 'accepted')))`;

/** A conversation `viewer` may read: theirs, or any for an admin. */
export const readableBy = (viewer: ChatActor): SQL | undefined =>
  isAdmin(viewer)
    ? undefined
    : sql`exists (select 1 from ${conversationMembers} where ${q(conversationMembers.conversationId)} = ${q(conversations.id)} and ${q(conversationMembers.userId)} = ${viewer.id})`;

/** The conversations' views, in the order of `ids` (missing ones left out). */
export async function conversationViews(db: Reader, viewer: ChatActor, ids: string[]): Promise<ConversationView[]> {
  if (ids.length === 0) return [];
  const heads = await db
    .select({ conversation: conversations, bounty: { id: bounties.id, title: bounties.title, state: bounties.state }, open: openSql })
    .from(conversations)
    .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
    .where(inArray(conversations.id, ids));
  const members = await db
    .select({
      member: conversationMembers,
      name: sql<string | null>`coalesce(${profiles.displayName}, ${users.name})`,
      unread: unreadSql,
    })
    .from(conversationMembers)
    .leftJoin(profiles, eq(profiles.userId, conversationMembers.userId))
    .leftJoin(users, eq(users.id, conversationMembers.userId))
    .where(inArray(conversationMembers.conversationId, ids));
  const lastIds = heads.map((head) => head.conversation.lastMessageId).filter((id): id is number => id !== null);
  const lastRows = lastIds.length > 0 ? await db.select().from(messages).where(inArray(messages.id, lastIds)) : [];
  const lastViews = new Map((await viewsFor(db, viewer, lastRows)).map((view) => [view.id, view]));

  const byId = new Map(heads.map((head) => [head.conversation.id, head]));
  return ids.flatMap((id) => {
    const head = byId.get(id);
    if (!head) return [];
    const own = members.filter((row) => row.member.conversationId === id);
    const mine = own.find((row) => row.member.userId === viewer.id);
    return [toConversationView(head.conversation, head.bounty, head.open, own.map((row) => toMemberView(row.member, row.name)), {
      myRole: mine?.member.role ?? null,
      unreadCount: mine?.unread ?? 0,
      lastMessage: head.conversation.lastMessageId === null ? null : (lastViews.get(head.conversation.lastMessageId) ?? null),
    })];
  });
}

const ROLE_ORDER = { poster: 0, hunter: 1, admin: 2 } as const;

const toMemberView = (member: typeof conversationMembers.$inferSelect, name: string | null): MemberView => ({
  userId: member.userId,
  name,
  role: member.role,
  lastReadMessageId: member.lastReadMessageId,
  joinedAt: member.joinedAt,
});

function toConversationView(
  conversation: Conversation,
  bounty: ConversationView['bounty'],
  open: boolean,
  members: MemberView[],
  mine: Pick<ConversationView, 'myRole' | 'unreadCount' | 'lastMessage'>,
): ConversationView {
  return {
    id: conversation.id,
    bounty,
    members: members.sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.joinedAt.getTime() - b.joinedAt.getTime()),
    myRole: mine.myRole,
    readOnly: !open,
    lastMessage: mine.lastMessage,
    lastMessageAt: conversation.lastMessageAt,
    unreadCount: mine.unreadCount,
    createdAt: conversation.createdAt,
  };
}

/** The member rows of a conversation (who a new message's events go to). */
export function membersOf(db: Reader, conversationId: string) {
  return db.select().from(conversationMembers).where(eq(conversationMembers.conversationId, conversationId));
}

/** A message `viewer` may see: in a conversation of theirs, or any for an admin. */
export async function visibleMessage(db: Reader, viewer: ChatActor, messageId: number): Promise<Message | null> {
  const [row] = await db
    .select({ message: messages })
    .from(messages)
    .innerJoin(conversations, eq(conversations.id, messages.conversationId))
    .where(and(eq(messages.id, messageId), readableBy(viewer)));
  return row?.message ?? null;
}
