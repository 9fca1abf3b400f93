/**
 * The local Stripe-compatible server (src/dev/stripe-local), exercised through the REAL stripe SDK
 * as the service builds it (src/lib/stripe.ts): typed errors, idempotent replays and conflicts,
 * test cards, Connect, signed webhooks (verified with constructEventAsync), delivery options and
 * injected faults.
 */
import { afterEach, beforeEach, describe, expect, test } from 'bun:test';
import Stripe from 'stripe';
import { LOCAL_STRIPE_SECRET_KEY } from '../src/config/env';
import { type LocalStripe, startLocalStripe } from '../src/dev/stripe-local';
import { parseForm } from '../src/dev/stripe-local/form';
import { createStripeClient } from '../src/lib/stripe';

const WEBHOOK_SECRET = 'whsec_local_stripe_test';

let local: LocalStripe;
let stripe: Stripe;
/** Events the webhook target received, verified. */
let received: Stripe.Event[];
/** What the webhook target answers; a test may make it fail. */
let answer: () => number;

const client = (timeoutMs = 5_000): Stripe =>
  createStripeClient({
    secretKey: LOCAL_STRIPE_SECRET_KEY,
    apiBase: new URL(local.url),
    timeoutMs,
  });

/** The service's side of a webhook: verify the raw body's signature, then accept. */
async function webhookRoute(request: Request): Promise<Response> {
  const event = await stripe.webhooks.constructEventAsync(await request.text(), request.headers.get('stripe-signature') ?? '', WEBHOOK_SECRET);
  const status = answer();
  if (status < 300) received.push(event);
  return new Response(null, { status });
}

async function rejection(promise: Promise<unknown>): Promise<Stripe.errors.StripeError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return error;
    throw error;
  }
  throw new Error('expected the Stripe call to fail');
}

/** On Bun the SDK's fetch client hands back the fetch Response as lastResponse (its types say a record). */
function responseHeader(result: { lastResponse: { headers: unknown } }, name: string): string | null {
  const { headers } = result.lastResponse;
  return headers instanceof Headers ? headers.get(name) : null;
}

const receivedTypes = (): string[] => received.map((event) => event.type);

beforeEach(async () => {
  received = [];
  answer = () => 200;
  local = await startLocalStripe({ port: 0, webhookSecret: WEBHOOK_SECRET, webhookTarget: webhookRoute });
  stripe = client();
});

afterEach(async () => {
  await local.stop();
});

