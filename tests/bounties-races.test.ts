/**
 * Races on the real cluster: two steps on one bounty at the same moment, each with exactly one
 * winner, the loser refused with the state it lost to, and the escrow paid out exactly once.
 * (Accept against accept, withdraw, cancel and the expiry timer are in tests/requests.test.ts.)
 * Each race runs several rounds, so both orders of arrival happen.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createLogger } from '../src/lib/logger';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { signUp, type TestAccount } from './support/accounts';
import { bountyInProgress, bountyOf, send, stateOf, submission, submittedBounty } from './support/bounties';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { at, items } from './support/json';
import { onboard, walletOf } from './support/money';

const DAY_MS = 86_400_000;
const REWARD = 5_000;
const PAID = 4_500;
const ROUNDS = 4;

describe.skipIf(!hasCluster)('races on one bounty', () => {
  let t: TestApp;
  const clock = testClock();

  async function pair(label: string): Promise<{ poster: TestAccount; hunter: TestAccount }> {
    const [poster, hunter] = await Promise.all([signUp(t, `${label}-poster`), signUp(t, `${label}-hunter`)]);
    await onboard(t, hunter);
    return { poster, hunter };
  }

  const historyActions = async (viewer: TestAccount, id: string) =>
    items(at((await send(t, viewer, 'GET', `/bounties/${id}/history`)).body, 'data')).map((row) => at(row, 'action'));

  beforeAll(async () => {
    t = await startTestApp({}, { clock: clock.now });
  });
  afterAll(() => t.close());

  test('approve vs auto-approve: one completion, the hunter paid once', async () => {
    const { poster, hunter } = await pair('approve-auto');
    const start = clock.now();
    const winners: string[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      clock.set(start);
      const id = await submittedBounty(t, poster, hunter);
      clock.set(new Date(start.getTime() + 7 * DAY_MS + 1_000));
      const [approved] = await Promise.all([
        send(t, poster, 'POST', `/bounties/${id}/approve`),
        fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'silent' })),
      ]);
      expect([200, 409]).toContain(approved.status);
      await t.settle();
      const completions = (await historyActions(poster, id)).filter((action) => action === 'approve' || action === 'auto_approve');
      expect(completions).toHaveLength(1);
      winners.push(String(completions[0]));
      expect(approved.status === 200).toBe(completions[0] === 'approve');
    }
    clock.set(start);
    expect((await walletOf(t, hunter)).available.amount).toBe(ROUNDS * PAID);
    expect((await walletOf(t, poster)).inEscrow.amount).toBe(0);
  });

  test('approve vs dispute: either paid or disputed, never both', async () => {
    const { poster, hunter } = await pair('approve-dispute');
    let paid = 0;
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = await submittedBounty(t, poster, hunter);
      const [approved, disputed] = await Promise.all([
        send(t, poster, 'POST', `/bounties/${id}/approve`),
        send(t, hunter, 'POST', `/bounties/${id}/dispute`, { reason: 'Asked for more than the criteria', criteria: [1] }),
      ]);
      expect([approved.status, disputed.status].sort()).toEqual([200, 409]);
      const loser = approved.status === 409 ? approved : disputed;
      expect(at(loser.body, 'error')).toBe('INVALID_TRANSITION');
      const state = stateOf(await bountyOf(t, poster, id));
      expect(state).toBe(approved.status === 200 ? 'completed' : 'disputed');
      if (approved.status === 200) paid += 1;
    }
    expect((await walletOf(t, hunter)).available.amount).toBe(paid * PAID);
    expect((await walletOf(t, poster)).inEscrow.amount).toBe((ROUNDS - paid) * REWARD);
  });

  test('submit vs unassign: the work is either in or the hunter is out, never a submission on an open bounty', async () => {
    const { poster, hunter } = await pair('submit-unassign');
    for (let round = 0; round < ROUNDS; round += 1) {
      const id = await bountyInProgress(t, poster, hunter);
      const [submitted, unassigned] = await Promise.all([
        send(t, hunter, 'POST', `/bounties/${id}/submit`, submission),
        send(t, poster, 'POST', `/bounties/${id}/unassign`, { reason: 'Silent for days' }),
      ]);
      expect([submitted.status, unassigned.status].sort()).toEqual([200, unassigned.status === 200 ? 403 : 409].sort());
      const after = await bountyOf(t, poster, id);
      if (submitted.status === 200) {
        expect([stateOf(after), at(after.body, 'data', 'hunterId')]).toEqual(['submitted', hunter.id]);
      } else {
        // The hunter lost the bounty first: their submit is refused as a stranger's (403).
        expect([stateOf(after), at(after.body, 'data', 'hunterId')]).toEqual(['open', null]);
        const submissions = await send(t, poster, 'GET', `/bounties/${id}/submissions`);
        expect(items(at(submissions.body, 'data'))).toHaveLength(0);
      }
    }
  });

  test('the same transition retried with the same Idempotency-Key: one effect, the first response replayed', async () => {
    const { poster, hunter } = await pair('retry');
    const id = await submittedBounty(t, poster, hunter);
    const key = crypto.randomUUID();
    const approve = () => send(t, poster, 'POST', `/bounties/${id}/approve`, undefined, { 'idempotency-key': key });
    const first = await approve();
    const again = await approve();
    expect([first.status, again.status]).toEqual([200, 200]);
    expect(again.body).toEqual(first.body);
    expect((await historyActions(poster, id)).filter((action) => action === 'approve')).toHaveLength(1);
    expect((await walletOf(t, hunter)).available.amount).toBe(PAID);

    // Concurrently: one runs, the other waits its turn (409 in flight) or replays; one effect.
    const second = await submittedBounty(t, poster, hunter);
    const sameKey = crypto.randomUUID();
    const results = await Promise.all(
      [0, 1, 2].map(() => send(t, poster, 'POST', `/bounties/${second}/approve`, undefined, { 'idempotency-key': sameKey })),
    );
    expect(results.filter((result) => result.status === 200).length).toBeGreaterThanOrEqual(1);
    for (const result of results) expect([200, 409]).toContain(result.status);
    expect((await historyActions(poster, second)).filter((action) => action === 'approve')).toHaveLength(1);
    expect((await walletOf(t, hunter)).available.amount).toBe(2 * PAID);
  });
});
