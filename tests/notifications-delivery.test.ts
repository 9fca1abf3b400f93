/**
 * Notifications end to end with the job workers running (pg-boss): an outbox event committed by
 * a route reaches the bus, the relay enqueues its dispatch, dispatch enqueues push and email, and
 * the local Expo and SMTP servers receive them. Waits are bounded polls on what those servers
 * recorded or on the jobs' states, never fixed sleeps.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq } from 'drizzle-orm';
import { notificationDeliveries, notifications, outboxEvents } from '../src/db';
import { DISPATCH_JOB, dispatchJobId, PUSH_JOB, SWEEP_JOB } from '../src/modules/notifications/names';
import { LIVE_DISPATCH_PRIORITY } from '../src/modules/notifications/relay';
import { eventsFor, recordEvents } from '../src/modules/outbox';
import { signUp, type TestAccount } from './support/accounts';
import { send, submittedBounty } from './support/bounties';
import { deliveryServers, type DeliveryServers } from './support/delivery-servers';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { onboard } from './support/money';
import { waitFor } from './support/wait';

let tokens = 0;
const newToken = (): string => `ExponentPushToken[e2e${Date.now().toString(36)}${(tokens += 1)}${Math.random().toString(36).slice(2, 8)}]`;

describe.skipIf(!hasCluster)('notification delivery through the job queue', () => {
  let t: TestApp;
  let servers: DeliveryServers;

  beforeAll(async () => {
    servers = await deliveryServers();
    t = await startTestApp(servers.overrides, { work: true });
  });
  afterAll(() => t.close());

  const register = async (account: TestAccount): Promise<string> => {
    const token = newToken();
    const sent = await send(t, account, 'POST', '/notifications/devices', { token });
    if (sent.status !== 201) throw new Error(`device registration failed: ${sent.status}`);
    return token;
  };

  /** The push delivery of the user's notification of `topic`, once its push job finished. */
  async function finishedPush(userId: string, topic: string) {
    const delivery = await waitFor(`the ${topic} push delivery`, async () => {
      const [row] = await t.database.primary
        .select({ delivery: notificationDeliveries })
        .from(notificationDeliveries)
        .innerJoin(notifications, eq(notifications.id, notificationDeliveries.notificationId))
        .where(and(eq(notifications.recipientId, userId), eq(notifications.topic, topic), eq(notificationDeliveries.channel, 'push')));
      return row ?? null;
    });
    const job = await waitFor('the push job', async () =>
      (await t.jobs.findJobs(PUSH_JOB)).find((candidate) => (candidate.data as { deliveryId?: number }).deliveryId === delivery.delivery.id),
    );
    return { job: await t.jobs.waitForJob(PUSH_JOB, job.id, { timeoutMs: 20_000 }), deliveryId: delivery.delivery.id };
  }

  test('when the poster approves, the hunter gets a push in the local Expo server and an email', async () => {
    const [poster, hunter] = await Promise.all([signUp(t, 'e2e-poster'), signUp(t, 'e2e-hunter')]);
    await onboard(t, hunter);
    const token = await register(hunter);
    const id = await submittedBounty(t, poster, hunter, { title: 'Approve me end to end' });
    expect((await send(t, poster, 'POST', `/bounties/${id}/approve`)).status).toBe(200);
    await servers.expo.waitForPushes((pushes) => pushes.some((push) => push.to === token && push.title === 'Work approved'), 20_000);
    const push = servers.expo.pushesTo(token).find((candidate) => candidate.title === 'Work approved');
    expect(push?.body).toBe('"Approve me end to end" was approved: the reward is released to the hunter.');
    const mail = await servers.smtp.waitForMail((received) => received.to.includes(hunter.email) && received.subject === 'Work approved', 20_000);
    expect(mail.text).toContain('Approve me end to end');
    // The poster acted: they hear nothing of their own approval.
    const posterEvents = await eventsFor(t.database.primary, poster.id);
    expect(posterEvents.filter((event) => event.topic === 'bounty.approve')).toHaveLength(0);
  });

  test('a push the Expo server refuses once (500) is retried by the queue and recorded exactly once', async () => {
    const user = await signUp(t, 'e2e-retry');
    const token = await register(user);
    servers.expo.failNext(1, 500);
    await t.database.primary.transaction((tx) =>
      recordEvents(tx, new Date(), [
        { topic: 'deposit.succeeded', recipientId: user.id, subject: { type: 'deposit', id: crypto.randomUUID() }, payload: { amount: 4_200, currency: 'usd' } },
      ]),
    );
    const { job, deliveryId } = await finishedPush(user.id, 'deposit.succeeded');
    expect([job.state, job.retryCount]).toEqual(['completed', 1]);
    expect(servers.expo.pushesTo(token)).toHaveLength(1);
    const [delivery] = await t.database.primary.select().from(notificationDeliveries).where(eq(notificationDeliveries.id, deliveryId));
    expect([delivery?.status, delivery?.attempts]).toEqual(['sent', 2]);
  });

  test('the outbox under a duplicate dispatch job (a second instance, a retry) notifies once', async () => {
    const user = await signUp(t, 'e2e-dup');
    const token = await register(user);
    await t.database.primary.transaction((tx) =>
      recordEvents(tx, new Date(), [
        { topic: 'withdrawal.paid', recipientId: user.id, subject: { type: 'withdrawal', id: crypto.randomUUID() }, payload: { amount: 900, currency: 'usd' } },
      ]),
    );
    const [event] = (await eventsFor(t.database.primary, user.id)).slice(-1);
    if (!event) throw new Error('no event');
    // What every instance hearing the NOTIFY sends (the relay sent it too): the same job id, inserted once.
    // At the relay's priority: the start-up sweep's backlog (earlier test files' events) waits behind them.
    const live = { priority: LIVE_DISPATCH_PRIORITY };
    await t.jobs.send(DISPATCH_JOB, { eventId: event.id }, { id: dispatchJobId(event.id), ...live });
    await t.jobs.send(DISPATCH_JOB, { eventId: event.id }, { id: dispatchJobId(event.id), ...live });
    // A job of another id for the same event (as a sweep after a lost job would): it finds the event delivered.
    const duplicate = await t.jobs.send(DISPATCH_JOB, { eventId: event.id }, live);
    if (!duplicate) throw new Error('duplicate not enqueued');
    await t.jobs.waitForJob(DISPATCH_JOB, dispatchJobId(event.id), { timeoutMs: 20_000 });
    await t.jobs.waitForJob(DISPATCH_JOB, duplicate, { timeoutMs: 20_000 });
    await finishedPush(user.id, 'withdrawal.paid');
    const dispatchJobs = (await t.jobs.findJobs(DISPATCH_JOB)).filter((job) => (job.data as { eventId?: number }).eventId === event.id);
    expect(dispatchJobs.map((job) => job.state)).toEqual(['completed', 'completed']);
    expect(await t.database.primary.select().from(notifications).where(eq(notifications.eventId, event.id))).toHaveLength(1);
    expect(servers.expo.pushesTo(token)).toHaveLength(1);
  });

  test('regression (CI of issue 11): a live event is dispatched ahead of a sweep backlog, not after it', async () => {
    // The bug: every dispatch job had one priority, so the sweep at start-up (the undelivered events of
    // every earlier test, up to a thousand) ran first and a live notification waited past 10 s.
    const idle = await signUp(t, 'e2e-backlog');
    const at = new Date(Date.now() - 60_000);
    // Written without the NOTIFY (as events committed while no instance listened): only a sweep finds them.
    const backlog = await t.database.primary
      .insert(outboxEvents)
      .values(Array.from({ length: 300 }, () => ({ topic: 'deposit.succeeded', recipientId: idle.id, subjectType: 'deposit', subjectId: crypto.randomUUID(), payload: { amount: 100, currency: 'usd' }, createdAt: at })))
      .returning({ id: outboxEvents.id });
    const sweep = await t.jobs.send(SWEEP_JOB, { minAgeSeconds: 0 });
    if (!sweep) throw new Error('sweep not enqueued');
    await t.jobs.waitForJob(SWEEP_JOB, sweep, { timeoutMs: 20_000 });

    const user = await signUp(t, 'e2e-live');
    await t.database.primary.transaction((tx) =>
      recordEvents(tx, new Date(), [
        { topic: 'withdrawal.paid', recipientId: user.id, subject: { type: 'withdrawal', id: crypto.randomUUID() }, payload: { amount: 500, currency: 'usd' } },
      ]),
    );
    const [live] = (await eventsFor(t.database.primary, user.id)).slice(-1);
    if (!live) throw new Error('no live event');
    await t.jobs.waitForJob(DISPATCH_JOB, dispatchJobId(live.id), { timeoutMs: 20_000 });
    const backlogIds = new Set(backlog.map((row) => row.id));
    const waiting = (await t.jobs.findJobs(DISPATCH_JOB)).filter(
      (job) => backlogIds.has((job.data as { eventId: number }).eventId) && job.state === 'created',
    );
    expect(waiting.length).toBeGreaterThan(0);
  });
});
