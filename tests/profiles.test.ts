/**
 * Profiles and reviews on the real primary + replica. Bounties and their history are written
 * directly (SQL through drizzle), with the states, hunters, close times and history rows each case
 * needs, so these tests do not depend on the lifecycle routes. The app's clock is injected and
 * moved by hand (the review window), never slept on.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { applyMigrations, bounties, type BountyState, bountyReviews, bountyTransitions, type CancelReason, type Database, profiles, users } from '../src/db';
import { signUp, type TestAccount } from './support/accounts';
import { clusterEnv, hasCluster, startTestApp, type TestApp, withDatabase } from './support/harness';
import { at, items, readJson } from './support/json';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const MISSING_BOUNTY = '00000000-0000-4000-8000-000000000000';

type Sent = { status: number; body: unknown };

/** A bounty row as the lifecycle would have left it. */
async function insertBounty(
  db: Database,
  fields: { posterId: string; hunterId?: string | null; state: BountyState; cancelReason?: CancelReason; closedAt?: Date | null; deadline?: Date; title?: string },
): Promise<string> {
  const [row] = await db
    .insert(bounties)
    .values({
      posterId: fields.posterId,
      hunterId: fields.hunterId ?? null,
      state: fields.state,
      cancelReason: fields.cancelReason ?? (fields.state === 'cancelled' ? 'poster' : null),
      title: fields.title ?? 'Translate the onboarding emails',
      description: 'Five short emails from English to Spanish, keeping the tone friendly.',
      criteria: [{ id: 1, text: 'All five emails translated' }],
      rewardAmount: 5_000,
      currency: 'usd',
      category: 'writing',
      remote: true,
      deadline: fields.deadline ?? new Date(Date.now() + 10 * DAY_MS),
      closedAt: fields.closedAt ?? null,
    })
    .returning({ id: bounties.id });
  if (!row) throw new Error('insert into bounties returned no row');
  return row.id;
}

type Step = { action: string; from: BountyState; to: BountyState; role: 'poster' | 'hunter' | 'admin' | 'system'; hunterId: string | null; at: Date; details?: Record<string, unknown> };

/** History rows in order (ids ascend with the insert order, as the engine writes them). */
async function insertHistory(db: Database, bountyId: string, steps: Step[]): Promise<void> {
  for (const step of steps) {
    await db.insert(bountyTransitions).values({
      bountyId,
      action: step.action,
      fromState: step.from,
      toState: step.to,
      actorId: null,
      actorRole: step.role,
      hunterId: step.hunterId,
      details: step.details ?? {},
      createdAt: step.at,
    });
  }
}

/** A user straight into the table (the trigger gives it a profile), for the statistics cases. */
async function insertUser(db: Database, label: string): Promise<string> {
  const id = `${label}_${crypto.randomUUID().replaceAll('-', '')}`;
  await db.insert(users).values({ id, name: `${label} person`, email: `${id}@example.com` });
  return id;
}

