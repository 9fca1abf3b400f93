/**
 * Conversations, write side: send, edit, delete, read, an admin joining. Each is one transaction
 * whose side effects commit with it: the members' stream events (appendUserEvents, once, at the
 * end: it holds their cursors until commit), the outbox event for the other members and their
 * unread reminders.
 *
 * Message ids of a conversation are handed out under its row lock (SELECT ... FOR UPDATE, then the
 * insert), so they commit in id order: a reader paging `after` the last id it saw never misses one.
 * Lock order everywhere: bounty, conversation(s, in id order), member rows, event cursors.
 */
import { messageSentEvent } from '../analytics/events';
import { actorOf, recordAudit } from '../audit/service';
import { and, asc, eq, inArray, isNull, lt, or, type SQL, sql } from 'drizzle-orm';
import type { ConversationSettings, RiskSettings } from '../../config/env';
import {
  type BountyState,
  bounties,
  bountyRequests,
  type Conversation,
  type ConversationMember,
  conversationMembers,
  conversations,
  type DatabaseSession,
  type Message,
  messageEdits,
  messages,
  type RequestCloseReason,
  type Transaction,
  unreadReminders,
} from '../../db';
import { eitherBlocked } from '../blocks/check';
import { type OutboxMessage, recordEvents } from '../outbox';
import type { TypingAudience, TypingRefusal } from '../realtime/hub';
import { appendUserEvents, type StreamEvent } from '../realtime/stream';
import { type RiskWarning, warnOffPlatform } from '../risk/service';
import { CONVERSATIONS_ERRORS } from './errors';
import type { ConversationView, MessageView } from './schemas';
import { unreadCountFor } from './service';
import { type ChatActor, conversationViews, memberView, membersOf, openSql, q, readableBy, visibleMessage } from './views';

const PREVIEW_CHARS = 140;

export type Locked = { conversation: Conversation; bountyState: BountyState; open: boolean; members: ConversationMember[] };

/** Locks the conversation (when `viewer` may read it) and reads what a write checks. */
async function lockConversation(tx: Transaction, where: SQL | undefined, viewer: ChatActor | null): Promise<Locked | null> {
  const [row] = await tx
    .select({ conversation: conversations, bountyState: bounties.state, open: openSql })
    .from(conversations)
    .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
    .where(and(where, viewer ? readableBy(viewer) : undefined))
    .for('update', { of: conversations });
  if (!row) return null;
  return { ...row, members: await membersOf(tx, row.conversation.id) };
}

/**
 * Locks several conversations in id order (FOR UPDATE under ORDER BY locks rows as sorted), so two
 * transactions locking overlapping sets never wait on each other in a circle; members in one query.
 */
async function lockConversations(tx: Transaction, where: SQL | undefined): Promise<Locked[]> {
  const rows = await tx
    .select({ conversation: conversations, bountyState: bounties.state, open: openSql })
    .from(conversations)
    .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
    .where(where)
    .orderBy(asc(conversations.id))
    .for('update', { of: conversations });
  if (rows.length === 0) return [];
  const members = await tx
    .select()
    .from(conversationMembers)
    .where(inArray(conversationMembers.conversationId, rows.map((row) => row.conversation.id)));
  const byConversation = new Map<string, ConversationMember[]>();
  for (const member of members) byConversation.set(member.conversationId, [...(byConversation.get(member.conversationId) ?? []), member]);
  return rows.map((row) => ({ ...row, members: byConversation.get(row.conversation.id) ?? [] }));
}

const messageEvents = (type: 'message.created' | 'message.edited' | 'message.deleted', members: readonly ConversationMember[], message: Message): StreamEvent[] => {
  const data = { conversationId: message.conversationId, message: memberView(message) };
  return members.map((member) => ({ userId: member.userId, type, data }));
};

/**
 * What follows every new message: the conversation's last message and everyone's activity move
 * on; for a person's message, the others owe a reminder (the earliest one kept) and hear of it
 * through the outbox. Returns the stream events for the caller to append once.
 */
