/**
 * The fan-out of one outbox event, in ONE transaction: the event row locked, skipped once
 * delivered; the outbox's other readers (analytics) given the event; the feed's notification
 * (unique per event and recipient); one delivery per channel as the recipient's preferences say
 * (unique per notification and channel); the push and email
 * jobs of the pending deliveries enqueued in this same transaction; the event marked delivered; a
 * `notification.created` event on the recipient's stream. A crash anywhere leaves nothing behind,
 * and a second run (a retry, a duplicate job, the sweep) finds the event delivered: a person is
 * notified once per event, whatever the queue does.
 */
import { eq } from 'drizzle-orm';
import { type Database, type DeliveryStatus, notificationDeliveries, notifications, outboxEvents, pushDevices } from '../../db';
import type { JobQueue } from '../../jobs';
import type { Logger } from '../../lib/logger';
import type { OutboxConsumer } from '../outbox';
import { appendUserEvents } from '../realtime/stream';
import { NOTIFICATION_CATALOG } from './catalog';
import { EMAIL_JOB, PUSH_JOB } from './names';
import { settingsFor } from './preferences';
import { toNotificationView } from './service';

/**
 * The first `max` UTF-16 units of `text`, never ending on half a character: a cut emoji's lone
 * first half would be stored (and pushed, and mailed) as a replacement character.
 */
export function cutTo(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

export type DispatchOutcome = 'dispatched' | 'already_delivered' | 'no_notification' | 'unknown_topic' | 'missing';

/** The outbox's other readers (analytics), and the logger they report their own failures to. */
export type OutboxReaders = Readonly<{ consumers: readonly OutboxConsumer[]; logger: Logger }>;

export type DispatchDeps = { now: Date; jobs: Pick<JobQueue, 'send'>; readers?: OutboxReaders };

export async function dispatchEvent(database: Database, eventId: number, deps: DispatchDeps): Promise<DispatchOutcome> {
  const { now } = deps;
  return database.transaction(async (tx) => {
    // A plain lock: a concurrent dispatch of the same event waits, then finds it delivered.
    const [event] = await tx.select().from(outboxEvents).where(eq(outboxEvents.id, eventId)).for('update');
    if (!event) return 'missing';
    if (event.deliveredAt !== null) return 'already_delivered';
    // The other readers take the event with its delivery: once, whatever the queue does.
    const readers = deps.readers;
    if (readers) for (const consume of readers.consumers) await consume(tx, event, { now, logger: readers.logger });
    const entry = NOTIFICATION_CATALOG[event.topic];
    if (!entry || entry.category === null) {
      await tx.update(outboxEvents).set({ deliveredAt: now }).where(eq(outboxEvents.id, event.id));
      return entry ? 'no_notification' : 'unknown_topic';
    }
    const { title, body } = entry.render(event.payload);
    const [created] = await tx
      .insert(notifications)
      .values({
        eventId: event.id,
        recipientId: event.recipientId,
        topic: event.topic,
        category: entry.category,
        title: cutTo(title, 200),
        body: cutTo(body, 1000),
        subjectType: event.subjectType,
        subjectId: event.subjectId,
        data: event.payload,
        createdAt: now,
      })
      .onConflictDoNothing({ target: [notifications.eventId, notifications.recipientId] })
      .returning();
    if (created) {
      const settings = await settingsFor(tx, event.recipientId, entry.category);
      const devices = settings.push === 'on' ? await tx.select({ token: pushDevices.token }).from(pushDevices).where(eq(pushDevices.userId, event.recipientId)).limit(1) : [];
      const pushStatus: DeliveryStatus = settings.push === 'on' && devices.length > 0 ? 'pending' : 'skipped';
      const emailStatus: DeliveryStatus = settings.email === 'on' ? 'pending' : settings.email === 'digest' ? 'digest' : 'skipped';
      const deliveries = await tx
        .insert(notificationDeliveries)
        .values([
          { notificationId: created.id, recipientId: event.recipientId, channel: 'push' as const, status: pushStatus, createdAt: now },
          { notificationId: created.id, recipientId: event.recipientId, channel: 'email' as const, status: emailStatus, createdAt: now },
        ])
        .onConflictDoNothing({ target: [notificationDeliveries.notificationId, notificationDeliveries.channel] })
        .returning({ id: notificationDeliveries.id, channel: notificationDeliveries.channel, status: notificationDeliveries.status });
      for (const delivery of deliveries) {
        if (delivery.status !== 'pending') continue;
        await deps.jobs.send(delivery.channel === 'push' ? PUSH_JOB : EMAIL_JOB, { deliveryId: delivery.id }, { tx });
      }
    }
    await tx.update(outboxEvents).set({ deliveredAt: now }).where(eq(outboxEvents.id, event.id));
    if (created) {
      const view = toNotificationView(created);
      await appendUserEvents(tx, now, [
        { userId: event.recipientId, type: 'notification.created', data: { ...view, createdAt: view.createdAt.toISOString(), seenAt: null, readAt: null } },
      ]);
    }
    return 'dispatched';
  });
}