describe('requests', () => {
  test("bracket form encoding is parsed as Stripe's", () => {
    expect(parseForm('metadata[user_id]=u1&payment_method_types[0]=card&payment_method_types[1]=link&capabilities[transfers][requested]=true&expand[0]=latest_charge&__proto__[x]=1')).toEqual({
      metadata: { user_id: 'u1' },
      payment_method_types: ['card', 'link'],
      capabilities: { transfers: { requested: 'true' } },
      expand: ['latest_charge'],
      __proto__: { x: '1' },
    });
    expect(Object.prototype).not.toHaveProperty('x');
  });

  test('an API key is required, a live key is refused, and unknown URLs are 404', async () => {
    const anonymous = await fetch(`${local.url}/v1/customers`);
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { message: string } }).error.message).toContain('You did not provide an API key');

    const live = new Stripe('sk_live_nope_1234567890', { host: '127.0.0.1', port: local.port, protocol: 'http', maxNetworkRetries: 0 });
    expect(await rejection(live.customers.create())).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);

    const unknown = await rejection(stripe.invoices.create({ customer: 'cus_x' }));
    expect(unknown).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(unknown.statusCode).toBe(404);
    expect(unknown.message).toContain('Unrecognized request URL (POST: /v1/invoices)');
  });

  test('parameters are checked: unknown ones, integers, the USD minimum, missing objects', async () => {
    const unknown = await rejection(stripe.customers.create({ phone: '+1555' }));
    expect([unknown.code, unknown.param]).toEqual(['parameter_unknown', 'phone']);

    const small = await rejection(stripe.paymentIntents.create({ amount: 49, currency: 'usd' }));
    expect(small).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect([small.statusCode, small.param, small.code]).toEqual([400, 'amount', 'amount_too_small']);

    const missing = await rejection(stripe.customers.retrieve('cus_missing'));
    expect([missing.statusCode, missing.code]).toEqual([404, 'resource_missing']);

    const noMethod = await rejection(stripe.paymentIntents.create({ amount: 500, currency: 'usd', payment_method: 'pm_nope', confirm: true }));
    expect([noMethod.statusCode, noMethod.code, noMethod.param]).toEqual([400, 'resource_missing', 'payment_method']);
    expect(local.state.paymentIntents()).toHaveLength(0);
  });

  test('a raw form request (curl -u): integers converted, the older payment_method_types accepted', async () => {
    const response = await fetch(`${local.url}/v1/payment_intents`, {
      method: 'POST',
      headers: { authorization: `Basic ${btoa('sk_test_curl:')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'amount=1250&currency=USD&payment_method_types[0]=card&automatic_payment_methods[enabled]=false&metadata[k]=v',
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('request-id')).toStartWith('req_');
    expect(await response.json()).toMatchObject({
      object: 'payment_intent',
      amount: 1_250,
      currency: 'usd',
      payment_method_types: ['card'],
      automatic_payment_methods: { enabled: false },
      metadata: { k: 'v' },
      livemode: false,
    });
  });
});

describe('payments with test cards', () => {
  test('pm_card_visa succeeds: a charge with the metadata, charge.succeeded then payment_intent.succeeded', async () => {
    const customer = await stripe.customers.create({ email: 'a@example.com', metadata: { user_id: 'u1' } });
    expect(customer.id).toStartWith('cus_');
    expect(customer.metadata).toEqual({ user_id: 'u1' });

    const intent = await stripe.paymentIntents.create({
      amount: 2_000,
      currency: 'usd',
      customer: customer.id,
      allowed_payment_method_types: ['card'],
      metadata: { bounty_id: 'b1' },
      transfer_group: 'bounty_b1',
    });
    expect(intent.status).toBe('requires_payment_method');
    expect(intent.client_secret).toStartWith(`${intent.id}_secret_`);

    const confirmed = await stripe.paymentIntents.confirm(intent.id, { payment_method: 'pm_card_visa' });
    expect(confirmed.status).toBe('succeeded');
    const charge = local.state.charges()[0];
    expect(charge).toMatchObject({ amount: 2_000, currency: 'usd', payment_intent: intent.id, amount_refunded: 0, refunded: false, disputed: false });
    expect(charge?.metadata).toEqual({ bounty_id: 'b1' });
    expect(confirmed.latest_charge).toBe(charge?.id ?? '');

    const expandedIntent = await stripe.paymentIntents.retrieve(intent.id, { expand: ['latest_charge'] });
    expect(expandedIntent.latest_charge).toMatchObject({ object: 'charge', id: charge?.id ?? '' });

    await local.webhooks.settled();
    const types = receivedTypes();
    expect(types.indexOf('charge.succeeded')).toBeLessThan(types.indexOf('payment_intent.succeeded'));
    const succeeded = received.find((event) => event.type === 'payment_intent.succeeded');
    expect(succeeded?.api_version).toBe(Stripe.API_VERSION);
    expect(succeeded?.data.object).toMatchObject({ id: intent.id, status: 'succeeded' });
  });

  test('pm_card_chargeDeclined is a StripeCardError; the intent goes back to requires_payment_method', async () => {
    const declined = await rejection(stripe.paymentIntents.create({ amount: 1_000, currency: 'usd', payment_method: 'pm_card_chargeDeclined', confirm: true }));
    expect(declined).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect([declined.statusCode, declined.code, declined.decline_code, declined.message]).toEqual([402, 'card_declined', 'generic_decline', 'Your card was declined.']);
    expect(declined.payment_intent?.status).toBe('requires_payment_method');
    expect(declined.payment_intent?.last_payment_error?.decline_code).toBe('generic_decline');

    const poor = await rejection(stripe.paymentIntents.create({ amount: 1_000, currency: 'usd', payment_method: 'pm_card_chargeDeclinedInsufficientFunds', confirm: true }));
    expect(poor.decline_code).toBe('insufficient_funds');

    await local.webhooks.settled();
    expect(local.webhooks.events('payment_intent.payment_failed')).toHaveLength(2);
    expect(local.webhooks.events('payment_intent.succeeded')).toHaveLength(0);
  });

  test('pm_card_createDispute succeeds, then is disputed; the dispute can be closed', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 3_000, currency: 'usd', payment_method: 'pm_card_createDispute', confirm: true });
    expect(intent.status).toBe('succeeded');
    await local.webhooks.settled();
    expect(receivedTypes()).toEqual(['payment_intent.created', 'charge.succeeded', 'payment_intent.succeeded', 'charge.dispute.created']);
    const [dispute] = local.state.disputes();
    expect(dispute).toMatchObject({ amount: 3_000, status: 'needs_response', charge: intent.latest_charge, payment_intent: intent.id });
    expect(local.state.charges()[0]?.disputed).toBe(true);

    local.disputes.close(dispute?.id ?? '', 'lost');
    await local.webhooks.settled();
    expect(received.at(-1)?.type).toBe('charge.dispute.closed');
    expect(received.at(-1)?.data.object).toMatchObject({ status: 'lost' });
  });

  test('a setup intent saves a clone of the test card, which later pays off-session; a detached one cannot', async () => {
    const customer = await stripe.customers.create({ name: 'Ada' });
    const setup = await stripe.setupIntents.create({ customer: customer.id, allowed_payment_method_types: ['card'], usage: 'off_session' });
    const confirmed = await stripe.setupIntents.confirm(setup.id, { payment_method: 'pm_card_mastercard' });
    expect(confirmed.status).toBe('succeeded');
    const saved = String(confirmed.payment_method);
    expect(saved).toStartWith('pm_');
    expect(saved).not.toBe('pm_card_mastercard');

    const listed = await stripe.paymentMethods.list({ customer: customer.id, type: 'card' });
    expect(listed.data.map((method) => method.id)).toEqual([saved]);
    expect(listed.data[0]?.card).toMatchObject({ brand: 'mastercard', last4: '4444', funding: 'credit', country: 'US' });
    const attached = await stripe.paymentMethods.attach('pm_card_visa', { customer: customer.id });
    expect(attached).toMatchObject({ customer: customer.id, card: { brand: 'visa', last4: '4242' } });
    const newest = await stripe.customers.listPaymentMethods(customer.id, { limit: 1 });
    expect([newest.data.map((method) => method.id), newest.has_more]).toEqual([[attached.id], true]);
    const older = await stripe.paymentMethods.list({ customer: customer.id, limit: 1, starting_after: attached.id });
    expect([older.data.map((method) => method.id), older.has_more]).toEqual([[saved], false]);

    const paid = await stripe.paymentIntents.create({ amount: 700, currency: 'usd', customer: customer.id, payment_method: saved, off_session: true, confirm: true });
    expect(paid.status).toBe('succeeded');

    const detached = await stripe.paymentMethods.detach(saved);
    expect(detached.customer).toBeNull();
    const reuse = await rejection(stripe.paymentIntents.create({ amount: 700, currency: 'usd', customer: customer.id, payment_method: saved, confirm: true }));
    expect([reuse.statusCode, reuse.param]).toEqual([400, 'payment_method']);
    await local.webhooks.settled();
    expect(receivedTypes()).toContain('setup_intent.succeeded');
  });

  test('refunds: partial, then the rest, never more; charge.refunded carries the charge', async () => {
    const intent = await stripe.paymentIntents.create({ amount: 1_000, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    const partial = await stripe.refunds.create({ payment_intent: intent.id, amount: 400 });
    expect(partial).toMatchObject({ object: 'refund', amount: 400, status: 'succeeded', payment_intent: intent.id });
    const tooMuch = await rejection(stripe.refunds.create({ payment_intent: intent.id, amount: 601 }));
    expect([tooMuch.statusCode, tooMuch.param]).toEqual([400, 'amount']);
    const rest = local.charges.refund(String(intent.latest_charge));
    expect(rest.amount).toBe(600);
    expect(local.state.charges()[0]).toMatchObject({ amount_refunded: 1_000, refunded: true });

    await local.webhooks.settled();
    const refunded = received.filter((event) => event.type === 'charge.refunded').map((event) => event.data.object);
    expect(refunded).toMatchObject([{ amount_refunded: 400, refunded: false }, { amount_refunded: 1_000, refunded: true }]);
    expect(local.webhooks.events('refund.created')).toHaveLength(2);
  });
});

describe('idempotency', () => {
  const params = { amount: 1_500, currency: 'usd', payment_method: 'pm_card_visa', confirm: true } as const;

  test('the same key and parameters replay the first response; other parameters or another endpoint are refused', async () => {
    const first = await stripe.paymentIntents.create(params, { idempotencyKey: 'deposit-1' });
    const again = await stripe.paymentIntents.create(params, { idempotencyKey: 'deposit-1' });
    expect(again.id).toBe(first.id);
    expect(responseHeader(again, 'idempotent-replayed')).toBe('true');
    expect(responseHeader(first, 'idempotent-replayed')).toBeNull();
    expect(local.state.paymentIntents()).toHaveLength(1);
    expect(local.state.charges()).toHaveLength(1);

    const changed = await rejection(stripe.paymentIntents.create({ ...params, amount: 1_600 }, { idempotencyKey: 'deposit-1' }));
    expect(changed).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(changed.message).toContain('can only be used with the same parameters');

    const elsewhere = await rejection(stripe.customers.create({}, { idempotencyKey: 'deposit-1' }));
    expect(elsewhere).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);

    // Scoped per API key: another key may use the same idempotency key.
    const other = new Stripe('sk_test_someone_else', { host: '127.0.0.1', port: local.port, protocol: 'http', maxNetworkRetries: 0 });
    expect((await other.paymentIntents.create(params, { idempotencyKey: 'deposit-1' })).id).not.toBe(first.id);
  });

  test('errors are replayed too: a declined card declines again without a second attempt', async () => {
    const declinedParams = { ...params, payment_method: 'pm_card_chargeDeclined' };
    const first = await rejection(stripe.paymentIntents.create(declinedParams, { idempotencyKey: 'declined-1' }));
    const again = await rejection(stripe.paymentIntents.create(declinedParams, { idempotencyKey: 'declined-1' }));
    expect(again).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(again.payment_intent?.id).toBe(first.payment_intent?.id ?? '');
    expect(local.state.charges()).toHaveLength(1);
  });
});

describe('Connect', () => {
  test('onboarding through the account link, transfers, reversals, account and payout events', async () => {
    const account = await stripe.accounts.create({ type: 'express', country: 'US', email: 'h@example.com', capabilities: { transfers: { requested: true } } });
    expect(account).toMatchObject({ details_submitted: false, charges_enabled: false, payouts_enabled: false, capabilities: { transfers: 'inactive' } });
    expect(account.requirements?.currently_due).toContain('external_account');

    const refused = await rejection(stripe.transfers.create({ amount: 500, currency: 'usd', destination: account.id }));
    expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(refused.message).toContain('at least one of the following capabilities enabled: transfers');

    const link = await stripe.accountLinks.create({ account: account.id, type: 'account_onboarding', refresh_url: 'http://app.test/refresh', return_url: 'http://app.test/done' });
    expect(link.url).toStartWith(`${local.url}/_local/onboarding/${account.id}`);
    const browser = await fetch(link.url, { redirect: 'manual' });
    expect([browser.status, browser.headers.get('location')]).toEqual([302, 'http://app.test/done']);
    expect(await stripe.accounts.retrieve(account.id)).toMatchObject({ details_submitted: true, payouts_enabled: true, capabilities: { transfers: 'active' } });

    const transfer = await stripe.transfers.create({ amount: 500, currency: 'usd', destination: account.id, transfer_group: 'bounty_1', metadata: { payout: 'p1' } });
    expect(transfer).toMatchObject({ amount: 500, amount_reversed: 0, reversed: false, destination: account.id, metadata: { payout: 'p1' } });
    const reversal = await stripe.transfers.createReversal(transfer.id, { amount: 200 });
    expect(reversal.id).toStartWith('trr_');
    expect(local.transfers.reverse(transfer.id)).toMatchObject({ amount: 300 });
    expect(await stripe.transfers.retrieve(transfer.id)).toMatchObject({ amount_reversed: 500, reversed: true });

    local.payouts.fail(account.id, { amount: 500, currency: 'usd', failureCode: 'account_closed' });
    local.accounts.restrict(account.id, ['individual.verification.document']);
    expect(await rejection(stripe.transfers.create({ amount: 100, currency: 'usd', destination: account.id }))).toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );

    await local.webhooks.settled();
    const payoutFailed = received.find((event) => event.type === 'payout.failed');
    expect(payoutFailed?.account).toBe(account.id);
    expect(payoutFailed?.data.object).toMatchObject({ object: 'payout', status: 'failed', failure_code: 'account_closed' });
    const updates = received.filter((event) => event.type === 'account.updated');
    expect(updates.map((event) => event.data.object)).toMatchObject([{ payouts_enabled: true }, { payouts_enabled: false }]);
    expect(receivedTypes().filter((type) => type.startsWith('transfer.'))).toEqual(['transfer.created', 'transfer.reversed', 'transfer.reversed']);
    expect(local.state.transfers().filter((t) => t.destination === account.id)).toHaveLength(1);
  });
});

describe('webhooks', () => {
  test('are signed with the secret: a wrong secret does not verify', async () => {
    let raw: { payload: string; signature: string } | null = null;
    local.setWebhookTarget(async (request) => {
      raw = { payload: await request.text(), signature: request.headers.get('stripe-signature') ?? '' };
      return new Response(null, { status: 200 });
    });
    await stripe.customers.create({ email: 'sig@example.com' }, { idempotencyKey: 'customer-sig' });
    await local.webhooks.settled();
    if (raw === null) throw new Error('no delivery');
    const { payload, signature }: { payload: string; signature: string } = raw;
    const event = await stripe.webhooks.constructEventAsync(payload, signature, WEBHOOK_SECRET);
    expect(event).toMatchObject({ type: 'customer.created', object: 'event', livemode: false, request: { idempotency_key: 'customer-sig' } });
    expect(event.id).toStartWith('evt_');
    expect(await stripe.webhooks.constructEventAsync(payload, signature, 'whsec_wrong').catch((error: unknown) => error)).toBeInstanceOf(
      Stripe.errors.StripeSignatureVerificationError,
    );
  });

  test('go to a URL target too', async () => {
    const seen: string[] = [];
    const receiver = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(request) {
        const event = await stripe.webhooks.constructEventAsync(await request.text(), request.headers.get('stripe-signature') ?? '', WEBHOOK_SECRET);
        seen.push(`${new URL(request.url).pathname} ${event.type}`);
        return new Response('ok');
      },
    });
    try {
      local.setWebhookTarget(`http://127.0.0.1:${receiver.port}/webhooks/stripe`);
      await stripe.customers.create({});
      await local.webhooks.settled();
      expect(seen).toEqual(['/webhooks/stripe customer.created']);
    } finally {
      await receiver.stop(true);
    }
  });

  test('duplicate delivers each event twice; hold + flush reverse delivers out of order', async () => {
    local.webhooks.configure({ duplicate: true });
    await stripe.customers.create({});
    await local.webhooks.settled();
    expect(received).toHaveLength(2);
    expect(received[0]?.id).toBe(received[1]?.id ?? '');

    received = [];
    local.webhooks.configure({ duplicate: false, hold: true });
    await stripe.paymentIntents.create({ amount: 900, currency: 'usd', payment_method: 'pm_card_visa', confirm: true });
    await local.webhooks.settled();
    expect(received).toHaveLength(0);
    local.webhooks.flush({ order: 'reverse' });
    await local.webhooks.settled();
    expect(receivedTypes()).toEqual(['payment_intent.succeeded', 'charge.succeeded', 'payment_intent.created']);
  });

  test('a failing target is retried, then the delivery is recorded as failed', async () => {
    let calls = 0;
    answer = () => (++calls === 1 ? 500 : 200);
    await stripe.customers.create({});
    await local.webhooks.settled();
    expect(local.webhooks.deliveries().map((attempt) => [attempt.attempt, attempt.status, attempt.outcome])).toEqual([
      [1, 500, 'retrying'],
      [2, 200, 'delivered'],
    ]);

    answer = () => 503;
    const before = local.webhooks.deliveries().length;
    await stripe.customers.create({});
    await local.webhooks.settled();
    const attempts = local.webhooks.deliveries().slice(before);
    expect(attempts.map((attempt) => attempt.outcome)).toEqual(['retrying', 'retrying', 'retrying', 'failed']);
    expect(new Set(attempts.map((attempt) => attempt.eventId)).size).toBe(1);
  });
});

