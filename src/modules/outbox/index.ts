/**
 * The outbox: what each person should be told, written in the same transaction as what caused it
 * (a bounty transition, a request, a message, a money move, a review, a reminder), so an event
 * exists exactly when its cause committed. Its ids are announced on commit; the notifications
 * module's jobs fan each event out to the feed, push and email, and to the other readers of the
 * outbox (analytics), and mark it delivered.
 */
import { asc, eq } from 'drizzle-orm';
import { type Database, type OutboxEvent, outboxEvents, type Transaction } from '../../db';
import type { Logger } from '../../lib/logger';
import { announce, CHANNELS } from '../realtime/channels';

export type OutboxMessage = Readonly<{
  topic: string;
  recipientId: string;
  subject: { type: string; id: string };
  payload?: Record<string, unknown>;
}>;

/**
 * A reader of every outbox event beside the notifications (analytics): the dispatch calls it in its
 * own transaction before marking the event delivered, so it takes each event once, with the
 * delivery. It must not throw for a failure of its own: a notification is never held back by it.
 */
export type OutboxConsumer = (tx: Transaction, event: OutboxEvent, context: { now: Date; logger: Logger }) => Promise<void>;

/** Writes the events inside the caller's transaction; `at` is the caller's clock. */
export async function recordEvents(tx: Transaction, at: Date, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  const written = await tx.insert(outboxEvents).values(
    messages.map((message) => ({
      topic: message.topic,
      recipientId: message.recipientId,
      subjectType: message.subject.type,
      subjectId: message.subject.id,
      payload: message.payload ?? {},
      createdAt: at,
    })),
  ).returning({ id: outboxEvents.id });
  await announce(tx, CHANNELS.outbox, written.map((row) => row.id));
}

/** A recipient's events, oldest first (tests; the notifications feed will page them). */
export function eventsFor(db: Pick<Database, 'select'>, recipientId: string): Promise<OutboxEvent[]> {
  return db.select().from(outboxEvents).where(eq(outboxEvents.recipientId, recipientId)).orderBy(asc(outboxEvents.id));
}
