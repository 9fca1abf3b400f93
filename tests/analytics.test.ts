/**
 * Analytics on the real cluster (issue 13, item 4): events written through the outbox where the
 * thing happens and recorded by the outbox's dispatch (the app's own queue works them), daily
 * rollups by the job on a moved clock (no sleeps), the admin's and a poster's reports, who may read
 * them, forwarding to a local Mixpanel-compatible server with no personal data, and
 * ENABLE_ANALYTICS=false recording nothing.
 *
 * The marketplace clock is put on days far beyond any other test's (and beyond any rollup already
 * in the database), so the days these tests read hold only their own events.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { type AnalyticsEvent, analyticsDaily, analyticsEvents, analyticsForwards, outboxEvents, selectRows } from '../src/db';
import { type LocalMixpanel, startLocalMixpanel } from '../src/dev/mixpanel-local';
import { analyticsForwardDropped } from '../src/lib/metrics';
import { ANALYTICS_TOPICS, bountyEvent } from '../src/modules/analytics/events';
import { forwardQueued, GIVE_UP_AFTER_MS } from '../src/modules/analytics/forward';
import { ANALYTICS_ROLLUP_JOB } from '../src/modules/analytics/jobs';
import { analyticsRecorder } from '../src/modules/analytics/recorder';
import { addDays, runRollups, utcDay } from '../src/modules/analytics/rollup';
import { mixpanelSink } from '../src/modules/analytics/sink';
import { platformFee } from '../src/modules/ledger';
import { NOTIFICATION_CATALOG } from '../src/modules/notifications/catalog';
import { dispatchEvent } from '../src/modules/notifications/dispatch';
import { recordEvents } from '../src/modules/outbox';
import { createAdmin, createStaff, signUp, type TestAccount } from './support/accounts';
import { apply, createDraft, publish, send, submission } from './support/bounties';
import { conversationOf, said } from './support/conversations';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { fund } from './support/ledger';
import { captureLogs, LOG_LEVELS } from './support/logs';
import { at, items, readJson } from './support/json';
import { depositByCard, moneyPost, onboard } from './support/money';
import { waitFor } from './support/wait';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const MIXPANEL_TOKEN = 'local-mixpanel-project-token';
const SECRET_TEXT = 'my private phone is 555-0199, call me';

/** A day after every rollup and event already stored (other runs, other files), at 09:00 UTC. */
async function freshBase(t: TestApp): Promise<Date> {
  const [row] = await selectRows(
    t.database.primary,
    sql`select greatest(now(), (select max(day)::timestamptz from analytics_daily), (select max(occurred_at) from analytics_events)) as latest`,
    z.object({ latest: z.coerce.date() }),
  );
  const day = utcDay(new Date((row?.latest ?? new Date()).getTime() + (400 + Math.floor(Math.random() * 200)) * DAY_MS));
  return new Date(`${day}T09:00:00.000Z`);
}

const eventsOfBounties = (t: TestApp, ids: string[]) => t.database.primary.select().from(analyticsEvents).where(inArray(analyticsEvents.bountyId, ids));
const eventsOfUsers = (t: TestApp, ids: string[]) => t.database.primary.select().from(analyticsEvents).where(inArray(analyticsEvents.userId, ids));

/** Waits until the dispatch recorded `count` events of `name` about the bounties. */
async function recorded(t: TestApp, bountyIds: string[], name: AnalyticsEvent['name'], count: number): Promise<AnalyticsEvent[]> {
  return waitFor(`${count} × ${name} recorded`, async () => {
    const rows = (await eventsOfBounties(t, bountyIds)).filter((row) => row.name === name);
    return rows.length >= count ? rows : null;
  }, 20_000);
}

/**
 * Waits until each of `names` is recorded about the bounties; returns every event about them.
 * Regression (CI of issue 13): waiting for the last step's event alone read the others before
 * their dispatch jobs had run, since the queue works events in no set order.
 */
async function recordedNames(t: TestApp, bountyIds: string[], names: readonly AnalyticsEvent['name'][]): Promise<AnalyticsEvent[]> {
  return waitFor(`${names.join(', ')} recorded`, async () => {
    const rows = await eventsOfBounties(t, bountyIds);
    return names.every((name) => rows.some((row) => row.name === name)) ? rows : null;
  }, 20_000);
}

