/**
 * Email through SMTP (nodemailer), from config: SMTP_URL (smtp:// or smtps:// with credentials)
 * and MAIL_FROM; in dev and tests the local SMTP server (src/dev/smtp-local). A failed send throws:
 * the job is retried with backoff, and past its last retry the delivery is `dead`.
 *
 * At least once: a crash between the SMTP server's acceptance and the `sent` mark sends the mail
 * again on retry (SMTP has no idempotency key); everything before it is exactly once.
 */
import { and, eq, sql } from 'drizzle-orm';
import nodemailer from 'nodemailer';
import type { NotificationSettings } from '../../config/env';
import { type Database, notificationDeliveries, notifications, users } from '../../db';

export type Mail = { to: string; subject: string; text: string };
export type Mailer = { send(mail: Mail): Promise<void> };

/** Bounds on one SMTP exchange, so a hung server fails the attempt instead of the job's expiry. */
const SMTP_TIMEOUT_MS = 15_000;

const transports = new Map<string, Mailer>();

/** One SMTP transport per (URL, sender) per process. */
export function smtpMailer(settings: Pick<NotificationSettings, 'smtpUrl' | 'mailFrom'>): Mailer {
  const key = `${settings.smtpUrl.href} ${settings.mailFrom}`;
  const existing = transports.get(key);
  if (existing) return existing;
  const transport = nodemailer.createTransport({
    url: settings.smtpUrl.href,
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
  });
  const mailer: Mailer = {
    async send(mail) {
      await transport.sendMail({ from: settings.mailFrom, to: mail.to, subject: mail.subject, text: mail.text });
    },
  };
  transports.set(key, mailer);
  return mailer;
}

const FOOTER = '\n\n--\nBOUNTYExpo. Choose what reaches you by email in the app: Settings > Notifications.';

export type EmailOutcome = 'sent' | 'not_pending' | 'no_address';

export async function sendEmail(database: Database, deliveryId: number, deps: { now: Date; mailer: Mailer }): Promise<EmailOutcome> {
  const [row] = await database
    .select({ status: notificationDeliveries.status, title: notifications.title, body: notifications.body, email: users.email })
    .from(notificationDeliveries)
    .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
    .leftJoin(users, eq(users.id, notificationDeliveries.recipientId))
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.channel, 'email')));
  if (!row || row.status !== 'pending') return 'not_pending';
  if (!row.email) {
    // The account is gone: nobody to write to.
    await database.update(notificationDeliveries).set({ status: 'skipped' }).where(eq(notificationDeliveries.id, deliveryId));
    return 'no_address';
  }
  await database.update(notificationDeliveries).set({ attempts: sql`${notificationDeliveries.attempts} + 1` }).where(eq(notificationDeliveries.id, deliveryId));
  await deps.mailer.send({ to: row.email, subject: row.title, text: `${row.body}${FOOTER}` });
  await database
    .update(notificationDeliveries)
    .set({ status: 'sent', sentAt: deps.now, lastError: null })
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.status, 'pending')));
  return 'sent';
}
