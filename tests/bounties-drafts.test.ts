/**
 * Bounties before anyone works on them, on the real cluster: drafts (create, change, delete),
 * publishing from the wallet and by card (the webhook opens it), cancelling, and the expiry timer
 * run by moving the marketplace's clock. The escrow is checked through the wallet after each step.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq } from 'drizzle-orm';
import { bounties, bountyTimers } from '../src/db';
import { createLogger } from '../src/lib/logger';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { eventsFor } from '../src/modules/outbox';
import { signUp, type TestAccount } from './support/accounts';
import { bountyOf, createDraft, draftBody, idOf, openBounty, publish, send, stateOf } from './support/bounties';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { at, items } from './support/json';
import { fund } from './support/ledger';
import { moneyPost, settleWebhooks, walletOf } from './support/money';

const DAY_MS = 86_400_000;

describe.skipIf(!hasCluster)('bounty drafts, publishing, cancelling and expiry', () => {
  let t: TestApp;
  let poster: TestAccount;
  let stranger: TestAccount;
  const clock = testClock();
  const fireTimers = () => fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'warn' }));

  beforeAll(async () => {
    t = await startTestApp({}, { clock: clock.now });
    poster = await signUp(t, 'poster');
    stranger = await signUp(t, 'stranger');
  });
  afterAll(() => t.close());

  test('a draft is the poster\'s alone: numbered criteria, ignored state and poster in the body, 404 to others', async () => {
    const created = await send(t, poster, 'POST', '/bounties', draftBody(t, { state: 'completed', posterId: stranger.id, hunterId: stranger.id, revisionsUsed: 2 }));
    expect(created.status).toBe(201);
    // Settled first: a replica that has not replayed the insert would say 404 whatever the rule.
    await t.settle();
    expect(at(created.body, 'data', 'state')).toBe('draft');
    expect(at(created.body, 'data', 'posterId')).toBe(poster.id);
    expect(at(created.body, 'data', 'hunterId')).toBeNull();
    expect(at(created.body, 'data', 'revisionsUsed')).toBe(0);
    expect(at(created.body, 'data', 'criteria', 1)).toEqual({ id: 2, text: 'Totals stay visible while scrolling' });
    expect(at(created.body, 'data', 'allowedTransitions')).toEqual(['publish', 'cancel']);
    const id = idOf(created);
    expect((await send(t, stranger, 'GET', `/bounties/${id}`)).status).toBe(404);
    expect((await send(t, null, 'GET', `/bounties/${id}`)).status).toBe(404);
    expect((await send(t, stranger, 'PATCH', `/bounties/${id}`, { title: 'Mine now, thank you' })).status).toBe(404);
    expect((await send(t, stranger, 'DELETE', `/bounties/${id}`)).status).toBe(404);
  });

  test('bad drafts are 422 in the error format: no criteria, 21 criteria, a past deadline, a fractional reward, in person without a place', async () => {
    const cases: Array<Record<string, unknown>> = [
      { criteria: [] },
      { criteria: Array.from({ length: 21 }, (_, index) => `criterion ${index}`) },
      { deadline: new Date(clock.now().getTime() - DAY_MS).toISOString() },
      { reward: { amount: 10.5, currency: 'usd' } },
      { reward: { amount: 5_000, currency: 'eur' } },
      { remote: false },
      { title: 'x' },
      { deadline: 'next tuesday' },
    ];
    for (const overrides of cases) {
      const sent = await send(t, poster, 'POST', '/bounties', draftBody(t, overrides));
      expect([JSON.stringify(overrides), sent.status, at(sent.body, 'success')]).toEqual([JSON.stringify(overrides), 422, false]);
    }
  });

  test('a draft changes freely; once open only the deadline (later), tags and category; a draft deletes, an open bounty does not', async () => {
    const id = await createDraft(t, poster);
    const changed = await send(t, poster, 'PATCH', `/bounties/${id}`, { title: 'Fix the checkout page for phones', reward: { amount: 7_500, currency: 'usd' } });
    expect(changed.status).toBe(200);
    expect(at(changed.body, 'data', 'reward')).toEqual({ amount: 7_500, currency: 'usd' });
    expect((await send(t, poster, 'DELETE', `/bounties/${id}`)).status).toBe(200);
    expect((await send(t, poster, 'GET', `/bounties/${id}`)).status).toBe(404);

    const open = await openBounty(t, poster);
    expect((await send(t, poster, 'PATCH', `/bounties/${open}`, { reward: { amount: 100, currency: 'usd' } })).status).toBe(409);
    const before = String(at((await send(t, poster, 'GET', `/bounties/${open}`)).body, 'data', 'deadline'));
    const earlier = new Date(new Date(before).getTime() - DAY_MS).toISOString();
    expect((await send(t, poster, 'PATCH', `/bounties/${open}`, { deadline: earlier })).status).toBe(409);
    const later = new Date(new Date(before).getTime() + 5 * DAY_MS).toISOString();
    const extended = await send(t, poster, 'PATCH', `/bounties/${open}`, { deadline: later, tags: ['css'] });
    expect(extended.status).toBe(200);
    expect(new Date(String(at(extended.body, 'data', 'deadline'))).toISOString()).toBe(later);
    expect(new Date(String(at(extended.body, 'data', 'nextDeadlineAt'))).getTime()).toBe(new Date(later).getTime() + t.config.marketplace.expiryGraceHours * 3_600_000);
    const deleted = await send(t, poster, 'DELETE', `/bounties/${open}`);
    expect([deleted.status, at(deleted.body, 'error')]).toEqual([409, 'NOT_EDITABLE']);
  });

  test('publish holds the reward in escrow from the wallet; a short wallet is 409 and nothing moves; the same key replays', async () => {
    const id = await createDraft(t, poster, { reward: { amount: 4_000, currency: 'usd' } });
    const before = await walletOf(t, poster);
    const short = await publish(t, poster, id);
    expect([short.status, at(short.body, 'error')]).toEqual([409, 'INSUFFICIENT_FUNDS']);
    expect(stateOf(await send(t, poster, 'GET', `/bounties/${id}`))).toBe('draft');
    await fund(t.database, poster.id, 4_000 - before.available.amount);
    const key = crypto.randomUUID();
    const published = await publish(t, poster, id, key);
    expect(published.status).toBe(200);
    expect(at(published.body, 'data', 'bounty', 'state')).toBe('open');
    expect(at(published.body, 'data', 'bounty', 'nextActionBy')).toBe('poster');
    const replay = poster.jar.store(await t.request(`/bounties/${id}/publish`, moneyPost(poster, { funding: 'wallet' }, key)));
    expect(replay.status).toBe(200);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const wallet = await walletOf(t, poster);
    expect(wallet.available.amount).toBe(0);
    expect(wallet.inEscrow.amount).toBe(before.inEscrow.amount + 4_000);
    // Publishing again with a new key is a transition from the wrong state.
    const again = await publish(t, poster, id);
    expect([again.status, at(again.body, 'error'), at(again.body, 'details', 0, 'message')]).toEqual([409, 'INVALID_TRANSITION', 'open']);
    // Public now, to anyone (an anonymous reader holds no read-your-writes token: settle first).
    expect((await bountyOf(t, null, id)).status).toBe(200);
  });

  test('publish without an Idempotency-Key is refused, and a stranger cannot publish or cancel another\'s bounty', async () => {
    const id = await createDraft(t, poster);
    const response = await t.request(`/bounties/${id}/publish`, { method: 'POST', json: { funding: 'wallet' }, headers: { cookie: poster.jar.header() } });
    expect(response.status).toBe(400);
    const open = await openBounty(t, poster);
    const cancel = await send(t, stranger, 'POST', `/bounties/${open}/cancel`);
    expect([cancel.status, at(cancel.body, 'error')]).toEqual([403, 'NOT_YOUR_TRANSITION']);
    const approve = await send(t, stranger, 'POST', `/bounties/${open}/approve`);
    expect(approve.status).toBe(403);
  });

  test('cancel while open returns the escrow to the wallet and records who and why in the history', async () => {
    const before = await walletOf(t, poster);
    const id = await openBounty(t, poster, { reward: { amount: 2_500, currency: 'usd' } });
    const cancelled = await send(t, poster, 'POST', `/bounties/${id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect([at(cancelled.body, 'data', 'state'), at(cancelled.body, 'data', 'cancelReason'), at(cancelled.body, 'data', 'nextActionBy')]).toEqual(['cancelled', 'poster', 'none']);
    const wallet = await walletOf(t, poster);
    expect(wallet.available.amount).toBe(before.available.amount + 2_500);
    expect(wallet.inEscrow.amount).toBe(before.inEscrow.amount);
    const history = await send(t, poster, 'GET', `/bounties/${id}/history`);
    expect(items(at(history.body, 'data')).map((row) => [at(row, 'action'), at(row, 'from'), at(row, 'to'), at(row, 'actorRole')])).toEqual([
      ['publish', 'draft', 'open', 'poster'],
      ['cancel', 'open', 'cancelled', 'poster'],
    ]);
    // Cancelled bounties are never public.
    expect((await bountyOf(t, null, id)).status).toBe(404);
  });

  test('expiry: nothing before deadline + grace, then cancelled (expired) and refunded with no support ticket; a later deadline moves it', async () => {
    // A poster of its own: moving the clock expires every open bounty of the file.
    const poster = await signUp(t, 'expiring');
    const before = await walletOf(t, poster);
    const id = await openBounty(t, poster, { reward: { amount: 3_000, currency: 'usd' } });
    const moved = await openBounty(t, poster, { reward: { amount: 1_000, currency: 'usd' } });
    const movedDeadline = String(at((await send(t, poster, 'GET', `/bounties/${moved}`)).body, 'data', 'deadline'));
    await send(t, poster, 'PATCH', `/bounties/${moved}`, { deadline: new Date(new Date(movedDeadline).getTime() + 30 * DAY_MS).toISOString() });
    const start = clock.now();
    try {
      clock.advance(10 * DAY_MS + t.config.marketplace.expiryGraceHours * 3_600_000 - 60_000);
      await fireTimers();
      expect(stateOf(await bountyOf(t, poster, id))).toBe('open');
      clock.advance(120_000);
      await fireTimers();
      // A timer's write is nobody's own: read once the replicas have it.
      const expired = await bountyOf(t, poster, id);
      expect([stateOf(expired), at(expired.body, 'data', 'cancelReason')]).toEqual(['cancelled', 'expired']);
      expect(stateOf(await bountyOf(t, poster, moved))).toBe('open');
      const wallet = await walletOf(t, poster);
      expect(wallet.available.amount).toBe(before.available.amount + 3_000);
      const history = items(at((await send(t, poster, 'GET', `/bounties/${id}/history`)).body, 'data'));
      expect([at(history.at(-1), 'action'), at(history.at(-1), 'actorRole'), at(history.at(-1), 'actorId')]).toEqual(['expire', 'system', null]);
      const timers = await t.database.primary.select().from(bountyTimers).where(eq(bountyTimers.bountyId, moved));
      // The first deadline's expiry and its reminder found the deadline moved; the new pair waits.
      const outcomes = (kind: string) => timers.filter((timer) => timer.kind === kind).map((timer) => timer.outcome).sort();
      expect([outcomes('expire'), outcomes('expiry_reminder')]).toEqual([['moved_on', null], ['moved_on', null]]);
      const events = await eventsFor(t.database.primary, poster.id);
      expect(events.some((event) => event.topic === 'bounty.expire' && event.subjectId === id)).toBe(true);
    } finally {
      clock.set(start);
    }
  });

  test('publish by card: 202 with the payment to confirm; the webhook credits, holds and opens the bounty in one transaction', async () => {
    const payer = await signUp(t, 'card-poster');
    const id = await createDraft(t, payer, { reward: { amount: 3_000, currency: 'usd' } });
    // Webhooks held: the response is read before the payment's webhook can open the bounty.
    t.stripeServer.webhooks.configure({ hold: true });
    let body: unknown;
    try {
      const response = payer.jar.store(await t.request(`/bounties/${id}/publish`, moneyPost(payer, { funding: 'card', paymentMethodId: 'pm_card_visa' })));
      expect(response.status).toBe(202);
      body = await response.json();
      expect(at(body, 'data', 'bounty', 'state')).toBe('draft');
      expect(at(body, 'data', 'deposit', 'bountyId')).toBe(id);
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
    }
    await settleWebhooks(t);
    const opened = await send(t, payer, 'GET', `/bounties/${id}`);
    expect([stateOf(opened), at(opened.body, 'data', 'funding')]).toEqual(['open', 'card']);
    const wallet = await walletOf(t, payer);
    expect([wallet.available.amount, wallet.inEscrow.amount]).toEqual([0, 3_000]);
    const [row] = await t.database.primary.select().from(bounties).where(eq(bounties.id, id));
    expect(row?.fundingDepositId).toBe(String(at(body, 'data', 'deposit', 'id')));
  });

  test('a draft whose card was declined can be deleted (regression: the card flag kept it undeletable for good)', async () => {
    const payer = await signUp(t, 'card-declined');
    const id = await createDraft(t, payer);
    const response = payer.jar.store(await t.request(`/bounties/${id}/publish`, moneyPost(payer, { funding: 'card', paymentMethodId: 'pm_card_chargeDeclined' })));
    expect(response.status).toBe(402);
    await settleWebhooks(t);
    expect((await send(t, payer, 'DELETE', `/bounties/${id}`)).status).toBe(200);
  });

  test('a card payment for a draft whose reward changed meanwhile stays in the wallet; the draft stays a draft', async () => {
    const payer = await signUp(t, 'card-changed');
    const id = await createDraft(t, payer, { reward: { amount: 2_000, currency: 'usd' } });
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      const response = payer.jar.store(await t.request(`/bounties/${id}/publish`, moneyPost(payer, { funding: 'card', paymentMethodId: 'pm_card_visa' })));
      expect(response.status).toBe(202);
      const [row] = await t.database.primary.select().from(bounties).where(eq(bounties.id, id));
      expect(row?.funding).toBe('card');
      await t.database.primary.update(bounties).set({ rewardAmount: 2_500 }).where(eq(bounties.id, id));
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    expect(stateOf(await send(t, payer, 'GET', `/bounties/${id}`))).toBe('draft');
    const wallet = await walletOf(t, payer);
    expect([wallet.available.amount, wallet.inEscrow.amount]).toEqual([2_000, 0]);
  });
});