describe.skipIf(!hasCluster)('profiles and reviews', () => {
  let t: TestApp;
  let clockMs = Date.now();
  let alice: TestAccount;
  let bob: TestAccount;
  let carol: TestAccount;
  let primary: Database;

  beforeAll(async () => {
    t = await startTestApp({}, { clock: () => new Date(clockMs) });
    primary = t.database.primary;
    [alice, bob, carol] = await Promise.all([signUp(t, 'profile-poster', 'Alice Poster'), signUp(t, 'profile-hunter', 'Bob Hunter'), signUp(t, 'profile-stranger')]);
  });
  afterAll(() => t.close());

  const now = () => new Date(clockMs);
  const send = async (account: TestAccount | null, method: string, path: string, json?: unknown): Promise<Sent> => {
    const headers: Record<string, string> = account ? { cookie: account.jar.header() } : {};
    const response = await t.request(path, { method, headers, ...(json !== undefined ? { json } : {}) });
    if (account) account.jar.store(response);
    return { status: response.status, body: await readJson(response) };
  };
  const data = (sent: Sent) => at(sent.body, 'data');
  const review = (account: TestAccount | null, bountyId: string, rating: unknown = 5, text: unknown = 'Clear brief, quick answers, paid on time.') =>
    send(account, 'POST', `/bounties/${bountyId}/reviews`, { rating, text });

  describe('profiles', () => {
    test('a profile exists right after sign-up, named after the account', async () => {
      const fresh = await signUp(t, 'profile-new', 'Nadia New');
      const mine = await send(fresh, 'GET', '/profiles/me');
      expect(mine.status).toBe(200);
      expect(data(mine)).toMatchObject({ userId: fresh.id, displayName: 'Nadia New', skills: [], links: [], remote: true, location: null, headline: null });
      const [row] = await primary.select().from(profiles).where(eq(profiles.userId, fresh.id));
      expect(row?.displayName).toBe('Nadia New');
      expect((await send(null, 'GET', '/profiles/me')).status).toBe(401);
    });

    test('PATCH changes only the allowed fields; userId, email, stats and timestamps in the body are ignored', async () => {
      const before = await send(alice, 'GET', '/profiles/me');
      const patched = await send(alice, 'PATCH', '/profiles/me', {
        displayName: '  Alice the Poster  ',
        headline: 'Small jobs, paid fast',
        bio: 'I run a bakery and post the odd design or translation job.',
        avatarUrl: 'https://cdn.example.com/alice.png',
        skills: ['baking', 'Design', 'design', 'translation'],
        remote: false,
        location: { name: 'Lyon', latitude: 45.764043, longitude: 4.835659 },
        links: [{ label: 'Shop', url: 'https://bakery.example.com' }],
        userId: bob.id,
        email: 'taken-over@example.com',
        stats: { asHunter: { completed: 999 } },
        createdAt: '2000-01-01T00:00:00Z',
      });
      expect(patched.status).toBe(200);
      expect(data(patched)).toMatchObject({
        userId: alice.id,
        displayName: 'Alice the Poster',
        skills: ['baking', 'Design', 'translation'],
        remote: false,
        location: { name: 'Lyon', latitude: 45.764043, longitude: 4.835659 },
        links: [{ label: 'Shop', url: 'https://bakery.example.com' }],
        createdAt: at(data(before), 'createdAt'),
      });
      // Bob's profile and Alice's account are untouched.
      const [bobRow] = await primary.select().from(profiles).where(eq(profiles.userId, bob.id));
      expect(bobRow?.displayName).toBe('Bob Hunter');
      const [aliceUser] = await primary.select({ email: users.email }).from(users).where(eq(users.id, alice.id));
      expect(aliceUser?.email).toBe(alice.email);

      // Only what is sent changes; null clears.
      const partial = await send(alice, 'PATCH', '/profiles/me', { headline: null });
      expect(data(partial)).toMatchObject({ headline: null, bio: 'I run a bakery and post the odd design or translation job.', remote: false });
    });

    test('refused profile input: scripts as URLs, too many links or skills, NUL bytes, an empty change, no session', async () => {
      const refused = [
        { avatarUrl: 'javascript:alert(1)' },
        { links: [{ label: 'x', url: 'javascript:alert(1)' }] },
        { links: [{ label: 'x', url: 'ftp://files.example.com' }] },
        { links: Array.from({ length: 11 }, (_, n) => ({ label: `l${n}`, url: `https://example.com/${n}` })) },
        { skills: Array.from({ length: 31 }, (_, n) => `skill ${n}`) },
        { skills: ['x'.repeat(41)] },
        { bio: 'a\u0000b' },
        { displayName: '   ' },
        { location: { name: 'Nowhere', latitude: 91, longitude: 0 } },
        { remote: 'yes' },
        {},
        { userId: 'someone-else' },
      ];
      for (const body of refused) expect([JSON.stringify(body), (await send(alice, 'PATCH', '/profiles/me', body)).status]).toEqual([JSON.stringify(body), 422]);
      expect((await send(null, 'PATCH', '/profiles/me', { displayName: 'Anonymous' })).status).toBe(401);
    });

    test('a missing profile row: GET shows the defaults, PATCH creates it', async () => {
      const dan = await signUp(t, 'profile-missing', 'Dan Missing');
      await primary.delete(profiles).where(eq(profiles.userId, dan.id));
      await t.settle();
      const shown = await send(dan, 'GET', '/profiles/me');
      expect(shown.status).toBe(200);
      expect(data(shown)).toMatchObject({ userId: dan.id, displayName: 'Dan Missing' });
      const created = await send(dan, 'PATCH', '/profiles/me', { headline: 'Back again' });
      expect(created.status).toBe(200);
      expect(data(created)).toMatchObject({ displayName: 'Dan Missing', headline: 'Back again' });
      const [row] = await primary.select().from(profiles).where(eq(profiles.userId, dan.id));
      expect(row?.headline).toBe('Back again');
    });

    test('the public view: no email or private field, coordinates rounded; an unknown user is 404 in the error format', async () => {
      await t.settle();
      const shown = await send(null, 'GET', `/profiles/${alice.id}`);
      expect(shown.status).toBe(200);
      const text = JSON.stringify(shown.body);
      expect(text).not.toContain(alice.email);
      expect(text).not.toContain('"email"');
      expect(text).not.toContain('wallet');
      expect(data(shown)).toMatchObject({ userId: alice.id, displayName: 'Alice the Poster', location: { name: 'Lyon', latitude: 45.76, longitude: 4.84 } });
      expect(Object.keys(Object(data(shown))).sort()).toEqual(
        ['avatarUrl', 'bio', 'displayName', 'headline', 'links', 'location', 'memberSince', 'remote', 'skills', 'stats', 'userId'].sort(),
      );
      // Signed in, the same view.
      expect(data(await send(bob, 'GET', `/profiles/${alice.id}`))).toEqual(data(shown));

      for (const path of ['/profiles/no_such_user', '/profiles/no_such_user/reviews']) {
        const missing = await send(null, 'GET', path);
        expect(missing.status).toBe(404);
        expect(missing.body).toMatchObject({ success: false, error: 'USER_NOT_FOUND' });
      }
      expect((await send(null, 'GET', '/profiles/not%20an%20id')).status).toBe(422);
    });
  });

  test('statistics come from the history: completion rate with a withdrawal, on-time rate, median review time, auto-approved share, disputes lost', async () => {
    const poster = await insertUser(primary, 'stats-poster');
    const hunter = await insertUser(primary, 'stats-hunter');
    const other = await insertUser(primary, 'stats-other');
    const t0 = new Date(Date.now() - 60 * DAY_MS);
    const h = (hours: number) => new Date(t0.getTime() + hours * HOUR_MS);
    const deadline = h(48);
    const step = (action: string, from: BountyState, to: BountyState, role: Step['role'], hunterId: string | null, hours: number, details?: Record<string, unknown>): Step => ({
      action, from, to, role, hunterId, at: h(hours), ...(details ? { details } : {}),
    });
    const started = (who: string) => [step('publish', 'draft', 'open', 'poster', null, 0), step('accept', 'open', 'in_progress', 'poster', who, 1)];

    // 1: approved 2 h after an on-time submission.
    const b1 = await insertBounty(primary, { posterId: poster, hunterId: hunter, state: 'completed', closedAt: h(12), deadline });
    await insertHistory(primary, b1, [...started(hunter), step('submit', 'in_progress', 'submitted', 'hunter', hunter, 10), step('approve', 'submitted', 'completed', 'poster', hunter, 12)]);
    // 2: the hunter withdraws; another hunter completes it (changes requested after 6 h, auto-approved after 7 days).
    const b2 = await insertBounty(primary, { posterId: poster, hunterId: other, state: 'completed', closedAt: h(198), deadline });
    await insertHistory(primary, b2, [
      ...started(hunter),
      step('withdraw', 'in_progress', 'open', 'hunter', hunter, 5),
      step('accept', 'open', 'in_progress', 'poster', other, 6),
      step('submit', 'in_progress', 'submitted', 'hunter', other, 20),
      step('request_changes', 'submitted', 'changes_requested', 'poster', other, 26),
      step('submit', 'changes_requested', 'submitted', 'hunter', other, 30),
      step('auto_approve', 'submitted', 'completed', 'system', other, 198),
    ]);
    // 3: submitted late (after the deadline), auto-approved after 7 days. A proposal in between is no answer.
    const b3 = await insertBounty(primary, { posterId: poster, hunterId: hunter, state: 'completed', closedAt: h(228), deadline });
    await insertHistory(primary, b3, [
      ...started(hunter),
      step('submit', 'in_progress', 'submitted', 'hunter', hunter, 60),
      step('propose_cancel', 'submitted', 'submitted', 'hunter', hunter, 61),
      step('decline_cancel', 'submitted', 'submitted', 'poster', hunter, 62),
      step('auto_approve', 'submitted', 'completed', 'system', hunter, 228),
    ]);
    // 4: disputed 4 h after the submission; refunded (the hunter lost).
    const b4 = await insertBounty(primary, { posterId: poster, hunterId: hunter, state: 'cancelled', cancelReason: 'dispute', closedAt: h(40), deadline });
    await insertHistory(primary, b4, [
      ...started(hunter),
      step('submit', 'in_progress', 'submitted', 'hunter', hunter, 20),
      step('dispute', 'submitted', 'disputed', 'poster', hunter, 24),
      step('resolve', 'disputed', 'cancelled', 'admin', hunter, 40, { outcome: 'refund' }),
    ]);
    // 5: disputed 3 h after an on-time submission; released (the poster lost, the hunter completed).
    const b5 = await insertBounty(primary, { posterId: poster, hunterId: hunter, state: 'completed', closedAt: h(50), deadline });
    await insertHistory(primary, b5, [
      ...started(hunter),
      step('submit', 'in_progress', 'submitted', 'hunter', hunter, 10),
      step('dispute', 'submitted', 'disputed', 'poster', hunter, 13),
      step('resolve', 'disputed', 'completed', 'admin', hunter, 50, { outcome: 'release' }),
    ]);
    // 6: a draft never published counts for nothing.
    await insertBounty(primary, { posterId: poster, state: 'draft' });
    await t.settle();

    const hunterView = await send(null, 'GET', `/profiles/${hunter}`);
    expect(hunterView.status).toBe(200);
    expect(at(data(hunterView), 'stats', 'asHunter')).toEqual({
      accepted: 5,
      completed: 3,
      completionRate: 0.6,
      onTimeRate: 0.6667,
      averageRating: null,
      reviewCount: 0,
      disputesLost: 1,
    });
    expect(at(data(hunterView), 'stats', 'asPoster')).toMatchObject({ bountiesPosted: 0, medianReviewHours: null, autoApprovedShare: null, disputesLost: 0 });

    const posterView = await send(null, 'GET', `/profiles/${poster}`);
    // Answers after 2, 6, 168 (b2), 168 (b3), 4 (b4) and 3 (b5) hours: the median is (4 + 6) / 2.
    expect(at(data(posterView), 'stats', 'asPoster')).toEqual({
      bountiesPosted: 5,
      medianReviewHours: 5,
      autoApprovedShare: 0.6667,
      averageRating: null,
      reviewCount: 0,
      disputesLost: 1,
    });
    expect(at(data(posterView), 'stats', 'asHunter')).toMatchObject({ accepted: 0, completed: 0, completionRate: null, onTimeRate: null });

    const otherView = await send(null, 'GET', `/profiles/${other}`);
    expect(at(data(otherView), 'stats', 'asHunter')).toMatchObject({ accepted: 1, completed: 1, completionRate: 1, onTimeRate: 1, disputesLost: 0 });
  });

  describe('reviews', () => {
    /** A completed bounty of Alice's that Bob worked on, closed `closedDaysAgo` before the clock. */
    const completedBounty = (closedDaysAgo = 1, title?: string) =>
      insertBounty(primary, { posterId: alice.id, hunterId: bob.id, state: 'completed', closedAt: new Date(clockMs - closedDaysAgo * DAY_MS), ...(title ? { title } : {}) });

    test('double-blind: hidden from the other side, the public and the average until both have reviewed; then both at once', async () => {
      const id = await completedBounty(1, 'Bake a wedding cake');
      const first = await review(alice, id, 5, 'Lovely work, delivered early.');
      expect(first.status).toBe(201);
      expect(data(first)).toMatchObject({
        bountyId: id,
        bountyTitle: 'Bake a wedding cake',
        reviewerId: alice.id,
        reviewerName: 'Alice the Poster',
        reviewerRole: 'poster',
        revieweeId: bob.id,
        rating: 5,
        context: 'completed',
        visible: false,
      });
      // Visible once the window (14 days after the close) ends.
      expect(new Date(String(at(data(first), 'visibleFrom'))).getTime()).toBe(clockMs - DAY_MS + 14 * DAY_MS);
      await t.settle();

      const listed = async (account: TestAccount | null) => items(data(await send(account, 'GET', `/bounties/${id}/reviews`)));
      expect(await listed(null)).toEqual([]);
      expect(await listed(bob)).toEqual([]);
      expect(await listed(carol)).toEqual([]);
      const own = await listed(alice);
      expect(own.length).toBe(1);
      expect(own[0]).toMatchObject({ reviewerId: alice.id, visible: false });
      expect(items(data(await send(null, 'GET', `/profiles/${bob.id}/reviews`))).map((item) => at(item, 'bountyId'))).not.toContain(id);
      expect(at(data(await send(null, 'GET', `/profiles/${bob.id}`)), 'stats', 'asHunter', 'reviewCount')).toBe(0);
      expect(at(data(await send(null, 'GET', `/profiles/${bob.id}`)), 'stats', 'reviews')).toEqual({ averageRating: null, count: 0 });

      clockMs += HOUR_MS; // Bob answers an hour later
      const second = await review(bob, id, 3, 'Vague brief, but paid promptly.');
      expect(second.status).toBe(201);
      expect(data(second)).toMatchObject({ reviewerRole: 'hunter', revieweeId: alice.id, rating: 3, visible: true });
      await t.settle();
      const both = await listed(null);
      expect(both.map((item) => [at(item, 'reviewerId'), at(item, 'visible')])).toEqual([
        [alice.id, true],
        [bob.id, true],
      ]);
      const [aliceRow] = await primary.select().from(bountyReviews).where(eq(bountyReviews.reviewerId, alice.id));
      expect(aliceRow?.visibleFrom.getTime()).toBe(clockMs);
      const bobStats = at(data(await send(null, 'GET', `/profiles/${bob.id}`)), 'stats');
      expect(at(bobStats, 'asHunter')).toMatchObject({ averageRating: 5, reviewCount: 1 });
      expect(at(bobStats, 'reviews')).toEqual({ averageRating: 5, count: 1 });
      expect(at(data(await send(null, 'GET', `/profiles/${alice.id}`)), 'stats', 'asPoster')).toMatchObject({ averageRating: 3, reviewCount: 1 });
      const aboutBob = items(data(await send(null, 'GET', `/profiles/${bob.id}/reviews`)));
      expect(aboutBob[0]).toMatchObject({ bountyId: id, bountyTitle: 'Bake a wedding cake', reviewerName: 'Alice the Poster', reviewerRole: 'poster', context: 'completed', rating: 5 });
    });

    test('one review per side (409 ALREADY_REVIEWED), also when sent twice at once', async () => {
      const id = await completedBounty();
      const [one, two] = await Promise.all([review(alice, id), review(alice, id)]);
      expect([one.status, two.status].sort()).toEqual([201, 409]);
      expect([one, two].find((sent) => sent.status === 409)?.body).toMatchObject({ success: false, error: 'ALREADY_REVIEWED' });
      expect((await review(alice, id)).status).toBe(409);
    });

    test('both sides at once: both stored, and both visible (the bounty lock orders them)', async () => {
      const id = await completedBounty();
      const [one, two] = await Promise.all([review(alice, id, 4), review(bob, id, 4)]);
      expect([one.status, two.status]).toEqual([201, 201]);
      const rows = await primary.select().from(bountyReviews).where(eq(bountyReviews.bountyId, id));
      expect(rows.length).toBe(2);
      for (const row of rows) expect(row.visibleFrom.getTime()).toBeLessThanOrEqual(clockMs);
    });

    test('the window: 409 REVIEW_WINDOW_CLOSED after it; a lone review becomes visible when it closes (the clock moved, not slept)', async () => {
      const expired = await completedBounty(15);
      const late = await review(alice, expired);
      expect(late.status).toBe(409);
      expect(late.body).toMatchObject({ error: 'REVIEW_WINDOW_CLOSED' });

      const id = await completedBounty(1);
      expect((await review(alice, id, 2, 'Slow to start, but finished.')).status).toBe(201);
      await t.settle();
      expect(items(data(await send(null, 'GET', `/bounties/${id}/reviews`)))).toEqual([]);
      const saved = clockMs;
      try {
        clockMs += 13 * DAY_MS + HOUR_MS; // past closed_at + 14 days
        expect(items(data(await send(null, 'GET', `/bounties/${id}/reviews`))).map((item) => at(item, 'rating'))).toEqual([2]);
        const tooLate = await review(bob, id);
        expect(tooLate.status).toBe(409);
        expect(tooLate.body).toMatchObject({ error: 'REVIEW_WINDOW_CLOSED' });
      } finally {
        clockMs = saved;
      }
    });

    test('who may review: a stranger 403, anyone but the parties 404 on a draft or a cancelled bounty, work not ended 409', async () => {
      const completed = await completedBounty();
      const stranger = await review(carol, completed);
      expect(stranger.status).toBe(403);
      expect(stranger.body).toMatchObject({ error: 'NOT_A_PARTY' });
      expect((await review(null, completed)).status).toBe(401);

      const draft = await insertBounty(primary, { posterId: alice.id, state: 'draft' });
      for (const account of [carol, bob]) expect((await review(account, draft)).body).toMatchObject({ error: 'BOUNTY_NOT_FOUND' });
      expect((await review(alice, draft)).body).toMatchObject({ error: 'REVIEW_NOT_OPEN' });
      expect((await send(carol, 'GET', `/bounties/${draft}/reviews`)).status).toBe(404);
      expect((await send(null, 'GET', `/bounties/${draft}/reviews`)).status).toBe(404);

      // Cancelled before anyone was accepted: hidden from strangers, and nobody to review.
      const unworked = await insertBounty(primary, { posterId: alice.id, state: 'cancelled', closedAt: now() });
      expect((await review(carol, unworked)).status).toBe(404);
      expect((await review(alice, unworked)).body).toMatchObject({ error: 'REVIEW_NOT_OPEN' });

      const running = await insertBounty(primary, { posterId: alice.id, hunterId: bob.id, state: 'in_progress' });
      expect((await review(carol, running)).status).toBe(403);
      const notYet = await review(bob, running);
      expect(notYet.status).toBe(409);
      expect(notYet.body).toMatchObject({ error: 'REVIEW_NOT_OPEN' });

      expect((await review(alice, MISSING_BOUNTY)).status).toBe(404);
      expect((await send(null, 'GET', `/bounties/${MISSING_BOUNTY}/reviews`)).status).toBe(404);
    });

    test('refused review input: ratings outside 1..5 or fractional, empty or oversized text', async () => {
      const id = await completedBounty();
      for (const [rating, text] of [[0, 'ok'], [6, 'ok'], [4.5, 'ok'], ['5', 'ok'], [5, ''], [5, '   '], [5, 'x'.repeat(2001)], [5, 'a\u0000b']] as const) {
        expect([rating, text.length, (await review(alice, id, rating, text)).status]).toEqual([rating, text.length, 422]);
      }
      expect((await review(alice, id, 1, 'x'.repeat(2000))).status).toBe(201);
    });

    test('the context label: cancelled after a hunter was accepted, and disputed when the history has a dispute', async () => {
      const mutual = await insertBounty(primary, { posterId: alice.id, hunterId: bob.id, state: 'cancelled', cancelReason: 'mutual', closedAt: now() });
      const cancelled = await review(bob, mutual, 4);
      expect(cancelled.status).toBe(201);
      expect(data(cancelled)).toMatchObject({ context: 'cancelled', reviewerRole: 'hunter' });
      // Both reviewed: public now, but a cancelled bounty is not, so its title stays out of the list.
      expect((await review(alice, mutual, 3)).status).toBe(201);
      await t.settle();
      const aboutAlice = await t.request(`/profiles/${alice.id}/reviews`);
      const listed = items(at(await readJson(aboutAlice), 'data')).find((item) => at(item, 'bountyId') === mutual);
      expect(listed).toMatchObject({ bountyTitle: null, context: 'cancelled', rating: 4 });

      const disputed = await completedBounty();
      await insertHistory(primary, disputed, [
        { action: 'dispute', from: 'submitted', to: 'disputed', role: 'poster', hunterId: bob.id, at: new Date(clockMs - 3 * DAY_MS) },
        { action: 'resolve', from: 'disputed', to: 'completed', role: 'admin', hunterId: bob.id, at: new Date(clockMs - DAY_MS), details: { outcome: 'release' } },
      ]);
      const labelled = await review(alice, disputed, 2);
      expect(data(labelled)).toMatchObject({ context: 'disputed' });

      const refunded = await insertBounty(primary, { posterId: alice.id, hunterId: bob.id, state: 'cancelled', cancelReason: 'dispute', closedAt: now() });
      await insertHistory(primary, refunded, [{ action: 'dispute', from: 'submitted', to: 'disputed', role: 'hunter', hunterId: bob.id, at: new Date(clockMs - DAY_MS) }]);
      expect(data(await review(alice, refunded, 1))).toMatchObject({ context: 'disputed' });
    });

    test("a person's reviews page newest first by (created_at, id), visible ones only", async () => {
      const reviewee = await insertUser(primary, 'reviewed');
      const base = clockMs - 5 * DAY_MS;
      const created: Array<{ id: string; at: number }> = [];
      // Five visible reviews, two of them at the same instant, and one still hidden.
      for (const [n, offset] of [[1, 0], [2, HOUR_MS], [3, HOUR_MS], [4, 2 * HOUR_MS], [5, 3 * HOUR_MS], [6, 4 * HOUR_MS]] as const) {
        const bountyId = await insertBounty(primary, { posterId: alice.id, hunterId: reviewee, state: 'completed', closedAt: new Date(base), title: `Job ${n}` });
        const [row] = await primary
          .insert(bountyReviews)
          .values({
            bountyId,
            reviewerId: alice.id,
            revieweeId: reviewee,
            reviewerRole: 'poster',
            rating: n === 6 ? 1 : 4,
            text: `Review ${n}`,
            context: 'completed',
            visibleFrom: n === 6 ? new Date(clockMs + DAY_MS) : new Date(base + offset),
            createdAt: new Date(base + offset),
          })
          .returning({ id: bountyReviews.id });
        if (n !== 6 && row) created.push({ id: row.id, at: base + offset });
      }
      await t.settle();
      const expected = [...created].sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : -1)).map((item) => item.id);
      const seen: string[] = [];
      let path = `/profiles/${reviewee}/reviews?limit=2`;
      for (let round = 0; round < 5; round += 1) {
        const sent = await send(null, 'GET', path);
        expect(sent.status).toBe(200);
        for (const item of items(data(sent))) seen.push(String(at(item, 'id')));
        const cursor = at(sent.body, 'pagination', 'nextCursor');
        if (cursor === null) break;
        path = `/profiles/${reviewee}/reviews?limit=2&cursor=${String(cursor)}`;
      }
      expect(seen).toEqual(expected);
      const stats = at(data(await send(null, 'GET', `/profiles/${reviewee}`)), 'stats', 'reviews');
      expect(stats).toEqual({ averageRating: 4, count: 5 });
      expect((await send(null, 'GET', `/profiles/${reviewee}/reviews?cursor=not-ours`)).status).toBe(422);
    });
  });
});

