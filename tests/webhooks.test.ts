/**
 * Stripe's webhooks end to end on the real cluster and the local Stripe server: who may call
 * POST /webhooks/stripe (the signature and its timestamp), each event applied once however often
 * it arrives, events in the wrong order (deferred, then reconciled by the `webhooks.reconcile`
 * job), and what refunds, chargebacks, reversed transfers, failed bank payouts and payout-account
 * updates do to the balances and records a user sees. After each money test the ledger's
 * self-check must stay clean.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import Stripe from 'stripe';
import { z } from 'zod';
import { deposits, ledgerAccounts, ledgerEntries, ledgerTransactions, selectRows, webhookEvents } from '../src/db';
import { checkLedger, holdEscrow } from '../src/modules/ledger';
import { lockAccounts, userAccount } from '../src/modules/ledger/accounts';
import { RECONCILE_JOB } from '../src/modules/webhooks/jobs';
import { signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, TEST_CONNECT_WEBHOOK_SECRET, TEST_WEBHOOK_SECRET, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { depositByCard, moneyPost, onboard, settleWebhooks, walletOf, withCookie } from './support/money';
import { waitFor } from './support/wait';

/** What the app answered to one delivery by the local Stripe server. */
type Answer = { eventId: string; type: string; status: number; outcome: string | null };

const eventHead = z.object({ id: z.string(), type: z.string() });
const receivedBody = z.object({ success: z.literal(true), data: z.object({ received: z.literal(true), outcome: z.string() }) });
const errorBody = z.object({ success: z.literal(false), error: z.string() });
const withdrawalBody = z.object({ success: z.literal(true), data: z.object({ id: z.string(), status: z.string(), failureReason: z.string().nullable() }) });
const connectBody = z.object({
  success: z.literal(true),
  data: z.object({ accountId: z.string(), payoutsEnabled: z.boolean(), requirementsDue: z.array(z.string()), payoutFailureReason: z.string().nullable() }),
});
const reconcileData = z.object({ eventId: z.string() });

/** Reconciliation retries take seconds in tests (1 s, then backing off): a bounded wait, never a fixed sleep. */
const RECONCILE_WAIT_MS = 15_000;
const POLL_MS = 100;

