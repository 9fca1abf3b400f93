/**
 * The lifecycle after acceptance, on the real cluster, each step through the API and each timer
 * by moving the marketplace's clock (no sleeps): submit, request changes (capped, citing
 * criteria), approve (the hunter paid less the fee), auto-approve counted from the LAST
 * submission with its reminders, disputes (answer, escalation, rulings), mutual cancel, unassign,
 * withdraw, the idle-hunter nudge. Money is checked through both wallets after each ending.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../src/lib/logger';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { eventsFor } from '../src/modules/outbox';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { apply, bountyInProgress, bountyOf, openBounty, send, stateOf, submission, submittedBounty } from './support/bounties';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { at, items } from './support/json';
import { onboard, walletOf } from './support/money';

const DAY_MS = 86_400_000;
const REWARD = 5_000;
/** PLATFORM_FEE_BPS 1000 (10 %) of 5000, rounded half up. */
const FEE = 500;

describe.skipIf(!hasCluster)('the bounty lifecycle after acceptance', () => {
  let t: TestApp;
  let admin: TestAccount;
  const clock = testClock();
  const fireTimers = () => fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'silent' }));

  /** A poster and an onboarded hunter of their own: each test's wallets start at zero. */
  async function pair(label: string): Promise<{ poster: TestAccount; hunter: TestAccount }> {
    const [poster, hunter] = await Promise.all([signUp(t, `${label}-poster`), signUp(t, `${label}-hunter`)]);
    await onboard(t, hunter);
    return { poster, hunter };
  }

  /** Moves the clock for one test and puts it back after, so other tests' bounties keep their time. */
  async function withClock(work: () => Promise<void>): Promise<void> {
    const start = clock.now();
    try {
      await work();
    } finally {
      clock.set(start);
    }
  }

  beforeAll(async () => {
    t = await startTestApp({}, { clock: clock.now, work: false });
    admin = await createAdmin(t);
  });
  afterAll(() => t.close());

  test('accepted: in progress with the hunter, who acts next by the deadline; each side sees only its own moves', async () => {
    const { poster, hunter } = await pair('accepted');
    const id = await bountyInProgress(t, poster, hunter);
    const asHunter = await bountyOf(t, hunter, id);
    expect([stateOf(asHunter), at(asHunter.body, 'data', 'hunterId'), at(asHunter.body, 'data', 'nextActionBy')]).toEqual(['in_progress', hunter.id, 'hunter']);
    expect(at(asHunter.body, 'data', 'nextDeadlineAt')).toBe(at(asHunter.body, 'data', 'deadline'));
    expect(at(asHunter.body, 'data', 'allowedTransitions')).toEqual(['withdraw', 'submit', 'propose-cancel']);
    expect(at((await bountyOf(t, poster, id)).body, 'data', 'allowedTransitions')).toEqual(['unassign', 'propose-cancel']);
    expect(at((await bountyOf(t, null, id)).body, 'data', 'allowedTransitions')).toEqual([]);
    // Work under way is not a failure (regression: a first accepted job showed a 0 % completion rate).
    const profile = await send(t, null, 'GET', `/profiles/${hunter.id}`);
    expect(at(profile.body, 'data', 'stats', 'asHunter')).toMatchObject({ accepted: 1, completed: 0, completionRate: null });
  });

  test('submit needs a message and a link; approve pays the hunter the reward less the fee, and the poster pays nothing more', async () => {
    const { poster, hunter } = await pair('approve');
    const id = await bountyInProgress(t, poster, hunter);
    expect((await send(t, hunter, 'POST', `/bounties/${id}/submit`, { message: 'done', links: [] })).status).toBe(422);
    expect((await send(t, hunter, 'POST', `/bounties/${id}/submit`, { message: 'done', links: ['javascript:alert(1)'] })).status).toBe(422);
    const submitted = await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission);
    expect([submitted.status, stateOf(submitted), at(submitted.body, 'data', 'nextActionBy')]).toEqual([200, 'submitted', 'poster']);
    expect(new Date(String(at(submitted.body, 'data', 'nextDeadlineAt'))).getTime()).toBe(clock.now().getTime() + 7 * DAY_MS);
    // The hunter cannot approve their own work.
    expect((await send(t, hunter, 'POST', `/bounties/${id}/approve`)).status).toBe(403);
    const approved = await send(t, poster, 'POST', `/bounties/${id}/approve`);
    expect([approved.status, stateOf(approved), at(approved.body, 'data', 'nextActionBy')]).toEqual([200, 'completed', 'none']);
    const [posterWallet, hunterWallet] = [await walletOf(t, poster), await walletOf(t, hunter)];
    expect([posterWallet.available.amount, posterWallet.inEscrow.amount]).toEqual([0, 0]);
    expect(hunterWallet.available.amount).toBe(REWARD - FEE);
    const twice = await send(t, poster, 'POST', `/bounties/${id}/approve`);
    expect([twice.status, at(twice.body, 'error')]).toEqual([409, 'INVALID_TRANSITION']);
    expect((await walletOf(t, hunter)).available.amount).toBe(REWARD - FEE);
    const submissions = await send(t, poster, 'GET', `/bounties/${id}/submissions`);
    expect(items(at(submissions.body, 'data')).map((row) => at(row, 'links', 0))).toEqual(submission.links);
  });

  test('request changes cites existing criteria, counts against max revisions and stops the auto-approve clock', async () => {
    const { poster, hunter } = await pair('changes');
    const id = await submittedBounty(t, poster, hunter, { maxRevisions: 1 });
    const unknown = await send(t, poster, 'POST', `/bounties/${id}/request-changes`, { message: 'Not done', criteria: [9] });
    expect([unknown.status, at(unknown.body, 'error')]).toEqual([422, 'UNKNOWN_CRITERIA']);
    const changes = await send(t, poster, 'POST', `/bounties/${id}/request-changes`, { message: 'Totals scroll away on iOS', criteria: [2] });
    expect([changes.status, stateOf(changes), at(changes.body, 'data', 'revisionsUsed'), at(changes.body, 'data', 'nextActionBy')]).toEqual([
      200,
      'changes_requested',
      1,
      'hunter',
    ]);
    await withClock(async () => {
      // The auto-approve timer of the first submission finds the bounty moved on.
      clock.advanceDays(8);
      await fireTimers();
      expect(stateOf(await bountyOf(t, poster, id))).toBe('changes_requested');
    });
    expect((await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission)).status).toBe(200);
    const capped = await send(t, poster, 'POST', `/bounties/${id}/request-changes`, { message: 'Again', criteria: [1] });
    expect([capped.status, at(capped.body, 'error')]).toEqual([409, 'TRANSITION_REFUSED']);
    expect(at(capped.body, 'message')).toContain('revisions');
  });

  test('auto-approve: 7 days after the LAST submission, with reminders to the poster 3 and 1 days before, counted from that same moment', async () => {
    const { poster, hunter } = await pair('auto');
    const id = await submittedBounty(t, poster, hunter);
    await withClock(async () => {
      clock.advanceDays(2);
      expect((await send(t, poster, 'POST', `/bounties/${id}/request-changes`, { message: 'One more thing', criteria: [3] })).status).toBe(200);
      expect((await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission)).status).toBe(200);
      const lastSubmission = clock.now().getTime();
      const reminders = async () =>
        (await eventsFor(t.database.primary, poster.id)).filter((event) => event.topic === 'bounty.review_reminder' && event.subjectId === id);
      clock.set(new Date(lastSubmission + 4 * DAY_MS - 60_000));
      await fireTimers();
      expect(await reminders()).toHaveLength(0);
      clock.set(new Date(lastSubmission + 4 * DAY_MS));
      await fireTimers();
      expect((await reminders()).map((event) => at(event.payload, 'daysLeft'))).toEqual([3]);
      clock.set(new Date(lastSubmission + 6 * DAY_MS));
      await fireTimers();
      expect((await reminders()).map((event) => at(event.payload, 'daysLeft'))).toEqual([3, 1]);
      // The first submission's clock (day 7 from the start) does nothing.
      clock.set(new Date(lastSubmission + 7 * DAY_MS - 60_000));
      await fireTimers();
      expect(stateOf(await bountyOf(t, poster, id))).toBe('submitted');
      clock.set(new Date(lastSubmission + 7 * DAY_MS));
      await fireTimers();
      const done = await bountyOf(t, poster, id);
      expect(stateOf(done)).toBe('completed');
      const last = items(at((await send(t, poster, 'GET', `/bounties/${id}/history`)).body, 'data')).at(-1);
      expect([at(last, 'action'), at(last, 'actorRole')]).toEqual(['auto_approve', 'system']);
      // Only one reminder of each kind: the first submission's reminders found it moved on.
      expect(await reminders()).toHaveLength(2);
    });
    expect((await walletOf(t, hunter)).available.amount).toBe(REWARD - FEE);
  });

  test('unassign only before a submission; withdraw by the hunter; both reopen the bounty with no hunter and the escrow still held', async () => {
    const { poster, hunter } = await pair('reopen');
    const id = await bountyInProgress(t, poster, hunter);
    const unassigned = await send(t, poster, 'POST', `/bounties/${id}/unassign`, { reason: 'No word for a week' });
    expect([unassigned.status, stateOf(unassigned), at(unassigned.body, 'data', 'hunterId')]).toEqual([200, 'open', null]);
    expect((await walletOf(t, poster)).inEscrow.amount).toBe(REWARD);
    // An unassigned hunter cannot take it up again by themselves.
    expect((await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission)).status).toBe(403);

    const other = await pair('reopen2');
    const second = await submittedBounty(t, other.poster, other.hunter);
    const late = await send(t, other.poster, 'POST', `/bounties/${second}/unassign`, { reason: 'Changed my mind' });
    expect([late.status, at(late.body, 'error')]).toEqual([409, 'INVALID_TRANSITION']);
    const third = await bountyInProgress(t, other.poster, other.hunter);
    const withdrawn = await send(t, other.hunter, 'POST', `/bounties/${third}/withdraw`, { reason: 'Too busy this month' });
    expect([withdrawn.status, stateOf(withdrawn)]).toEqual([200, 'open']);
    await t.settle();
    const history = items(at((await send(t, other.poster, 'GET', `/bounties/${third}/history`)).body, 'data'));
    expect([at(history.at(-1), 'action'), at(history.at(-1), 'reason'), at(history.at(-1), 'actorId')]).toEqual(['withdraw', 'Too busy this month', other.hunter.id]);
  });

  test('the idle hunter is nudged 3 days after acceptance, once, and not if they submitted', async () => {
    const { poster, hunter } = await pair('idle');
    const idle = await bountyInProgress(t, poster, hunter);
    const busy = await bountyInProgress(t, poster, hunter);
    expect((await send(t, hunter, 'POST', `/bounties/${busy}/submit`, submission)).status).toBe(200);
    await withClock(async () => {
      clock.advanceDays(3);
      await fireTimers();
      await fireTimers();
      const nudges = (await eventsFor(t.database.primary, hunter.id)).filter((event) => event.topic === 'bounty.hunter_nudge');
      expect(nudges.map((event) => event.subjectId)).toEqual([idle]);
    });
  });

  test('a dispute freezes the escrow; the other side answers; an admin rules release, refund or split with a reason', async () => {
    const rulings = [
      { outcome: 'release', hunterGets: REWARD - FEE, posterGets: 0, state: 'completed' },
      { outcome: 'refund', hunterGets: 0, posterGets: REWARD, state: 'cancelled' },
      { outcome: 'split', hunterAmount: 2_000, hunterGets: 2_000 - 200, posterGets: 3_000, state: 'cancelled' },
    ] as const;
    for (const ruling of rulings) {
      const { poster, hunter } = await pair(`ruling-${ruling.outcome}`);
      const id = await submittedBounty(t, poster, hunter);
      const stranger = await send(t, admin, 'POST', `/bounties/${id}/dispute`, { reason: 'Not mine', criteria: [1] });
      expect(stranger.status).toBe(403);
      const disputed = await send(t, poster, 'POST', `/bounties/${id}/dispute`, { reason: 'Breaks at 320 px', criteria: [1] });
      expect([disputed.status, stateOf(disputed), at(disputed.body, 'data', 'nextActionBy')]).toEqual([200, 'disputed', 'hunter']);
      expect((await send(t, poster, 'POST', `/bounties/${id}/approve`)).status).toBe(409);
      // Only the other side answers.
      expect((await send(t, poster, 'POST', `/bounties/${id}/respond-dispute`, { message: 'me again' })).status).toBe(403);
      const answered = await send(t, hunter, 'POST', `/bounties/${id}/respond-dispute`, { message: 'It works: see the screenshots' });
      expect([answered.status, at(answered.body, 'data', 'nextActionBy')]).toEqual([200, 'admin']);
      expect((await send(t, poster, 'POST', `/bounties/${id}/resolve`, { outcome: 'refund', reason: 'I say so' })).status).toBe(403);
      const badSplit = await send(t, admin, 'POST', `/bounties/${id}/resolve`, { outcome: 'split', hunterAmount: REWARD + 1, reason: 'x' });
      expect(badSplit.status).toBe(422);
      const ruled = await send(t, admin, 'POST', `/bounties/${id}/resolve`, {
        outcome: ruling.outcome,
        ...('hunterAmount' in ruling ? { hunterAmount: ruling.hunterAmount } : {}),
        reason: 'Screenshots show criterion 1 met on some devices only',
      });
      expect([ruling.outcome, ruled.status, stateOf(ruled)]).toEqual([ruling.outcome, 200, ruling.state]);
      expect([ruling.outcome, (await walletOf(t, hunter)).available.amount, (await walletOf(t, poster)).available.amount]).toEqual([
        ruling.outcome,
        ruling.hunterGets,
        ruling.posterGets,
      ]);
      const disputes = await send(t, hunter, 'GET', `/bounties/${id}/disputes`);
      expect([at(disputes.body, 'data', 0, 'outcome'), at(disputes.body, 'data', 0, 'criteria')]).toEqual([ruling.outcome, [1]]);
    }
  });

  test('an unanswered dispute escalates to an admin after DISPUTE_RESPONSE_DAYS and is never settled by the timer', async () => {
    const { poster, hunter } = await pair('escalate');
    const id = await submittedBounty(t, poster, hunter);
    expect((await send(t, hunter, 'POST', `/bounties/${id}/dispute`, { reason: 'No answer for days', criteria: [2] })).status).toBe(200);
    await withClock(async () => {
      clock.advanceDays(5);
      await fireTimers();
      // Past the auto-approve time as well: a disputed bounty is not auto-approved.
      clock.advanceDays(30);
      await fireTimers();
    });
    const after = await bountyOf(t, poster, id);
    expect([stateOf(after), at(after.body, 'data', 'nextActionBy')]).toEqual(['disputed', 'admin']);
    expect((await walletOf(t, poster)).inEscrow.amount).toBe(REWARD);
    expect((await walletOf(t, hunter)).available.amount).toBe(0);
    const disputes = await send(t, poster, 'GET', `/bounties/${id}/disputes`);
    expect(at(disputes.body, 'data', 0, 'escalatedAt')).not.toBeNull();
  });

  test('mutual cancel: one proposes a split, only the other accepts it; a proposal lapses after 48 hours', async () => {
    const { poster, hunter } = await pair('mutual');
    const id = await submittedBounty(t, poster, hunter);
    const tooMuch = await send(t, hunter, 'POST', `/bounties/${id}/propose-cancel`, { hunterAmount: REWARD + 1 });
    expect([tooMuch.status, at(tooMuch.body, 'error')]).toEqual([422, 'INVALID_SPLIT']);
    const proposed = await send(t, hunter, 'POST', `/bounties/${id}/propose-cancel`, { hunterAmount: 1_000, reason: 'Half done, parting ways' });
    expect([proposed.status, stateOf(proposed), at(proposed.body, 'data', 'cancelProposal', 'hunterAmount')]).toEqual([200, 'submitted', 1_000]);
    expect((await send(t, hunter, 'POST', `/bounties/${id}/accept-cancel`)).status).toBe(403);
    await withClock(async () => {
      clock.advance(48 * 3_600_000);
      await fireTimers();
    });
    const lapsed = await bountyOf(t, poster, id);
    expect(at(lapsed.body, 'data', 'cancelProposal')).toBeNull();
    expect((await send(t, poster, 'POST', `/bounties/${id}/accept-cancel`)).status).toBe(409);
    // Lapsed while the timers are behind: accepting it is too late all the same.
    expect((await send(t, hunter, 'POST', `/bounties/${id}/propose-cancel`, { hunterAmount: 1_000 })).status).toBe(200);
    await withClock(async () => {
      clock.advance(48 * 3_600_000);
      const late = await send(t, poster, 'POST', `/bounties/${id}/accept-cancel`);
      expect([late.status, at(late.body, 'error')]).toEqual([409, 'TRANSITION_REFUSED']);
      await fireTimers();
    });
    expect((await send(t, hunter, 'POST', `/bounties/${id}/propose-cancel`, { hunterAmount: 1_000 })).status).toBe(200);
    const cancelled = await send(t, poster, 'POST', `/bounties/${id}/accept-cancel`);
    expect([cancelled.status, stateOf(cancelled), at(cancelled.body, 'data', 'cancelReason')]).toEqual([200, 'cancelled', 'mutual']);
    expect((await walletOf(t, hunter)).available.amount).toBe(1_000 - 100);
    expect((await walletOf(t, poster)).available.amount).toBe(REWARD - 1_000);
    // Cancelled after work was accepted: still visible to both sides, never to the public.
    expect((await bountyOf(t, hunter, id)).status).toBe(200);
    expect((await bountyOf(t, null, id)).status).toBe(404);
  });

  test('a declined proposal is gone; an admin cancel refunds with a reason; every step is one history row', async () => {
    const { poster, hunter } = await pair('declined');
    const id = await bountyInProgress(t, poster, hunter);
    expect((await send(t, poster, 'POST', `/bounties/${id}/propose-cancel`, { hunterAmount: 0 })).status).toBe(200);
    expect((await send(t, hunter, 'POST', `/bounties/${id}/decline-cancel`)).status).toBe(200);
    expect(at((await bountyOf(t, poster, id)).body, 'data', 'cancelProposal')).toBeNull();
    expect((await send(t, poster, 'POST', `/bounties/${id}/admin-cancel`, { reason: 'mine' })).status).toBe(403);
    const cancelled = await send(t, admin, 'POST', `/bounties/${id}/admin-cancel`, { reason: 'Reported as a scam and confirmed' });
    expect([cancelled.status, at(cancelled.body, 'data', 'cancelReason')]).toEqual([200, 'admin']);
    expect((await walletOf(t, poster)).available.amount).toBe(REWARD);
    const history = items(at((await send(t, poster, 'GET', `/bounties/${id}/history`)).body, 'data'));
    expect(history.map((row) => at(row, 'action'))).toEqual(['publish', 'accept', 'propose_cancel', 'decline_cancel', 'admin_cancel']);
  });

  test('an admin cancelling a disputed bounty ends the dispute too: refunded, with the admin\'s reason', async () => {
    const { poster, hunter } = await pair('dispute-cancel');
    const id = await submittedBounty(t, poster, hunter);
    expect((await send(t, poster, 'POST', `/bounties/${id}/dispute`, { reason: 'Nothing works', criteria: [1, 2] })).status).toBe(200);
    expect((await send(t, admin, 'POST', `/bounties/${id}/admin-cancel`, { reason: 'Fraudulent listing' })).status).toBe(200);
    await t.settle();
    const disputes = await send(t, poster, 'GET', `/bounties/${id}/disputes`);
    expect([at(disputes.body, 'data', 0, 'outcome'), at(disputes.body, 'data', 0, 'resolution')]).toEqual(['refund', 'Fraudulent listing']);
    expect((await walletOf(t, poster)).available.amount).toBe(REWARD);
    expect((await walletOf(t, hunter)).available.amount).toBe(0);
  });

  test('a hunter who was not accepted cannot submit; an open bounty cannot be submitted to', async () => {
    const { poster, hunter } = await pair('outsider');
    const id = await openBounty(t, poster);
    await apply(t, hunter, id);
    const early = await send(t, hunter, 'POST', `/bounties/${id}/submit`, submission);
    expect(early.status).toBe(403);
  });
});
