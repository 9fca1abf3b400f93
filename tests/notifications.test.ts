/**
 * Notifications on the real cluster, each step called as the jobs would (dispatch, push, email,
 * receipts, digest, reminders) with the app's moved clock: no workers run here, so nothing races
 * the calls. Push and email go through expo-server-sdk and nodemailer to this process's local Expo
 * and SMTP servers. The routes are checked against the API document (t.request).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, lte } from 'drizzle-orm';
import {
  conversationMembers,
  conversations,
  messages,
  notificationDeliveries,
  notificationPreferences,
  notifications,
  outboxEvents,
  pushDevices,
  pushTickets,
  unreadReminders,
} from '../src/db';
import { createLogger } from '../src/lib/logger';
import { JobQueue, type JobState } from '../src/jobs';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { NOTIFICATION_CATALOG } from '../src/modules/notifications/catalog';
import { sendDigestPage } from '../src/modules/notifications/digest';
import { dispatchEvent } from '../src/modules/notifications/dispatch';
import { sendEmail, smtpMailer } from '../src/modules/notifications/email';
import { notificationJobs } from '../src/modules/notifications/jobs';
import { DIGEST_JOB, digestPageJobId, DISPATCH_JOB, dispatchJobId, hourlyDispatchJobId, PUSH_JOB } from '../src/modules/notifications/names';
import { redispatch, sweepJobId } from '../src/modules/notifications/relay';
import { markAllRead, markAllSeen } from '../src/modules/notifications/service';
import { checkPushReceipts, expoClient, recordFailure, RECEIPT_DELAY_MS, sendPush } from '../src/modules/notifications/push';
import { sendUnreadReminders } from '../src/modules/notifications/reminders';
import { eventsFor, type OutboxMessage, recordEvents } from '../src/modules/outbox';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { openBounty, send, submittedBounty } from './support/bounties';
import { deliveryServers, type DeliveryServers } from './support/delivery-servers';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { at } from './support/json';
import { waitFor } from './support/wait';
import { depositByCard, onboard } from './support/money';

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
let tokens = 0;
const newToken = (): string => `ExponentPushToken[nx${Date.now().toString(36)}${(tokens += 1)}${Math.random().toString(36).slice(2, 8)}]`;

describe.skipIf(!hasCluster)('notifications', () => {
  let t: TestApp;
  let servers: DeliveryServers;
  let admin: TestAccount;
  const clock = testClock();
  /** The request pools' statements while `capturing` (the bulk marks' test reads them). */
  const statements: string[] = [];
  let capturing = false;

  beforeAll(async () => {
    servers = await deliveryServers();
    t = await startTestApp(servers.overrides, {
      clock: clock.now,
      work: false,
      observeQueries: (query) => {
        if (capturing) statements.push(query);
      },
    });
    admin = await createAdmin(t, 'notif-admin');
  });
  afterAll(() => t.close());

  /** Writes one outbox event as a domain transaction would; returns its id. */
  async function record(message: OutboxMessage): Promise<number> {
    await t.database.primary.transaction((tx) => recordEvents(tx, clock.now(), [message]));
    const [row] = (await eventsFor(t.database.primary, message.recipientId)).slice(-1);
    if (!row) throw new Error('no outbox event');
    return row.id;
  }
  const approved = (recipientId: string, title = 'Fix the checkout'): OutboxMessage => ({
    topic: 'bounty.approve',
    recipientId,
    subject: { type: 'bounty', id: crypto.randomUUID() },
    payload: { from: 'submitted', to: 'completed', title },
  });
  const dispatch = (eventId: number) => dispatchEvent(t.database.primary, eventId, { now: clock.now(), jobs: t.jobs });
  const deliveriesOf = (eventId: number) =>
    t.database.primary
      .select({ delivery: notificationDeliveries })
      .from(notificationDeliveries)
      .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
      .where(eq(notifications.eventId, eventId))
      .then((rows) => rows.map((row) => row.delivery));
  const notificationsOf = (eventId: number) => t.database.primary.select().from(notifications).where(eq(notifications.eventId, eventId));
  const register = (account: TestAccount, token: string) => send(t, account, 'POST', '/notifications/devices', { token, platform: 'ios' });
  /** A whole digest run, page after page, as its jobs would. */
  async function digestRun(cutoff: Date): Promise<void> {
    let after: string | null = null;
    do after = (await sendDigestPage(t.database.primary, { now: cutoff, cutoff, mailer: smtpMailer(t.config.notifications), after })).next;
    while (after !== null);
  }

  describe('the catalog', () => {
    test('every topic the code writes has an entry, and each renders words from any payload', async () => {
      const { TRANSITION_NAMES } = await import('../src/modules/bounties/lifecycle');
      const written = new Set(TRANSITION_NAMES.map((name) => `bounty.${name}`));
      const glob = new Bun.Glob('src/**/*.ts');
      for await (const path of glob.scan('.')) {
        if (path === 'src/modules/notifications/catalog.ts') continue;
        const source = await Bun.file(path).text();
        for (const line of source.split('\n')) {
          if (!/\btopic\b|requestEvent\(/.test(line)) continue;
          for (const match of line.matchAll(/'([a-z_]+\.[a-z_]+)'/g)) if (match[1]) written.add(match[1]);
        }
      }
      // A floor, so a scan that silently finds nothing fails.
      for (const topic of ['bounty.approve', 'bounty.review_reminder', 'bounty.hunter_nudge', 'bounty.hunter_idle', 'bounty.expiry_reminder', 'bounty.dispute_reminder', 'bounty.dispute_resolved', 'request.created', 'request.withdrawn', 'request.rejected', 'request.filled', 'deposit.succeeded', 'withdrawal.paid', 'withdrawal.failed', 'wallet.chargeback', 'review.created', 'conversation.unread_reminder']) {
        expect([topic, written.has(topic)]).toEqual([topic, true]);
      }
      const missing = [...written].filter((topic) => !(topic in NOTIFICATION_CATALOG));
      expect(missing).toEqual([]);
      for (const [topic, entry] of Object.entries(NOTIFICATION_CATALOG)) {
        if (entry.category === null) continue;
        const rendered = entry.render({});
        expect([topic, rendered.title.length > 0, rendered.body.length > 0]).toEqual([topic, true, true]);
      }
      // Money moves are money notices (they cannot be switched off).
      for (const topic of ['bounty.approve', 'bounty.auto_approve', 'bounty.resolve', 'deposit.succeeded', 'withdrawal.paid', 'bounty.expire']) {
        expect([topic, NOTIFICATION_CATALOG[topic]?.category]).toEqual([topic, 'money']);
      }
      expect(NOTIFICATION_CATALOG['message.created']?.category).toBeNull();
    });
  });

  describe('preferences', () => {
    test('the full matrix with defaults; money and security refuse off (named), push refuses digest; back to default stores nothing', async () => {
      const user = await signUp(t, 'prefs');
      const initial = await send(t, user, 'GET', '/notifications/preferences');
      expect(initial.status).toBe(200);
      const rows = at(initial.body, 'data', 'categories') as Array<Record<string, unknown>>;
      expect(rows.map((row) => row.category)).toEqual(['money', 'security', 'bounties', 'requests', 'messages', 'reviews']);
      expect(rows.find((row) => row.category === 'money')).toEqual({ category: 'money', locked: true, push: { setting: 'on', default: 'on' }, email: { setting: 'on', default: 'on' } });
      expect(rows.find((row) => row.category === 'bounties')).toMatchObject({ locked: false, email: { setting: 'digest' } });

      const locked = await send(t, user, 'PUT', '/notifications/preferences', {
        preferences: [
          { category: 'money', channel: 'email', setting: 'off' },
          { category: 'security', channel: 'push', setting: 'off' },
          { category: 'bounties', channel: 'push', setting: 'off' },
        ],
      });
      expect([locked.status, at(locked.body, 'error')]).toEqual([422, 'CATEGORY_LOCKED']);
      expect(String(at(locked.body, 'message'))).toContain('money and security');
      const digestPush = await send(t, user, 'PUT', '/notifications/preferences', { preferences: [{ category: 'reviews', channel: 'push', setting: 'digest' }] });
      expect([digestPush.status, at(digestPush.body, 'error')]).toEqual([422, 'DIGEST_EMAIL_ONLY']);
      // Nothing of the refused requests was written.
      expect(await t.database.primary.select().from(notificationPreferences).where(eq(notificationPreferences.userId, user.id))).toEqual([]);

      const changed = await send(t, user, 'PUT', '/notifications/preferences', {
        preferences: [
          { category: 'bounties', channel: 'push', setting: 'off' },
          { category: 'reviews', channel: 'email', setting: 'on' },
        ],
      });
      expect(changed.status).toBe(200);
      const after = at(changed.body, 'data', 'categories') as Array<Record<string, unknown>>;
      expect(after.find((row) => row.category === 'bounties')).toMatchObject({ push: { setting: 'off', default: 'on' } });
      expect(after.find((row) => row.category === 'reviews')).toMatchObject({ email: { setting: 'on', default: 'digest' } });
      const back = await send(t, user, 'PUT', '/notifications/preferences', {
        preferences: [
          { category: 'bounties', channel: 'push', setting: 'on' },
          { category: 'reviews', channel: 'email', setting: 'digest' },
        ],
      });
      expect(back.status).toBe(200);
      expect(await t.database.primary.select().from(notificationPreferences).where(eq(notificationPreferences.userId, user.id))).toEqual([]);
      expect((await send(t, null, 'GET', '/notifications/preferences')).status).toBe(401);
    });

    test('money and security email refuse digest (a notice held a day), named; a digest row stored before is read as on', async () => {
      const user = await signUp(t, 'prefs-digest');
      const refused = await send(t, user, 'PUT', '/notifications/preferences', {
        preferences: [
          { category: 'money', channel: 'email', setting: 'digest' },
          { category: 'security', channel: 'email', setting: 'digest' },
          { category: 'reviews', channel: 'email', setting: 'on' },
        ],
      });
      expect([refused.status, at(refused.body, 'error')]).toEqual([422, 'CATEGORY_LOCKED']);
      expect(String(at(refused.body, 'message'))).toContain('money and security');
      expect(at(refused.body, 'details')).toEqual([
        { path: 'money.email', message: 'cannot be digest' },
        { path: 'security.email', message: 'cannot be digest' },
      ]);
      expect(await t.database.primary.select().from(notificationPreferences).where(eq(notificationPreferences.userId, user.id))).toEqual([]);

      // A row written before digest was refused: the matrix and dispatch treat money email as on.
      await t.database.primary.insert(notificationPreferences).values({ userId: user.id, category: 'money', channel: 'email', setting: 'digest', updatedAt: clock.now() });
      const matrix = at((await send(t, user, 'GET', '/notifications/preferences')).body, 'data', 'categories') as Array<Record<string, unknown>>;
      expect(matrix.find((row) => row.category === 'money')).toMatchObject({ locked: true, email: { setting: 'on', default: 'on' } });
      const eventId = await record({ topic: 'deposit.succeeded', recipientId: user.id, subject: { type: 'deposit', id: crypto.randomUUID() }, payload: { amount: 700, currency: 'usd' } });
      expect(await dispatch(eventId)).toBe('dispatched');
      expect((await deliveriesOf(eventId)).find((delivery) => delivery.channel === 'email')?.status).toBe('pending');
    });
  });

  describe('devices', () => {
    test('an Expo token only; registering it again moves it to the new account; only its owner removes it', async () => {
      const [first, second] = await Promise.all([signUp(t, 'dev-a'), signUp(t, 'dev-b')]);
      expect((await register(first, 'not-a-token')).status).toBe(422);
      const token = newToken();
      const created = await register(first, token);
      expect([created.status, at(created.body, 'data', 'token'), at(created.body, 'data', 'platform')]).toEqual([201, token, 'ios']);
      expect((await register(first, token)).status).toBe(201);
      expect((await register(second, token)).status).toBe(201);
      const [row] = await t.database.primary.select().from(pushDevices).where(eq(pushDevices.token, token));
      expect(row?.userId).toBe(second.id);
      const path = '/notifications/devices';
      expect((await send(t, first, 'DELETE', path, { token })).status).toBe(404);
      const removed = await send(t, second, 'DELETE', path, { token });
      expect([removed.status, at(removed.body, 'data', 'deleted')]).toEqual([200, true]);
      expect((await send(t, second, 'DELETE', path, { token })).status).toBe(404);
      expect(await t.database.primary.select().from(pushDevices).where(eq(pushDevices.token, token))).toEqual([]);
    });
  });

  describe('dispatch', () => {
    test('one notification per (event, recipient) and one delivery per channel, however often or concurrently it runs', async () => {
      const user = await signUp(t, 'dispatch');
      await register(user, newToken());
      const eventId = await record(approved(user.id));
      expect(await dispatch(eventId)).toBe('dispatched');
      expect(await dispatch(eventId)).toBe('already_delivered');
      expect(await notificationsOf(eventId)).toHaveLength(1);
      const deliveries = await deliveriesOf(eventId);
      expect(deliveries.map((delivery) => [delivery.channel, delivery.status]).sort()).toEqual([
        ['email', 'pending'],
        ['push', 'pending'],
      ]);
      // The push job was enqueued with the dispatch, once.
      const pushDelivery = deliveries.find((delivery) => delivery.channel === 'push');
      const jobs = (await t.jobs.findJobs(PUSH_JOB)).filter((job) => (job.data as { deliveryId?: number }).deliveryId === pushDelivery?.id);
      expect(jobs).toHaveLength(1);

      const concurrent = await record(approved(user.id, 'Concurrent'));
      const outcomes = await Promise.all([dispatch(concurrent), dispatch(concurrent), dispatch(concurrent)]);
      expect(outcomes.sort()).toEqual(['already_delivered', 'already_delivered', 'dispatched']);
      expect(await notificationsOf(concurrent)).toHaveLength(1);
      expect(await deliveriesOf(concurrent)).toHaveLength(2);
    });

    test('the outbox under a job crash notifies once: a dispatch that fails midway leaves nothing, its retry notifies once', async () => {
      const user = await signUp(t, 'crash');
      await register(user, newToken());
      const eventId = await record(approved(user.id));
      // The crash: enqueueing the push job fails after the notification and deliveries were written.
      const crashing = { send: async () => Promise.reject(new Error('worker killed')) };
      await expect(dispatchEvent(t.database.primary, eventId, { now: clock.now(), jobs: crashing })).rejects.toThrow('worker killed');
      expect(await notificationsOf(eventId)).toHaveLength(0);
      const [event] = await t.database.primary.select().from(outboxEvents).where(eq(outboxEvents.id, eventId));
      expect(event?.deliveredAt).toBeNull();
      expect(await dispatch(eventId)).toBe('dispatched');
      expect(await dispatch(eventId)).toBe('already_delivered');
      expect(await notificationsOf(eventId)).toHaveLength(1);
      expect(await deliveriesOf(eventId)).toHaveLength(2);
    });

    test('a body cut at its bound never splits a character: an emoji across the cut is left out, not half stored', async () => {
      const user = await signUp(t, 'cut');
      // The body is `"<title>" was approved...`: the emoji's first half lands on its 1000th unit.
      const eventId = await record(approved(user.id, `${'a'.repeat(998)}😀 and more`));
      expect(await dispatch(eventId)).toBe('dispatched');
      const [notification] = await notificationsOf(eventId);
      expect(notification?.body).toBe(`"${'a'.repeat(998)}`);
    });

    test('channels follow preferences: no device skips push, email off skips email, digest waits; a locked category still emails', async () => {
      const user = await signUp(t, 'channels');
      await send(t, user, 'PUT', '/notifications/preferences', { preferences: [{ category: 'requests', channel: 'email', setting: 'off' }] });
      const request = await record({ topic: 'request.created', recipientId: user.id, subject: { type: 'request', id: crypto.randomUUID() }, payload: { title: 'A job' } });
      const review = await record({ topic: 'review.created', recipientId: user.id, subject: { type: 'bounty', id: crypto.randomUUID() }, payload: { title: 'A job' } });
      const silent = await record({ topic: 'message.created', recipientId: user.id, subject: { type: 'conversation', id: crypto.randomUUID() } });
      expect([await dispatch(request), await dispatch(review), await dispatch(silent)]).toEqual(['dispatched', 'dispatched', 'no_notification']);
      const statuses = async (eventId: number) => Object.fromEntries((await deliveriesOf(eventId)).map((delivery) => [delivery.channel, delivery.status]));
      expect(await statuses(request)).toEqual({ push: 'skipped', email: 'skipped' });
      expect(await statuses(review)).toEqual({ push: 'skipped', email: 'digest' });
      expect(await notificationsOf(silent)).toHaveLength(0);
    });
  });

  describe('push', () => {
    test('sent through the SDK to the local Expo server: a ticket per device, a failed chunk retried sends each device once', async () => {
      const user = await signUp(t, 'push');
      const [one, two] = [newToken(), newToken()];
      await register(user, one);
      await register(user, two);
      const eventId = await record(approved(user.id, 'Pushed'));
      await dispatch(eventId);
      const delivery = (await deliveriesOf(eventId)).find((row) => row.channel === 'push');
      if (!delivery) throw new Error('no push delivery');
      const expo = await expoClient(t.config.notifications);
      servers.expo.failNext(1, 500);
      await expect(sendPush(t.database.primary, delivery.id, { now: clock.now(), expo })).rejects.toThrow();
      expect(servers.expo.pushesTo(one)).toHaveLength(0);
      expect(await sendPush(t.database.primary, delivery.id, { now: clock.now(), expo })).toBe('sent');
      expect(await sendPush(t.database.primary, delivery.id, { now: clock.now(), expo })).toBe('not_pending');
      expect([servers.expo.pushesTo(one).length, servers.expo.pushesTo(two).length]).toEqual([1, 1]);
      expect(servers.expo.pushesTo(one)[0]).toMatchObject({ title: 'Work approved', body: '"Pushed" was approved: the reward is released to the hunter.' });
      const [after] = await t.database.primary.select().from(notificationDeliveries).where(eq(notificationDeliveries.id, delivery.id));
      expect([after?.status, after?.attempts]).toEqual(['sent', 2]);
      expect(await t.database.primary.select().from(pushTickets).where(eq(pushTickets.deliveryId, delivery.id))).toHaveLength(2);
    });

    test('a receipt answering DeviceNotRegistered removes the token, once the receipt is due and not before', async () => {
      const user = await signUp(t, 'receipts');
      const [gone, kept] = [newToken(), newToken()];
      await register(user, gone);
      await register(user, kept);
      const eventId = await record(approved(user.id));
      await dispatch(eventId);
      const delivery = (await deliveriesOf(eventId)).find((row) => row.channel === 'push');
      if (!delivery) throw new Error('no push delivery');
      const expo = await expoClient(t.config.notifications);
      const sentAt = clock.now();
      await sendPush(t.database.primary, delivery.id, { now: sentAt, expo });
      servers.expo.unregister(gone);
      const tokensOf = async () => (await t.database.primary.select().from(pushDevices).where(eq(pushDevices.userId, user.id))).map((row) => row.token).sort();
      await checkPushReceipts(t.database.primary, { now: new Date(sentAt.getTime() + RECEIPT_DELAY_MS - MINUTE_MS), expo });
      expect(await tokensOf()).toEqual([gone, kept].sort());
      await checkPushReceipts(t.database.primary, { now: new Date(sentAt.getTime() + RECEIPT_DELAY_MS), expo });
      expect(await tokensOf()).toEqual([kept]);
      const tickets = await t.database.primary.select().from(pushTickets).where(eq(pushTickets.deliveryId, delivery.id));
      expect(tickets.map((ticket) => [ticket.token === gone, ticket.receiptStatus]).sort()).toEqual([
        [false, 'ok'],
        [true, 'DeviceNotRegistered'],
      ]);
    });
  });

  describe('email', () => {
    test('a money notice arrives at the SMTP server, parsed: to the account, the title as subject, from MAIL_FROM', async () => {
      const user = await signUp(t, 'email');
      const eventId = await record({ topic: 'deposit.succeeded', recipientId: user.id, subject: { type: 'deposit', id: crypto.randomUUID() }, payload: { amount: 2_500, currency: 'usd' } });
      await dispatch(eventId);
      const delivery = (await deliveriesOf(eventId)).find((row) => row.channel === 'email');
      expect(delivery?.status).toBe('pending');
      if (!delivery) throw new Error('no email delivery');
      const mailer = smtpMailer(t.config.notifications);
      expect(await sendEmail(t.database.primary, delivery.id, { now: clock.now(), mailer })).toBe('sent');
      const mail = await servers.smtp.waitForMail((received) => received.to.includes(user.email));
      expect(mail.subject).toBe('Deposit received');
      expect(mail.text).toContain('25.00 USD was added to your wallet.');
      expect(mail.from).toBe('no-reply@bountyexpo.local');
      expect(await sendEmail(t.database.primary, delivery.id, { now: clock.now(), mailer })).toBe('not_pending');
      expect(servers.smtp.mailsTo(user.email)).toHaveLength(1);
    });

    test("the daily digest: one email listing the day's digest notices, then they are sent and never listed again", async () => {
      const user = await signUp(t, 'digest');
      const titles = ['Alpha job', 'Beta job', 'Gamma job'];
      for (const title of titles) {
        await dispatch(await record({ topic: 'request.created', recipientId: user.id, subject: { type: 'request', id: crypto.randomUUID() }, payload: { title } }));
      }
      await digestRun(new Date(clock.now().getTime() + DAY_MS));
      const digests = servers.smtp.mailsTo(user.email);
      expect(digests).toHaveLength(1);
      expect(digests[0]?.subject).toBe('Your BOUNTYExpo digest: 3 updates');
      for (const title of titles) expect(digests[0]?.text).toContain(`Someone applied to "${title}".`);
      const rows = await t.database.primary.select().from(notificationDeliveries).where(and(eq(notificationDeliveries.recipientId, user.id), eq(notificationDeliveries.channel, 'email')));
      expect(rows.map((row) => row.status)).toEqual(['sent', 'sent', 'sent']);
      await digestRun(new Date(clock.now().getTime() + 2 * DAY_MS));
      expect(servers.smtp.mailsTo(user.email)).toHaveLength(1);
    });

    test('the digest runs in bounded pages of recipients, each after the last; every recipient gets one email', async () => {
      const people = await Promise.all(['page-a', 'page-b', 'page-c'].map((name) => signUp(t, name)));
      for (const person of people) {
        await dispatch(await record({ topic: 'request.created', recipientId: person.id, subject: { type: 'request', id: crypto.randomUUID() }, payload: { title: 'Paged' } }));
      }
      // Every recipient waiting in the shared database is paged through, two at a time.
      const cutoff = clock.now();
      const pages: Array<{ sent: number; next: string | null }> = [];
      let after: string | null = null;
      do {
        const page = await sendDigestPage(t.database.primary, { now: cutoff, cutoff, mailer: smtpMailer(t.config.notifications), after, pageSize: 2 });
        pages.push(page);
        if (page.next !== null) expect(after === null || page.next > after).toBe(true);
        after = page.next;
      } while (after !== null && pages.length < 10_000);
      expect(pages.length).toBeGreaterThanOrEqual(2);
      expect(pages.every((page) => page.sent <= 2)).toBe(true);
      for (const person of people) expect([person.email, servers.smtp.mailsTo(person.email).length]).toEqual([person.email, 1]);
      const waiting = await t.database.primary.select().from(notificationDeliveries).where(and(eq(notificationDeliveries.status, 'digest'), lte(notificationDeliveries.createdAt, cutoff)));
      expect(waiting).toEqual([]);
    });

    test('each digest job sends one page and enqueues the next, once however often that page runs', async () => {
      const people = await Promise.all(['chain-a', 'chain-b'].map((name) => signUp(t, name)));
      for (const person of people) {
        await dispatch(await record({ topic: 'review.created', recipientId: person.id, subject: { type: 'bounty', id: crypto.randomUUID() }, payload: { title: 'Chained' } }));
      }
      const digest = notificationJobs({ settings: t.config.notifications, conversations: t.config.conversations, now: clock.now, digestPageSize: 1 }).find(
        (definition) => definition.name === DIGEST_JOB,
      );
      if (!digest?.handler) throw new Error('no digest job');
      const logger = createLogger({ level: 'silent' });
      const contextOf = (jobId: string) => ({ jobId, retryCount: 0, retryLimit: 0, signal: new AbortController().signal, database: t.database, jobs: t.jobs, logger });
      const first = crypto.randomUUID();
      // The cron occurrence: the first page (one recipient), then its next page as a job of its own.
      await digest.handler({}, contextOf(first));
      const next = await t.jobs.findJob(DIGEST_JOB, digestPageJobId(first));
      const payload = next?.data as { cutoff: string; after: string };
      expect(payload.cutoff).toBe(clock.now().toISOString());
      expect(typeof payload.after).toBe('string');
      // A retry of that job (the same id) enqueues no second next page, though it mails the next recipient.
      const before = (await t.jobs.findJobs(DIGEST_JOB)).length;
      await digest.handler({}, contextOf(first));
      expect((await t.jobs.findJobs(DIGEST_JOB)).length).toBe(before);
      // Running the chain as the worker would mails everyone waiting, each once.
      let job = next;
      for (let hops = 0; job && hops < 10_000; hops += 1) {
        await digest.handler(job.data as Record<string, string>, contextOf(job.id));
        job = await t.jobs.findJob(DIGEST_JOB, digestPageJobId(job.id));
      }
      expect(job).toBeNull();
      for (const person of people) expect([person.email, servers.smtp.mailsTo(person.email).length]).toEqual([person.email, 1]);
    });
  });

  describe('unread reminders', () => {
    test('after UNREAD_REMINDER_MIN by the clock and not before; not when read meanwhile; one per unread stretch', async () => {
      const [poster, hunter, reader] = await Promise.all([signUp(t, 'rem-poster'), signUp(t, 'rem-hunter'), signUp(t, 'rem-reader')]);
      const bountyId = await openBounty(t, poster, { title: 'Reminder bounty' });
      const minutes = t.config.conversations.unreadReminderMinutes;
      const conversationWith = async (hunterId: string) => {
        const now = clock.now();
        await t.database.primary.insert(conversations).values({ bountyId, posterId: poster.id, hunterId, createdAt: now }).onConflictDoNothing();
        const [conversation] = await t.database.primary.select().from(conversations).where(and(eq(conversations.bountyId, bountyId), eq(conversations.hunterId, hunterId)));
        if (!conversation) throw new Error('no conversation');
        await t.database.primary
          .insert(conversationMembers)
          .values([
            { conversationId: conversation.id, userId: poster.id, role: 'poster', activityAt: now, joinedAt: now },
            { conversationId: conversation.id, userId: hunterId, role: 'hunter', activityAt: now, joinedAt: now },
          ])
          .onConflictDoNothing();
        const [message] = await t.database.primary
          .insert(messages)
          .values({ conversationId: conversation.id, senderId: poster.id, kind: 'text', body: 'Are you still on it?', createdAt: now })
          .returning();
        if (!message) throw new Error('no message');
        await t.database.primary.insert(unreadReminders).values({ conversationId: conversation.id, userId: hunterId, dueAt: new Date(now.getTime() + minutes * MINUTE_MS) });
        return { conversation, message, sentAt: now };
      };
      const unread = await conversationWith(hunter.id);
      const read = await conversationWith(reader.id);
      await t.database.primary
        .update(conversationMembers)
        .set({ lastReadMessageId: read.message.id })
        .where(and(eq(conversationMembers.conversationId, read.conversation.id), eq(conversationMembers.userId, reader.id)));
      const reminders = (userId: string) => eventsFor(t.database.primary, userId).then((events) => events.filter((event) => event.topic === 'conversation.unread_reminder'));

      await sendUnreadReminders(t.database.primary, { now: new Date(unread.sentAt.getTime() + minutes * MINUTE_MS - 1_000) });
      expect(await reminders(hunter.id)).toHaveLength(0);
      await sendUnreadReminders(t.database.primary, { now: new Date(unread.sentAt.getTime() + minutes * MINUTE_MS) });
      const sent = await reminders(hunter.id);
      expect(sent).toHaveLength(1);
      expect(sent[0]?.payload).toMatchObject({ conversationId: unread.conversation.id, unreadCount: 1, title: 'Reminder bounty' });
      expect(await reminders(reader.id)).toHaveLength(0);
      expect(await t.database.primary.select().from(unreadReminders).where(eq(unreadReminders.conversationId, read.conversation.id))).toEqual([]);
      await sendUnreadReminders(t.database.primary, { now: new Date(unread.sentAt.getTime() + 3 * minutes * MINUTE_MS) });
      expect(await reminders(hunter.id)).toHaveLength(1);
      // Its notice is a `messages` one: push and email by default.
      const eventId = sent[0]?.id ?? 0;
      expect(await dispatch(eventId)).toBe('dispatched');
      expect((await notificationsOf(eventId))[0]).toMatchObject({ category: 'messages', body: 'You have 1 unread message about "Reminder bounty".' });
    });
  });

  describe('the feed', () => {
    test('newest first by cursor, unread filter, unseen count, seen, read, read-all; a stranger gets 404 and sees none', async () => {
      const [owner, stranger] = await Promise.all([signUp(t, 'feed'), signUp(t, 'feed-stranger')]);
      const ids: number[] = [];
      for (const title of ['one', 'two', 'three']) {
        const eventId = await record(approved(owner.id, title));
        await dispatch(eventId);
        const [notification] = await notificationsOf(eventId);
        ids.push(notification?.id ?? 0);
      }
      await t.settle();
      const first = await send(t, owner, 'GET', '/notifications?limit=2');
      expect((at(first.body, 'data') as Array<{ id: number }>).map((item) => item.id)).toEqual([ids[2] ?? 0, ids[1] ?? 0]);
      const cursor = String(at(first.body, 'pagination', 'nextCursor'));
      const second = await send(t, owner, 'GET', `/notifications?limit=2&cursor=${cursor}`);
      expect((at(second.body, 'data') as Array<{ id: number }>).map((item) => item.id)).toEqual([ids[0] ?? 0]);
      expect(at(second.body, 'pagination', 'nextCursor')).toBeNull();
      expect((await send(t, owner, 'GET', '/notifications?cursor=abc')).status).toBe(422);
      expect(at((await send(t, owner, 'GET', '/notifications/unseen-count')).body, 'data', 'unseen')).toBe(3);

      // A stranger: none listed, none markable.
      expect(at(await send(t, stranger, 'GET', '/notifications'), 'body', 'data')).toEqual([]);
      const foreign = await send(t, stranger, 'POST', `/notifications/${ids[0]}/read`);
      expect([foreign.status, at(foreign.body, 'error')]).toEqual([404, 'NOTIFICATION_NOT_FOUND']);
      expect((await send(t, stranger, 'POST', '/notifications/not-a-number/read')).status).toBe(422);

      const read = await send(t, owner, 'POST', `/notifications/${ids[0]}/read`);
      expect(read.status).toBe(200);
      expect(at(read.body, 'data', 'readAt')).not.toBeNull();
      const unreadOnly = await send(t, owner, 'GET', '/notifications?unread=true');
      expect((at(unreadOnly.body, 'data') as Array<{ id: number }>).map((item) => item.id)).toEqual([ids[2] ?? 0, ids[1] ?? 0]);
      expect(at((await send(t, owner, 'GET', '/notifications/unseen-count')).body, 'data', 'unseen')).toBe(2);
      expect(at((await send(t, owner, 'POST', '/notifications/seen')).body, 'data', 'marked')).toBe(2);
      expect(at((await send(t, owner, 'GET', '/notifications/unseen-count')).body, 'data', 'unseen')).toBe(0);
      expect(at((await send(t, owner, 'POST', '/notifications/read-all')).body, 'data', 'marked')).toBe(2);
      expect(at((await send(t, owner, 'GET', '/notifications?unread=true')).body, 'data')).toEqual([]);
      // The stranger's marks never touched the owner's.
      expect(at((await send(t, stranger, 'POST', '/notifications/read-all')).body, 'data', 'marked')).toBe(0);
    });

    test('seen and read-all mark a long feed in bounded statements that bring back a count, not the ids', async () => {
      const user = await signUp(t, 'bulk');
      for (let n = 0; n < 7; n += 1) await dispatch(await record(approved(user.id, `Bulk ${n}`)));
      const now = clock.now();
      // One arriving after the marks' `now` stays unseen and unread.
      clock.advance(1_000);
      const late = await record(approved(user.id, 'Late'));
      await dispatch(late);
      const marks = async (mark: () => Promise<number>) => {
        statements.length = 0;
        capturing = true;
        try {
          return { marked: await mark(), updates: statements.filter((query) => /\bupdate "notifications"/i.test(query)) };
        } finally {
          capturing = false;
        }
      };
      const seen = await marks(() => markAllSeen(t.database.session(), user.id, now, 3));
      // 3 + 3 + 1, then an empty batch ends the loop (a short one may be short because another
      // request marked a row of it meanwhile: it does not mean nothing is left).
      expect([seen.marked, seen.updates.length]).toEqual([7, 4]);
      for (const query of seen.updates) {
        expect(query).toMatch(/\blimit \$\d+\)/i);
        expect(query.trim()).toMatch(/select count\(\*\)::int as n from changed$/);
      }
      const read = await marks(() => markAllRead(t.database.session(), user.id, now, 3));
      expect([read.marked, read.updates.length]).toEqual([7, 4]);
      const rows = await t.database.primary.select().from(notifications).where(eq(notifications.recipientId, user.id));
      expect(rows.filter((row) => row.eventId !== late).every((row) => row.readAt?.getTime() === now.getTime() && row.seenAt?.getTime() === now.getTime())).toBe(true);
      expect(rows.filter((row) => row.eventId === late).map((row) => [row.seenAt, row.readAt])).toEqual([[null, null]]);
      // Through the routes (the default batch): counts, and again nothing left to mark.
      const routeSeen = await marks(async () => Number(at((await send(t, user, 'POST', '/notifications/seen')).body, 'data', 'marked')));
      expect([routeSeen.marked, routeSeen.updates.length]).toEqual([1, 2]);
      expect(at((await send(t, user, 'POST', '/notifications/read-all')).body, 'data', 'marked')).toBe(1);
      expect(at((await send(t, user, 'POST', '/notifications/read-all')).body, 'data', 'marked')).toBe(0);
    });

    test('regression (issue 11 review): "mark all seen" racing "open one" stopped at the short batch it caused, leaving the rest unseen', async () => {
      const user = await signUp(t, 'bulk-race');
      for (let n = 0; n < 6; n += 1) await dispatch(await record(approved(user.id, `Race ${n}`)));
      const rows = await t.database.primary.select().from(notifications).where(eq(notifications.recipientId, user.id)).orderBy(notifications.id);
      const first = rows[0]?.id ?? 0;
      const now = clock.now();
      // Another request marks the first row and holds it until "mark all" is waiting on it.
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => (release = resolve));
      let locked: () => void = () => {};
      const isLocked = new Promise<void>((resolve) => (locked = resolve));
      const opener = t.database.primary.transaction(async (tx) => {
        await tx.update(notifications).set({ seenAt: now, readAt: now }).where(eq(notifications.id, first));
        locked();
        await held;
      });
      await isLocked;
      const marking = markAllSeen(t.database.session(), user.id, now, 2);
      await Bun.sleep(200);
      release();
      await opener;
      await marking;
      const after = await t.database.primary.select().from(notifications).where(eq(notifications.recipientId, user.id));
      expect(after.filter((row) => row.seenAt === null)).toEqual([]);
    });

    test('regression (issue 11 review): an id past 2^53 is refused (422), never rounded to another notification or message', async () => {
      const user = await signUp(t, 'big-id');
      for (const path of ['/notifications/9007199254740993/read', '/notifications/0/read', '/notifications/01/read']) {
        expect((await send(t, user, 'POST', path)).status).toBe(422);
      }
      expect((await send(t, user, 'DELETE', '/messages/9007199254740993')).status).toBe(422);
      expect((await send(t, user, 'POST', '/notifications/9007199254740991/read')).status).toBe(404);
    });

    test('dispatch appends notification.created to the recipient stream, once', async () => {
      const user = await signUp(t, 'stream');
      const eventId = await record(approved(user.id, 'Streamed'));
      await dispatch(eventId);
      await dispatch(eventId);
      const { eventsAfter } = await import('../src/modules/realtime/stream');
      const events = (await eventsAfter(t.database.primary, user.id, 0, 100)).filter((event) => event.type === 'notification.created');
      expect(events).toHaveLength(1);
      expect(events[0]?.data).toMatchObject({ title: 'Work approved', topic: 'bounty.approve' });
    });
  });

  describe('the relay', () => {
    test('never throws, even on a queue that was never started (a process without jobs): it logs and the sweep catches up', async () => {
      const { JobQueue } = await import('../src/jobs');
      const { notificationJobs } = await import('../src/modules/notifications/jobs');
      const { outboxRelay } = await import('../src/modules/notifications/relay');
      const lines: string[] = [];
      const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
      const idle = JobQueue.create({ database: t.database, logger, schema: 'pgboss_never_started' });
      for (const definition of notificationJobs({ settings: t.config.notifications, conversations: t.config.conversations, now: clock.now })) idle.define(definition);
      const relay = outboxRelay({ jobs: idle, logger });
      expect(() => relay.onMessage([1, 2, 'not-an-id'])).not.toThrow();
      expect(() => relay.onListen?.()).not.toThrow();
      await waitFor('the relay to log its skips', () => lines.filter((line) => line.includes('could not enqueue')).length >= 3);
    });

    test("the sweep's choice from the fixed-id job: none or under way, that id; completed, nothing; failed for good, one id per hour", () => {
      const at1015 = new Date('2030-01-01T10:15:00Z');
      const states: Array<[JobState | null, string | null]> = [
        [null, dispatchJobId(42)],
        ['created', dispatchJobId(42)],
        ['retry', dispatchJobId(42)],
        ['active', dispatchJobId(42)],
        ['completed', null],
        ['failed', hourlyDispatchJobId(42, at1015)],
        ['cancelled', hourlyDispatchJobId(42, at1015)],
      ];
      for (const [state, id] of states) expect([state, sweepJobId(42, state, at1015)]).toEqual([state, id]);
      const hourly = hourlyDispatchJobId(42, at1015);
      expect(hourly).not.toBe(dispatchJobId(42));
      expect(hourlyDispatchJobId(42, new Date('2030-01-01T10:59:59Z'))).toBe(hourly);
      expect(hourlyDispatchJobId(42, new Date('2030-01-01T11:00:00Z'))).not.toBe(hourly);
      expect(hourlyDispatchJobId(43, at1015)).not.toBe(hourly);
      expect(hourly).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    });

    test('a dispatch that failed for good is logged with its event, and the sweep sends it again once an hour, not every minute', async () => {
      const user = await signUp(t, 'poison');
      // A digest notice: no push or email job follows its dispatch.
      const eventId = await record({ topic: 'request.created', recipientId: user.id, subject: { type: 'request', id: crypto.randomUUID() }, payload: { title: 'Stuck' } });
      // A queue of its own that works dispatch (no crons here), without retries: one failure is final.
      const { logger, lines } = captureLogs('info');
      const queue = JobQueue.create({ database: t.database, logger, schema: `pgboss_poison_${crypto.randomUUID().replaceAll('-', '').slice(0, 10)}`, pollingIntervalSeconds: 0.5, superviseIntervalSeconds: 1 });
      const definitions = notificationJobs({ settings: t.config.notifications, conversations: t.config.conversations, now: clock.now, retry: { retryLimit: 0, retryDelaySeconds: 1, expireInSeconds: 1 } });
      for (const definition of definitions) if (definition.cron === undefined) queue.define(definition);
      // The failure is real: another transaction holds the event's row, so dispatch waits past its expiry.
      let release = () => {};
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked = () => {};
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const holder = t.database.primary.transaction(async (tx) => {
        await tx.select().from(outboxEvents).where(eq(outboxEvents.id, eventId)).for('update');
        locked();
        await released;
      });
      await isLocked;
      try {
        await queue.start({ work: true });
        await queue.send(DISPATCH_JOB, { eventId }, { id: dispatchJobId(eventId) });
        expect((await queue.waitForJob(DISPATCH_JOB, dispatchJobId(eventId), { timeoutMs: 20_000 })).state).toBe('failed');
        // The dead letter names the event, at error level.
        await waitFor('the dispatch dead letter', () => lines.find((line) => line.level === LOG_LEVELS.error && line.eventId === eventId), 20_000);
        // A send with the failed job's id would be ignored: the sweep sends this hour's id instead.
        const now = clock.now();
        const hourly = await redispatch(queue, eventId, now);
        expect(hourly).toBe(hourlyDispatchJobId(eventId, now));
        expect(await queue.findJob(DISPATCH_JOB, hourly ?? '')).not.toBeNull();
        const jobsOf = async () => (await queue.findJobs(DISPATCH_JOB)).filter((job) => (job.data as { eventId?: number }).eventId === eventId).length;
        expect(await jobsOf()).toBe(2);
        // Every minute of the same hour: the same id, no new job.
        const sameHour = new Date(Math.floor(now.getTime() / 3_600_000) * 3_600_000 + 59 * MINUTE_MS);
        expect(await redispatch(queue, eventId, sameHour)).toBe(hourly);
        expect(await jobsOf()).toBe(2);
        // The next hour: one more try.
        const nextHour = new Date(sameHour.getTime() + MINUTE_MS);
        expect(await redispatch(queue, eventId, nextHour)).toBe(hourlyDispatchJobId(eventId, nextHour));
        expect(await jobsOf()).toBe(3);
      } finally {
        release();
        await holder;
        await queue.stop({ timeoutMs: 10_000 });
      }
      // Once the row is free, a dispatch delivers it, once.
      await dispatch(eventId);
      expect(await notificationsOf(eventId)).toHaveLength(1);
    }, 60_000);
  });

  describe('dead letters', () => {
    test('admins only: deliveries past their last retry, with the error and the attempts', async () => {
      const user = await signUp(t, 'dead');
      const eventId = await record({ topic: 'deposit.succeeded', recipientId: user.id, subject: { type: 'deposit', id: crypto.randomUUID() }, payload: { amount: 100, currency: 'usd' } });
      await dispatch(eventId);
      const delivery = (await deliveriesOf(eventId)).find((row) => row.channel === 'email');
      if (!delivery) throw new Error('no email delivery');
      await recordFailure(t.database.primary, delivery.id, new Error('SMTP said 554'), false);
      const notYet = await t.database.primary.select().from(notificationDeliveries).where(eq(notificationDeliveries.id, delivery.id));
      expect(notYet[0]?.status).toBe('pending');
      await recordFailure(t.database.primary, delivery.id, new Error('SMTP said 554'), true);
      await t.settle();
      expect((await send(t, user, 'GET', '/admin/notifications/dead-letters')).status).toBe(403);
      expect((await send(t, null, 'GET', '/admin/notifications/dead-letters')).status).toBe(401);
      const listed = await send(t, admin, 'GET', '/admin/notifications/dead-letters?limit=100');
      expect(listed.status).toBe(200);
      const found = (at(listed.body, 'data') as Array<Record<string, unknown>>).find((row) => row.id === delivery.id);
      expect(found).toMatchObject({ channel: 'email', status: 'dead', topic: 'deposit.succeeded', recipientId: user.id, lastError: 'Error: SMTP said 554' });
    });
  });

  describe('events written by the money, review and timer paths', () => {
    test('a card deposit tells its owner once; a review reminder reaches both the poster and the hunter', async () => {
      const depositor = await signUp(t, 'depositor');
      await depositByCard(t, depositor, 1_500);
      const deposits = (await eventsFor(t.database.primary, depositor.id)).filter((event) => event.topic === 'deposit.succeeded');
      expect(deposits).toHaveLength(1);
      expect(deposits[0]?.payload).toMatchObject({ amount: 1_500, currency: 'usd' });

      const [poster, hunter] = await Promise.all([signUp(t, 'rr-poster'), signUp(t, 'rr-hunter')]);
      await onboard(t, hunter);
      const start = clock.now();
      try {
        const id = await submittedBounty(t, poster, hunter);
        clock.advance(t.config.marketplace.autoApproveDays * DAY_MS - DAY_MS);
        await fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'silent' }));
        const remindersOf = async (userId: string) =>
          (await eventsFor(t.database.primary, userId)).filter((event) => event.topic === 'bounty.review_reminder' && event.subjectId === id);
        const [toPoster, toHunter] = [await remindersOf(poster.id), await remindersOf(hunter.id)];
        expect(toPoster.length).toBeGreaterThan(0);
        expect(toHunter.length).toBe(toPoster.length);
        expect(toHunter[0]?.payload).toMatchObject({ audience: 'hunter' });
        expect(NOTIFICATION_CATALOG['bounty.review_reminder']?.category).toBe('bounties');
      } finally {
        clock.set(start);
      }
    });
  });
});