let eventCounter = 0;
/** A Stripe-shaped event of our own making (a fresh id each time), as JSON. */
function eventPayload(type: string, object: object, createdS = Math.floor(Date.now() / 1000)): { id: string; payload: string } {
  eventCounter += 1;
  const id = `evt_test_${Date.now().toString(36)}${eventCounter}${Math.random().toString(36).slice(2, 10)}`;
  const event = {
    id,
    object: 'event',
    api_version: Stripe.API_VERSION,
    created: createdS,
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
  return { id, payload: JSON.stringify(event) };
}

/** The Stripe-Signature header Stripe would send (the library's own signer). */
const signatureFor = (payload: string, options: { secret?: string; timestamp?: number } = {}): Promise<string> =>
  Stripe.webhooks.generateTestHeaderStringAsync({
    payload,
    secret: options.secret ?? TEST_WEBHOOK_SECRET,
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
  });

const LABELS = ['payoutOrder', 'otherMode', 'duplicates', 'twice', 'refunded', 'disputed', 'covered', 'reversed', 'bankRefused', 'adopted', 'lateFailure', 'reordered', 'busy'] as const;
type Label = (typeof LABELS)[number];

describe.skipIf(!hasCluster)('Stripe webhooks', () => {
  let t: TestApp;
  /** The clock webhook signatures are judged by: real time unless a test pins it. */
  let pinnedNowMs: number | null = null;
  const answers: Answer[] = [];
  const signedUp = new Map<Label, TestAccount>();
  /** The user signed up for one test (each test has its own wallet). */
  const userFor = (label: Label): TestAccount => {
    const account = signedUp.get(label);
    if (!account) throw new Error(`no user ${label}`);
    return account;
  };

  beforeAll(async () => {
    t = await startTestApp({}, { work: true, now: () => pinnedNowMs ?? Date.now() });
    // Every delivery by the local Stripe server still goes to the app; its answer is kept.
    t.stripeServer.setWebhookTarget(async (request) => {
      const head = eventHead.parse(await request.clone().json());
      const response = await t.app.handle(request);
      const body = receivedBody.safeParse(await response.clone().json().catch(() => null));
      answers.push({ eventId: head.id, type: head.type, status: response.status, outcome: body.success ? body.data.data.outcome : null });
      return response;
    });
    await Promise.all(LABELS.map(async (label) => signedUp.set(label, await signUp(t, `webhook-${label}`))));
  });
  afterAll(() => t.close());

  /** POST /webhooks/stripe as Stripe would (or with the header given). */
  const deliver = (payload: string, signature: string | null) =>
    t.request('/webhooks/stripe', {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json; charset=utf-8', ...(signature === null ? {} : { 'stripe-signature': signature }) },
    });

  const outcomeOf = async (response: Response): Promise<string> => {
    expect(response.status).toBe(200);
    return receivedBody.parse(await response.json()).data.outcome;
  };
  const errorOf = async (response: Response): Promise<{ status: number; error: string }> => ({
    status: response.status,
    error: errorBody.parse(await response.json()).error,
  });

  const outcomesOf = (eventId: string): Array<string | null> => answers.filter((answer) => answer.eventId === eventId).map((answer) => answer.outcome);
  const answerIndex = (eventId: string): number => answers.findIndex((answer) => answer.eventId === eventId);

  /** The event the local server created of `type` about the object `objectId` (exactly one). */
  const eventAbout = (type: string, objectId: string) => {
    const found = t.stripeServer.webhooks.events(type).filter((event) => at(event.data.object, 'id') === objectId);
    expect(found).toHaveLength(1);
    const [event] = found;
    if (!event) throw new Error(`no ${type} event about ${objectId}`);
    return event;
  };

  const recordedEvents = (eventId: string) => t.database.primary.select().from(webhookEvents).where(eq(webhookEvents.id, eventId));

  const postingsWithKey = async (effectKey: string): Promise<number> =>
    (await t.database.primary.select({ id: ledgerTransactions.id }).from(ledgerTransactions).where(eq(ledgerTransactions.effectKey, effectKey))).length;

  /** How many ledger entries touch the user's own accounts (their wallet and their escrows). */
  const entriesOf = async (userId: string): Promise<number> =>
    (
      await t.database.primary
        .select({ id: ledgerEntries.id })
        .from(ledgerEntries)
        .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.accountId))
        .where(eq(ledgerAccounts.userId, userId))
    ).length;

  const expectCleanLedger = async (): Promise<void> => {
    expect(await checkLedger(t.database.primary)).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });
  };

  /** The charge behind a PaymentIntent on the local Stripe server. */
  const chargeOf = (paymentIntentId: string | null): string => {
    const charge = t.stripeServer.state.paymentIntents().find((intent) => intent.id === paymentIntentId)?.latest_charge;
    if (!charge) throw new Error(`PaymentIntent ${String(paymentIntentId)} has no charge`);
    return charge;
  };

  /** Holds webhooks while `work` runs, then sends them (in `order`) and waits for them to be delivered. */
  async function withHeldWebhooks(work: () => Promise<void>, order: 'created' | 'reverse' = 'created'): Promise<void> {
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      await work();
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush({ order });
      await settleWebhooks(t);
    }
  }

  const getWithdrawal = async (account: TestAccount, id: string) =>
    withdrawalBody.parse(await readJson(account.jar.store(await t.request(`/wallet/withdrawals/${id}`, withCookie(account))))).data;

  /** POST /wallet/withdrawals, then waits until the payout job (`payouts.execute`) has paid it. */
  async function withdrawAndWaitPaid(account: TestAccount, amount: number) {
    const response = account.jar.store(await t.request('/wallet/withdrawals', moneyPost(account, { amount: { amount, currency: 'usd' } })));
    expect(response.status).toBe(201);
    const { id } = withdrawalBody.parse(await response.json()).data;
    await waitFor(`withdrawal ${id} paid`, async () => (await getWithdrawal(account, id)).status === 'paid', RECONCILE_WAIT_MS, POLL_MS);
    const transfer = t.stripeServer.state.transfers().find((candidate) => candidate.metadata.withdrawal_id === id);
    if (!transfer) throw new Error(`no transfer for withdrawal ${id}`);
    return { id, transferId: transfer.id };
  }

  const connectAccountOf = async (account: TestAccount) => {
    const response = account.jar.store(await t.request('/connect/account', withCookie(account)));
    return response.status === 200 ? connectBody.parse(await response.json()).data : null;
  };

  test('signatures: no header, one changed byte, another secret, a timestamp 301 s old or 301 s ahead are each 400 and recorded nowhere; 300 s either way is accepted', async () => {
    pinnedNowMs = Date.now();
    const nowS = Math.floor(pinnedNowMs / 1000);
    try {
      const invoice = { id: 'in_test_signature', object: 'invoice', amount_paid: 1000, currency: 'usd' };
      const refused: string[] = [];
      const refuse = async (payload: { id: string; payload: string }, send: string, signature: string | null) => {
        refused.push(payload.id);
        return errorOf(await deliver(send, signature));
      };

      const missing = eventPayload('invoice.paid', invoice);
      expect(await refuse(missing, missing.payload, null)).toEqual({ status: 400, error: 'WEBHOOK_SIGNATURE_MISSING' });

      const changed = eventPayload('invoice.paid', invoice);
      const tampered = changed.payload.replace('"amount_paid":1000', '"amount_paid":9000');
      expect(tampered).toHaveLength(changed.payload.length);
      expect(tampered).not.toBe(changed.payload);
      expect(await refuse(changed, tampered, await signatureFor(changed.payload, { timestamp: nowS }))).toEqual({ status: 400, error: 'WEBHOOK_SIGNATURE_INVALID' });

      const foreign = eventPayload('invoice.paid', invoice);
      const foreignSignature = await signatureFor(foreign.payload, { secret: 'whsec_someone_else_entirely', timestamp: nowS });
      expect(await refuse(foreign, foreign.payload, foreignSignature)).toEqual({ status: 400, error: 'WEBHOOK_SIGNATURE_INVALID' });

      const stale = eventPayload('invoice.paid', invoice);
      expect(await refuse(stale, stale.payload, await signatureFor(stale.payload, { timestamp: nowS - 301 }))).toEqual({
        status: 400,
        error: 'WEBHOOK_TIMESTAMP_STALE',
      });

      // Stripe's library alone accepts a signature dated in the future: the refusal is our own check.
      const future = eventPayload('invoice.paid', invoice);
      const futureSignature = await signatureFor(future.payload, { timestamp: nowS + 301 });
      expect(await Stripe.webhooks.constructEventAsync(future.payload, futureSignature, TEST_WEBHOOK_SECRET)).toMatchObject({ id: future.id });
      expect(await refuse(future, future.payload, futureSignature)).toEqual({ status: 400, error: 'WEBHOOK_TIMESTAMP_IN_FUTURE' });

      const accepted: string[] = [];
      for (const timestamp of [nowS, nowS - 300, nowS + 300]) {
        const fresh = eventPayload('invoice.paid', invoice);
        accepted.push(fresh.id);
        expect(await outcomeOf(await deliver(fresh.payload, await signatureFor(fresh.payload, { timestamp })))).toBe('ignored');
      }

      for (const id of refused) expect(await recordedEvents(id)).toHaveLength(0);
      for (const id of accepted) expect(await recordedEvents(id)).toHaveLength(1);
    } finally {
      pinnedNowMs = null;
    }
  });

  test('regression (Stripe-Signature with two t= values): a captured signature older than 300 s is not accepted by putting a fresh t= in front of it', async () => {
    // The tolerance check read the FIRST t=, Stripe's verification uses the LAST one, so the old
    // signature still verified: the 300 s replay window did not hold.
    const nowS = Math.floor(Date.now() / 1000);
    const captured = eventPayload('invoice.paid', { id: 'in_test_replay', object: 'invoice' }, nowS - 3_600);
    const oldSignature = await signatureFor(captured.payload, { timestamp: nowS - 3_600 });
    expect(await errorOf(await deliver(captured.payload, oldSignature))).toEqual({ status: 400, error: 'WEBHOOK_TIMESTAMP_STALE' });

    const replayed = await deliver(captured.payload, `t=${nowS},${oldSignature}`);
    expect(replayed.status).toBe(400);
    expect(await recordedEvents(captured.id)).toHaveLength(0);
  });

  test('an event type the service does not handle (invoice.paid) is answered 200 `ignored` and recorded once', async () => {
    const event = eventPayload('invoice.paid', { id: 'in_test_unhandled', object: 'invoice', amount_paid: 2500, currency: 'usd' });
    expect(await outcomeOf(await deliver(event.payload, await signatureFor(event.payload)))).toBe('ignored');
    expect(await outcomeOf(await deliver(event.payload, await signatureFor(event.payload)))).toBe('duplicate');
    const rows = await recordedEvents(event.id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'invoice.paid', status: 'ignored', objectId: 'in_test_unhandled' });
  });

  test("the Connect endpoint's secret signs too; an event of the other mode (live, for our test keys) is recorded and ignored", async () => {
    const user = userFor('otherMode');
    await withHeldWebhooks(async () => {
      const deposit = await depositByCard(t, user, 700);
      const event = eventAbout('payment_intent.succeeded', deposit.paymentIntentId ?? '');
      const live = JSON.stringify({ ...event, id: `${event.id}_live`, livemode: true });
      expect(await outcomeOf(await deliver(live, await signatureFor(live, { secret: TEST_CONNECT_WEBHOOK_SECRET })))).toBe('ignored');
      expect((await walletOf(t, user)).available.amount).toBe(0);
    });
    // Stripe's own (test-mode) event, signed with the account endpoint's secret, credits it.
    expect((await walletOf(t, user)).available.amount).toBe(700);
  });

  test('the same payment_intent.succeeded sent 5 times at once and 5 times in a row credits the wallet once: one answer `processed`, nine `duplicate`', async () => {
    const user = userFor('duplicates');
    let intentId = '';
    await withHeldWebhooks(async () => {
      const deposit = await depositByCard(t, user, 1_000);
      intentId = deposit.paymentIntentId ?? '';
      const event = eventAbout('payment_intent.succeeded', intentId);
      const payload = JSON.stringify(event);
      // All at once first (they race on the event's id), then one after another.
      const parallel = await Promise.all(Array.from({ length: 5 }, async () => outcomeOf(await deliver(payload, await signatureFor(payload)))));
      const sequential: string[] = [];
      for (let i = 0; i < 5; i += 1) sequential.push(await outcomeOf(await deliver(payload, await signatureFor(payload))));
      const all = [...parallel, ...sequential];
      expect(all.filter((outcome) => outcome === 'processed')).toHaveLength(1);
      expect(all.filter((outcome) => outcome === 'duplicate')).toHaveLength(9);
      expect(sequential).toEqual(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
      const recorded = await recordedEvents(event.id);
      expect(recorded).toHaveLength(1);
      // Kept for reconciliation and audit, but not the intent's client secret.
      expect(JSON.stringify(recorded[0]?.payload)).not.toContain('_secret_');
      expect(JSON.stringify(event)).toContain('_secret_');
      await t.settle();
      expect((await walletOf(t, user)).available.amount).toBe(1_000);
    });
    // Stripe's own delivery of the held event comes after ours: a duplicate as well.
    expect(outcomesOf(eventAbout('payment_intent.succeeded', intentId).id)).toEqual(['duplicate']);
    expect(await postingsWithKey(`pi:${intentId}:succeeded`)).toBe(1);
    expect((await walletOf(t, user)).available.amount).toBe(1_000);
    const [deposit] = await t.database.primary.select().from(deposits).where(eq(deposits.paymentIntentId, intentId));
    expect(deposit?.status).toBe('succeeded');
    await expectCleanLedger();
  });

  test('Stripe delivering every event twice (webhooks.configure duplicate) still credits a deposit once', async () => {
    const user = userFor('twice');
    t.stripeServer.webhooks.configure({ duplicate: true });
    let intentId = '';
    try {
      intentId = (await depositByCard(t, user, 700)).paymentIntentId ?? '';
    } finally {
      t.stripeServer.webhooks.configure({ duplicate: false });
    }
    const event = eventAbout('payment_intent.succeeded', intentId);
    expect(t.stripeServer.webhooks.deliveries().filter((delivery) => delivery.eventId === event.id && delivery.outcome === 'delivered')).toHaveLength(2);
    expect(outcomesOf(event.id)).toEqual(['processed', 'duplicate']);
    expect((await walletOf(t, user)).available.amount).toBe(700);
    expect(await postingsWithKey(`pi:${intentId}:succeeded`)).toBe(1);
    await expectCleanLedger();
  });

  test('a refund delivered before the payment it refunds is deferred, then reconciled after the credit: the wallet ends at deposit - refund', async () => {
    const user = userFor('refunded');
    let intentId = '';
    let chargeId = '';
    await withHeldWebhooks(async () => {
      intentId = (await depositByCard(t, user, 2_000)).paymentIntentId ?? '';
      chargeId = chargeOf(intentId);
      t.stripeServer.charges.refund(chargeId, 500);
    }, 'reverse');
    const refunded = eventAbout('charge.refunded', chargeId);
    const succeeded = eventAbout('payment_intent.succeeded', intentId);
    expect(answerIndex(refunded.id)).toBeGreaterThanOrEqual(0);
    expect(answerIndex(refunded.id)).toBeLessThan(answerIndex(succeeded.id));
    expect(outcomesOf(refunded.id)).toEqual(['deferred']);
    expect(outcomesOf(succeeded.id)).toEqual(['processed']);
    const jobs = await t.jobs.findJobs(RECONCILE_JOB);
    expect(jobs.some((job) => reconcileData.safeParse(job.data).data?.eventId === refunded.id)).toBe(true);

    await waitFor(
      'the deferred refund to be reconciled',
      async () => {
        const [row] = await recordedEvents(refunded.id);
        return row?.status === 'processed' && (await walletOf(t, user)).available.amount === 1_500;
      },
      RECONCILE_WAIT_MS,
      POLL_MS,
    );
    const [deposit] = await t.database.primary.select().from(deposits).where(eq(deposits.paymentIntentId, intentId));
    expect(deposit).toMatchObject({ status: 'succeeded', refundedAmount: 500, chargeId });
    await t.settle();
    const history = await readJson(await t.request('/wallet/transactions', withCookie(user)));
    expect(items(at(history, 'data')).map((entry) => [at(entry, 'kind'), at(entry, 'amount', 'amount')])).toEqual([
      ['refund', -500],
      ['deposit', 2_000],
    ]);
    expect(await postingsWithKey(`pi:${intentId}:succeeded`)).toBe(1);
    await expectCleanLedger();
  });

  test('a chargeback the wallet cannot cover takes what is there (never below 0), shows what is owed and freezes the wallet; the dispute won restores it exactly', async () => {
    const user = userFor('disputed');
    await onboard(t, user);
    const deposit = await depositByCard(t, user, 1_000);
    // 800 of it funds a bounty: only 200 is left to give back.
    await t.database.primary.transaction((tx) => holdEscrow(tx, { bountyId: `bounty-${crypto.randomUUID()}`, posterId: user.id, amount: 800, currency: 'usd' }));
    await t.settle();
    const before = await walletOf(t, user);
    expect(before).toMatchObject({ available: { amount: 200 }, inEscrow: { amount: 800 }, owed: { amount: 0 }, frozen: false });

    const dispute = t.stripeServer.charges.dispute(chargeOf(deposit.paymentIntentId));
    await settleWebhooks(t);
    expect(outcomesOf(eventAbout('charge.dispute.created', dispute.id).id)).toEqual(['processed']);
    const frozen = await walletOf(t, user);
    expect(frozen).toMatchObject({ available: { amount: 0 }, inEscrow: { amount: 800 }, owed: { amount: 800, currency: 'usd' }, frozen: true });
    expect(frozen.frozenReason).toContain('disputed');
    const refused = await t.request('/wallet/withdrawals', moneyPost(user, { amount: { amount: 100, currency: 'usd' } }));
    expect(await errorOf(refused)).toEqual({ status: 403, error: 'WALLET_FROZEN' });
    await expectCleanLedger();

    t.stripeServer.disputes.close(dispute.id, 'won');
    await settleWebhooks(t);
    expect(outcomesOf(eventAbout('charge.dispute.closed', dispute.id).id)).toEqual(['processed']);
    expect(await walletOf(t, user)).toEqual(before);
    await expectCleanLedger();
  });

  test('a chargeback the wallet covers takes the money back without freezing the wallet', async () => {
    const user = userFor('covered');
    // Stripe's dispute test card: the payment succeeds, then is disputed.
    await depositByCard(t, user, 1_000, 'pm_card_createDispute');
    expect(await walletOf(t, user)).toMatchObject({ available: { amount: 0 }, owed: { amount: 0 }, frozen: false, frozenReason: null });
    await expectCleanLedger();
  });

  test('a paid withdrawal whose transfer Stripe reverses shows `reversed` and its money is back in the balance, once even when the event comes twice', async () => {
    const user = userFor('reversed');
    await onboard(t, user);
    await depositByCard(t, user, 3_000);
    const withdrawal = await withdrawAndWaitPaid(user, 1_000);
    await t.settle();
    expect(await walletOf(t, user)).toMatchObject({ available: { amount: 2_000 }, heldForWithdrawals: { amount: 0 } });

    t.stripeServer.webhooks.configure({ duplicate: true });
    try {
      t.stripeServer.transfers.reverse(withdrawal.transferId);
      await settleWebhooks(t);
    } finally {
      t.stripeServer.webhooks.configure({ duplicate: false });
    }
    expect(outcomesOf(eventAbout('transfer.reversed', withdrawal.transferId).id)).toEqual(['processed', 'duplicate']);
    expect(await getWithdrawal(user, withdrawal.id)).toMatchObject({ status: 'reversed' });
    expect(await walletOf(t, user)).toMatchObject({ available: { amount: 3_000 }, heldForWithdrawals: { amount: 0 } });
    expect(await postingsWithKey(`tr:${withdrawal.transferId}:reversed:1000`)).toBe(1);
    await expectCleanLedger();
  });

  test("the bank refusing a payout marks the paid withdrawal of that amount `payout_failed` with the bank's reason, on the payout account too, until a payout of it succeeds; no money moves", async () => {
    const user = userFor('bankRefused');
    const accountId = await onboard(t, user);
    await depositByCard(t, user, 2_000);
    const withdrawal = await withdrawAndWaitPaid(user, 1_500);
    await t.settle();
    const walletBefore = await walletOf(t, user);
    const entriesBefore = await entriesOf(user.id);

    const payout = t.stripeServer.payouts.fail(accountId, { amount: 1_500, currency: 'usd', failureCode: 'account_closed', failureMessage: 'The bank account has been closed' });
    await settleWebhooks(t);
    expect(outcomesOf(eventAbout('payout.failed', payout.id).id)).toEqual(['processed']);

    const listed = await readJson(await t.request('/wallet/withdrawals', withCookie(user)));
    expect(at(listed, 'data', 0, 'id')).toBe(withdrawal.id);
    expect(at(listed, 'data', 0, 'status')).toBe('payout_failed');
    expect(String(at(listed, 'data', 0, 'failureReason'))).toContain('The bank account has been closed');
    const account = await connectAccountOf(user);
    expect(account?.payoutFailureReason).toContain('The bank account has been closed');

    expect(await walletOf(t, user)).toEqual(walletBefore);
    expect(await entriesOf(user.id)).toBe(entriesBefore);

    // The user fixes the bank details and Stripe's next payout of the amount arrives.
    const paid = eventPayload('payout.paid', { ...payout, id: `${payout.id}_retry`, status: 'paid', failure_code: null, failure_message: null });
    const withAccount = JSON.stringify({ ...JSON.parse(paid.payload), account: accountId });
    expect(await outcomeOf(await deliver(withAccount, await signatureFor(withAccount, { secret: TEST_CONNECT_WEBHOOK_SECRET })))).toBe('processed');
    await t.settle();
    const after = await readJson(await t.request('/wallet/withdrawals', withCookie(user)));
    expect(at(after, 'data', 0)).toMatchObject({ id: withdrawal.id, status: 'paid', failureReason: null });
    expect((await connectAccountOf(user))?.payoutFailureReason).toBeNull();
    expect(await walletOf(t, user)).toEqual(walletBefore);
    await expectCleanLedger();
  });

  test('payout events out of order: a failure older than a later payout that succeeded does not show', async () => {
    const user = userFor('payoutOrder');
    const accountId = await onboard(t, user);
    await depositByCard(t, user, 1_000);
    const withdrawal = await withdrawAndWaitPaid(user, 700);
    const nowS = Math.floor(Date.now() / 1000);
    const payout = (id: string, status: string) => ({ id, object: 'payout', amount: 700, currency: 'usd', status, failure_code: status === 'failed' ? 'account_closed' : null, failure_message: status === 'failed' ? 'closed' : null });
    const send = async (type: string, object: object, createdS: number) => {
      const made = eventPayload(type, object, createdS);
      const payload = JSON.stringify({ ...JSON.parse(made.payload), account: accountId });
      return outcomeOf(await deliver(payload, await signatureFor(payload, { secret: TEST_CONNECT_WEBHOOK_SECRET })));
    };
    // Stripe: the first payout failed (a minute ago), the next one was paid (now); delivered newest first.
    expect(await send('payout.paid', payout('po_second', 'paid'), nowS)).toBe('processed');
    expect(await send('payout.failed', payout('po_first', 'failed'), nowS - 60)).toBe('processed');
    await t.settle();
    expect((await connectAccountOf(user))?.payoutFailureReason).toBeNull();
    expect((await getWithdrawal(user, withdrawal.id)).status).toBe('paid');
  });

  test('a payout account Stripe made but we never recorded (our request died after Stripe answered) is adopted once onboarding completes: payouts show enabled', async () => {
    const user = userFor('adopted');
    const created = await t.stripe.accounts.create({ type: 'express', metadata: { user_id: user.id } });
    expect(await connectAccountOf(user)).toBeNull();

    t.stripeServer.accounts.completeOnboarding(created.id);
    await settleWebhooks(t);
    const event = eventAbout('account.updated', created.id);
    expect(outcomesOf(event.id)).toEqual(['deferred']);

    const account = await waitFor('the payout account to be adopted', () => connectAccountOf(user), RECONCILE_WAIT_MS, POLL_MS);
    expect(account).toMatchObject({ accountId: created.id, payoutsEnabled: true, requirementsDue: [] });
    const [row] = await recordedEvents(event.id);
    expect(row?.status).toBe('processed');
  });

  test('account.updated for an account none of our users made (no user_id in its metadata) ends `ignored`, not retried forever', async () => {
    const stranger = await t.stripe.accounts.create({ type: 'express' });
    t.stripeServer.accounts.completeOnboarding(stranger.id);
    await settleWebhooks(t);
    const event = eventAbout('account.updated', stranger.id);
    expect(outcomesOf(event.id)).toEqual(['deferred']);

    await waitFor('the event to be ignored', async () => (await recordedEvents(event.id))[0]?.status === 'ignored', RECONCILE_WAIT_MS, POLL_MS);
    const job = await waitFor(
      'its reconcile job to finish',
      async () => {
        const found = (await t.jobs.findJobs(RECONCILE_JOB)).find((candidate) => reconcileData.safeParse(candidate.data).data?.eventId === event.id);
        return found && found.state === 'completed' ? found : null;
      },
      RECONCILE_WAIT_MS,
      POLL_MS,
    );
    expect(job.state).toBe('completed');
  });

  test('a payment_intent.payment_failed arriving after the payment succeeded (a declined first try) neither un-credits the wallet nor marks the deposit failed', async () => {
    const user = userFor('lateFailure');
    let depositId = '';
    let intentId = '';
    await withHeldWebhooks(async () => {
      // Created without a card, as the app does for Apple Pay; the app's first card is declined, the second works.
      const response = user.jar.store(await t.request('/wallet/deposits', moneyPost(user, { amount: { amount: 1_200, currency: 'usd' }, method: 'card' })));
      expect(response.status).toBe(201);
      const body = await readJson(response);
      depositId = String(at(body, 'data', 'id'));
      intentId = String(at(body, 'data', 'paymentIntentId'));
      const declined = await t.stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_chargeDeclined' }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
      await t.stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
    }, 'reverse');
    const failed = eventAbout('payment_intent.payment_failed', intentId);
    const succeeded = eventAbout('payment_intent.succeeded', intentId);
    expect(answerIndex(succeeded.id)).toBeLessThan(answerIndex(failed.id));
    expect(outcomesOf(succeeded.id)).toEqual(['processed']);
    // Accepted (200), so Stripe does not send it again, and it changes nothing.
    expect(answers.filter((answer) => answer.eventId === failed.id).map((answer) => answer.status)).toEqual([200]);

    expect((await walletOf(t, user)).available.amount).toBe(1_200);
    const deposit = await readJson(await t.request(`/wallet/deposits/${depositId}`, withCookie(user)));
    expect(at(deposit, 'data')).toMatchObject({ status: 'succeeded', failureReason: null });
    expect(await postingsWithKey(`pi:${intentId}:succeeded`)).toBe(1);
    await expectCleanLedger();
  });

  test('regression (reclaim locks the wallet before the platform account): a refund and a deposit landing on one wallet at the same moment are both accepted, neither answered 500 by a deadlock', async () => {
    const user = userFor('busy');
    let first = '';
    let second = '';
    let refundPayload = '';
    let creditPayload = '';
    await withHeldWebhooks(async () => {
      first = (await depositByCard(t, user, 1_000)).paymentIntentId ?? '';
      second = (await depositByCard(t, user, 1_000)).paymentIntentId ?? '';
      t.stripeServer.charges.refund(chargeOf(first), 300);
      const credited = JSON.stringify(eventAbout('payment_intent.succeeded', first));
      expect(await outcomeOf(await deliver(credited, await signatureFor(credited)))).toBe('processed');
      refundPayload = JSON.stringify(eventAbout('charge.refunded', chargeOf(first)));
      creditPayload = JSON.stringify(eventAbout('payment_intent.succeeded', second));
      const [refundSignature, creditSignature] = await Promise.all([signatureFor(refundPayload), signatureFor(creditPayload)]);

      // Someone else (a withdrawal, a bounty) is busy with the wallet; the refund, then the credit, queue behind it.
      const lockWaiters = async (): Promise<number> =>
        (
          await selectRows(
            t.database.primary,
            sql`select count(*)::int as waiting from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock' and query ilike '%ledger_accounts%'`,
            z.object({ waiting: z.coerce.number() }),
          )
        )[0]?.waiting ?? 0;
      let release = (): void => undefined;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let locked = (): void => undefined;
      const isLocked = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const busy = t.database.primary.transaction(async (tx) => {
        await lockAccounts(tx, [userAccount(user.id, 'available', 'usd')]);
        locked();
        await released;
      });
      await isLocked;
      const baseline = await lockWaiters();
      const refund = deliver(refundPayload, refundSignature);
      await waitFor('the refund to wait for the wallet', async () => (await lockWaiters()) >= baseline + 1, 5_000, 10);
      const credit = deliver(creditPayload, creditSignature);
      await waitFor('the credit to wait for the wallet', async () => (await lockWaiters()) >= baseline + 2, 5_000, 10);
      release();
      await busy;
      const answered = await Promise.all([refund, credit]);
      expect(answered.map((response) => response.status)).toEqual([200, 200]);
    });
    await waitFor('the wallet to hold 2000 - 300', async () => (await walletOf(t, user)).available.amount === 1_700, RECONCILE_WAIT_MS, POLL_MS);
    await expectCleanLedger();
  });

  test('regression (account.updated events in the same second, delivered out of order): the older state does not overwrite the newer one', async () => {
    const user = userFor('reordered');
    const response = user.jar.store(await t.request('/connect/account', withCookie(user, { method: 'POST' })));
    const accountId = connectBody.parse(await response.json()).data.accountId;
    await withHeldWebhooks(async () => {
      // Both changes inside one second: Stripe's `created` (whole seconds) cannot order them.
      await Bun.sleep(1_000 - (Date.now() % 1_000) + 5);
      t.stripeServer.accounts.completeOnboarding(accountId);
      t.stripeServer.accounts.restrict(accountId, ['individual.verification.document']);
    }, 'reverse');
    const stripeSays = t.stripeServer.state.accounts().find((account) => account.id === accountId);
    expect(stripeSays?.payouts_enabled).toBe(false);
    const updates = t.stripeServer.webhooks.events('account.updated').filter((event) => at(event.data.object, 'id') === accountId);
    expect(updates).toHaveLength(2);
    expect(new Set(updates.map((event) => event.created)).size).toBe(1);

    // A fix may defer one of them to the reconcile job: wait until neither is deferred any more.
    await waitFor(
      'both account.updated events to be settled',
      async () => {
        const rows = await Promise.all(updates.map((event) => recordedEvents(event.id)));
        return rows.every(([row]) => row !== undefined && row.status !== 'deferred');
      },
      RECONCILE_WAIT_MS,
      POLL_MS,
    );
    await t.settle();
    // What the user is shown must be what Stripe has now: restricted, payouts off.
    expect(await connectAccountOf(user)).toMatchObject({ payoutsEnabled: false, requirementsDue: ['individual.verification.document'] });
  });
});
