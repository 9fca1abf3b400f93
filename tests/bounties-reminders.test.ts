/**
 * Every deadline a timer enforces is announced to both sides first (issue 11: "every timer of the
 * marketplace notifies both sides"): 24 hours before an open bounty expires, the poster and its
 * pending applicants; 24 hours before an unanswered dispute goes to an admin, the poster and the
 * hunter (the side that must answer marked). By moving the clock, never sleeping.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../src/lib/logger';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { eventsFor } from '../src/modules/outbox';
import { signUp } from './support/accounts';
import { apply, bountyOf, openBounty, send, stateOf, submittedBounty } from './support/bounties';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { at } from './support/json';
import { onboard } from './support/money';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe.skipIf(!hasCluster)('reminders before the marketplace timers', () => {
  let t: TestApp;
  const clock = testClock();
  const fireTimers = () => fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'silent' }));
  const topicsFor = async (userId: string, bountyId: string, topic: string) =>
    (await eventsFor(t.database.primary, userId)).filter((event) => event.topic === topic && event.subjectId === bountyId);

  beforeAll(async () => {
    t = await startTestApp({}, { clock: clock.now, work: false });
  });
  afterAll(() => t.close());

  test('24 hours before an open bounty expires, the poster and each pending applicant hear it; not before, and only once', async () => {
    const start = clock.now();
    try {
      const [poster, applicant, withdrawn] = await Promise.all([signUp(t, 'expiry-poster'), signUp(t, 'expiry-applicant'), signUp(t, 'expiry-withdrawn')]);
      const id = await openBounty(t, poster);
      await apply(t, applicant, id);
      const leaving = await apply(t, withdrawn, id);
      expect((await send(t, withdrawn, 'POST', `/requests/${leaving}/withdraw`)).status).toBe(200);
      const deadline = new Date(String(at((await send(t, poster, 'GET', `/bounties/${id}`)).body, 'data', 'deadline'))).getTime();
      const expiresAt = deadline + t.config.marketplace.expiryGraceHours * HOUR_MS;

      clock.set(new Date(expiresAt - 24 * HOUR_MS - 60_000));
      await fireTimers();
      expect(await topicsFor(poster.id, id, 'bounty.expiry_reminder')).toHaveLength(0);

      clock.set(new Date(expiresAt - 24 * HOUR_MS));
      await fireTimers();
      const [toPoster] = await topicsFor(poster.id, id, 'bounty.expiry_reminder');
      expect(at(toPoster?.payload, 'expiresAt')).toBe(new Date(expiresAt).toISOString());
      expect(await topicsFor(applicant.id, id, 'bounty.expiry_reminder')).toHaveLength(1);
      // A hunter who withdrew is no longer waiting on it.
      expect(await topicsFor(withdrawn.id, id, 'bounty.expiry_reminder')).toHaveLength(0);

      clock.set(new Date(expiresAt));
      await fireTimers();
      expect(stateOf(await bountyOf(t, poster, id))).toBe('cancelled');
      expect(await topicsFor(poster.id, id, 'bounty.expiry_reminder')).toHaveLength(1);
    } finally {
      clock.set(start);
    }
  });

  test('a bounty accepted before the reminder is due is not reminded of an expiry that will not come', async () => {
    const start = clock.now();
    try {
      const [poster, hunter] = await Promise.all([signUp(t, 'expiry-accepted-poster'), signUp(t, 'expiry-accepted-hunter')]);
      await onboard(t, hunter);
      const id = await openBounty(t, poster);
      const request = await apply(t, hunter, id);
      expect((await send(t, poster, 'POST', `/requests/${request}/accept`)).status).toBe(200);
      clock.set(new Date(clock.now().getTime() + 30 * DAY_MS));
      await fireTimers();
      expect(await topicsFor(poster.id, id, 'bounty.expiry_reminder')).toHaveLength(0);
    } finally {
      clock.set(start);
    }
  });

  test('24 hours before an unanswered dispute escalates, both sides hear it, the answering side marked; an answered one stays quiet', async () => {
    const start = clock.now();
    try {
      const [poster, hunter, poster2, hunter2] = await Promise.all([
        signUp(t, 'dispute-poster'),
        signUp(t, 'dispute-hunter'),
        signUp(t, 'answered-poster'),
        signUp(t, 'answered-hunter'),
      ]);
      await Promise.all([onboard(t, hunter), onboard(t, hunter2)]);
      const id = await submittedBounty(t, poster, hunter);
      const answeredId = await submittedBounty(t, poster2, hunter2);
      const openedAt = clock.now().getTime();
      expect((await send(t, poster, 'POST', `/bounties/${id}/dispute`, { reason: 'Breaks at 320 px', criteria: [1] })).status).toBe(200);
      expect((await send(t, poster2, 'POST', `/bounties/${answeredId}/dispute`, { reason: 'Breaks at 320 px', criteria: [1] })).status).toBe(200);
      expect((await send(t, hunter2, 'POST', `/bounties/${answeredId}/respond-dispute`, { message: 'It works: see the screenshots' })).status).toBe(200);
      const escalatesAt = openedAt + t.config.marketplace.disputeResponseDays * DAY_MS;

      clock.set(new Date(escalatesAt - 24 * HOUR_MS - 60_000));
      await fireTimers();
      expect(await topicsFor(hunter.id, id, 'bounty.dispute_reminder')).toHaveLength(0);

      clock.set(new Date(escalatesAt - 24 * HOUR_MS + 60_000));
      await fireTimers();
      const [toHunter] = await topicsFor(hunter.id, id, 'bounty.dispute_reminder');
      const [toPoster] = await topicsFor(poster.id, id, 'bounty.dispute_reminder');
      expect([at(toHunter?.payload, 'mustAnswer'), at(toPoster?.payload, 'mustAnswer')]).toEqual([true, false]);
      expect(await topicsFor(hunter2.id, answeredId, 'bounty.dispute_reminder')).toHaveLength(0);
      expect(await topicsFor(poster2.id, answeredId, 'bounty.dispute_reminder')).toHaveLength(0);
    } finally {
      clock.set(start);
    }
  });
});