async function afterPost(tx: Transaction, locked: Locked, message: Message, now: Date, settings: ConversationSettings | null): Promise<StreamEvent[]> {
  const id = locked.conversation.id;
  await tx.update(conversations).set({ lastMessageId: message.id, lastMessageAt: message.createdAt }).where(eq(conversations.id, id));
  await tx.update(conversationMembers).set({ activityAt: now }).where(eq(conversationMembers.conversationId, id));
  const others = locked.members.filter((member) => member.userId !== message.senderId);
  if (settings && message.kind === 'text' && others.length > 0) {
    const dueAt = new Date(now.getTime() + settings.unreadReminderMinutes * 60_000);
    await tx
      .insert(unreadReminders)
      .values(others.map((member) => ({ conversationId: id, userId: member.userId, dueAt })))
      .onConflictDoNothing();
    const outbox: OutboxMessage[] = others.map((member) => ({
      topic: 'message.created',
      recipientId: member.userId,
      subject: { type: 'conversation', id },
      payload: { messageId: message.id, senderId: message.senderId, preview: message.body.slice(0, PREVIEW_CHARS) },
    }));
    const { bountyId, posterId, hunterId } = locked.conversation;
    if (message.senderId !== null) outbox.push(messageSentEvent({ senderId: message.senderId, conversationId: id, bountyId, posterId, hunterId }));
    await recordEvents(tx, now, outbox);
  }
  return messageEvents('message.created', locked.members, message);
}

/**
 * A system message (a bounty transition, an admin joining) in a locked conversation. `causedBy`
 * is whoever's action it reports (null for a timer): their own action is no news to them.
 */
export async function postSystemMessage(
  tx: Transaction,
  locked: Locked,
  input: { body: string; systemEvent: string; causedBy: string | null },
  now: Date,
): Promise<StreamEvent[]> {
  const [message] = await tx
    .insert(messages)
    .values({ conversationId: locked.conversation.id, senderId: null, kind: 'system', body: input.body, systemEvent: input.systemEvent, createdAt: now })
    .returning();
  if (!message) throw new Error('insert into messages returned no row');
  // The transition's own outbox events tell people; a system message owes no reminder.
  const posted = await afterPost(tx, locked, message, now, null);
  return [...posted, ...(input.causedBy ? await readOwnSystemMessage(tx, locked, message, input.causedBy) : [])];
}

/**
 * The member who caused a system message has read it: their read mark moves forward to it, in the
 * same transaction, so their unread count never counts their own action (the others' does). Only
 * when no text from the others is unread before it: one mark per member cannot skip a message, and
 * moving it would silently mark as read what someone wrote them. Earlier unread system messages do
 * not hold it back: the actor acted on the bounty as it now is. Returns the read receipt's events
 * (every member, as markRead sends them), or none when the mark stayed.
 */
async function readOwnSystemMessage(tx: Transaction, locked: Locked, message: Message, userId: string): Promise<StreamEvent[]> {
  if (!locked.members.some((member) => member.userId === userId)) return [];
  const conversationId = locked.conversation.id;
  const [moved] = await tx
    .update(conversationMembers)
    .set({ lastReadMessageId: message.id })
    .where(
      and(
        eq(conversationMembers.conversationId, conversationId),
        eq(conversationMembers.userId, userId),
        lt(conversationMembers.lastReadMessageId, message.id),
        sql`not exists (select 1 from ${messages} where ${q(messages.conversationId)} = ${conversationId} and ${q(messages.id)} > ${q(conversationMembers.lastReadMessageId)} and ${q(messages.id)} < ${message.id} and ${q(messages.kind)} = 'text' and ${q(messages.senderId)} is distinct from ${userId} and ${q(messages.deletedAt)} is null)`,
      ),
    )
    .returning({ lastReadMessageId: conversationMembers.lastReadMessageId });
  if (!moved) return [];
  const data = { conversationId, userId, lastReadMessageId: moved.lastReadMessageId };
  return locked.members.map((member) => ({ userId: member.userId, type: 'conversation.read', data }));
}

/**
 * The conversations of a bounty a transition speaks to, locked in id order (the bounty is already
 * locked: bounty, conversations, member rows, cursors): the one with `hunterId` (the bounty's
 * hunter before or after it), and every applicant's whose request is live (pending or accepted)
 * or was closed by this very transition (`closedReason`, stamped `closedAt`). Never the threads of
 * requests closed earlier: a bounty's history of applicants only grows, its live ones do not.
 */
export function lockTransitionConversations(
  tx: Transaction,
  input: { bountyId: string; hunterId: string | null; closedReason: RequestCloseReason; closedAt: Date },
): Promise<Locked[]> {
  const { bountyId, hunterId, closedReason, closedAt } = input;
  const applicant = sql`exists (select 1 from ${bountyRequests} where ${q(bountyRequests.bountyId)} = ${q(conversations.bountyId)} and ${q(bountyRequests.hunterId)} = ${q(conversations.hunterId)} and (${q(bountyRequests.status)} in ('pending', 'accepted') or (${q(bountyRequests.closedReason)} = ${closedReason} and ${q(bountyRequests.updatedAt)} = ${closedAt.toISOString()}::timestamptz)))`;
  const hunters = hunterId ? or(eq(conversations.hunterId, hunterId), applicant) : applicant;
  return lockConversations(tx, and(eq(conversations.bountyId, bountyId), hunters));
}