describe('faults', () => {
  const transfer = async (destination: string, key: string, sdk = stripe) =>
    sdk.transfers.create({ amount: 400, currency: 'usd', destination }, { idempotencyKey: key });

  async function payableAccount(): Promise<string> {
    const account = await stripe.accounts.create({ type: 'express' });
    local.accounts.completeOnboarding(account.id);
    return account.id;
  }

  test('error_500 does nothing and answers StripeAPIError; the next request goes through', async () => {
    const destination = await payableAccount();
    local.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'error_500' });
    const failed = await rejection(transfer(destination, 'payout-1'));
    expect(failed).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(local.state.transfers()).toHaveLength(0);
    expect((await transfer(destination, 'payout-1')).id).toStartWith('tr_');
  });

  test('timeout_after: performed but unanswered; the retry with the same key gets the stored result', async () => {
    const destination = await payableAccount();
    local.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'timeout_after' });
    const timedOut = await rejection(transfer(destination, 'payout-2', client(300)));
    expect(timedOut).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(local.state.transfers()).toHaveLength(1);

    const retried = await transfer(destination, 'payout-2');
    expect(retried.id).toBe(local.state.transfers()[0]?.id ?? '');
    expect(responseHeader(retried, 'idempotent-replayed')).toBe('true');
    expect(local.state.transfers()).toHaveLength(1);
    local.faults.release();
  });

  test('hang_before: nothing done; the key is in progress (409) until released, then a retry performs', async () => {
    const destination = await payableAccount();
    local.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'hang_before' });
    expect(await rejection(transfer(destination, 'payout-3', client(300)))).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(local.state.transfers()).toHaveLength(0);

    const busy = await rejection(transfer(destination, 'payout-3'));
    expect([busy.statusCode, busy.code]).toEqual([409, 'idempotency_key_in_use']);

    // Released, the hung request frees its key and drops its connection, still having done nothing.
    local.faults.release();
    await transfer(destination, 'payout-3');
    expect(local.state.transfers()).toHaveLength(1);
  });

  test('connection_reset: the SDK retries a reset once by itself, so twice is what the caller sees', async () => {
    const destination = await payableAccount();
    local.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'connection_reset', times: 2 });
    expect(await rejection(transfer(destination, 'payout-4'))).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect(local.state.transfers()).toHaveLength(0);

    local.faults.inject({ method: 'POST', path: /^\/v1\/transfers$/, mode: 'connection_reset' });
    await transfer(destination, 'payout-4');
    expect(local.state.transfers()).toHaveLength(1);
  });

  test('the HTTP controls under /_local do the same', async () => {
    const destination = await payableAccount();
    const control = await fetch(`${local.url}/_local/faults`, {
      method: 'POST',
      body: JSON.stringify({ method: 'POST', path: '^/v1/transfers$', mode: 'error_500' }),
    });
    expect(control.status).toBe(200);
    expect(await rejection(transfer(destination, 'payout-5'))).toBeInstanceOf(Stripe.errors.StripeAPIError);
    await transfer(destination, 'payout-5');
    const state = (await (await fetch(`${local.url}/_local/state/transfers`)).json()) as { data: { id: string }[] };
    expect(state.data).toHaveLength(1);
    const bad = await fetch(`${local.url}/_local/faults`, { method: 'POST', body: JSON.stringify({ method: 'PUT', path: 'x', mode: 'error_500' }) });
    expect(bad.status).toBe(400);
  });
});
