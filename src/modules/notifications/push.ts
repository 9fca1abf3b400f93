/**
 * Push through Expo (expo-server-sdk): the delivery's devices in chunks of at most 100, each
 * ticket stored (push_tickets) with its receipt due 15 minutes later. 429 and 5xx throw: the job is
 * retried with backoff, and past its last retry the delivery is `dead` (and the job a dead letter).
 * The receipts job asks Expo about due tickets and removes devices answered `DeviceNotRegistered`.
 *
 * At least once, per device. An attempt skips the devices that already have a stored ticket for
 * the delivery, so a retry after a chunk Expo refused does not resend the chunks stored before it.
 * A device can still get the same push twice: when Expo accepted a chunk but its tickets were not
 * stored (the database failed, or the worker died, in between), the retry sends that chunk again;
 * and when an attempt outlives its expiry, pg-boss starts the retry while the first attempt may
 * still be sending (nothing here stops on the job's signal), so both can send to the same devices.
 *
 * The SDK reads EXPO_BASE_URL once, when it is imported: it is imported here only, lazily, after
 * EXPO_BASE_URL is set from the app's config (a local Expo server in dev and tests).
 */
import { and, asc, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import type { Expo, ExpoPushMessage, ExpoPushReceipt, ExpoPushTicket } from 'expo-server-sdk';
import type { NotificationSettings } from '../../config/env';
import { type Database, notificationDeliveries, notifications, pushDevices, pushTickets } from '../../db';
import type { Logger } from '../../lib/logger';

export type ExpoClient = Pick<Expo, 'chunkPushNotifications' | 'sendPushNotificationsAsync' | 'chunkPushNotificationReceiptIds' | 'getPushNotificationReceiptsAsync'>;

/** Expo keeps receipts about a day; they are ready within minutes. */
export const RECEIPT_DELAY_MS = 15 * 60 * 1000;
const RECEIPT_GIVE_UP_MS = 24 * 60 * 60 * 1000;
const DEVICE_NOT_REGISTERED = 'DeviceNotRegistered';

let sdk: Promise<typeof import('expo-server-sdk')> | null = null;
let sdkBaseUrl: string | null = null;

/** An Expo client for these settings (the SDK is imported on first use, pointed at expoBaseUrl). */
export async function expoClient(settings: Pick<NotificationSettings, 'expoBaseUrl' | 'expoAccessToken'>): Promise<ExpoClient> {
  const baseUrl = settings.expoBaseUrl ? settings.expoBaseUrl.href.replace(/\/+$/, '') : null;
  if (!sdk) {
    if (baseUrl) process.env.EXPO_BASE_URL = baseUrl;
    else delete process.env.EXPO_BASE_URL;
    sdkBaseUrl = baseUrl;
    sdk = import('expo-server-sdk');
  } else if (sdkBaseUrl !== baseUrl) {
    // One process, one Expo endpoint: the SDK cannot be re-imported with another.
    throw new Error(`expo-server-sdk is already loaded for ${sdkBaseUrl ?? 'https://exp.host'}; cannot also send to ${baseUrl ?? 'https://exp.host'}`);
  }
  const { Expo: ExpoSdk } = await sdk;
  return new ExpoSdk(settings.expoAccessToken ? { accessToken: settings.expoAccessToken } : {});
}

export type PushOutcome = 'sent' | 'not_pending' | 'no_devices';

/** The error text kept on a delivery (bounded: it is shown to admins). */
export const errorText = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error)).slice(0, 2000);

/**
 * Records a failed attempt; on the last one the delivery is dead (an admin sees it). Either way
 * the caller rethrows, so the queue retries or dead-letters the job.
 */
export async function recordFailure(database: Database, deliveryId: number, error: unknown, lastAttempt: boolean): Promise<void> {
  await database
    .update(notificationDeliveries)
    .set({ lastError: errorText(error), ...(lastAttempt ? { status: 'dead' as const } : {}) })
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.status, 'pending')));
}

/** A delivery whose job was dead-lettered is dead (an admin sees it), unless it went out meanwhile. */
export async function markDead(database: Database, deliveryId: number): Promise<void> {
  await database
    .update(notificationDeliveries)
    .set({ status: 'dead' })
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.status, 'pending')));
}

