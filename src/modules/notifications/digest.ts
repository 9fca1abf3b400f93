/**
 * The daily email digest: at DIGEST_HOUR_UTC, one email per person listing every notification
 * whose email delivery waits as `digest` (the categories they chose as digest) up to the run's
 * cutoff, then marked sent. Each person in their own transaction, their rows locked (SKIP LOCKED:
 * two runs never send the same digest); a failed send leaves their rows for the next day's run and
 * never stops the others.
 *
 * Bounded: a run is pages of DIGEST_PAGE recipients (keyset by recipient id), one page per job;
 * each page's job sends the next (jobs.ts), so a large user base finishes across jobs, each well
 * within its expiry, instead of one job mailing everyone.
 */
import { and, asc, eq, gt, inArray, lte, sql } from 'drizzle-orm';
import { type Database, notificationDeliveries, notifications, users } from '../../db';
import type { Logger } from '../../lib/logger';
import type { Mailer } from './email';
import { errorText } from './push';

/** One email lists at most this many; the rest go in the next digest. */
const DIGEST_MAX_ITEMS = 200;
/** Recipients per page (one job): at SMTP's pace, minutes at most. */
export const DIGEST_PAGE = 200;

export type DigestPage = {
  /** Emails sent on this page. */
  sent: number;
  /** The last recipient of a full page (the next page starts after it); null: the run is done. */
  next: string | null;
};

export type DigestDeps = {
  /** When the digest is sent (sent_at). */
  now: Date;
  /** The run's cutoff: notifications created up to it are listed (the first page's `now`). */
  cutoff: Date;
  mailer: Mailer;
  logger?: Logger;
  /** The recipient the previous page ended with. */
  after?: string | null;
  pageSize?: number;
};

/** Sends the digests of one page of recipients. */
export async function sendDigestPage(database: Database, deps: DigestDeps): Promise<DigestPage> {
  const { cutoff } = deps;
  const pageSize = deps.pageSize ?? DIGEST_PAGE;
  const waiting = and(eq(notificationDeliveries.status, 'digest'), lte(notificationDeliveries.createdAt, cutoff));
  // notification_deliveries_digest_idx (recipient_id, id) where status = 'digest': in order, so the
  // page stops after pageSize recipients.
  const recipients = await database
    .selectDistinct({ recipientId: notificationDeliveries.recipientId })
    .from(notificationDeliveries)
    .where(and(waiting, deps.after ? gt(notificationDeliveries.recipientId, deps.after) : undefined))
    .orderBy(asc(notificationDeliveries.recipientId))
    .limit(pageSize);
  let sent = 0;
  for (const { recipientId } of recipients) {
    try {
      if (await sendDigestTo(database, recipientId, deps)) sent += 1;
    } catch (error) {
      deps.logger?.error({ err: error, recipientId, error: errorText(error) }, 'digest email failed; kept for the next run');
    }
  }
  const last = recipients.at(-1);
  return { sent, next: recipients.length === pageSize && last ? last.recipientId : null };
}

/** One person's digest; true when an email went out. */
async function sendDigestTo(database: Database, recipientId: string, deps: DigestDeps): Promise<boolean> {
  const { now, cutoff } = deps;
  return database.transaction(async (tx) => {
    const rows = await tx
      .select({ id: notificationDeliveries.id, title: notifications.title, body: notifications.body, at: notifications.createdAt })
      .from(notificationDeliveries)
      .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
      .where(and(eq(notificationDeliveries.recipientId, recipientId), eq(notificationDeliveries.status, 'digest'), lte(notificationDeliveries.createdAt, cutoff)))
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
}