/** Why a write is refused (the socket's typing is refused the same way). */
export type WriteRefusal = TypingRefusal;

/**
 * Why `actorId` may not write (a message, or typing) in a conversation in this state, or null:
 * not a member, read-only, or a block within the pair (poster, hunter); an admin who joined is
 * not part of the pair. The one rule for sends, edits and the socket's typing frames.
 */
export async function writeRefusal(db: Pick<Transaction, 'select'>, state: Pick<Locked, 'open' | 'members'>, actorId: string): Promise<WriteRefusal | null> {
  const me = state.members.find((member) => member.userId === actorId);
  if (!me) return 'NOT_A_MEMBER';
  if (!state.open) return 'CONVERSATION_CLOSED';
  if (me.role !== 'admin') {
    for (const other of state.members) {
      if (other.userId !== me.userId && other.role !== 'admin' && (await eitherBlocked(db, me.userId, other.userId))) return 'USER_BLOCKED';
    }
  }
  return null;
}

/**
 * Who hears `userId` typing: the other members, when they may write there (the socket's typing
 * frames; nothing is written, so nothing is locked).
 */
export const typingAudience: TypingAudience = async (db, conversationId, userId) => {
  const [row] = await db
    .select({ open: openSql })
    .from(conversations)
    .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
    .where(eq(conversations.id, conversationId));
  if (!row) return { refusal: 'NOT_A_MEMBER' };
  const state = { open: row.open, members: await membersOf(db, conversationId) };
  const refusal = await writeRefusal(db, state, userId);
  return refusal ? { refusal } : { to: state.members.map((member) => member.userId).filter((id) => id !== userId) };
};

/** Refuses a write `writeRefusal` finds: not a member (403), read-only (409), blocked (403). */
async function assertCanWrite(tx: Transaction, locked: Locked, actor: ChatActor): Promise<void> {
  const refusal = await writeRefusal(tx, locked, actor.id);
  if (refusal === 'CONVERSATION_CLOSED') throw CONVERSATIONS_ERRORS.error(refusal, undefined, [{ path: 'bounty.state', message: locked.bountyState }]);
  if (refusal) throw CONVERSATIONS_ERRORS.error(refusal);
}

export type NewMessage = { text: string; links?: string[] | undefined; clientMessageId: string };
/** `warning`: the message asked to contact or pay off the platform (it was sent all the same). */
export type Sent = { message: MessageView; created: boolean; warning: RiskWarning | null };

const findByClientId = async (tx: Transaction, conversationId: string, senderId: string, clientMessageId: string) =>
  (
    await tx
      .select()
      .from(messages)
      .where(and(eq(messages.conversationId, conversationId), eq(messages.senderId, senderId), eq(messages.clientMessageId, clientMessageId)))
  )[0];

/**
 * Sends a message. The same clientMessageId again (a retry, or a duplicate racing this one) gets
 * the first message back with `created: false`, never a second: duplicates queue on the
 * conversation's lock and then find the first; the unique constraint is the backstop.
 *
 * A member's message that shows off-platform contact or payment is counted by the risk rules and
 * answered with a warning (the sender is also notified, at most once a day); it is sent all the
 * same. Staff's messages are not judged.
 */
export async function sendMessage(
  db: DatabaseSession,
  settings: ConversationSettings,
  actor: ChatActor,
  conversationId: string,
  input: NewMessage,
  now: Date,
  risk: RiskSettings,
): Promise<Sent> {
  return db.transaction(async (tx) => {
    const locked = await lockConversation(tx, eq(conversations.id, conversationId), actor);
    if (!locked) throw CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
    const earlier = await findByClientId(tx, conversationId, actor.id, input.clientMessageId);
    if (earlier) return { message: memberView(earlier), created: false, warning: null };
    await assertCanWrite(tx, locked, actor);
    const [message] = await tx
      .insert(messages)
      .values({
        conversationId,
        senderId: actor.id,
        kind: 'text',
        body: input.text,
        links: input.links ?? [],
        clientMessageId: input.clientMessageId,
        createdAt: now,
      })
      .onConflictDoNothing({ target: [messages.conversationId, messages.senderId, messages.clientMessageId] })
      .returning();
    if (!message) {
      const first = await findByClientId(tx, conversationId, actor.id, input.clientMessageId);
      if (!first) throw new Error('a conflicting message vanished');
      return { message: memberView(first), created: false, warning: null };
    }
    const warning =
      actor.role === 'user'
        ? await warnOffPlatform(tx, { settings: risk, userId: actor.id, messageId: message.id, text: message.body ?? '', links: message.links, now })
        : null;
    await appendUserEvents(tx, now, await afterPost(tx, locked, message, now, settings));
    return { message: memberView(message), created: true, warning };
  });
}

