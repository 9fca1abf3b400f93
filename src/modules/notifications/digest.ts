/**
 * The daily email digest: at DIGEST_HOUR_UTC, one email per person listing every notification
 * whose email delivery waits as `digest` (the categories they chose as digest), then marked sent.
 * Each person in their own transaction, their rows locked (SKIP LOCKED: two runs never send the
 * same digest); a failed send leaves their rows for the next run and never stops the others.
 */
import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import { type Database, notificationDeliveries, notifications, users } from '../../db';
import type { Logger } from '../../lib/logger';
import type { Mailer } from './email';
import { errorText } from './push';

/** One email lists at most this many; the rest go in the next digest. */
const DIGEST_MAX_ITEMS = 200;

export async function sendDigests(database: Database, deps: { now: Date; mailer: Mailer; logger?: Logger }): Promise<number> {
  const { now } = deps;
  const recipients = await database
    .selectDistinct({ recipientId: notificationDeliveries.recipientId })
    .from(notificationDeliveries)
    .where(and(eq(notificationDeliveries.status, 'digest'), lte(notificationDeliveries.createdAt, now)));
  let sent = 0;
  for (const { recipientId } of recipients) {
    try {
      const mailed = await database.transaction(async (tx) => {
        const rows = await tx
          .select({ id: notificationDeliveries.id, title: notifications.title, body: notifications.body, at: notifications.createdAt })
          .from(notificationDeliveries)
          .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
          .where(and(eq(notificationDeliveries.recipientId, recipientId), eq(notificationDeliveries.status, 'digest'), lte(notificationDeliveries.createdAt, now)))
          .orderBy(asc(notificationDeliveries.id))
          .limit(DIGEST_MAX_ITEMS)
          .for('update', { of: notificationDeliveries, skipLocked: true });
        if (rows.length === 0) return false;
        const [user] = await tx.select({ email: users.email }).from(users).where(eq(users.id, recipientId));
        const ids = rows.map((row) => row.id);
        if (user) {
          const lines = rows.map((row) => `- ${row.title}: ${row.body} (${row.at.toISOString().slice(0, 16).replace('T', ' ')} UTC)`);
          await deps.mailer.send({
            to: user.email,
            subject: `Your BOUNTYExpo digest: ${rows.length} update${rows.length === 1 ? '' : 's'}`,
            text: `What happened since your last digest:\n\n${lines.join('\n')}\n\n--\nBOUNTYExpo. Choose what comes as a digest in the app: Settings > Notifications.`,
          });
        }
        await tx
          .update(notificationDeliveries)
          .set({ status: user ? 'sent' : 'skipped', sentAt: user ? now : null, attempts: sql`${notificationDeliveries.attempts} + 1` })
          .where(inArray(notificationDeliveries.id, ids));
        return Boolean(user);
      });
      if (mailed) sent += 1;
    } catch (error) {
      deps.logger?.error({ err: error, recipientId, error: errorText(error) }, 'digest email failed; kept for the next run');
    }
  }
  return sent;
}
