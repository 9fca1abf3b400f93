/**
 * Each person's event stream: what their sockets are sent (messages created, edited, deleted, read
 * receipts, bounty state changes, notifications), numbered 1, 2, 3... per person. A reconnecting
 * client sends the last number it saw and gets exactly what came after, from here.
 *
 * The numbers are handed out by `user_event_cursors`, whose row stays locked until the writing
 * transaction commits: a person's events commit in number order, so "everything after N" read at
 * any moment has no hole that a slower transaction fills in later.
 */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { type Database, type Transaction, userEventCursors, userEvents } from '../../db';
import { announce, CHANNELS } from './channels';

export const userEventTypes = [
  'message.created',
  'message.edited',
  'message.deleted',
  'conversation.read',
  'conversation.member_joined',
  'bounty.state_changed',
  'notification.created',
] as const;
export type UserEventType = (typeof userEventTypes)[number];

export type StreamEvent = Readonly<{ userId: string; type: UserEventType; data: Record<string, unknown> }>;

/** What a socket is sent for a stored event. */
export type DeliveredEvent = { id: number; type: UserEventType; data: Record<string, unknown>; at: string };

/**
 * Appends events to their people's streams inside `tx` and announces them on commit. Call it once
 * per transaction, at its end: the cursors stay locked until commit, taken in user-id order so
 * two transactions never wait on each other in a circle.
 */
export async function appendUserEvents(tx: Transaction, at: Date, events: readonly StreamEvent[]): Promise<void> {
  if (events.length === 0) return;
  const counts = new Map<string, number>();
  for (const event of events) counts.set(event.userId, (counts.get(event.userId) ?? 0) + 1);
  const userIds = [...counts.keys()].sort();
  const cursors = await tx
    .insert(userEventCursors)
    .values(userIds.map((userId) => ({ userId, lastSeq: counts.get(userId) ?? 0 })))
    .onConflictDoUpdate({ target: userEventCursors.userId, set: { lastSeq: sql`${userEventCursors.lastSeq} + excluded.last_seq` } })
    .returning();
  // The first number each person's events take here.
  const next = new Map(cursors.map((cursor) => [cursor.userId, cursor.lastSeq - (counts.get(cursor.userId) ?? 0) + 1]));
  const rows = events.map((event) => {
    const seq = next.get(event.userId) ?? 1;
    next.set(event.userId, seq + 1);
    return { userId: event.userId, seq, type: event.type, data: event.data, createdAt: at };
  });
  await tx.insert(userEvents).values(rows);
  await announce(tx, CHANNELS.userEvents, userIds);
}

/** A person's events after `afterId`, oldest first. */
export async function eventsAfter(db: Pick<Database, 'select'>, userId: string, afterId: number, limit: number): Promise<DeliveredEvent[]> {
  const rows = await db
    .select()
    .from(userEvents)
    .where(and(eq(userEvents.userId, userId), gt(userEvents.seq, afterId)))
    .orderBy(asc(userEvents.seq))
    .limit(limit);
  return rows.map((row) => ({ id: row.seq, type: row.type as UserEventType, data: row.data, at: row.createdAt.toISOString() }));
}

/** The last number handed out to a person (0 before their first event). */
export async function lastEventId(db: Pick<Database, 'select'>, userId: string): Promise<number> {
  const [row] = await db.select({ lastSeq: userEventCursors.lastSeq }).from(userEventCursors).where(eq(userEventCursors.userId, userId));
  return row?.lastSeq ?? 0;
}

/** The oldest event still kept for a person, or null: a client asking from before it must reload. */
export async function oldestEventId(db: Pick<Database, 'select'>, userId: string): Promise<number | null> {
  const [row] = await db.select({ seq: userEvents.seq }).from(userEvents).where(eq(userEvents.userId, userId)).orderBy(asc(userEvents.seq)).limit(1);
  return row?.seq ?? null;
}

/** Rows one pruning statement deletes: short transactions, bounded memory, WAL in small pieces. */
const PRUNE_BATCH = 5_000;

/**
 * Events older than `before` are dropped (a client that far behind reloads instead of replaying),
 * a batch at a time, as the idempotency cleanup does; returns how many.
 */
export async function pruneUserEvents(db: Pick<Database, 'delete'>, before: Date): Promise<number> {
  let total = 0;
  for (;;) {
    const deleted = await db
      .delete(userEvents)
      .where(
        sql`(${userEvents.userId}, ${userEvents.seq}) in (select "user_id", "seq" from ${userEvents} where "created_at" < ${before.toISOString()}::timestamptz limit ${PRUNE_BATCH})`,
      )
      .returning({ seq: userEvents.seq });
    total += deleted.length;
    if (deleted.length < PRUNE_BATCH) return total;
  }
}
