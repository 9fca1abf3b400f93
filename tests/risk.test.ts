/**
 * The risk rules on the real cluster and the local Stripe server, with ENABLE_RISK_MANAGEMENT on
 * and small thresholds: a withdrawal held for review is paid exactly once when approved (even by
 * two admins at once) and returns its money when rejected; card money inside the chargeback
 * window cannot leave (and the refusal says how much can); deposits past the daily limit are
 * refused; a new account's caps bite and lift with completed work or age; off-platform contact in
 * chat is warned and counted; two accounts on one device are flagged and the score job raises the
 * level; each hold and deny writes exactly one `risk.decision` audit row, a deny's surviving the
 * rollback of the refused request.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, asc, eq } from 'drizzle-orm';
import { auditLog, bounties, connectAccounts, deposits, ledgerHolds, riskEvents, withdrawals } from '../src/db';
import { checkLedger } from '../src/modules/ledger';
import { eventsFor } from '../src/modules/outbox';
import { recomputeStaleScores } from '../src/modules/risk/jobs';
import { PAYOUT_JOB } from '../src/modules/wallet/jobs';
import { createAdmin, createStaff, signUp, type TestAccount } from './support/accounts';
import { apply, createDraft, draftBody, openBounty, publish, send, submission } from './support/bounties';
import { conversationOf, messagesOf, say } from './support/conversations';
import { hasCluster, startTestApp, testClock, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { fund } from './support/ledger';
import { depositByCard, moneyPost, onboard, settleWebhooks, walletOf } from './support/money';
import { waitFor } from './support/wait';

const DAY_MS = 86_400_000;
const CLEAN_LEDGER = { balanceMismatches: [], unbalancedTransactions: [] };

describe.skipIf(!hasCluster)('risk rules, held withdrawals and the review queue', () => {
  let t: TestApp;
  let admin: TestAccount;
  let moderator: TestAccount;
  const clock = testClock();

  beforeAll(async () => {
    t = await startTestApp(
      {
        ENABLE_RISK_MANAGEMENT: 'true',
        RISK_MAX_DEPOSITS_PER_DAY: '2',
        RISK_NEW_ACCOUNT_MAX_REWARD_CENTS: '10000',
        RISK_NEW_ACCOUNT_MAX_OPEN_BOUNTIES: '2',
        RISK_NEW_ACCOUNT_MAX_REQUESTS_PER_DAY: '2',
        RISK_PAYOUT_CHANGE_HOURS: '1',
        RISK_LINKED_ACCOUNTS_MAX: '1',
      },
      { work: true, clock: clock.now },
    );
    [admin, moderator] = await Promise.all([createAdmin(t, 'risk-admin'), createStaff(t, 'moderator', 'risk-moderator')]);
  });
  afterAll(() => t.close());

  const withdraw = (account: TestAccount, amount: number) => t.request('/wallet/withdrawals', moneyPost(account, { amount: { amount, currency: 'usd' } }));
  const approve = (id: string, as: TestAccount = admin) => send(t, as, 'POST', `/admin/risk/withdrawals/${id}/approve`, { note: 'Known customer, verified by phone' });
  const reject = (id: string, reason = 'We could not verify the new bank account') => send(t, admin, 'POST', `/admin/risk/withdrawals/${id}/reject`, { reason });
  const riskDecisions = (userId: string) =>
    t.database.primary.select().from(auditLog).where(and(eq(auditLog.action, 'risk.decision'), eq(auditLog.targetId, userId)));
  const auditOf = (action: 'withdrawal.approve' | 'withdrawal.reject', withdrawalId: string) =>
    t.database.primary.select().from(auditLog).where(and(eq(auditLog.action, action), eq(auditLog.targetId, withdrawalId)));
  const eventsOfRule = (userId: string, rule: string) =>
    t.database.primary.select().from(riskEvents).where(and(eq(riskEvents.userId, userId), eq(riskEvents.rule, rule))).orderBy(asc(riskEvents.id));
  const topicsOf = async (userId: string, topic: string) => (await eventsFor(t.database.primary, userId)).filter((event) => event.topic === topic);
  const transfersFor = (withdrawalId: string) => t.stripeServer.state.transfers().filter((transfer) => transfer.metadata.withdrawal_id === withdrawalId);
  const withdrawalOf = async (account: TestAccount, id: string) => {
    await t.settle();
    return send(t, account, 'GET', `/wallet/withdrawals/${id}`);
  };

  /** Money that is not from a card (earned, say), onboarded just now: the next withdrawal is held (payout details changed). */
  async function heldWithdrawal(label: string, balance: number, amount: number): Promise<{ account: TestAccount; id: string }> {
    const account = await signUp(t, label);
    await fund(t.database, account.id, balance);
    await onboard(t, account);
    const response = account.jar.store(await withdraw(account, amount));
    const body = await readJson(response);
    expect(response.status).toBe(201);
    expect(at(body, 'data', 'status')).toBe('held');
    return { account, id: String(at(body, 'data', 'id')) };
  }

  test('a withdrawal right after the payout details changed is held: the money leaves the balance, no payout job, the user is told', async () => {
    const { account, id } = await heldWithdrawal('held-one', 5_000, 2_000);
    const wallet = await walletOf(t, account);
    expect(wallet.available.amount).toBe(3_000);
    expect(wallet.heldForWithdrawals.amount).toBe(2_000);
    expect((await t.jobs.findJobs(PAYOUT_JOB)).filter((job) => at(job.data, 'withdrawalId') === id)).toEqual([]);
    expect(transfersFor(id)).toEqual([]);
    const [row] = await t.database.primary.select().from(withdrawals).where(eq(withdrawals.id, id));
    expect(row?.heldReason).toContain('Payout destination changed');
    expect(await topicsOf(account.id, 'risk.withdrawal_held')).toHaveLength(1);
    // One decision, one audit row, though two rules could speak (only payout_details_changed fired here).
    const decisions = await riskDecisions(account.id);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]).toMatchObject({ actorId: null, actorRole: 'system', after: { outcome: 'hold', subjectType: 'withdrawal', subjectId: id } });
    expect(await eventsOfRule(account.id, 'payout_details_changed')).toHaveLength(1);
  });

  test('GET /admin/risk/queue lists the held withdrawal, oldest first, with the user and their events; a moderator gets 403', async () => {
    const { account, id } = await heldWithdrawal('queued', 1_000, 700);
    await t.settle();
    const seen: unknown[] = [];
    let cursor: string | null = null;
    do {
      const listed: Awaited<ReturnType<typeof send>> = await send(t, admin, 'GET', `/admin/risk/queue?limit=50${cursor ? `&cursor=${cursor}` : ''}`);
      expect(listed.status).toBe(200);
      seen.push(...items(at(listed.body, 'data')));
      cursor = (at(listed.body, 'pagination', 'nextCursor') as string | null) ?? null;
    } while (cursor);
    const mine = seen.find((item) => at(item, 'withdrawal', 'id') === id);
    expect(mine).toMatchObject({
      withdrawal: { id, amount: { amount: 700, currency: 'usd' }, status: 'held' },
      user: { id: account.id, email: account.email },
    });
    expect(String(at(mine, 'withdrawal', 'heldReason'))).toContain('Payout destination changed');
    expect(items(at(mine, 'latestEvents')).map((event) => at(event, 'rule'))).toContain('payout_details_changed');
    const created = seen.map((item) => new Date(String(at(item, 'withdrawal', 'createdAt'))).getTime());
    expect(created).toEqual([...created].sort((a, b) => a - b));

    expect((await send(t, moderator, 'GET', '/admin/risk/queue')).status).toBe(403);
    expect((await send(t, account, 'GET', '/admin/risk/queue')).status).toBe(403);
    expect((await send(t, null, 'GET', '/admin/risk/queue')).status).toBe(401);
    expect((await approve(id, moderator)).status).toBe(403);
  });

  test('approved by two admins at once: one wins, the other is 409; the payout job pays it with exactly one transfer; a later approval is 409 too', async () => {
    const { account, id } = await heldWithdrawal('approved', 4_000, 1_500);
    const secondAdmin = await createAdmin(t, 'risk-admin-2');
    const [first, second] = await Promise.all([approve(id), approve(id, secondAdmin)]);
    expect([first.status, second.status].sort()).toEqual([200, 409]);
    const loser = first.status === 409 ? first : second;
    expect(at(loser.body, 'error')).toBe('WITHDRAWAL_NOT_HELD');
    const winner = first.status === 200 ? first : second;
    expect(at(winner.body, 'data')).toMatchObject({ id, status: 'pending', userId: account.id });

    const paid = await waitFor('the approved withdrawal to be paid', async () => {
      const current = await withdrawalOf(account, id);
      return at(current.body, 'data', 'status') === 'paid' ? current : null;
    }, 15_000, 100);
    expect(at(paid.body, 'data', 'amount')).toEqual({ amount: 1_500, currency: 'usd' });
    expect(transfersFor(id)).toHaveLength(1);
    const again = await approve(id);
    expect(again.status).toBe(409);
    expect(at(again.body, 'details', 0)).toEqual({ path: 'status', message: 'paid' });
    expect(transfersFor(id)).toHaveLength(1);

    const wallet = await walletOf(t, account);
    expect(wallet.available.amount).toBe(2_500);
    expect(wallet.heldForWithdrawals.amount).toBe(0);
    expect(await auditOf('withdrawal.approve', id)).toHaveLength(1);
    expect(await topicsOf(account.id, 'risk.withdrawal_released')).toHaveLength(1);
  });

  test('rejected: the hold is voided, the money is available again with nothing paid, the user reads the reason; approving it afterwards is 409', async () => {
    const { account, id } = await heldWithdrawal('rejected', 3_000, 1_000);
    const rejected = await reject(id);
    expect(rejected.status).toBe(200);
    expect(at(rejected.body, 'data')).toMatchObject({ id, status: 'rejected', reviewedBy: admin.id });

    const wallet = await walletOf(t, account);
    expect(wallet.available.amount).toBe(3_000);
    expect(wallet.heldForWithdrawals.amount).toBe(0);
    const [row] = await t.database.primary.select().from(withdrawals).where(eq(withdrawals.id, id));
    const [hold] = await t.database.primary.select().from(ledgerHolds).where(eq(ledgerHolds.id, row?.holdId ?? ''));
    expect(hold?.status).toBe('voided');
    expect(at((await withdrawalOf(account, id)).body, 'data')).toMatchObject({ status: 'rejected', failureReason: 'We could not verify the new bank account' });
    expect(transfersFor(id)).toEqual([]);
    expect((await approve(id)).status).toBe(409);
    expect((await reject(id)).status).toBe(409);
    expect(await auditOf('withdrawal.reject', id)).toHaveLength(1);
    const [notice] = await topicsOf(account.id, 'risk.withdrawal_rejected');
    expect(notice?.payload).toMatchObject({ amount: 1_000, reason: 'We could not verify the new bank account' });
    expect(await checkLedger(t.database.primary)).toEqual(CLEAN_LEDGER);
  });

  test('the hold lapses with time: the same account, its payout change hours ago, withdraws and is paid without review', async () => {
    const { account } = await heldWithdrawal('lapsed', 2_000, 500);
    await t.database.primary
      .update(connectAccounts)
      .set({ payoutDetailsChangedAt: new Date(Date.now() - 2 * 3_600_000) })
      .where(eq(connectAccounts.userId, account.id));
    const response = account.jar.store(await withdraw(account, 500));
    expect(response.status).toBe(201);
    const id = String(at(await readJson(response), 'data', 'id'));
    await waitFor('the withdrawal to be paid', async () => at((await withdrawalOf(account, id)).body, 'data', 'status') === 'paid', 15_000, 100);
    expect(transfersFor(id)).toHaveLength(1);
    expect(await riskDecisions(account.id)).toHaveLength(1);
  });

  test('card money inside the chargeback window cannot leave: 409 says how much can go now and when the amount frees; the denial is recorded once', async () => {
    const carol = await signUp(t, 'card-hold');
    await fund(t.database, carol.id, 2_000);
    await depositByCard(t, carol, 3_000);
    await onboard(t, carol);
    const response = carol.jar.store(await withdraw(carol, 4_000));
    expect(response.status).toBe(409);
    const body = await readJson(response);
    expect(at(body, 'error')).toBe('CARD_FUNDS_ON_HOLD');
    expect(String(at(body, 'message'))).toContain('You can withdraw up to 20.00 USD now');
    const [deposit] = await t.database.primary.select().from(deposits).where(eq(deposits.userId, carol.id));
    const freesAt = new Date((deposit?.createdAt.getTime() ?? 0) + 14 * DAY_MS).toISOString();
    expect(at(body, 'details')).toEqual([
      { path: 'withdrawableNow', message: '2000' },
      { path: 'freesAt', message: freesAt },
    ]);
    // Nothing held, no withdrawal: the refusal rolled back, its record did not.
    const wallet = await walletOf(t, carol);
    expect(wallet.available.amount).toBe(5_000);
    expect(wallet.heldForWithdrawals.amount).toBe(0);
    expect(await t.database.primary.select().from(withdrawals).where(eq(withdrawals.userId, carol.id))).toEqual([]);
    const decisions = await riskDecisions(carol.id);
    expect(decisions).toHaveLength(1);
    expect(decisions[0]?.after).toMatchObject({ outcome: 'deny', subjectType: 'withdrawal' });
    expect(String(at(decisions[0]?.after, 'rules'))).toContain('card_hold');
    expect(await eventsOfRule(carol.id, 'card_hold')).toHaveLength(1);

    // What it said can go, can: held for review (payout just set up, a deposit and nothing since), one more decision.
    const allowed = carol.jar.store(await withdraw(carol, 2_000));
    expect(allowed.status).toBe(201);
    expect(at(await readJson(allowed), 'data', 'status')).toBe('held');
    expect(await riskDecisions(carol.id)).toHaveLength(2);
    expect(await eventsOfRule(carol.id, 'deposit_then_withdraw')).toHaveLength(2);
  });

  test('deposits past the daily count are refused before Stripe is asked: 403 RISK_DENIED, no deposit row, one audit row', async () => {
    const dave = await signUp(t, 'velocity');
    await depositByCard(t, dave, 1_000);
    await depositByCard(t, dave, 1_000);
    const third = dave.jar.store(await t.request('/wallet/deposits', moneyPost(dave, { amount: { amount: 1_000, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_visa' })));
    expect(third.status).toBe(403);
    const body = await readJson(third);
    expect(at(body, 'error')).toBe('RISK_DENIED');
    expect(String(at(body, 'message'))).toContain('deposit limit');
    expect(await t.database.primary.select().from(deposits).where(eq(deposits.userId, dave.id))).toHaveLength(2);
    expect((await walletOf(t, dave)).available.amount).toBe(2_000);
    expect(await riskDecisions(dave.id)).toHaveLength(1);
    expect(await eventsOfRule(dave.id, 'deposit_velocity')).toHaveLength(1);
  });

  test("a new account's reward cap: 403 NEW_ACCOUNT_LIMIT with the cap, lifted by a completed bounty, and by age", async () => {
    const [erin, frank, gina] = await Promise.all([signUp(t, 'new-poster'), signUp(t, 'new-hunter'), signUp(t, 'aging-poster')]);
    const tooBig = await send(t, erin, 'POST', '/bounties', draftBody(t, { reward: { amount: 20_000, currency: 'usd' } }));
    expect(tooBig.status).toBe(403);
    expect(at(tooBig.body, 'error')).toBe('NEW_ACCOUNT_LIMIT');
    expect(at(tooBig.body, 'details', 0)).toEqual({ path: 'cap', message: '10000' });
    expect(String(at(tooBig.body, 'message'))).toContain('100.00 USD');
    expect(await riskDecisions(erin.id)).toHaveLength(1);

    // Erin completes a bounty as its poster: the caps are gone.
    await onboard(t, frank);
    const bountyId = await openBounty(t, erin);
    const requestId = await apply(t, frank, bountyId);
    expect((await send(t, erin, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);
    expect((await send(t, frank, 'POST', `/bounties/${bountyId}/submit`, submission)).status).toBe(200);
    expect((await send(t, erin, 'POST', `/bounties/${bountyId}/approve`)).status).toBe(200);
    expect((await send(t, erin, 'POST', '/bounties', draftBody(t, { reward: { amount: 20_000, currency: 'usd' } }))).status).toBe(201);

    // Gina never completed anything: refused today, allowed once her account is past RISK_NEW_ACCOUNT_DAYS.
    expect((await send(t, gina, 'POST', '/bounties', draftBody(t, { reward: { amount: 20_000, currency: 'usd' } }))).status).toBe(403);
    const start = clock.now();
    clock.advanceDays(t.config.risk.newAccountDays + 1);
    try {
      expect((await send(t, gina, 'POST', '/bounties', draftBody(t, { reward: { amount: 20_000, currency: 'usd' } }))).status).toBe(201);
    } finally {
      clock.set(start);
    }
  });

  test("a new account's open bounties and requests per day are capped; a completed bounty lifts both", async () => {
    const [ivan, jack, hank] = await Promise.all([signUp(t, 'busy-poster'), signUp(t, 'other-poster'), signUp(t, 'eager-hunter')]);
    await onboard(t, hank);
    const first = await openBounty(t, ivan);
    const second = await openBounty(t, ivan);
    const third = await createDraft(t, ivan);
    // By card: refused before any payment is asked for.
    const byCard = ivan.jar.store(await t.request(`/bounties/${third}/publish`, moneyPost(ivan, { funding: 'card', method: 'card', paymentMethodId: 'pm_card_visa' })));
    expect(byCard.status).toBe(403);
    expect(at(await readJson(byCard), 'error')).toBe('NEW_ACCOUNT_LIMIT');
    expect(await t.database.primary.select().from(deposits).where(eq(deposits.userId, ivan.id))).toEqual([]);
    // From the wallet: refused, nothing held.
    await fund(t.database, ivan.id, 5_000);
    const refused = await publish(t, ivan, third);
    expect(refused.status).toBe(403);
    expect(at(refused.body, 'error')).toBe('NEW_ACCOUNT_LIMIT');
    expect(at(refused.body, 'details', 0)).toEqual({ path: 'cap', message: '2' });
    expect((await walletOf(t, ivan)).available.amount).toBe(5_000);
    expect(await riskDecisions(ivan.id)).toHaveLength(2);

    const elsewhere = await openBounty(t, jack);
    const request = await apply(t, hank, first);
    await apply(t, hank, second);
    const tooMany = await send(t, hank, 'POST', `/bounties/${elsewhere}/requests`, { message: 'I have done this before and can start today.' });
    expect(tooMany.status).toBe(403);
    expect(at(tooMany.body, 'error')).toBe('NEW_ACCOUNT_LIMIT');
    expect(at(tooMany.body, 'details', 0)).toEqual({ path: 'cap', message: '2' });
    expect(await riskDecisions(hank.id)).toHaveLength(1);

    // Ivan accepts Hank, Hank delivers, Ivan approves: both have completed work now.
    expect((await send(t, ivan, 'POST', `/requests/${request}/accept`)).status).toBe(200);
    expect((await send(t, hank, 'POST', `/bounties/${first}/submit`, submission)).status).toBe(200);
    expect((await send(t, ivan, 'POST', `/bounties/${first}/approve`)).status).toBe(200);
    expect((await send(t, hank, 'POST', `/bounties/${elsewhere}/requests`, { message: 'Finished my first one, happy to help here.' })).status).toBe(201);
    expect((await publish(t, ivan, third)).status).toBe(200);
  });

  test('off-platform contact in chat: the message is sent, the answer warns, every one is counted, the notification comes once a day', async () => {
    const [poster, hunter] = await Promise.all([signUp(t, 'chat-poster'), signUp(t, 'chat-hunter')]);
    const bountyId = await openBounty(t, poster);
    await apply(t, hunter, bountyId);
    const conversationId = await conversationOf(t, hunter, bountyId);
    if (!conversationId) throw new Error('no conversation for the application');

    const first = await say(t, hunter, conversationId, 'Quicker if you pay me directly, my venmo is $hunter-dev');
    expect(first.status).toBe(201);
    expect(at(first.body, 'data', 'warning')).toEqual({
      code: 'OFF_PLATFORM_CONTACT',
      message: 'Keep contact and payments on BOUNTYExpo: payments made outside are not protected by escrow, and repeated requests are reviewed.',
    });
    const second = await say(t, hunter, conversationId, 'or mail me: hunter.dev@example.com');
    expect(at(second.body, 'data', 'warning', 'code')).toBe('OFF_PLATFORM_CONTACT');
    const plain = await say(t, hunter, conversationId, 'I can start tomorrow morning.');
    expect(plain.status).toBe(201);
    expect(at(plain.body, 'data', 'warning')).toBeUndefined();

    await t.settle();
    const bodies = items(at((await messagesOf(t, poster, conversationId)).body, 'data')).map((message) => at(message, 'body'));
    expect(bodies).toContain('or mail me: hunter.dev@example.com');
    const counted = await eventsOfRule(hunter.id, 'off_platform_contact');
    expect(counted.map((event) => event.outcome)).toEqual(['warn', 'warn']);
    expect(counted.map((event) => event.subjectId)).toEqual([String(at(first.body, 'data', 'id')), String(at(second.body, 'data', 'id'))]);
    expect(await topicsOf(hunter.id, 'risk.off_platform_warning')).toHaveLength(1);
    // A warning is not a hold or a deny: no audit row.
    expect(await riskDecisions(hunter.id)).toEqual([]);
  });

  const publishByCard = async (poster: TestAccount, bountyId: string) =>
    poster.jar.store(await t.request(`/bounties/${bountyId}/publish`, moneyPost(poster, { funding: 'card', paymentMethodId: 'pm_card_visa' })));
  const stateOfBounty = async (bountyId: string) => (await t.database.primary.select({ state: bounties.state }).from(bounties).where(eq(bounties.id, bountyId)))[0]?.state;
  /** A withdrawal with the payout details set up hours ago (the marketplace clock moved on, then back). */
  async function withdrawLater(account: TestAccount, amount: number): Promise<{ status: number; body: unknown }> {
    const start = clock.now();
    clock.advance(2 * 3_600_000);
    try {
      const response = account.jar.store(await withdraw(account, amount));
      return { status: response.status, body: await readJson(response) };
    } finally {
      clock.set(start);
    }
  }

  test("a new account's open-bounty cap holds for publishes of different drafts at once: exactly the cap open", async () => {
    const racer = await signUp(t, 'racing-poster');
    const drafts = await Promise.all([1, 2, 3, 4, 5].map(() => createDraft(t, racer, { reward: { amount: 1_000, currency: 'usd' } })));
    await fund(t.database, racer.id, 5_000);
    const published = await Promise.all(drafts.map((id) => publish(t, racer, id)));
    expect(published.map((sent) => sent.status).sort()).toEqual([200, 200, 403, 403, 403]);
    expect(published.filter((sent) => sent.status === 403).map((sent) => at(sent.body, 'error'))).toEqual(['NEW_ACCOUNT_LIMIT', 'NEW_ACCOUNT_LIMIT', 'NEW_ACCOUNT_LIMIT']);
    expect((await Promise.all(drafts.map(stateOfBounty))).filter((state) => state === 'open')).toHaveLength(2);
    expect((await walletOf(t, racer)).available.amount).toBe(3_000);
  });

  test("a new account's open-bounty cap counts drafts waiting on their card payment: the one past the cap is refused before Stripe is asked", async () => {
    const carder = await signUp(t, 'card-publisher');
    const drafts = await Promise.all([1, 2, 3].map(() => createDraft(t, carder, { reward: { amount: 1_000, currency: 'usd' } })));
    // Webhooks held: the first two stay drafts, their payments under way.
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      expect((await publishByCard(carder, drafts[0] ?? '')).status).toBe(202);
      expect((await publishByCard(carder, drafts[1] ?? '')).status).toBe(202);
      const third = await publishByCard(carder, drafts[2] ?? '');
      expect(third.status).toBe(403);
      expect(at(await readJson(third), 'error')).toBe('NEW_ACCOUNT_LIMIT');
      expect(await t.database.primary.select().from(deposits).where(eq(deposits.userId, carder.id))).toHaveLength(2);
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    expect(await Promise.all(drafts.map(stateOfBounty))).toEqual(['open', 'open', 'draft']);
  });

  test("card money paid out through a bounty: the hunter's withdrawal of it is held; pay from a wallet-funded bounty is not", async () => {
    const [thief, accomplice, honestPoster, honestHunter] = await Promise.all([
      signUp(t, 'card-thief'),
      signUp(t, 'accomplice'),
      signUp(t, 'wallet-poster'),
      signUp(t, 'honest-hunter'),
    ]);
    await Promise.all([onboard(t, accomplice), onboard(t, honestHunter)]);
    const cardFunded = await createDraft(t, thief);
    expect((await publishByCard(thief, cardFunded)).status).toBe(202);
    await settleWebhooks(t);
    expect(await stateOfBounty(cardFunded)).toBe('open');
    const walletFunded = await openBounty(t, honestPoster);
    for (const [poster, hunter, bountyId] of [
      [thief, accomplice, cardFunded],
      [honestPoster, honestHunter, walletFunded],
    ] as const) {
      const requestId = await apply(t, hunter, bountyId);
      expect((await send(t, poster, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);
      expect((await send(t, hunter, 'POST', `/bounties/${bountyId}/submit`, submission)).status).toBe(200);
      expect((await send(t, poster, 'POST', `/bounties/${bountyId}/approve`)).status).toBe(200);
    }
    const earned = (await walletOf(t, accomplice)).available.amount;
    expect(earned).toBe(4_500);

    const held = await withdrawLater(accomplice, earned);
    expect(held.status).toBe(201);
    expect(at(held.body, 'data', 'status')).toBe('held');
    expect(await eventsOfRule(accomplice.id, 'card_funded_earnings')).toHaveLength(1);
    expect(transfersFor(String(at(held.body, 'data', 'id')))).toEqual([]);

    const paid = await withdrawLater(honestHunter, (await walletOf(t, honestHunter)).available.amount);
    expect(paid.status).toBe(201);
    expect(at(paid.body, 'data', 'status')).not.toBe('held');
    expect(await eventsOfRule(honestHunter.id, 'card_funded_earnings')).toEqual([]);
  });

  test("a bounty funded straight from a card is not young money in the poster's wallet: their other money can leave", async () => {
    const poster = await signUp(t, 'direct-card');
    await fund(t.database, poster.id, 5_000);
    const bountyId = await createDraft(t, poster, { reward: { amount: 3_000, currency: 'usd' } });
    expect((await publishByCard(poster, bountyId)).status).toBe(202);
    await settleWebhooks(t);
    expect(await stateOfBounty(bountyId)).toBe('open');
    await onboard(t, poster);
    const sent = await withdrawLater(poster, 5_000);
    expect(sent.status).toBe(201);
    expect(await eventsOfRule(poster.id, 'card_hold')).toEqual([]);
  });

  test('editing a message to add off-platform contact is warned and counted like a send, the notification still once a day', async () => {
    const [poster, hunter] = await Promise.all([signUp(t, 'edit-poster'), signUp(t, 'edit-hunter')]);
    const bountyId = await openBounty(t, poster);
    await apply(t, hunter, bountyId);
    const conversationId = await conversationOf(t, hunter, bountyId);
    if (!conversationId) throw new Error('no conversation for the application');
    const plain = await say(t, hunter, conversationId, 'Happy to take this on.');
    expect(at(plain.body, 'data', 'warning')).toBeUndefined();
    const messageId = String(at(plain.body, 'data', 'id'));

    const edited = await send(t, hunter, 'PATCH', `/messages/${messageId}`, { text: 'Happy to take this on, pay me on venmo $hunter-edit' });
    expect(edited.status).toBe(200);
    expect(at(edited.body, 'data', 'warning', 'code')).toBe('OFF_PLATFORM_CONTACT');
    expect(at(edited.body, 'data', 'body')).toBe('Happy to take this on, pay me on venmo $hunter-edit');
    const again = await send(t, hunter, 'PATCH', `/messages/${messageId}`, { text: 'or mail me: hunter.edit@example.com' });
    expect(at(again.body, 'data', 'warning', 'code')).toBe('OFF_PLATFORM_CONTACT');
    const counted = await eventsOfRule(hunter.id, 'off_platform_contact');
    expect(counted.map((event) => [event.outcome, event.subjectId])).toEqual([
      ['warn', messageId],
      ['warn', messageId],
    ]);
    expect(await topicsOf(hunter.id, 'risk.off_platform_warning')).toHaveLength(1);
  });

  test('two accounts on one device: the second is flagged (once), and the score job raises its level', async () => {
    const [kate, leo] = await Promise.all([signUp(t, 'device-one'), signUp(t, 'device-two')]);
    const token = `ExponentPushToken[risk-${crypto.randomUUID().slice(0, 12)}]`;
    expect((await send(t, kate, 'POST', '/notifications/devices', { token, platform: 'ios' })).status).toBe(201);
    expect(await eventsOfRule(kate.id, 'linked_accounts')).toEqual([]);
    expect((await send(t, leo, 'POST', '/notifications/devices', { token, platform: 'ios' })).status).toBe(201);
    expect((await send(t, leo, 'POST', '/notifications/devices', { token, platform: 'ios' })).status).toBe(201);
    const flags = await eventsOfRule(leo.id, 'linked_accounts');
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatchObject({ outcome: 'flag', subjectType: 'device', detail: { kind: 'device', linkedUsers: 2, max: 1 } });
    expect(await riskDecisions(leo.id)).toEqual([]);

    await t.settle();
    const before = await send(t, admin, 'GET', `/admin/risk/users/${leo.id}`);
    expect(before.status).toBe(200);
    expect(at(before.body, 'data')).toMatchObject({ userId: leo.id, score: null, level: null });
    expect(items(at(before.body, 'data', 'events')).map((event) => at(event, 'rule'))).toEqual(['linked_accounts']);

    expect(await recomputeStaleScores(t.database.primary, { risk: t.config.risk, now: () => new Date() })).toBeGreaterThanOrEqual(1);
    await t.settle();
    const after = await send(t, admin, 'GET', `/admin/risk/users/${leo.id}`);
    expect(at(after.body, 'data', 'level')).toBe('medium');
    expect(Number(at(after.body, 'data', 'score'))).toBeGreaterThanOrEqual(30);
    expect(at(after.body, 'data', 'factors')).toMatchObject({ linked_accounts: 30, shared_device_or_destination: 10 });

    expect((await send(t, moderator, 'GET', `/admin/risk/users/${leo.id}`)).status).toBe(403);
    expect((await send(t, admin, 'GET', '/admin/risk/users/no_such_user_here')).status).toBe(404);
  });

  test("a user's risk events page by cursor, newest first", async () => {
    const mia = await signUp(t, 'paged');
    const bountyId = await openBounty(t, await signUp(t, 'paged-poster'));
    await apply(t, mia, bountyId);
    const conversationId = await conversationOf(t, mia, bountyId);
    if (!conversationId) throw new Error('no conversation');
    for (let index = 0; index < 3; index += 1) await say(t, mia, conversationId, `text me on whatsapp, try ${index}`);
    await t.settle();
    const firstPage = await send(t, admin, 'GET', `/admin/risk/users/${mia.id}?limit=2`);
    const cursor = String(at(firstPage.body, 'pagination', 'nextCursor'));
    const secondPage = await send(t, admin, 'GET', `/admin/risk/users/${mia.id}?limit=2&cursor=${cursor}`);
    const ids = [...items(at(firstPage.body, 'data', 'events')), ...items(at(secondPage.body, 'data', 'events'))].map((event) => Number(at(event, 'id')));
    expect(ids).toHaveLength(3);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(at(secondPage.body, 'pagination', 'nextCursor')).toBeNull();
  });

  test('with the rules switched off (the default elsewhere), none of this applies', async () => {
    expect(t.config.risk.enabled).toBe(true);
    const off = await startTestApp({}, { work: false });
    try {
      expect(off.config.risk.enabled).toBe(false);
      const nora = await signUp(off, 'rules-off');
      const created = await send(off, nora, 'POST', '/bounties', draftBody(off, { reward: { amount: 200_000, currency: 'usd' } }));
      expect(created.status).toBe(201);
    } finally {
      await off.close();
    }
  });

  test('regression (issue 12 final read): an admin never releases their own held withdrawal; another admin does', async () => {
    const reviewer = await createStaff(t, 'admin', 'self-reviewer');
    await fund(t.database, reviewer.id, 3_000);
    await onboard(t, reviewer);
    const response = reviewer.jar.store(await withdraw(reviewer, 1_000));
    const id = String(at(await readJson(response), 'data', 'id'));
    expect(response.status).toBe(201);
    for (const action of ['approve', 'reject']) {
      const own = await send(t, reviewer, 'POST', `/admin/risk/withdrawals/${id}/${action}`, action === 'approve' ? { note: 'Mine, fine' } : { reason: 'Mine' });
      expect([action, own.status, at(own.body, 'error')]).toEqual([action, 403, 'OWN_WITHDRAWAL_REVIEW']);
    }
    expect((await send(t, admin, 'POST', `/admin/risk/withdrawals/${id}/approve`, { note: 'Checked by a second admin' })).status).toBe(200);
  });
});
