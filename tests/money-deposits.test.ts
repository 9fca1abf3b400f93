/**
 * Deposits end to end on the real cluster and the local Stripe server: the documented calls a
 * client makes, the webhook that alone credits the wallet, declined cards, Apple Pay through the
 * same intent, saved cards, bad amounts, and other users' objects.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { deposits, idempotencyKeys } from '../src/db';
import { signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { depositByCard, moneyPost, settleWebhooks, walletOf, withCookie } from './support/money';

describe.skipIf(!hasCluster)('deposits through Stripe', () => {
  let t: TestApp;
  let alice: TestAccount;
  let bob: TestAccount;

  beforeAll(async () => {
    t = await startTestApp({}, { work: false });
    [alice, bob] = await Promise.all([signUp(t, 'depositor'), signUp(t, 'other')]);
  });
  afterAll(() => t.close());

  test('a $50 deposit with pm_card_visa: the wallet shows 5000 once Stripe reports the payment, with a history entry', async () => {
    const before = await walletOf(t, alice);
    expect(before.available).toEqual({ amount: 0, currency: 'usd' });
    const deposit = await depositByCard(t, alice, 5_000);
    expect(deposit.paymentIntentId).toStartWith('pi_');
    expect(deposit.clientSecret).toStartWith(`${deposit.paymentIntentId}_secret`);
    expect((await walletOf(t, alice)).available).toEqual({ amount: 5_000, currency: 'usd' });
    const history = await readJson(await t.request('/wallet/transactions', withCookie(alice)));
    expect(at(history, 'data', 0)).toMatchObject({ kind: 'deposit', amount: { amount: 5_000, currency: 'usd' }, status: 'completed', description: 'Deposit by card' });
    const listed = await readJson(await t.request('/wallet/deposits', withCookie(alice)));
    expect(at(listed, 'data', 0)).toMatchObject({ id: deposit.id, status: 'succeeded', clientSecret: null });
  });

  test('the request alone credits nothing: with webhooks held, the deposit is processing and the wallet unchanged', async () => {
    const carol = await signUp(t, 'held');
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      const response = await t.request('/wallet/deposits', moneyPost(carol, { amount: { amount: 1_000, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_visa' }));
      expect(response.status).toBe(201);
      expect(at(await readJson(response), 'data', 'status')).toBe('processing');
      expect((await walletOf(t, carol)).available.amount).toBe(0);
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    expect((await walletOf(t, carol)).available.amount).toBe(1_000);
  });

  test('Apple Pay is the same PaymentIntent: the app confirms it with the client secret and the webhook credits the wallet', async () => {
    const response = await t.request('/wallet/deposits', moneyPost(bob, { amount: { amount: 2_500, currency: 'usd' }, method: 'apple_pay' }));
    expect(response.status).toBe(201);
    const body = await readJson(response);
    expect(at(body, 'data')).toMatchObject({ method: 'apple_pay', status: 'requires_payment' });
    const intentId = String(at(body, 'data', 'paymentIntentId'));
    // What the app does with the client secret and an Apple Pay token (a card payment method).
    await t.stripe.paymentIntents.confirm(intentId, { payment_method: 'pm_card_visa' });
    await settleWebhooks(t);
    expect((await walletOf(t, bob)).available.amount).toBe(2_500);
    const history = await readJson(await t.request('/wallet/transactions', withCookie(bob)));
    expect(at(history, 'data', 0, 'description')).toBe('Deposit with Apple Pay');
  });

  test('a declined card is 402 PAYMENT_DECLINED, the deposit is failed with the reason, and nothing is credited', async () => {
    const dave = await signUp(t, 'declined');
    const response = await t.request('/wallet/deposits', moneyPost(dave, { amount: { amount: 1_000, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_chargeDeclined' }));
    expect(response.status).toBe(402);
    expect(at(await readJson(response), 'error')).toBe('PAYMENT_DECLINED');
    await settleWebhooks(t);
    const listed = await readJson(await t.request('/wallet/deposits', withCookie(dave)));
    expect(at(listed, 'data', 0)).toMatchObject({ status: 'failed', failureReason: 'Your card was declined.' });
    expect((await walletOf(t, dave)).available.amount).toBe(0);
  });

  test('a deposit without an Idempotency-Key is 400; the same key again replays the first deposit (one PaymentIntent)', async () => {
    const missing = await t.request('/wallet/deposits', withCookie(alice, { method: 'POST', json: { amount: { amount: 1_000, currency: 'usd' }, method: 'card' } }));
    expect(missing.status).toBe(400);
    expect(at(await readJson(missing), 'error')).toBe('IDEMPOTENCY_KEY_REQUIRED');
    const key = crypto.randomUUID();
    const body = { amount: { amount: 1_000, currency: 'usd' }, method: 'card' };
    const first = await t.request('/wallet/deposits', moneyPost(alice, body, key));
    const second = await t.request('/wallet/deposits', moneyPost(alice, body, key));
    expect(second.headers.get('idempotent-replayed')).toBe('true');
    expect(at(await readJson(second), 'data', 'id')).toBe(at(await readJson(first), 'data', 'id'));
    const rows = await t.database.primary.select().from(deposits).where(eq(deposits.requestKey, key));
    expect(rows).toHaveLength(1);
    const different = await t.request('/wallet/deposits', moneyPost(alice, { ...body, amount: { amount: 1_001, currency: 'usd' } }, key));
    expect(different.status).toBe(422);
  });

  test('regression (a key reused after its 24 h): the same deposit and its one PaymentIntent, never a second charge', async () => {
    const key = crypto.randomUUID();
    const body = { amount: { amount: 1_200, currency: 'usd' }, method: 'card', paymentMethodId: 'pm_card_visa' };
    const first = await readJson(await t.request('/wallet/deposits', moneyPost(alice, body, key)));
    await settleWebhooks(t);
    const before = (await walletOf(t, alice)).available.amount;
    // A day later: our stored answer has expired, and Stripe has forgotten its own key too.
    await t.database.primary.delete(idempotencyKeys).where(eq(idempotencyKeys.key, key));
    t.stripeServer.idempotency.forgetAll();
    const again = await t.request('/wallet/deposits', moneyPost(alice, body, key));
    expect(again.status).toBe(201);
    const second = await readJson(again);
    expect(at(second, 'data', 'id')).toBe(at(first, 'data', 'id'));
    expect(at(second, 'data', 'paymentIntentId')).toBe(at(first, 'data', 'paymentIntentId'));
    const intents = t.stripeServer.state.paymentIntents().filter((intent) => intent.metadata.deposit_id === at(first, 'data', 'id'));
    expect(intents).toHaveLength(1);
    await settleWebhooks(t);
    expect((await walletOf(t, alice)).available.amount).toBe(before);
  });

  test('a key whose deposit never reached Stripe is spent after 23 hours: 409 DEPOSIT_KEY_EXPIRED, no intent made', async () => {
    const key = crypto.randomUUID();
    const body = { amount: { amount: 600, currency: 'usd' }, method: 'card' };
    // The first try timed out at Stripe a day ago: the deposit was never given an intent.
    t.stripeServer.faults.inject({ method: 'POST', path: /^\/v1\/payment_intents$/, mode: 'error_500', times: 1 });
    expect((await t.request('/wallet/deposits', moneyPost(bob, body, key))).status).toBe(503);
    await t.database.primary.update(deposits).set({ createdAt: new Date(Date.now() - 24 * 3_600_000) }).where(eq(deposits.requestKey, key));
    const retry = await t.request('/wallet/deposits', moneyPost(bob, body, key));
    expect(retry.status).toBe(409);
    expect(at(await readJson(retry), 'error')).toBe('DEPOSIT_KEY_EXPIRED');
    const [row] = await t.database.primary.select().from(deposits).where(eq(deposits.requestKey, key));
    expect(row?.paymentIntentId).toBeNull();
  });

  test('bad amounts are 422 and create nothing: 0, -1, 1.5, 1e309, "10", past 2^53, over the maximum, below Stripe\'s 50 cents, another currency', async () => {
    const depositsBefore = (await t.database.primary.select().from(deposits).where(eq(deposits.userId, alice.id))).length;
    const bad: unknown[] = [0, -1, 1.5, '10', 2 ** 53, 1_000_001, 49, null];
    for (const amount of bad) {
      const response = await t.request('/wallet/deposits', moneyPost(alice, { amount: { amount, currency: 'usd' }, method: 'card' }));
      expect(response.status, `amount ${String(amount)}`).toBe(422);
    }
    // 1e309 is not JSON-representable as a number: sent raw it parses to Infinity.
    const infinite = await t.request('/wallet/deposits', {
      ...withCookie(alice, { method: 'POST', headers: { 'idempotency-key': crypto.randomUUID(), 'content-type': 'application/json' } }),
      body: '{"amount":{"amount":1e309,"currency":"usd"},"method":"card"}',
    });
    expect(infinite.status).toBe(422);
    const euro = await t.request('/wallet/deposits', moneyPost(alice, { amount: { amount: 1_000, currency: 'eur' }, method: 'card' }));
    expect(euro.status).toBe(422);
    const withdrawals: unknown[] = [0, -1, 1.5, '10', 2 ** 53, 1_000_001];
    for (const amount of withdrawals) {
      const response = await t.request('/wallet/withdrawals', moneyPost(alice, { amount: { amount, currency: 'usd' } }));
      expect(response.status, `withdrawal ${String(amount)}`).toBe(422);
    }
    expect((await t.database.primary.select().from(deposits).where(eq(deposits.userId, alice.id))).length).toBe(depositsBefore);
  });

  test("another user's deposit is the same 404 as one that does not exist", async () => {
    const listed = await readJson(await t.request('/wallet/deposits', withCookie(alice)));
    const aliceDeposit = String(at(listed, 'data', 0, 'id'));
    const asBob = await t.request(`/wallet/deposits/${aliceDeposit}`, withCookie(bob));
    const missing = await t.request(`/wallet/deposits/${crypto.randomUUID()}`, withCookie(bob));
    expect(asBob.status).toBe(404);
    expect(await asBob.json()).toEqual(await missing.json());
    expect((await t.request(`/wallet/deposits/${aliceDeposit}`, withCookie(alice))).status).toBe(200);
  });

  test('a saved card: a SetupIntent confirmed with pm_card_visa saves a visa ending 4242; it can fund a deposit; another user cannot use or remove it', async () => {
    const saved = await t.request('/payments/methods', withCookie(alice, { method: 'POST', json: { paymentMethodId: 'pm_card_visa' } }));
    expect(saved.status).toBe(201);
    const method = at(await readJson(saved), 'data', 'paymentMethod');
    expect(method).toMatchObject({ brand: 'visa', last4: '4242' });
    const methodId = String(at(method, 'id'));
    const listed = await readJson(await t.request('/payments/methods', withCookie(alice)));
    expect(items(at(listed, 'data')).map((item) => at(item, 'id'))).toContain(methodId);

    const before = (await walletOf(t, alice)).available.amount;
    await depositByCard(t, alice, 700, methodId);
    expect((await walletOf(t, alice)).available.amount).toBe(before + 700);

    const bobUses = await t.request('/wallet/deposits', moneyPost(bob, { amount: { amount: 700, currency: 'usd' }, method: 'card', paymentMethodId: methodId }));
    expect(bobUses.status).toBe(404);
    const bobRemoves = await t.request(`/payments/methods/${methodId}`, withCookie(bob, { method: 'DELETE' }));
    expect(bobRemoves.status).toBe(404);
    const removed = await t.request(`/payments/methods/${methodId}`, withCookie(alice, { method: 'DELETE' }));
    expect(removed.status).toBe(200);
    const after = await readJson(await t.request('/payments/methods', withCookie(alice)));
    expect(items(at(after, 'data')).map((item) => at(item, 'id'))).not.toContain(methodId);
  });

  test('signed out, every wallet route is 401', async () => {
    const valid = { amount: { amount: 1_000, currency: 'usd' }, method: 'card' };
    for (const [path, method] of [['/wallet', 'GET'], ['/wallet/transactions', 'GET'], ['/wallet/deposits', 'POST'], ['/wallet/withdrawals', 'POST'], ['/payments/methods', 'GET']] as const) {
      const response = await t.request(path, { method, ...(method === 'POST' ? { json: valid, headers: { 'idempotency-key': crypto.randomUUID() } } : {}) });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
  });
});