/** Why a change to a message was refused, once the statement changed nothing. */
async function whyNotMine(tx: Transaction, actor: ChatActor, messageId: number): Promise<Message> {
  const message = await visibleMessage(tx, actor, messageId);
  if (!message) throw CONVERSATIONS_ERRORS.error('MESSAGE_NOT_FOUND');
  if (message.senderId !== actor.id) throw CONVERSATIONS_ERRORS.error('NOT_YOUR_MESSAGE');
  return message;
}

/**
 * Edits one's own text message within the edit window; the previous text joins its history. The
 * new text is judged as a sent one is (a member's off-platform contact is counted and warned,
 * the notification at most once a day): an edit is no way around the warning.
 */
export async function editMessage(
  db: DatabaseSession,
  settings: ConversationSettings,
  actor: ChatActor,
  messageId: number,
  input: { text: string; links?: string[] | undefined },
  now: Date,
  risk: RiskSettings,
): Promise<{ message: MessageView; warning: RiskWarning | null }> {
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(messages)
      .where(and(eq(messages.id, messageId), eq(messages.senderId, actor.id)))
      .for('update');
    const message = current ?? (await whyNotMine(tx, actor, messageId));
    // A message a moderator removed stays removed: its author cannot bring it back by editing.
    if (message.deletedAt || message.hiddenAt) throw CONVERSATIONS_ERRORS.error('MESSAGE_DELETED', message.hiddenAt ? 'The message was removed by a moderator' : undefined);
    const windowEnds = message.createdAt.getTime() + settings.editWindowMinutes * 60_000;
    if (now.getTime() > windowEnds) {
      throw CONVERSATIONS_ERRORS.error('EDIT_WINDOW_CLOSED', `A message can be edited for ${settings.editWindowMinutes} minutes after it was sent`, [
        { path: 'createdAt', message: message.createdAt.toISOString() },
      ]);
    }
    const [conversation] = await tx
      .select({ conversation: conversations, bountyState: bounties.state, open: openSql })
      .from(conversations)
      .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
      .where(eq(conversations.id, message.conversationId));
    if (!conversation) throw new Error(`conversation ${message.conversationId} vanished`);
    const locked: Locked = { ...conversation, members: await membersOf(tx, message.conversationId) };
    await assertCanWrite(tx, locked, actor);
    await tx.insert(messageEdits).values({ messageId, previousBody: message.body, previousLinks: message.links, editedAt: now });
    const [edited] = await tx
      .update(messages)
      .set({ body: input.text, links: input.links ?? message.links, editedAt: now })
      .where(and(eq(messages.id, messageId), eq(messages.senderId, actor.id), isNull(messages.deletedAt)))
      .returning();
    if (!edited) throw new Error(`message ${messageId} changed under its lock`);
    const warning =
      actor.role === 'user'
        ? await warnOffPlatform(tx, { settings: risk, userId: actor.id, messageId: edited.id, text: edited.body ?? '', links: edited.links, now })
        : null;
    await appendUserEvents(tx, now, messageEvents('message.edited', locked.members, edited));
    return { message: memberView(edited), warning };
  });
}

/**
 * Deletes one's own message softly: members then see it without its text, admins still read it
 * (evidence in a dispute). Deleting it again changes nothing.
 */
export async function deleteMessage(db: DatabaseSession, actor: ChatActor, messageId: number, now: Date): Promise<MessageView> {
  return db.transaction(async (tx) => {
    const [deleted] = await tx
      .update(messages)
      .set({ deletedAt: now })
      .where(and(eq(messages.id, messageId), eq(messages.senderId, actor.id), eq(messages.kind, 'text'), isNull(messages.deletedAt)))
      .returning();
    if (!deleted) return memberView(await whyNotMine(tx, actor, messageId));
    await appendUserEvents(tx, now, messageEvents('message.deleted', await membersOf(tx, deleted.conversationId), deleted));
    return memberView(deleted);
  });
}

export type ReadResult = { conversationId: string; lastReadMessageId: number; unreadCount: number };