export async function sendPush(database: Database, deliveryId: number, deps: { now: Date; expo: ExpoClient; logger?: Logger }): Promise<PushOutcome> {
  const { now, expo } = deps;
  const [row] = await database
    .select({ delivery: notificationDeliveries, notification: notifications })
    .from(notificationDeliveries)
    .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.channel, 'push')));
  if (!row || row.delivery.status !== 'pending') return 'not_pending';
  const { notification } = row;
  await database.update(notificationDeliveries).set({ attempts: sql`${notificationDeliveries.attempts} + 1` }).where(eq(notificationDeliveries.id, deliveryId));
  const devices = await database.select({ token: pushDevices.token }).from(pushDevices).where(eq(pushDevices.userId, notification.recipientId));
  const ticketed = new Set(
    (await database.select({ token: pushTickets.token }).from(pushTickets).where(eq(pushTickets.deliveryId, deliveryId))).map((ticket) => ticket.token),
  );
  const targets = devices.map((device) => device.token).filter((token) => !ticketed.has(token));
  if (targets.length === 0 && ticketed.size === 0) {
    // Every device was removed since dispatch: nothing to send to.
    await database.update(notificationDeliveries).set({ status: 'skipped' }).where(eq(notificationDeliveries.id, deliveryId));
    return 'no_devices';
  }
  const messages: ExpoPushMessage[] = targets.map((token) => ({
    to: token,
    title: notification.title,
    body: notification.body,
    sound: 'default',
    data: { notificationId: notification.id, topic: notification.topic, subject: { type: notification.subjectType, id: notification.subjectId } },
  }));
  for (const chunk of expo.chunkPushNotifications(messages)) {
    // Throws on 429 (after the SDK's own short retries) and 5xx: the job's retry sends what is left.
    const tickets = await expo.sendPushNotificationsAsync(chunk);
    await storeTickets(database, deliveryId, chunk, tickets, now);
  }
  await database
    .update(notificationDeliveries)
    .set({ status: 'sent', sentAt: now, lastError: null })
    .where(and(eq(notificationDeliveries.id, deliveryId), eq(notificationDeliveries.status, 'pending')));
  deps.logger?.debug({ deliveryId, devices: targets.length }, 'push sent');
  return 'sent';
}

async function storeTickets(database: Database, deliveryId: number, chunk: ExpoPushMessage[], tickets: ExpoPushTicket[], now: Date): Promise<void> {
  const rows: Array<typeof pushTickets.$inferInsert> = [];
  const unregistered: string[] = [];
  chunk.forEach((message, index) => {
    const ticket = tickets[index];
    const token = typeof message.to === 'string' ? message.to : (message.to[0] ?? '');
    if (!ticket) return;
    if (ticket.status === 'ok') {
      rows.push({ ticketId: ticket.id, deliveryId, token, receiptDueAt: new Date(now.getTime() + RECEIPT_DELAY_MS) });
      return;
    }
    // An error ticket has no receipt to wait for: kept (checked) so a retry does not resend it.
    const reason = ticket.details?.error ?? 'error';
    rows.push({ ticketId: `error:${deliveryId}:${token}`, deliveryId, token, receiptDueAt: now, checkedAt: now, receiptStatus: reason });
    if (reason === DEVICE_NOT_REGISTERED) unregistered.push(token);
  });
  if (rows.length > 0) await database.insert(pushTickets).values(rows).onConflictDoNothing();
  if (unregistered.length > 0) await database.delete(pushDevices).where(inArray(pushDevices.token, unregistered));
}

/**
 * Asks Expo for the receipts of tickets due by `now` (in chunks of 300), records each, and
 * removes the devices Expo says are no longer registered. A ticket without a receipt a day
 * later is given up as `missing`. Returns how many tickets were checked.
 */
export async function checkPushReceipts(database: Database, deps: { now: Date; expo: ExpoClient; batch?: number; logger?: Logger }): Promise<number> {
  const { now, expo } = deps;
  const due = await database
    .select({ ticketId: pushTickets.ticketId, token: pushTickets.token, receiptDueAt: pushTickets.receiptDueAt })
    .from(pushTickets)
    .where(and(isNull(pushTickets.checkedAt), lte(pushTickets.receiptDueAt, now)))
    .orderBy(asc(pushTickets.receiptDueAt))
    .limit(deps.batch ?? 1_000);
  if (due.length === 0) return 0;
  const byId = new Map(due.map((ticket) => [ticket.ticketId, ticket]));
  let checked = 0;
  for (const ids of expo.chunkPushNotificationReceiptIds(due.map((ticket) => ticket.ticketId))) {
    const receipts: Record<string, ExpoPushReceipt> = await expo.getPushNotificationReceiptsAsync(ids);
    const unregistered: string[] = [];
    for (const id of ids) {
      const receipt = receipts[id];
      const ticket = byId.get(id);
      if (!ticket) continue;
      let status: string | null = null;
      if (receipt?.status === 'ok') status = 'ok';
      else if (receipt?.status === 'error') {
        status = receipt.details?.error ?? 'error';
        if (status === DEVICE_NOT_REGISTERED) unregistered.push(ticket.token);
        deps.logger?.warn({ ticketId: id, error: status, message: receipt.message }, 'push receipt: delivery failed');
      } else if (now.getTime() - ticket.receiptDueAt.getTime() > RECEIPT_GIVE_UP_MS) status = 'missing';
      if (status === null) continue;
      await database.update(pushTickets).set({ checkedAt: now, receiptStatus: status }).where(eq(pushTickets.ticketId, id));
      checked += 1;
    }
    if (unregistered.length > 0) await database.delete(pushDevices).where(inArray(pushDevices.token, unregistered));
  }
  return checked;
}
