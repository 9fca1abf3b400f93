/**
 * Requests (applications) through the API on the real primary + replica: applying (and every
 * refusal), who sees which requests, withdraw, reject, accept through the bounty's lifecycle, who
 * may apply again, and the races around accept, each with exactly one winner, the loser a 409 and
 * the escrow as it should be after. Bounties are created and published (from the wallet) through
 * the bounties routes; payout accounts are onboarded on the app's local Stripe server.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, inArray, type SQL, sql } from 'drizzle-orm';
import { z } from 'zod';
import { bounties, bountyRequests, bountyTransitions, outboxEvents, selectRows } from '../src/db';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { createAdmin, signUp, type TestAccount } from './support/accounts';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { holdLock } from './support/locks';
import { depositByCard, moneyPost, onboard, walletOf, withCookie } from './support/money';
import { waitFor } from './support/wait';

const MISSING = '00000000-0000-4000-8000-000000000000';
const REWARD = 5_000;
const DAY_MS = 86_400_000;
/** A race signs up and funds a poster, then may wait for two requests to queue on a lock. */
const RACE_TIMEOUT_MS = 20_000;

type Init = Parameters<TestApp['request']>[1];

describe.skipIf(!hasCluster)('requests', () => {
  let t: TestApp;
  let poster: TestAccount;
  let paid: TestAccount;
  let other: TestAccount;
  let unpaid: TestAccount;
  let stranger: TestAccount;
  let admin: TestAccount;

  beforeAll(async () => {
    t = await startTestApp({ MAX_PENDING_REQUESTS: '2' }, { work: false });
    [poster, paid, other, unpaid, stranger, admin] = await Promise.all([
      signUp(t, 'poster', 'Pat Poster'),
      signUp(t, 'paid', 'Hana Hunter'),
      signUp(t, 'other', 'Omar Other'),
      signUp(t, 'unpaid', 'Uma Unpaid'),
      signUp(t, 'stranger'),
      createAdmin(t),
    ]);
    await depositByCard(t, poster, 100_000);
    await onboard(t, paid);
  }, 60_000);
  afterAll(() => t.close());

  /** A request as `account` (its cookie; the jar keeps the read-your-writes token). */
  const call = async (account: TestAccount | null, path: string, init: Init = {}) => {
    const response = await t.request(path, account ? withCookie(account, init) : init);
    if (account) account.jar.store(response);
    return { status: response.status, body: await readJson(response) };
  };
  const post = (account: TestAccount | null, path: string, json?: unknown) => call(account, path, { method: 'POST', ...(json !== undefined ? { json } : {}) });

  /** A published bounty of `owner`'s, funded from their wallet. */
  async function openBounty(owner: TestAccount, options: { reward?: number; deadline?: Date } = {}): Promise<string> {
    const created = await post(owner, '/bounties', {
      title: 'Fix the flaky login test',
      description: 'The login test fails one run in ten on CI; find out why and fix it.',
      criteria: ['The test passes 100 runs in a row', 'The cause is explained in the PR'],
      reward: { amount: options.reward ?? REWARD, currency: 'usd' },
      category: 'development',
      remote: true,
      deadline: (options.deadline ?? new Date(Date.now() + 30 * DAY_MS)).toISOString(),
    });
    expect(created.status).toBe(201);
    const id = String(at(created.body, 'data', 'id'));
    const published = owner.jar.store(await t.request(`/bounties/${id}/publish`, moneyPost(owner, { funding: 'wallet' })));
    expect(published.status).toBe(200);
    return id;
  }

  const apply = (hunter: TestAccount, bountyId: string, body: Record<string, unknown> = {}) =>
    post(hunter, `/bounties/${bountyId}/requests`, { message: `${hunter.name} would like to do this`, ...body });

  async function applied(hunter: TestAccount, bountyId: string): Promise<string> {
    const response = await apply(hunter, bountyId);
    expect(response.status).toBe(201);
    return String(at(response.body, 'data', 'id'));
  }

  const code = (body: unknown) => at(body, 'error');
  const detail = (body: unknown) => at(body, 'details', 0);
  const stored = async (id: string) => (await t.database.primary.select().from(bountyRequests).where(eq(bountyRequests.id, id)))[0];
  const bountyRow = async (id: string) => (await t.database.primary.select().from(bounties).where(eq(bounties.id, id)))[0];
  const listed = async (account: TestAccount, bountyId: string, query = '') => {
    const response = await call(account, `/bounties/${bountyId}/requests${query}`);
    expect(response.status).toBe(200);
    return items(at(response.body, 'data'));
  };

  /** A fresh poster whose wallet holds exactly one reward, and a bounty of theirs with it in escrow. */
  async function fundedPoster(label: string, deadline?: Date): Promise<{ owner: TestAccount; bountyId: string }> {
    const owner = await signUp(t, label);
    await depositByCard(t, owner, REWARD);
    const bountyId = await openBounty(owner, deadline ? { deadline } : {});
    const wallet = await walletOf(t, owner);
    expect([wallet.available.amount, wallet.inEscrow.amount]).toEqual([0, REWARD]);
    return { owner, bountyId };
  }

  // --- Apply ------------------------------------------------------------------------------------

  test('a hunter applies; without payouts set up they may, but are told so', async () => {
    const bountyId = await openBounty(poster);
    const withPayouts = await apply(paid, bountyId, { approach: 'Bisect the CI runs', etaDays: 3, portfolioUrl: 'https://example.com/me' });
    expect(withPayouts.status).toBe(201);
    expect(at(withPayouts.body, 'data')).toMatchObject({
      bountyId,
      hunterId: paid.id,
      hunterName: 'Hana Hunter',
      status: 'pending',
      closedReason: null,
      approach: 'Bisect the CI runs',
      etaDays: 3,
      portfolioUrl: 'https://example.com/me',
      payoutsReady: true,
      warning: null,
    });

    const withoutPayouts = await apply(unpaid, bountyId);
    expect(withoutPayouts.status).toBe(201);
    expect(at(withoutPayouts.body, 'data', 'payoutsReady')).toBe(false);
    expect(String(at(withoutPayouts.body, 'data', 'warning'))).toContain('cannot be paid');

    // The poster hears of each application.
    const events = await t.database.primary.select().from(outboxEvents).where(and(eq(outboxEvents.recipientId, poster.id), eq(outboxEvents.topic, 'request.created')));
    expect(events.map((event) => event.subjectId)).toContain(String(at(withPayouts.body, 'data', 'id')));
  });

  test('the body is bounded and what is ours to set is ignored', async () => {
    const bountyId = await openBounty(poster);
    expect((await post(stranger, `/bounties/${bountyId}/requests`, {})).status).toBe(422);
    expect((await apply(stranger, bountyId, { message: '   ' })).status).toBe(422);
    expect((await apply(stranger, bountyId, { message: 'x'.repeat(5_001) })).status).toBe(422);
    expect((await apply(stranger, bountyId, { etaDays: 0 })).status).toBe(422);
    expect((await apply(stranger, bountyId, { etaDays: 366 })).status).toBe(422);
    expect((await apply(stranger, bountyId, { etaDays: 2.5 })).status).toBe(422);
    expect((await apply(stranger, bountyId, { portfolioUrl: 'javascript:alert(1)' })).status).toBe(422);
    expect((await apply(stranger, bountyId, { portfolioUrl: 'ftp://example.com' })).status).toBe(422);
    expect((await post(null, `/bounties/${bountyId}/requests`, { message: 'hi' })).status).toBe(401);
    expect((await apply(stranger, 'not-a-uuid')).status).toBe(422);

    const sneaky = await apply(stranger, bountyId, { status: 'accepted', hunterId: poster.id, closedReason: 'filled', bountyId: MISSING });
    expect(sneaky.status).toBe(201);
    expect(at(sneaky.body, 'data')).toMatchObject({ status: 'pending', hunterId: stranger.id, bountyId, closedReason: null });
    expect((await post(stranger, `/requests/${String(at(sneaky.body, 'data', 'id'))}/withdraw`)).status).toBe(200);
  });

  test('refused: your own bounty (403), one you cannot see (404), one not open (409 with its state)', async () => {
    const bountyId = await openBounty(poster);
    const own = await apply(poster, bountyId);
    expect([own.status, code(own.body)]).toEqual([403, 'OWN_BOUNTY']);

    expect(code((await apply(paid, MISSING)).body)).toBe('BOUNTY_NOT_FOUND');
    // A draft is someone else's business: the same 404 as a bounty that does not exist.
    const draft = await post(poster, '/bounties', {
      title: 'A draft nobody sees',
      description: 'Not published yet, so nobody but its poster may see it.',
      criteria: ['Done'],
      reward: { amount: 1_000, currency: 'usd' },
      category: 'writing',
      remote: true,
      deadline: new Date(Date.now() + 10 * DAY_MS).toISOString(),
    });
    const draftId = String(at(draft.body, 'data', 'id'));
    const hidden = await apply(paid, draftId);
    expect([hidden.status, code(hidden.body)]).toEqual([404, 'BOUNTY_NOT_FOUND']);
    // Staff see drafts: for them it is the state that refuses.
    const notOpen = await apply(admin, draftId);
    expect([notOpen.status, code(notOpen.body), detail(notOpen.body)]).toEqual([409, 'BOUNTY_NOT_OPEN', { path: 'state', message: 'draft' }]);

    // In progress: visible, not open.
    const requestId = await applied(paid, bountyId);
    expect((await post(poster, `/requests/${requestId}/accept`)).status).toBe(200);
    const late = await apply(other, bountyId);
    expect([late.status, code(late.body), detail(late.body)]).toEqual([409, 'BOUNTY_NOT_OPEN', { path: 'state', message: 'in_progress' }]);

    // Cancelled: hidden from those who never applied.
    const cancelled = await openBounty(poster);
    expect((await post(poster, `/bounties/${cancelled}/cancel`)).status).toBe(200);
    expect(code((await apply(other, cancelled)).body)).toBe('BOUNTY_NOT_FOUND');
  });

  test('one live request per hunter per bounty, also when two are sent at once', async () => {
    const bountyId = await openBounty(poster);
    await applied(other, bountyId);
    const again = await apply(other, bountyId);
    expect([again.status, code(again.body)]).toEqual([409, 'ALREADY_REQUESTED']);

    const racer = await signUp(t, 'double');
    const results = await Promise.all([apply(racer, bountyId), apply(racer, bountyId)]);
    expect(results.map((result) => result.status).sort()).toEqual([201, 409]);
    expect(results.find((result) => result.status === 409)?.body).toMatchObject({ error: 'ALREADY_REQUESTED' });
    const rows = await t.database.primary.select().from(bountyRequests).where(and(eq(bountyRequests.bountyId, bountyId), eq(bountyRequests.hunterId, racer.id)));
    expect(rows).toHaveLength(1);
  });

  test('the unique index backs the check: a live request committed under our feet is ALREADY_REQUESTED, not CONFLICT', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'backstop');
    // Another writer inserts the same hunter's request and has not committed yet: the check cannot
    // see it, the insert waits on the index, then fails with 23505 once that writer commits.
    const writer = await holdLock(
      t.database.primary,
      sql`insert into bounty_requests (bounty_id, hunter_id, message, created_at, updated_at) values (${bountyId}, ${hunter.id}, 'elsewhere', now(), now())`,
    );
    const waiting = async () =>
      (
        await selectRows(
          t.database.primary,
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query ilike 'insert into "bounty_requests"%'`,
          z.object({ n: z.coerce.number() }),
        )
      )[0]?.n ?? 0;
    const attempt = apply(hunter, bountyId);
    await waitFor('the apply to wait on the unique index', async () => (await waiting()) >= 1, 5_000, 10);
    writer.release();
    await writer.done;
    const result = await attempt;
    expect([result.status, code(result.body)]).toEqual([409, 'ALREADY_REQUESTED']);
  });

  test('at most MAX_PENDING_REQUESTS pending requests per hunter (2 here), also when sent at once', async () => {
    const [first, second, third] = await Promise.all([openBounty(poster), openBounty(poster), openBounty(poster)]);
    const hunter = await signUp(t, 'busy');
    const firstRequest = await applied(hunter, first);
    await applied(hunter, second);
    const over = await apply(hunter, third);
    expect([over.status, code(over.body), detail(over.body)]).toEqual([409, 'TOO_MANY_PENDING_REQUESTS', { path: 'pending', message: '2' }]);
    // A withdrawn request no longer counts.
    expect((await post(hunter, `/requests/${firstRequest}/withdraw`)).status).toBe(200);
    await applied(hunter, third);

    const eager = await signUp(t, 'eager');
    const results = await Promise.all([first, second, third].map((id) => apply(eager, id)));
    expect(results.map((result) => result.status).sort()).toEqual([201, 201, 409]);
    expect(results.find((result) => result.status === 409)?.body).toMatchObject({ error: 'TOO_MANY_PENDING_REQUESTS' });
  });

  // --- Lists ------------------------------------------------------------------------------------

  test('the poster and admins see every request, oldest first; anyone else only their own', async () => {
    const bountyId = await openBounty(poster);
    const paidRequest = await applied(paid, bountyId);
    const otherRequest = await applied(other, bountyId);

    // The admin and the stranger hold no read-your-writes token: let the replica catch up.
    await t.settle();
    const byPoster = await listed(poster, bountyId);
    expect(byPoster.map((item) => at(item, 'id'))).toEqual([paidRequest, otherRequest]);
    expect(byPoster[0]).toMatchObject({ hunterId: paid.id, hunterName: 'Hana Hunter', status: 'pending', payoutsReady: true });
    expect((await listed(admin, bountyId)).map((item) => at(item, 'id'))).toEqual([paidRequest, otherRequest]);
    expect((await listed(paid, bountyId)).map((item) => at(item, 'id'))).toEqual([paidRequest]);
    expect(await listed(stranger, bountyId)).toEqual([]);

    // Keyset pages, oldest first.
    const first = await call(poster, `/bounties/${bountyId}/requests?limit=1`);
    expect(items(at(first.body, 'data')).map((item) => at(item, 'id'))).toEqual([paidRequest]);
    const cursor = String(at(first.body, 'pagination', 'nextCursor'));
    const second = await call(poster, `/bounties/${bountyId}/requests?limit=1&cursor=${cursor}`);
    expect(items(at(second.body, 'data')).map((item) => at(item, 'id'))).toEqual([otherRequest]);
    expect(at(second.body, 'pagination', 'nextCursor')).toBeNull();

    const forged = Buffer.from(JSON.stringify({ t: '2026-01-01 00:00:00+00', i: 'not-a-uuid' })).toString('base64url');
    expect(code((await call(poster, `/bounties/${bountyId}/requests?cursor=${forged}`)).body)).toBe('INVALID_CURSOR');
    expect(code((await call(poster, `/bounties/${MISSING}/requests`)).body)).toBe('BOUNTY_NOT_FOUND');
    expect((await call(null, `/bounties/${bountyId}/requests`)).status).toBe(401);
    expect((await post(paid, `/requests/${paidRequest}/withdraw`)).status).toBe(200);
    expect((await post(other, `/requests/${otherRequest}/withdraw`)).status).toBe(200);
  });

  test('GET /requests/me: mine, newest first, by status, each with its bounty', async () => {
    const hunter = await signUp(t, 'mine');
    const [a, b] = await Promise.all([openBounty(poster, { reward: 1_500 }), openBounty(poster, { reward: 2_500 })]);
    const first = await applied(hunter, a);
    const second = await applied(hunter, b);
    expect((await post(hunter, `/requests/${first}/withdraw`)).status).toBe(200);

    const all = await call(hunter, '/requests/me');
    expect(all.status).toBe(200);
    const mine = items(at(all.body, 'data'));
    expect(mine.map((item) => at(item, 'id'))).toEqual([second, first]);
    expect(mine[0]).toMatchObject({ status: 'pending', bounty: { id: b, state: 'open', title: 'Fix the flaky login test', reward: { amount: 2_500, currency: 'usd' } } });
    expect(mine[1]).toMatchObject({ status: 'withdrawn', closedReason: 'hunter', bounty: { id: a } });

    const pending = items(at((await call(hunter, '/requests/me?status=pending')).body, 'data'));
    expect(pending.map((item) => at(item, 'id'))).toEqual([second]);
    expect((await call(hunter, '/requests/me?status=nonsense')).status).toBe(422);

    const page1 = await call(hunter, '/requests/me?limit=1');
    expect(items(at(page1.body, 'data')).map((item) => at(item, 'id'))).toEqual([second]);
    const page2 = await call(hunter, `/requests/me?limit=1&cursor=${String(at(page1.body, 'pagination', 'nextCursor'))}`);
    expect(items(at(page2.body, 'data')).map((item) => at(item, 'id'))).toEqual([first]);
    expect(items(at((await call(stranger, '/requests/me')).body, 'data')).map((item) => at(item, 'id'))).not.toContain(first);
    expect((await post(hunter, `/requests/${second}/withdraw`)).status).toBe(200);
  });

  // --- Withdraw and reject ----------------------------------------------------------------------

  test('withdraw: only the hunter, only while pending; afterwards they may apply again', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'withdrawer');
    const requestId = await applied(hunter, bountyId);

    const byPoster = await post(poster, `/requests/${requestId}/withdraw`);
    expect([byPoster.status, code(byPoster.body)]).toEqual([403, 'NOT_YOUR_REQUEST']);
    const byStranger = await post(stranger, `/requests/${requestId}/withdraw`);
    expect([byStranger.status, code(byStranger.body)]).toEqual([404, 'REQUEST_NOT_FOUND']);
    expect(code((await post(hunter, `/requests/${MISSING}/withdraw`)).body)).toBe('REQUEST_NOT_FOUND');

    const done = await post(hunter, `/requests/${requestId}/withdraw`);
    expect(done.status).toBe(200);
    expect(at(done.body, 'data')).toMatchObject({ id: requestId, status: 'withdrawn', closedReason: 'hunter' });
    const twice = await post(hunter, `/requests/${requestId}/withdraw`);
    expect([twice.status, code(twice.body), detail(twice.body)]).toEqual([409, 'REQUEST_NOT_PENDING', { path: 'status', message: 'withdrawn' }]);

    const again = await apply(hunter, bountyId);
    expect(again.status).toBe(201);
    expect(at(again.body, 'data', 'id')).not.toBe(requestId);
  });

  test('reject: only the poster, only while pending; a rejected hunter may not apply again', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'rejected');
    const requestId = await applied(hunter, bountyId);

    const byHunter = await post(hunter, `/requests/${requestId}/reject`);
    expect([byHunter.status, code(byHunter.body)]).toEqual([403, 'NOT_THE_POSTER']);
    const byAdmin = await post(admin, `/requests/${requestId}/reject`);
    expect([byAdmin.status, code(byAdmin.body)]).toEqual([403, 'NOT_THE_POSTER']);
    const byStranger = await post(stranger, `/requests/${requestId}/reject`);
    expect([byStranger.status, code(byStranger.body)]).toEqual([404, 'REQUEST_NOT_FOUND']);

    const done = await post(poster, `/requests/${requestId}/reject`);
    expect(done.status).toBe(200);
    expect(at(done.body, 'data')).toMatchObject({ status: 'rejected', closedReason: 'poster' });
    expect(code((await post(poster, `/requests/${requestId}/reject`)).body)).toBe('REQUEST_NOT_PENDING');
    expect(code((await post(hunter, `/requests/${requestId}/withdraw`)).body)).toBe('REQUEST_NOT_PENDING');

    const again = await apply(hunter, bountyId);
    expect([again.status, code(again.body)]).toEqual([409, 'REAPPLY_REFUSED']);
    const [event] = await t.database.primary.select().from(outboxEvents).where(and(eq(outboxEvents.recipientId, hunter.id), eq(outboxEvents.topic, 'request.rejected')));
    expect(event?.subjectId).toBe(requestId);
  });

  // --- Accept -----------------------------------------------------------------------------------

  test('accept: the bounty goes in_progress with that hunter, the others are rejected as filled', async () => {
    const bountyId = await openBounty(poster);
    const [hunter, passed] = await Promise.all([signUp(t, 'chosen'), signUp(t, 'passed-over')]);
    await onboard(t, hunter);
    const chosen = await applied(hunter, bountyId);
    const passedOver = await applied(passed, bountyId);

    const byHunter = await post(hunter, `/requests/${chosen}/accept`);
    expect([byHunter.status, code(byHunter.body)]).toEqual([403, 'NOT_YOUR_TRANSITION']);
    const byAdmin = await post(admin, `/requests/${chosen}/accept`);
    expect(byAdmin.status).toBe(403);
    const byStranger = await post(stranger, `/requests/${chosen}/accept`);
    expect([byStranger.status, code(byStranger.body)]).toEqual([404, 'REQUEST_NOT_FOUND']);
    expect(code((await post(poster, `/requests/${MISSING}/accept`)).body)).toBe('REQUEST_NOT_FOUND');

    const accepted = await post(poster, `/requests/${chosen}/accept`);
    expect(accepted.status).toBe(200);
    expect(at(accepted.body, 'data', 'request')).toMatchObject({ id: chosen, status: 'accepted', closedReason: null });
    expect(at(accepted.body, 'data', 'bounty')).toMatchObject({ id: bountyId, state: 'in_progress', hunterId: hunter.id, nextActionBy: 'hunter' });
    expect(await stored(passedOver)).toMatchObject({ status: 'rejected', closedReason: 'filled' });
    expect((await bountyRow(bountyId))?.acceptedAt).not.toBeNull();
    const [filledNotice] = await t.database.primary.select().from(outboxEvents).where(and(eq(outboxEvents.recipientId, passed.id), eq(outboxEvents.topic, 'request.filled')));
    expect(filledNotice?.subjectId).toBe(passedOver);

    // Another user's write (the poster's accept): read once the replicas have it.
    await t.settle();
    const passedSees = items(at((await call(passed, '/requests/me?status=rejected')).body, 'data'));
    expect(passedSees.find((item) => at(item, 'id') === passedOver)).toMatchObject({ closedReason: 'filled', bounty: { state: 'in_progress' } });

    // Accepted: the request is no longer the hunter's to withdraw; the bounty is.
    const withdrawRequest = await post(hunter, `/requests/${chosen}/withdraw`);
    expect([withdrawRequest.status, code(withdrawRequest.body)]).toEqual([409, 'REQUEST_NOT_PENDING']);
    expect(String(at(withdrawRequest.body, 'message'))).toContain(`/bounties/${bountyId}/withdraw`);

    // The hunter leaves: open again; the filled hunter may apply again.
    expect((await post(hunter, `/bounties/${bountyId}/withdraw`, { reason: 'Something came up' })).status).toBe(200);
    expect(await stored(chosen)).toMatchObject({ status: 'withdrawn', closedReason: 'hunter' });
    expect((await apply(passed, bountyId)).status).toBe(201);
    // ...and so may the hunter who withdrew.
    expect((await apply(hunter, bountyId)).status).toBe(201);
  });

  test('a hunter the poster unassigned may not apply to that bounty again', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'unassigned');
    await onboard(t, hunter);
    const requestId = await applied(hunter, bountyId);
    expect((await post(poster, `/requests/${requestId}/accept`)).status).toBe(200);
    expect((await post(poster, `/bounties/${bountyId}/unassign`, { reason: 'No progress in a week' })).status).toBe(200);
    expect(await stored(requestId)).toMatchObject({ status: 'rejected', closedReason: 'unassigned' });
    const again = await apply(hunter, bountyId);
    expect([again.status, code(again.body)]).toEqual([409, 'REAPPLY_REFUSED']);
  });

  test('a hunter who cannot be paid is warned at apply and blocked at accept, until payouts are enabled', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'late-payouts');
    const requestId = await applied(hunter, bountyId);
    const blocked = await post(poster, `/requests/${requestId}/accept`);
    expect([blocked.status, code(blocked.body)]).toEqual([409, 'HUNTER_CANNOT_BE_PAID']);
    expect(await stored(requestId)).toMatchObject({ status: 'pending' });
    expect((await bountyRow(bountyId))?.state).toBe('open');

    await onboard(t, hunter);
    expect(at(items(await listed(poster, bountyId)).find((item) => at(item, 'id') === requestId), 'payoutsReady')).toBe(true);
    expect((await post(poster, `/requests/${requestId}/accept`)).status).toBe(200);
  });

  test('accept: a request that is not pending is 409 with its status; a bounty no longer open is 409 with its state', async () => {
    const bountyId = await openBounty(poster);
    const hunter = await signUp(t, 'gone');
    await onboard(t, hunter);
    const withdrawn = await applied(hunter, bountyId);
    expect((await post(hunter, `/requests/${withdrawn}/withdraw`)).status).toBe(200);
    const notPending = await post(poster, `/requests/${withdrawn}/accept`);
    expect([notPending.status, code(notPending.body), detail(notPending.body)]).toEqual([409, 'REQUEST_NOT_PENDING', { path: 'status', message: 'withdrawn' }]);

    const pending = await applied(hunter, bountyId);
    expect((await post(poster, `/bounties/${bountyId}/cancel`)).status).toBe(200);
    expect(await stored(pending)).toMatchObject({ status: 'rejected', closedReason: 'closed' });
    const closed = await post(poster, `/requests/${pending}/accept`);
    expect([closed.status, code(closed.body), detail(closed.body)]).toEqual([409, 'INVALID_TRANSITION', { path: 'state', message: 'cancelled' }]);
  });

  // --- Races ------------------------------------------------------------------------------------

  describe('races, each with one winner', () => {
    let racerA: TestAccount;
    let racerB: TestAccount;

    beforeAll(async () => {
      [racerA, racerB] = await Promise.all([signUp(t, 'racer-a'), signUp(t, 'racer-b')]);
      await Promise.all([onboard(t, racerA), onboard(t, racerB)]);
    }, 30_000);

    const statuses = (results: Array<{ status: number }>) => results.map((result) => result.status).sort();

    const lockWaiters = async (): Promise<number> =>
      (
        await selectRows(
          t.database.primary,
          sql`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`,
          z.object({ n: z.coerce.number() }),
        )
      )[0]?.n ?? 0;

    /**
     * How the two sides meet: `at once` fires both together (whoever gets there first wins); the
     * ordered modes queue them one after the other behind a row lock the test holds (`lock`),
     * then let go, so each side is proved to win and to lose.
     */
    type Mode = 'at once' | 'accept first' | 'accept last';
    const MODES: readonly Mode[] = ['at once', 'accept first', 'accept last'];

    async function meet<A, B>(mode: Mode, lock: SQL, accept: () => Promise<A>, other: () => Promise<B>): Promise<{ accept: A; other: B }> {
      if (mode === 'at once') {
        const [a, b] = await Promise.all([accept(), other()]);
        return { accept: a, other: b };
      }
      const held = await holdLock(t.database.primary, lock);
      const baseline = await lockWaiters();
      // Wrapped: an async function returning a promise would wait for it to settle.
      const queue = async <T>(start: () => Promise<T>, waiting: number, what: string): Promise<{ running: Promise<T> }> => {
        const running = start();
        await waitFor(what, async () => (await lockWaiters()) >= baseline + waiting, 5_000, 10);
        return { running };
      };
      const [first, second] =
        mode === 'accept first'
          ? [await queue(accept, 1, 'the accept to queue'), await queue(other, 2, 'the other side to queue')]
          : [await queue(other, 1, 'the other side to queue'), await queue(accept, 2, 'the accept to queue')];
      held.release();
      await held.done;
      const [settledFirst, settledSecond] = await Promise.all([first.running, second.running]);
      return mode === 'accept first'
        ? { accept: settledFirst as A, other: settledSecond as B }
        : { accept: settledSecond as A, other: settledFirst as B };
    }

    const lockBountyRow = (bountyId: string) => sql`select id from bounties where id = ${bountyId} for update`;

    async function escrowOf(owner: TestAccount): Promise<[number, number]> {
      const wallet = await walletOf(t, owner);
      return [wallet.available.amount, wallet.inEscrow.amount];
    }

    for (const mode of ['at once', 'accept first'] as const) {
      test(`two accepts of different requests (${mode}): one hunter, the other request filled, the escrow held once`, async () => {
        const { owner, bountyId } = await fundedPoster('race-accepts');
        const requestA = await applied(racerA, bountyId);
        const requestB = await applied(racerB, bountyId);
        const { accept: first, other: second } = await meet(
          mode,
          lockBountyRow(bountyId),
          () => post(owner, `/requests/${requestA}/accept`),
          () => post(owner, `/requests/${requestB}/accept`),
        );
        expect(statuses([first, second])).toEqual([200, 409]);
        if (mode === 'accept first') expect(first.status).toBe(200);
        const winner = first.status === 200 ? { request: requestA, hunter: racerA } : { request: requestB, hunter: racerB };
        const loser = winner.request === requestA ? requestB : requestA;
        const refused = first.status === 409 ? first : second;
        expect([code(refused.body), detail(refused.body)]).toEqual(['INVALID_TRANSITION', { path: 'state', message: 'in_progress' }]);
        expect(await bountyRow(bountyId)).toMatchObject({ state: 'in_progress', hunterId: winner.hunter.id });
        expect(await stored(winner.request)).toMatchObject({ status: 'accepted' });
        expect(await stored(loser)).toMatchObject({ status: 'rejected', closedReason: 'filled' });
        expect(await escrowOf(owner)).toEqual([0, REWARD]);
      }, RACE_TIMEOUT_MS);
    }

    for (const mode of MODES) {
      test(`accept vs the hunter withdrawing that request (${mode})`, async () => {
        const { owner, bountyId } = await fundedPoster('race-withdraw');
        const requestId = await applied(racerA, bountyId);
        const { accept, other: withdraw } = await meet(
          mode,
          sql`select id from bounty_requests where id = ${requestId} for update`,
          () => post(owner, `/requests/${requestId}/accept`),
          () => post(racerA, `/requests/${requestId}/withdraw`),
        );
        expect(statuses([accept, withdraw])).toEqual([200, 409]);
        if (mode !== 'at once') expect(accept.status).toBe(mode === 'accept first' ? 200 : 409);
        const bounty = await bountyRow(bountyId);
        if (accept.status === 200) {
          expect([code(withdraw.body), detail(withdraw.body)]).toEqual(['REQUEST_NOT_PENDING', { path: 'status', message: 'accepted' }]);
          expect(bounty).toMatchObject({ state: 'in_progress', hunterId: racerA.id });
          expect(await stored(requestId)).toMatchObject({ status: 'accepted' });
        } else {
          expect([code(accept.body), detail(accept.body)]).toEqual(['REQUEST_NOT_PENDING', { path: 'status', message: 'withdrawn' }]);
          expect(bounty).toMatchObject({ state: 'open', hunterId: null });
          expect(await stored(requestId)).toMatchObject({ status: 'withdrawn', closedReason: 'hunter' });
        }
        // Either way the reward stays in escrow: the bounty is running or still open.
        expect(await escrowOf(owner)).toEqual([0, REWARD]);
      }, RACE_TIMEOUT_MS);
    }

    for (const mode of MODES) {
      test(`accept vs the poster cancelling the bounty (${mode})`, async () => {
        const { owner, bountyId } = await fundedPoster('race-cancel');
        const requestId = await applied(racerB, bountyId);
        const { accept, other: cancel } = await meet(
          mode,
          lockBountyRow(bountyId),
          () => post(owner, `/requests/${requestId}/accept`),
          () => post(owner, `/bounties/${bountyId}/cancel`),
        );
        expect(statuses([accept, cancel])).toEqual([200, 409]);
        if (mode !== 'at once') expect(accept.status).toBe(mode === 'accept first' ? 200 : 409);
        if (accept.status === 200) {
          expect([code(cancel.body), detail(cancel.body)]).toEqual(['INVALID_TRANSITION', { path: 'state', message: 'in_progress' }]);
          expect(await bountyRow(bountyId)).toMatchObject({ state: 'in_progress', hunterId: racerB.id });
          expect(await escrowOf(owner)).toEqual([0, REWARD]);
        } else {
          expect([code(accept.body), detail(accept.body)]).toEqual(['INVALID_TRANSITION', { path: 'state', message: 'cancelled' }]);
          expect(await bountyRow(bountyId)).toMatchObject({ state: 'cancelled', cancelReason: 'poster', hunterId: null });
          expect(await stored(requestId)).toMatchObject({ status: 'rejected', closedReason: 'closed' });
          expect(await escrowOf(owner)).toEqual([REWARD, 0]);
        }
      }, RACE_TIMEOUT_MS);
    }

    for (const mode of MODES) {
      test(`accept vs the expiry timer (${mode})`, async () => {
        const deadline = new Date(Date.now() + DAY_MS);
        const { owner, bountyId } = await fundedPoster('race-expiry', deadline);
        const requestId = await applied(racerA, bountyId);
        const expiresAt = new Date(deadline.getTime() + t.config.marketplace.expiryGraceHours * 3_600_000 + 1_000);
        // The expiry reminder (24 h earlier) goes first, so the raced timer run is the expiry alone.
        await fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: () => new Date(expiresAt.getTime() - 2_000) });
        const { accept } = await meet(
          mode,
          lockBountyRow(bountyId),
          () => post(owner, `/requests/${requestId}/accept`),
          () => fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: () => expiresAt }),
        );
        // The timer has no status of its own: exactly one of the two moved the bounty.
        expect([200, 409]).toContain(accept.status);
        if (mode !== 'at once') expect(accept.status).toBe(mode === 'accept first' ? 200 : 409);
        const bounty = await bountyRow(bountyId);
        if (accept.status === 200) {
          expect(bounty).toMatchObject({ state: 'in_progress', hunterId: racerA.id });
          expect(await escrowOf(owner)).toEqual([0, REWARD]);
        } else {
          expect([code(accept.body), detail(accept.body)]).toEqual(['INVALID_TRANSITION', { path: 'state', message: 'cancelled' }]);
          expect(bounty).toMatchObject({ state: 'cancelled', cancelReason: 'expired' });
          expect(await stored(requestId)).toMatchObject({ status: 'rejected', closedReason: 'closed' });
          expect(await escrowOf(owner)).toEqual([REWARD, 0]);
        }
        const moves = await t.database.primary
          .select({ action: bountyTransitions.action })
          .from(bountyTransitions)
          .where(and(eq(bountyTransitions.bountyId, bountyId), inArray(bountyTransitions.action, ['accept', 'expire'])));
        expect(moves).toHaveLength(1);
      }, RACE_TIMEOUT_MS);
    }

    test('apply vs accept: a request is never left pending on a bounty that is no longer open', async () => {
      const { owner, bountyId } = await fundedPoster('race-apply');
      const requestId = await applied(racerA, bountyId);
      const latecomer = await signUp(t, 'latecomer');
      const [accept, late] = await Promise.all([post(owner, `/requests/${requestId}/accept`), apply(latecomer, bountyId)]);
      expect(accept.status).toBe(200);
      if (late.status === 201) {
        expect(await stored(String(at(late.body, 'data', 'id')))).toMatchObject({ status: 'rejected', closedReason: 'filled' });
      } else {
        expect([late.status, code(late.body)]).toEqual([409, 'BOUNTY_NOT_OPEN']);
      }
      const stillPending = await t.database.primary
        .select()
        .from(bountyRequests)
        .where(and(eq(bountyRequests.bountyId, bountyId), eq(bountyRequests.status, 'pending')));
      expect(stillPending).toEqual([]);
    }, RACE_TIMEOUT_MS);
  });
});