describe.skipIf(!hasCluster)('analytics, recorded from the outbox', () => {
  let t: TestApp;
  let mixpanel: LocalMixpanel;
  let admin: TestAccount;
  const clock = testClock();

  beforeAll(async () => {
    mixpanel = startLocalMixpanel();
    t = await startTestApp(
      { MIXPANEL_TOKEN, MIXPANEL_API_HOST: mixpanel.host, MIXPANEL_PROTOCOL: 'http' },
      { clock: clock.now, work: true },
    );
    clock.set(await freshBase(t));
    admin = await createAdmin(t, 'analytics-admin');
  });
  afterAll(async () => {
    await t.close();
    await mixpanel.stop();
  });

  /** A poster with money for `reward`, a draft published at the clock's time; returns its id. */
  async function published(poster: TestAccount, reward: number): Promise<string> {
    const id = await createDraft(t, poster, { reward: { amount: reward, currency: 'usd' } });
    await fund(t.database, poster.id, reward);
    const sent = await publish(t, poster, id);
    expect(sent.status).toBe(200);
    return id;
  }
  async function accepted(poster: TestAccount, hunter: TestAccount, bountyId: string): Promise<void> {
    const requestId = await apply(t, hunter, bountyId);
    expect((await send(t, poster, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);
  }
  const step = async (account: TestAccount, bountyId: string, path: string, body?: unknown) => {
    const sent = await send(t, account, 'POST', `/bounties/${bountyId}/${path}`, body);
    expect([path, sent.status]).toEqual([path, 200]);
  };

  test('every analytics topic is a "no notification" entry of the catalog', () => {
    for (const topic of Object.values(ANALYTICS_TOPICS)) expect([topic, NOTIFICATION_CATALOG[topic]?.category]).toEqual([topic, null]);
  });

  test("a bounty's life is recorded once per occurrence, with amounts and durations; a request, a message, a signup, a deposit and a payout too", async () => {
    const start = clock.now();
    const [poster, hunter] = await Promise.all([signUp(t, 'an-poster', 'Ann Poster'), signUp(t, 'an-hunter', 'Hal Hunter')]);
    await onboard(t, hunter);
    const reward = 10_000;
    const fee = platformFee(reward, t.config.marketplace.platformFeeBps);
    const id = await published(poster, reward);
    clock.advance(2 * HOUR_MS);
    const requestId = await apply(t, hunter, id);
    const conversationId = await conversationOf(t, hunter, id);
    if (!conversationId) throw new Error('no conversation');
    await said(t, hunter, conversationId, SECRET_TEXT);
    clock.advance(HOUR_MS);
    expect((await send(t, poster, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);
    clock.set(new Date(start.getTime() + DAY_MS + HOUR_MS));
    await step(hunter, id, 'submit', submission);
    clock.advance(3 * HOUR_MS);
    await step(poster, id, 'approve');

    // Each event has its own dispatch job, run in no set order: wait for all six, not the last one.
    const lifeEvents = await recordedNames(t, [id], ['bounty.accepted', 'bounty.completed', 'bounty.created', 'bounty.published', 'message.sent', 'request.created']);
    expect(lifeEvents).toHaveLength(6);
    const byName = Object.fromEntries(lifeEvents.map((row) => [row.name, row]));
    const completed = byName['bounty.completed'];
    expect(byName['bounty.created']).toMatchObject({ userId: poster.id, posterId: poster.id, amount: reward, currency: 'usd', occurredAt: start });
    expect(byName['bounty.published']).toMatchObject({ userId: poster.id, posterId: poster.id, amount: reward, currency: 'usd', occurredAt: start });
    expect(byName['request.created']).toMatchObject({ userId: hunter.id, posterId: poster.id, hunterId: hunter.id });
    expect(byName['message.sent']).toMatchObject({ userId: hunter.id, posterId: poster.id, hunterId: hunter.id, amount: null });
    // Three hours from publication to acceptance; three from the submission to the approval.
    expect(byName['bounty.accepted']).toMatchObject({ userId: poster.id, hunterId: hunter.id, seconds: 3 * 3_600 });
    expect(completed).toMatchObject({ userId: poster.id, posterId: poster.id, hunterId: hunter.id, amount: reward, fee, currency: 'usd', seconds: 3 * 3_600 });

    // Money through its real paths: a card deposit (the webhook's credit) and a payout (the job's success).
    await depositByCard(t, poster, 2_500);
    const withdrawn = hunter.jar.store(await t.request('/wallet/withdrawals', moneyPost(hunter, { amount: { amount: 1_000, currency: 'usd' } })));
    expect(withdrawn.status).toBe(201);
    const money = await waitFor('the deposit and the payout recorded', async () => {
      const found = (await eventsOfUsers(t, [poster.id, hunter.id])).filter((row) => row.name === 'deposit.succeeded' || row.name === 'payout.paid');
      return found.length >= 2 ? found : null;
    }, 30_000);
    expect(money.map((row) => [row.name, row.userId, row.amount, row.currency]).sort()).toEqual([
      ['deposit.succeeded', poster.id, 2_500, 'usd'],
      ['payout.paid', hunter.id, 1_000, 'usd'],
    ]);
    const signups = await waitFor('both signups recorded', async () => {
      const found = (await eventsOfUsers(t, [poster.id, hunter.id])).filter((row) => row.name === 'user.signed_up');
      return found.length >= 2 ? found : null;
    });
    expect(signups.map((row) => row.userId).sort()).toEqual([poster.id, hunter.id].sort());

    // Nothing recorded twice: one row per outbox event, whatever is dispatched again.
    const all = await eventsOfUsers(t, [poster.id, hunter.id]);
    expect(new Set(all.map((row) => row.eventId)).size).toBe(all.length);
    const outboxId = completed?.eventId ?? 0;
    expect(await dispatchEvent(t.database.primary, outboxId, { now: clock.now(), jobs: t.jobs })).toBe('already_delivered');
    const [event] = await t.database.primary.select().from(outboxEvents).where(eq(outboxEvents.id, outboxId));
    if (!event) throw new Error('no outbox event');
    const recorder = analyticsRecorder(t.config.analytics);
    const { logger } = captureLogs();
    await t.database.primary.transaction(async (tx) => {
      await recorder(tx, event, { now: clock.now(), logger });
      await recorder(tx, event, { now: clock.now(), logger });
    });
    expect(await t.database.primary.select().from(analyticsEvents).where(eq(analyticsEvents.eventId, outboxId))).toHaveLength(1);
  }, 90_000);

  test('a recorder that fails holds nothing back: the dispatch goes on in the same transaction, and the failure is logged', async () => {
    const { logger, lines } = captureLogs('error');
    const recorder = analyticsRecorder(t.config.analytics);
    const broken = {
      id: Number.MAX_SAFE_INTEGER,
      topic: ANALYTICS_TOPICS['bounty.created'],
      recipientId: 'someone',
      subjectType: 'bounty',
      subjectId: crypto.randomUUID(),
      payload: {},
      // A time the database cannot take: the insert fails inside the recorder's savepoint.
      createdAt: new Date(Number.NaN),
      deliveredAt: null,
    };
    const after = await t.database.primary.transaction(async (tx) => {
      await recorder(tx, broken, { now: clock.now(), logger });
      const [row] = await selectRows(tx, sql`select 1 as one`, z.object({ one: z.number() }));
      return row?.one;
    });
    expect(after).toBe(1);
    expect(lines.filter((line) => line.level === LOG_LEVELS.error && line.msg === 'analytics: an outbox event was not recorded')).toHaveLength(1);
    expect(await t.database.primary.select().from(analyticsEvents).where(eq(analyticsEvents.eventId, Number.MAX_SAFE_INTEGER))).toHaveLength(0);
  });

  describe('rollups by a moved clock, and who reads them', () => {
    let day0 = '';
    let day1 = '';
    const posters = {} as Record<'p1' | 'p2', TestAccount>;
    const hunters = {} as Record<'h1' | 'h2', TestAccount>;
    let bountyIds: string[] = [];
    const rewards = { a: 10_000, b: 4_000, c: 6_000, e: 3_000 };

    /**
     * Day 0: P1 publishes A (10,000) and B (4,000), P2 publishes C (6,000) at 09:00 and E (3,000,
     * never taken) at 10:00; A is accepted after 2 h, B after 4 h, C after 6 h. Day 1: all three
     * submitted at 09:00; A approved at 12:00 (3 h), C at 14:00 (5 h); B disputed by its poster.
     */
    beforeAll(async () => {
      clock.set(new Date(clock.now().getTime() + 10 * DAY_MS));
      const start = new Date(`${utcDay(clock.now())}T09:00:00.000Z`);
      clock.set(start);
      day0 = utcDay(start);
      day1 = addDays(day0, 1);
      [posters.p1, posters.p2, hunters.h1, hunters.h2] = await Promise.all([
        signUp(t, 'ro-p1'),
        signUp(t, 'ro-p2'),
        signUp(t, 'ro-h1'),
        signUp(t, 'ro-h2'),
      ]);
      await Promise.all([onboard(t, hunters.h1), onboard(t, hunters.h2)]);
      const a = await published(posters.p1, rewards.a);
      const b = await published(posters.p1, rewards.b);
      const c = await published(posters.p2, rewards.c);
      clock.set(new Date(start.getTime() + HOUR_MS));
      const e = await published(posters.p2, rewards.e);
      clock.set(new Date(start.getTime() + 2 * HOUR_MS));
      await accepted(posters.p1, hunters.h1, a);
      clock.set(new Date(start.getTime() + 4 * HOUR_MS));
      await accepted(posters.p1, hunters.h2, b);
      clock.set(new Date(start.getTime() + 6 * HOUR_MS));
      await accepted(posters.p2, hunters.h1, c);
      clock.set(new Date(start.getTime() + DAY_MS));
      await step(hunters.h1, a, 'submit', submission);
      await step(hunters.h2, b, 'submit', submission);
      await step(hunters.h1, c, 'submit', submission);
      clock.set(new Date(start.getTime() + DAY_MS + HOUR_MS));
      await step(posters.p1, b, 'dispute', { reason: 'The layout still breaks at 320 px wide', criteria: [1] });
      clock.set(new Date(start.getTime() + DAY_MS + 3 * HOUR_MS));
      await step(posters.p1, a, 'approve');
      clock.set(new Date(start.getTime() + DAY_MS + 5 * HOUR_MS));
      await step(posters.p2, c, 'approve');
      bountyIds = [a, b, c, e];
      // Every event the rollups count, each kind waited for: dispatch jobs run in no set order.
      await recorded(t, bountyIds, 'bounty.created', 4);
      await recorded(t, bountyIds, 'request.created', 3);
      await recorded(t, bountyIds, 'bounty.published', 4);
      await recorded(t, bountyIds, 'bounty.accepted', 3);
      await recorded(t, bountyIds, 'bounty.completed', 2);
      await recorded(t, bountyIds, 'bounty.disputed', 1);
    }, 120_000);

    const range = () => `from=${day0}&to=${day1}`;
    const overviewOf = async (account: TestAccount) => {
      await t.settle();
      const sent = await send(t, account, 'GET', `/analytics/overview?${range()}`);
      expect(sent.status).toBe(200);
      return at(sent.body, 'data');
    };
    const mineOf = async (account: TestAccount) => {
      await t.settle();
      const sent = await send(t, account, 'GET', `/analytics/me?${range()}`);
      expect(sent.status).toBe(200);
      return at(sent.body, 'data');
    };

    test('the job computes GMV, take rate, the funnel, medians and disputes for the days the clock names; the admin reads them', async () => {
      const before = await overviewOf(admin);
      // Counts come from the rollups: nothing before the job ran.
      expect(at(before, 'daysComputed')).toBe(0);
      expect(at(before, 'funnel', 'published')).toBe(0);

      clock.set(new Date(`${addDays(day1, 1)}T10:00:00.000Z`));
      const jobId = await t.jobs.send(ANALYTICS_ROLLUP_JOB, {});
      if (!jobId) throw new Error('the rollup job was not sent');
      await waitFor('the rollup job', async () => (await t.jobs.findJob(ANALYTICS_ROLLUP_JOB, jobId))?.state === 'completed', 20_000);

      const fees = platformFee(rewards.a, t.config.marketplace.platformFeeBps) + platformFee(rewards.c, t.config.marketplace.platformFeeBps);
      const overview = await overviewOf(admin);
      expect(overview).toMatchObject({
        from: day0,
        to: day1,
        daysComputed: 2,
        money: [{ currency: 'usd', gmv: rewards.a + rewards.c, platformFees: fees, takeRate: Math.round((fees / (rewards.a + rewards.c)) * 10_000) / 10_000, depositVolume: 0, payoutVolume: 0 }],
        activity: { activePosters: 2, activeHunters: 2, bountiesCreated: 4, requests: 3, messages: 0, bountiesSettled: 0 },
        funnel: { published: 4, accepted: 3, completed: 2, acceptRate: 0.75, completionRate: 0.6667 },
        // Medians of 2, 4 and 6 hours, and of 3 and 5 hours.
        timing: { medianSecondsToAccept: 4 * 3_600, medianSecondsToApprove: 4 * 3_600 },
        disputes: { opened: 1, rate: 0.3333 },
      });
      expect(typeof at(overview, 'computedAt')).toBe('string');

      const gmv = await send(t, admin, 'GET', `/analytics/daily?metric=gmv&${range()}`);
      expect(at(gmv.body, 'data', 'points')).toEqual([{ day: day1, currency: 'usd', value: rewards.a + rewards.c }]);
      const publishedByDay = await send(t, admin, 'GET', `/analytics/daily?metric=bounties_published&${range()}`);
      expect(at(publishedByDay.body, 'data', 'points')).toEqual([{ day: day0, currency: null, value: 4 }]);

      // Running the same days again changes nothing.
      await runRollups(t.database.primary, clock.now());
      expect(await overviewOf(admin)).toMatchObject({ funnel: at(overview, 'funnel'), money: at(overview, 'money'), timing: at(overview, 'timing') });
    });

    test('a poster reads only their own bounties; someone who posted nothing reads zeros', async () => {
      const feeA = platformFee(rewards.a, t.config.marketplace.platformFeeBps);
      expect(await mineOf(posters.p1)).toMatchObject({
        money: [{ currency: 'usd', paidOut: rewards.a, platformFees: feeA }],
        activity: { bountiesCreated: 2, requestsReceived: 2 },
        funnel: { published: 2, accepted: 2, completed: 1, acceptRate: 1, completionRate: 0.5 },
        timing: { medianSecondsToAccept: 3 * 3_600, medianSecondsToApprove: 3 * 3_600 },
        disputes: { opened: 1, rate: 0.5 },
      });
      expect(await mineOf(posters.p2)).toMatchObject({
        money: [{ currency: 'usd', paidOut: rewards.c }],
        funnel: { published: 2, accepted: 1, completed: 1 },
        timing: { medianSecondsToAccept: 6 * 3_600, medianSecondsToApprove: 5 * 3_600 },
        disputes: { opened: 0, rate: 0 },
      });
      expect(await mineOf(hunters.h1)).toMatchObject({ money: [], funnel: { published: 0, accepted: 0, completed: 0, acceptRate: null }, timing: { medianSecondsToAccept: null } });
      const series = await send(t, posters.p2, 'GET', `/analytics/me/daily?metric=gmv&${range()}`);
      expect(at(series.body, 'data', 'points')).toEqual([{ day: day1, currency: 'usd', value: rewards.c }]);
      // The marketplace's own figures are not a poster's to pick.
      expect((await send(t, posters.p1, 'GET', `/analytics/me/daily?metric=deposit_volume&${range()}`)).status).toBe(422);
    });

    test('staff routes: anonymous 401, a user and a moderator 403, an admin 200; ranges are bounded', async () => {
      const moderator = await createStaff(t, 'moderator', 'analytics-mod');
      for (const path of [`/analytics/overview?${range()}`, `/analytics/daily?metric=gmv&${range()}`]) {
        expect([path, (await send(t, null, 'GET', path)).status]).toEqual([path, 401]);
        expect([path, (await send(t, posters.p1, 'GET', path)).status]).toEqual([path, 403]);
        expect([path, (await send(t, moderator, 'GET', path)).status]).toEqual([path, 403]);
        expect([path, (await send(t, admin, 'GET', path)).status]).toEqual([path, 200]);
      }
      expect((await send(t, null, 'GET', '/analytics/me')).status).toBe(401);
      const backwards = await send(t, admin, 'GET', `/analytics/overview?from=${day1}&to=${day0}`);
      expect([backwards.status, at(backwards.body, 'error')]).toEqual([422, 'INVALID_RANGE']);
      const long = await send(t, posters.p1, 'GET', `/analytics/me?from=${addDays(day0, -400)}&to=${day0}`);
      expect([long.status, at(long.body, 'error')]).toEqual([422, 'RANGE_TOO_LONG']);
      expect((await send(t, admin, 'GET', '/analytics/overview?from=2030-02-30')).status).toBe(422);
      // Without a range: the 30 days up to today by the marketplace's clock.
      const defaults = await send(t, admin, 'GET', '/analytics/overview');
      expect([at(defaults.body, 'data', 'from'), at(defaults.body, 'data', 'to')]).toEqual([addDays(utcDay(clock.now()), -29), utcDay(clock.now())]);
    });

    test('a late event recomputes its day; days the job missed are caught up', async () => {
      // An event of day 0 dispatched long after (an outage): the next run finds it by when it was recorded.
      clock.set(new Date(`${addDays(day0, 5)}T10:00:00.000Z`));
      await runRollups(t.database.primary, clock.now());
      const late = crypto.randomUUID();
      await t.database.primary.transaction((tx) =>
        recordEvents(tx, new Date(`${day0}T20:00:00.000Z`), [bountyEvent('bounty.created', posters.p2.id, late, { posterId: posters.p2.id, amount: 1_500, currency: 'usd' })]),
      );
      await recorded(t, [late], 'bounty.created', 1);
      clock.set(new Date(`${addDays(day0, 5)}T11:00:00.000Z`));
      const days = await runRollups(t.database.primary, clock.now());
      expect(days).toContain(day0);
      expect(at(await overviewOf(admin), 'activity', 'bountiesCreated')).toBe(5);

      // A draft on day 9, then no run until day 20: the run on day 20 computes the days between.
      clock.set(new Date(`${addDays(day0, 9)}T12:00:00.000Z`));
      const missed = await createDraft(t, posters.p1, { reward: { amount: 2_000, currency: 'usd' } });
      await recorded(t, [missed], 'bounty.created', 1);
      clock.set(new Date(`${addDays(day0, 20)}T12:00:00.000Z`));
      const caughtUp = await runRollups(t.database.primary, clock.now());
      expect(caughtUp).toEqual(expect.arrayContaining([addDays(day0, 6), addDays(day0, 9), addDays(day0, 17), addDays(day0, 20)]));
      await t.settle();
      const series = await send(t, posters.p1, 'GET', `/analytics/me/daily?metric=bounties_created&from=${day0}&to=${addDays(day0, 20)}`);
      expect(at(series.body, 'data', 'points')).toEqual([
        { day: day0, currency: null, value: 2 },
        { day: addDays(day0, 9), currency: null, value: 1 },
      ]);
      const [marker] = await t.database.primary
        .select()
        .from(analyticsDaily)
        .where(and(eq(analyticsDaily.dimension, 'all'), eq(analyticsDaily.day, addDays(day0, 12)), eq(analyticsDaily.metric, 'events')));
      expect(marker?.value).toBe(0);
    }, 60_000);
  });

  test('after an outage longer than a run can cover, the runs that follow compute every day since, however the days were cut', async () => {
    // Day X: one event, and a run. Then the job is down for 100 days while 79 days get an event.
    const base = await freshBase(t);
    const dayX = utcDay(base);
    const posterId = `outage-${crypto.randomUUID()}`;
    const created = () => bountyEvent('bounty.created', posterId, crypto.randomUUID(), { posterId, amount: 1_000, currency: 'usd' });
    clock.set(base);
    await t.database.primary.transaction((tx) => recordEvents(tx, base, [created()]));
    const eventsOf = async (count: number) =>
      waitFor(`${count} events recorded`, async () => {
        const rows = await t.database.primary.select().from(analyticsEvents).where(eq(analyticsEvents.posterId, posterId));
        return rows.length >= count ? rows : null;
      }, 20_000);
    await eventsOf(1);
    clock.set(new Date(`${dayX}T10:00:00.000Z`));
    expect(await runRollups(t.database.primary, clock.now())).toContain(dayX);

    // Dispatched when the outage ends (the outbox waited too), hours before the job's first run.
    clock.set(new Date(`${addDays(dayX, 100)}T09:00:00.000Z`));
    await t.database.primary.transaction(async (tx) => {
      for (let day = 1; day <= 79; day += 1) {
        await recordEvents(tx, new Date(`${addDays(dayX, day)}T12:00:00.000Z`), [created()]);
      }
    });
    await eventsOf(80);

    // The job's runs, every 15 minutes, until one has nothing left but the recent days.
    const catchUp = async (today: string) => {
      clock.set(new Date(`${today}T12:00:00.000Z`));
      const recent = [addDays(today, -2), addDays(today, -1), today];
      for (let run = 1; run <= 10; run += 1) {
        const days = await runRollups(t.database.primary, clock.now());
        if (days.every((day) => recent.includes(day))) return run;
        clock.advance(15 * 60_000);
      }
      throw new Error('the rollups never caught up');
    };
    const report = async (to: string) => {
      await t.settle();
      const range = `from=${dayX}&to=${to}`;
      const overview = await send(t, admin, 'GET', `/analytics/overview?${range}`);
      const series = await send(t, admin, 'GET', `/analytics/daily?metric=bounties_created&${range}`);
      return {
        daysComputed: at(overview.body, 'data', 'daysComputed'),
        created: at(overview.body, 'data', 'activity', 'bountiesCreated'),
        points: items(at(series.body, 'data', 'points')).map((point) => [at(point, 'day'), at(point, 'value')]),
      };
    };
    expect(await catchUp(addDays(dayX, 100))).toBeGreaterThan(1);
    expect(await report(addDays(dayX, 100))).toEqual({
      daysComputed: 101,
      created: 80,
      points: Array.from({ length: 80 }, (_, day) => [addDays(dayX, day), 1]),
    });

    // A second late event for each of those 79 days, now all computed: more late days than a run takes.
    clock.set(new Date(`${addDays(dayX, 101)}T09:00:00.000Z`));
    await t.database.primary.transaction(async (tx) => {
      for (let day = 1; day <= 79; day += 1) await recordEvents(tx, new Date(`${addDays(dayX, day)}T18:00:00.000Z`), [created()]);
    });
    await eventsOf(159);
    expect(await catchUp(addDays(dayX, 101))).toBeGreaterThan(1);
    expect(await report(addDays(dayX, 101))).toEqual({
      daysComputed: 102,
      created: 159,
      points: Array.from({ length: 80 }, (_, day) => [addDays(dayX, day), day === 0 ? 1 : 2]),
    });
  }, 90_000);

  test('forwarding reaches the local Mixpanel server with user ids and figures only: no email, name, title or message text', async () => {
    const [poster, hunter] = await Promise.all([signUp(t, 'mp-poster', 'Mona Private'), signUp(t, 'mp-hunter', 'Harry Secret')]);
    const id = await published(poster, 2_000);
    await apply(t, hunter, id);
    const conversationId = await conversationOf(t, hunter, id);
    if (!conversationId) throw new Error('no conversation');
    await said(t, hunter, conversationId, SECRET_TEXT);
    await recordedNames(t, [id], ['bounty.created', 'bounty.published', 'request.created', 'message.sent']);
    const ours = await waitFor('both signups recorded', async () => {
      const rows = await eventsOfUsers(t, [poster.id, hunter.id]);
      return rows.filter((row) => row.name === 'user.signed_up').length === 2 ? rows : null;
    });
    const sink = mixpanelSink(t.config.analytics);
    if (!sink) throw new Error('no Mixpanel sink with a token');
    const { logger } = captureLogs();

    // A refused request is sent again in halves: one failure delays nothing.
    mixpanel.failNext(1);
    await waitFor('the queue to drain', async () => {
      await forwardQueued(t.database.primary, sink, logger, clock.now());
      const left = await t.database.primary.select().from(analyticsForwards).where(inArray(analyticsForwards.eventId, ours.map((row) => row.eventId)));
      return left.length === 0;
    });

    const received = await mixpanel.waitForEvents((events) => ours.every((row) => events.some((event) => event.properties.$insert_id === `bx-${row.eventId}`)));
    for (const row of ours) {
      const event = received.find((candidate) => candidate.properties.$insert_id === `bx-${row.eventId}`);
      expect([row.name, event?.event, event?.properties.distinct_id, event?.properties.token]).toEqual([row.name, row.name, row.userId, MIXPANEL_TOKEN]);
    }
    const message = received.find((event) => event.event === 'message.sent' && event.properties.distinct_id === hunter.id);
    expect(message?.properties).toMatchObject({ bounty_id: id, poster_id: poster.id, hunter_id: hunter.id });
    const everything = mixpanel.rawPayloads.join('\n');
    for (const secret of [poster.email, hunter.email, 'Mona Private', 'Harry Secret', SECRET_TEXT, '555-0199', 'Fix the checkout page layout']) {
      expect([secret, everything.includes(secret)]).toEqual([secret, false]);
    }
  }, 60_000);

  test('a Mixpanel outage loses nothing: the events wait, then each arrives once; an event it always refuses holds nobody back and is given up after 4 days', async () => {
    const sink = mixpanelSink(t.config.analytics);
    if (!sink) throw new Error('no Mixpanel sink with a token');
    const { logger } = captureLogs();
    const forward = () => forwardQueued(t.database.primary, sink, logger, clock.now());
    const droppedSoFar = async () => (await analyticsForwardDropped.get()).values[0]?.value ?? 0;

    // Mixpanel is down before the events are queued, so no run (the app's job runs too) sends them early.
    mixpanel.down(true);
    const posterId = `mp-outage-${crypto.randomUUID()}`;
    const bountyIds = Array.from({ length: 120 }, () => crypto.randomUUID());
    await t.database.primary.transaction((tx) => recordEvents(tx, clock.now(), bountyIds.map((bountyId) => bountyEvent('bounty.created', posterId, bountyId, { posterId }))));
    const ours = await waitFor('120 events recorded', async () => {
      const rows = await eventsOfBounties(t, bountyIds);
      return rows.length === bountyIds.length ? rows : null;
    }, 20_000);
    const queued = () => t.database.primary.select().from(analyticsForwards).where(inArray(analyticsForwards.eventId, ours.map((row) => row.eventId)));
    expect(await queued()).toHaveLength(120);

    // Half an hour down, a run a minute: every run fails, nothing is dropped.
    let failedRuns = 0;
    for (let minute = 0; minute < 30; minute += 1) {
      clock.advance(60_000);
      const run = await forward();
      expect(run.sent).toBe(0);
      if (run.outage) failedRuns += 1;
    }
    expect(failedRuns).toBeGreaterThan(10);
    expect(await queued()).toHaveLength(120);

    // Back up, but one event (the 38th, amid others in its request) is refused whenever it is sent.
    const bad = ours.find((row) => row.bountyId === bountyIds[37]);
    if (!bad) throw new Error('no event for the bad bounty');
    mixpanel.refuse((event) => event.properties.bounty_id === bad.bountyId);
    mixpanel.down(false);
    for (let minute = 0; minute < 5 && (await queued()).length > 1; minute += 1) {
      clock.advance(60_000);
      await forward();
    }
    const left = await queued();
    expect(left.map((row) => [row.eventId, row.attempts > 0])).toEqual([[bad.eventId, true]]);
    const received = mixpanel.events.filter((event) => event.properties.poster_id === posterId).map((event) => event.properties.$insert_id);
    expect([...received].sort()).toEqual(ours.filter((row) => row !== bad).map((row) => `bx-${row.eventId}`).sort());

    // Still refused 4 days after it was queued: given up, counted.
    const dropped = await droppedSoFar();
    clock.set(new Date((left[0]?.queuedAt.getTime() ?? 0) + GIVE_UP_AFTER_MS + 60_000));
    await forward();
    expect(await queued()).toEqual([]);
    expect((await droppedSoFar()) - dropped).toBeGreaterThanOrEqual(1);
    mixpanel.refuse(null);
  }, 60_000);
});

describe.skipIf(!hasCluster)('ENABLE_ANALYTICS=false', () => {
  let t: TestApp;
  const clock = testClock();

  beforeAll(async () => {
    t = await startTestApp({ ENABLE_ANALYTICS: 'false' }, { clock: clock.now, work: true });
    clock.set(await freshBase(t));
  });
  afterAll(() => t.close());

  test('records nothing (the outbox still delivers), and every route answers 404 ANALYTICS_DISABLED after the session check', async () => {
    const startId = Number(at((await t.database.primary.select({ id: sql<number>`coalesce(max(${outboxEvents.id}), 0)::int` }).from(outboxEvents))[0], 'id'));
    const [poster, hunter] = await Promise.all([signUp(t, 'off-poster'), signUp(t, 'off-hunter')]);
    const id = await createDraft(t, poster, { reward: { amount: 2_000, currency: 'usd' } });
    await fund(t.database, poster.id, 2_000);
    expect((await publish(t, poster, id)).status).toBe(200);
    await apply(t, hunter, id);
    const conversationId = await conversationOf(t, hunter, id);
    if (!conversationId) throw new Error('no conversation');
    await said(t, hunter, conversationId, 'hello');
    // Every outbox event since the start is dispatched (delivered), analytics topics included.
    const topics = await waitFor('the outbox delivered', async () => {
      const rows = await t.database.primary.select().from(outboxEvents).where(gt(outboxEvents.id, startId));
      const ours = rows.filter((row) => [poster.id, hunter.id].includes(row.recipientId));
      return ours.length >= 6 && ours.every((row) => row.deliveredAt !== null) ? ours.map((row) => row.topic) : null;
    }, 20_000);
    expect(topics).toEqual(expect.arrayContaining(['analytics.user_signed_up', 'analytics.bounty_created', 'analytics.bounty_published', 'request.created', 'analytics.message_sent']));
    expect(await eventsOfUsers(t, [poster.id, hunter.id])).toEqual([]);
    expect(await eventsOfBounties(t, [id])).toEqual([]);

    // The rollup job does nothing either.
    const jobId = await t.jobs.send(ANALYTICS_ROLLUP_JOB, {});
    if (!jobId) throw new Error('the rollup job was not sent');
    await waitFor('the rollup job', async () => (await t.jobs.findJob(ANALYTICS_ROLLUP_JOB, jobId))?.state === 'completed', 20_000);
    expect(await t.database.primary.select().from(analyticsDaily).where(eq(analyticsDaily.day, utcDay(clock.now())))).toEqual([]);

    const admin = await createAdmin(t, 'off-admin');
    for (const [account, path] of [[admin, '/analytics/overview'], [admin, '/analytics/daily?metric=gmv'], [poster, '/analytics/me'], [poster, '/analytics/me/daily?metric=gmv']] as const) {
      const sent = await send(t, account, 'GET', path);
      expect([path, sent.status, at(sent.body, 'error')]).toEqual([path, 404, 'ANALYTICS_DISABLED']);
    }
    expect((await send(t, null, 'GET', '/analytics/me')).status).toBe(401);
    expect((await send(t, poster, 'GET', '/analytics/overview')).status).toBe(403);
    expect(items(at(await readJson(await t.request('/swagger/json')), 'tags')).some((tag) => at(tag, 'name') === 'analytics')).toBe(true);
  }, 60_000);
});