describe.skipIf(!hasCluster)('profile query plans on seeded history', () => {
  const databaseName = `profile_plans_${Date.now().toString(36)}`;
  const BOUNTIES = 5_000;
  type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };
  let t: TestApp;
  let direct: ReturnType<typeof postgres>;
  const captured: Array<{ query: string; parameters: readonly unknown[] }> = [];

  beforeAll(async () => {
    const setup = await startTestApp();
    await setup.database.primary.execute(sql.raw(`create database ${databaseName}`));
    await setup.close();
    const url = withDatabase(clusterEnv.databaseUrl ?? '', databaseName);
    t = await startTestApp({ DATABASE_URL: url, DATABASE_REPLICA_URLS: '' }, { observeQueries: (query, parameters) => captured.push({ query, parameters }) });
    await applyMigrations(t.database.primary);
    direct = postgres(url, { max: 1, onnotice: () => {} });
    // 5,000 completed bounties among 500 posters and 700 hunters, each with its four history rows
    // and a review; the subject ('seed-p-1' / 'seed-h-1') is one poster and one hunter among them.
    await direct.unsafe(`
      insert into users (id, name, email) select 'seed-p-' || n, 'Poster ' || n, 'p' || n || '@example.com' from generate_series(0, 499) n;
      insert into users (id, name, email) select 'seed-h-' || n, 'Hunter ' || n, 'h' || n || '@example.com' from generate_series(0, 699) n;
      insert into bounties (poster_id, hunter_id, state, title, description, criteria, reward_amount, currency, category, remote, deadline, closed_at, created_at)
        select 'seed-p-' || (n % 500), 'seed-h-' || (n % 700), 'completed', 'Job ' || n, 'A seeded job for the plans', '[{"id":1,"text":"done"}]', 100, 'usd', 'writing', true,
               now() - (n % 90) * interval '1 day', now() - (n % 80) * interval '1 day', now() - (n % 100) * interval '1 day'
        from generate_series(1, ${BOUNTIES}) n;
      insert into bounty_transitions (bounty_id, action, from_state, to_state, actor_role, hunter_id, created_at)
        select b.id, s.action, s.from_state, s.to_state, s.role, case when s.action = 'publish' then null else b.hunter_id end, b.created_at + s.k * interval '1 hour'
        from bounties b,
          (values (1, 'publish', 'draft', 'open', 'poster'), (2, 'accept', 'open', 'in_progress', 'poster'),
                  (3, 'submit', 'in_progress', 'submitted', 'hunter'), (4, 'approve', 'submitted', 'completed', 'poster')) as s(k, action, from_state, to_state, role)
        order by b.id, s.k;
      insert into bounty_reviews (bounty_id, reviewer_id, reviewee_id, reviewer_role, rating, text, context, visible_from, created_at)
        select id, poster_id, hunter_id, 'poster', 1 + (abs(hashtext(id::text)) % 5), 'Seeded', 'completed', closed_at, closed_at from bounties;
      analyze users; analyze profiles; analyze bounties; analyze bounty_transitions; analyze bounty_reviews;`);
  }, 60_000);
  afterAll(async () => {
    await direct?.end({ timeout: 1 });
    await t?.close();
    const teardown = await startTestApp();
    await teardown.database.primary.execute(sql.raw(`drop database if exists ${databaseName} with (force)`));
    await teardown.close();
  }, 60_000);

  /** Seq Scans of the marketplace's big tables anywhere in the plan. */
  function tableScans(node: PlanNode, found: string[] = []): string[] {
    if (node['Node Type'] === 'Seq Scan' && ['bounties', 'bounty_transitions', 'bounty_reviews'].includes(node['Relation Name'] ?? '')) {
      found.push(String(node['Relation Name']));
    }
    for (const child of node.Plans ?? []) tableScans(child, found);
    return found;
  }

  test('the statistics and the reviews page read through indexes, not table scans', async () => {
    const from = captured.length;
    const profile = await t.request('/profiles/seed-h-1');
    expect(profile.status).toBe(200);
    expect(at(await readJson(profile), 'data', 'stats', 'asHunter', 'completed')).toBeGreaterThan(0);
    const poster = await t.request('/profiles/seed-p-1');
    expect(at(await readJson(poster), 'data', 'stats', 'asPoster', 'bountiesPosted')).toBe(BOUNTIES / 500);
    const reviews = await t.request('/profiles/seed-h-1/reviews?limit=3');
    expect(reviews.status).toBe(200);
    const cursor = String(at(await readJson(reviews), 'pagination', 'nextCursor'));
    expect((await t.request(`/profiles/seed-h-1/reviews?limit=3&cursor=${cursor}`)).status).toBe(200);

    const statements = captured.slice(from).filter(({ query }) => /bounty_transitions|bounty_reviews/.test(query));
    expect(statements.length).toBeGreaterThanOrEqual(4);
    const problems: string[] = [];
    for (const { query, parameters } of statements) {
      const [row] = await direct.unsafe(`explain (format json) ${query}`, parameters as never[]);
      const scans = tableScans((at(row, 'QUERY PLAN', 0, 'Plan') ?? {}) as PlanNode);
      if (scans.length > 0) problems.push(`${scans.join(', ')}:\n${query}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