/**
 * Marks the conversation read up to a message of it. Never backwards: an older id (a slow device)
 * leaves the mark where it is. Read up to the last message, the reader's reminder is dropped.
 */
export async function markRead(db: DatabaseSession, actor: ChatActor, conversationId: string, lastReadMessageId: number, now: Date): Promise<ReadResult> {
  return db.transaction(async (tx) => {
    const [me] = await tx
      .select()
      .from(conversationMembers)
      .where(and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, actor.id)))
      .for('update');
    if (!me) {
      const [readable] = await tx.select({ id: conversations.id }).from(conversations).where(and(eq(conversations.id, conversationId), readableBy(actor)));
      throw readable ? CONVERSATIONS_ERRORS.error('NOT_A_MEMBER') : CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
    }
    const [message] = await tx
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.id, lastReadMessageId), eq(messages.conversationId, conversationId)));
    if (!message) throw CONVERSATIONS_ERRORS.error('UNKNOWN_MESSAGE', undefined, [{ path: 'lastReadMessageId', message: String(lastReadMessageId) }]);

    let events: StreamEvent[] = [];
    if (lastReadMessageId > me.lastReadMessageId) {
      await tx
        .update(conversationMembers)
        .set({ lastReadMessageId })
        .where(and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, actor.id)));
      const data = { conversationId, userId: actor.id, lastReadMessageId };
      events = (await membersOf(tx, conversationId)).map((member) => ({ userId: member.userId, type: 'conversation.read', data }));
    }
    const position = Math.max(lastReadMessageId, me.lastReadMessageId);
    const unreadCount = await unreadCountFor(tx, conversationId, actor.id);
    // Nothing left unread: no reminder is owed any more.
    if (unreadCount === 0) await tx.delete(unreadReminders).where(and(eq(unreadReminders.conversationId, conversationId), eq(unreadReminders.userId, actor.id)));
    await appendUserEvents(tx, now, events);
    return { conversationId, lastReadMessageId: position, unreadCount };
  });
}

/**
 * An admin joins a disputed bounty's conversation (shown as `admin` among its members) with a
 * system message saying so; joining again changes nothing.
 */
export async function joinConversation(
  db: DatabaseSession,
  actor: ChatActor,
  conversationId: string,
  note: string | null,
  now: Date,
  requestId: string | null = null,
): Promise<ConversationView> {
  return db.transaction(async (tx) => {
    const [found] = await tx.select({ bountyId: conversations.bountyId }).from(conversations).where(and(eq(conversations.id, conversationId), readableBy(actor)));
    if (!found) throw CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
    // The bounty first (the engine's lock order), shared: a ruling waits for the join, not the reverse.
    const [bounty] = await tx.select({ state: bounties.state }).from(bounties).where(eq(bounties.id, found.bountyId)).for('share');
    const locked = await lockConversation(tx, eq(conversations.id, conversationId), actor);
    if (!bounty || !locked) throw CONVERSATIONS_ERRORS.error('CONVERSATION_NOT_FOUND');
    if (!locked.members.some((member) => member.userId === actor.id)) {
      if (bounty.state !== 'disputed') throw CONVERSATIONS_ERRORS.error('NOT_DISPUTED', `The bounty is ${bounty.state}: an admin joins only a disputed one`, [{ path: 'bounty.state', message: bounty.state }]);
      const [joined] = await tx
        .insert(conversationMembers)
        .values({ conversationId, userId: actor.id, role: 'admin', activityAt: now, joinedAt: now })
        .returning();
      if (!joined) throw new Error('insert into conversation_members returned no row');
      const members = [...locked.members, joined];
      const withAdmin: Locked = { ...locked, members };
      const body = `An admin joined the conversation to help settle the dispute${note ? `: ${note}` : ''}`;
      const posted = await postSystemMessage(tx, withAdmin, { body, systemEvent: 'conversation.admin_joined', causedBy: actor.id }, now);
      await recordAudit(tx, {
        actor: actorOf(actor),
        action: 'conversation.join',
        targetId: conversationId,
        reason: note ?? 'Joined to help settle the dispute',
        after: { bountyId: found.bountyId, members: members.length },
        requestId,
      });
      const joinedEvents: StreamEvent[] = members.map((member) => ({
        userId: member.userId,
        type: 'conversation.member_joined',
        data: { conversationId, member: { userId: actor.id, role: 'admin' } },
      }));
      await appendUserEvents(tx, now, [...joinedEvents, ...posted]);
    }
    const [view] = await conversationViews(tx, actor, [conversationId]);
    if (!view) throw new Error(`conversation ${conversationId} vanished`);
    return view;
  });
}

