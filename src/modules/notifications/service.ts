/**
 * The in-app feed: a person's notifications newest first (keyset by id), the badge (unseen), and
 * the seen / read marks. Every query names the recipient in its WHERE: another person's
 * notification is the same 404 as one that does not exist.
 */
import { and, count, desc, eq, inArray, isNull, lt, lte, type SQLWrapper, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type Database, type DatabaseSession, type Notification, notificationDeliveries, notifications, selectRows } from '../../db';
import { COMMON_ERRORS } from '../../lib/errors';
import { NOTIFICATIONS_ERRORS } from './errors';
import type { DeadLetterView, NotificationView } from './schemas';

export const toNotificationView = (row: Notification): NotificationView => ({
  id: row.id,
  topic: row.topic,
  category: row.category,
  title: row.title,
  body: row.body,
  subject: { type: row.subjectType, id: row.subjectId },
  data: row.data,
  createdAt: row.createdAt,
  seenAt: row.seenAt,
  readAt: row.readAt,
});

/** Cursors of id-keyed lists are the last id shown, in decimal; anything else was not issued here. */
export function idCursor(raw: string | undefined): number | null {
  if (!raw) return null;
  if (!/^[1-9]\d{0,15}$/.test(raw)) throw COMMON_ERRORS.error('INVALID_CURSOR');
  return Number(raw);
}

type Page<T> = { items: T[]; nextCursor: string | null };

function pageOf<TRow extends { id: number }, TItem>(rows: TRow[], limit: number, toItem: (row: TRow) => TItem): Page<TItem> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(toItem), nextCursor: rows.length > limit && last ? String(last.id) : null };
}

export async function listNotifications(
  db: DatabaseSession,
  userId: string,
  options: { limit: number; cursor: number | null; unreadOnly: boolean },
): Promise<Page<NotificationView>> {
  const rows = await db.read((reader) =>
    reader
      .select()
      .from(notifications)
      .where(
        and(
          eq(notifications.recipientId, userId),
          options.cursor !== null ? lt(notifications.id, options.cursor) : undefined,
          options.unreadOnly ? isNull(notifications.readAt) : undefined,
        ),
      )
      .orderBy(desc(notifications.id))
      .limit(options.limit + 1),
  );
  return pageOf(rows, options.limit, toNotificationView);
}

export async function unseenCount(db: DatabaseSession, userId: string): Promise<number> {
  const [row] = await db.read((reader) =>
    reader.select({ n: count() }).from(notifications).where(and(eq(notifications.recipientId, userId), isNull(notifications.seenAt))),
  );
  return row?.n ?? 0;
}

/**
 * Rows one statement of a bulk mark changes at most: a feed of any length is marked in statements
 * of bounded cost (each its own short transaction), never one that locks every row of it at once.
 */
export const MARK_BATCH = 5_000;

const countRow = z.object({ n: z.number().int() });

/**
 * Runs a bounded UPDATE until a batch changes nothing; returns how many it changed. Only a count
 * comes back per statement (the changed ids stay in the server's CTE). A short batch does not end
 * it: a row another request marked meanwhile is skipped by the recheck and makes a batch short
 * with rows past it still unmarked (an "open one" racing "mark all" stopped it early).
 */
async function markInBatches(db: DatabaseSession, update: (writer: Database) => SQLWrapper): Promise<number> {
  let marked = 0;
  for (;;) {
    const [row] = await db.write((writer) => selectRows(writer, sql`with changed as ${update(writer)} select count(*)::int as n from changed`, countRow));
    const changed = row?.n ?? 0;
    marked += changed;
    if (changed === 0) return marked;
  }
}

/** Everything received up to `now` is seen (the badge clears); later arrivals stay unseen. */
export async function markAllSeen(db: DatabaseSession, userId: string, now: Date, batch = MARK_BATCH): Promise<number> {
  // The conditions are repeated outside the subquery: a row another request marked meanwhile is
  // rechecked against them (READ COMMITTED) and neither changed nor counted twice.
  const unseen = and(eq(notifications.recipientId, userId), isNull(notifications.seenAt), lte(notifications.createdAt, now));
  return markInBatches(db, (writer) =>
    writer
      .update(notifications)
      .set({ seenAt: now })
      .where(and(unseen, inArray(notifications.id, writer.select({ id: notifications.id }).from(notifications).where(unseen).limit(batch))))
      .returning({ id: notifications.id }),
  );
}

/** Opening one: read (and seen). Reading it again keeps the first time. */
export async function markRead(db: DatabaseSession, userId: string, id: number, now: Date): Promise<NotificationView> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(notifications)
      .where(and(eq(notifications.id, id), eq(notifications.recipientId, userId)))
      .for('update');
    if (!row) throw NOTIFICATIONS_ERRORS.error('NOTIFICATION_NOT_FOUND');
    if (row.readAt !== null && row.seenAt !== null) return toNotificationView(row);
    const [updated] = await tx
      .update(notifications)
      .set({ readAt: row.readAt ?? now, seenAt: row.seenAt ?? now })
      .where(eq(notifications.id, id))
      .returning();
    return toNotificationView(updated ?? row);
  });
}

/** Everything received up to `now` is read (and seen: what is read was seen). */
export async function markAllRead(db: DatabaseSession, userId: string, now: Date, batch = MARK_BATCH): Promise<number> {
  // Read implies seen (markRead and this set both), so every unseen row is among the unread ones.
  const unread = and(eq(notifications.recipientId, userId), isNull(notifications.readAt), lte(notifications.createdAt, now));
  return markInBatches(db, (writer) =>
    writer
      .update(notifications)
      .set({ readAt: now, seenAt: sql`coalesce(${notifications.seenAt}, ${now.toISOString()}::timestamptz)` })
      .where(and(unread, inArray(notifications.id, writer.select({ id: notifications.id }).from(notifications).where(unread).limit(batch))))
      .returning({ id: notifications.id }),
  );
}

/** Deliveries that failed for good (push or email past their retries), newest first, for admins. */
export async function listDeadLetters(db: DatabaseSession, options: { limit: number; cursor: number | null }): Promise<Page<DeadLetterView>> {
  const rows = await db.read((reader: Database) =>
    reader
      .select({ delivery: notificationDeliveries, topic: notifications.topic })
      .from(notificationDeliveries)
      .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
      .where(and(eq(notificationDeliveries.status, 'dead'), options.cursor !== null ? lt(notificationDeliveries.id, options.cursor) : undefined))
      .orderBy(desc(notificationDeliveries.id))
      .limit(options.limit + 1),
  );
  return pageOf(
    rows.map((row) => ({ ...row, id: row.delivery.id })),
    options.limit,
    ({ delivery, topic }) => ({
      id: delivery.id,
      notificationId: delivery.notificationId,
      recipientId: delivery.recipientId,
      topic,
      channel: delivery.channel,
      status: delivery.status,
      attempts: delivery.attempts,
      lastError: delivery.lastError === null ? null : delivery.lastError.slice(0, 2000),
      createdAt: delivery.createdAt,
    }),
  );
}
