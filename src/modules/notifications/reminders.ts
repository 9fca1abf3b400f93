/**
 * Unread-message reminders. Sending a message owes each other member a reminder once it waited
 * UNREAD_REMINDER_MIN (an `unread_reminders` row, written by the conversations module with
 * `oweUnreadReminder`; reading deletes it). Every minute, the rows due by `now` are taken (SKIP
 * LOCKED: two workers never take the same), and a member who still has unread messages gets a
 * `conversation.unread_reminder` outbox event (push and email by their preferences). The row goes
 * either way: one reminder per unread stretch.
 */
import { and, asc, count, eq, gt, isNull, lte, ne, or } from 'drizzle-orm';
import type { ConversationSettings } from '../../config/env';
import { bounties, conversationMembers, conversations, type Database, messages, type Transaction, unreadReminders } from '../../db';
import { type OutboxMessage, recordEvents } from '../outbox';

/**
 * Owes `userId` a reminder for `conversationId` from a message sent at `sentAt`. An earlier one
 * still owed is kept (the reminder counts from the first unread message).
 */
export async function oweUnreadReminder(
  tx: Transaction,
  input: { conversationId: string; userId: string; sentAt: Date },
  settings: Pick<ConversationSettings, 'unreadReminderMinutes'>,
): Promise<void> {
  const dueAt = new Date(input.sentAt.getTime() + settings.unreadReminderMinutes * 60_000);
  await tx.insert(unreadReminders).values({ conversationId: input.conversationId, userId: input.userId, dueAt }).onConflictDoNothing();
}

const BATCH = 100;

/** Unread messages of a member: after their last read one, not their own, not deleted. */
async function unreadCount(tx: Transaction, conversationId: string, userId: string): Promise<number> {
  const [member] = await tx
    .select({ lastRead: conversationMembers.lastReadMessageId })
    .from(conversationMembers)
    .where(and(eq(conversationMembers.conversationId, conversationId), eq(conversationMembers.userId, userId)));
  if (!member) return 0;
  const [row] = await tx
    .select({ n: count() })
    .from(messages)
    .where(
      and(
        eq(messages.conversationId, conversationId),
        gt(messages.id, member.lastRead),
        isNull(messages.deletedAt),
        or(isNull(messages.senderId), ne(messages.senderId, userId)),
      ),
    );
  return row?.n ?? 0;
}

/** Sends the reminders due by `now`; returns how many were sent and how many were no longer owed. */
export async function sendUnreadReminders(database: Database, deps: { now: Date }): Promise<{ reminded: number; dropped: number }> {
  const { now } = deps;
  const totals = { reminded: 0, dropped: 0 };
  for (;;) {
    const taken = await database.transaction(async (tx) => {
      const due = await tx
        .select()
        .from(unreadReminders)
        .where(lte(unreadReminders.dueAt, now))
        .orderBy(asc(unreadReminders.dueAt))
        .limit(BATCH)
        .for('update', { skipLocked: true });
      const events: OutboxMessage[] = [];
      for (const reminder of due) {
        const unread = await unreadCount(tx, reminder.conversationId, reminder.userId);
        await tx
          .delete(unreadReminders)
          .where(and(eq(unreadReminders.conversationId, reminder.conversationId), eq(unreadReminders.userId, reminder.userId)));
        if (unread === 0) {
          totals.dropped += 1;
          continue;
        }
        const [about] = await tx
          .select({ bountyId: bounties.id, title: bounties.title })
          .from(conversations)
          .innerJoin(bounties, eq(bounties.id, conversations.bountyId))
          .where(eq(conversations.id, reminder.conversationId));
        events.push({
          topic: 'conversation.unread_reminder',
          recipientId: reminder.userId,
          subject: { type: 'conversation', id: reminder.conversationId },
          payload: { conversationId: reminder.conversationId, unreadCount: unread, bountyId: about?.bountyId ?? null, title: about?.title ?? null },
        });
        totals.reminded += 1;
      }
      await recordEvents(tx, now, events);
      return due.length;
    });
    if (taken < BATCH) return totals;
  }
}
