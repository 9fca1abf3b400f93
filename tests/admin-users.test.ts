/**
 * Accounts in the admin console (issue 12, "Users") on the real cluster: search with filters and
 * pages, the detail an admin decides from, and each action with what a person notices: a ban
 * ends the cookie and the socket at once, withdraws the pending requests (the poster sees it),
 * cancels and refunds the open bounties, and is audited once with the request id; unban, ban
 * expiry, roles (admins only, never one's own), wallet freezes (an admin's and a chargeback's),
 * a stale sign-in, and the reason every action needs.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, type SQL, sql } from 'drizzle-orm';
import { auditLog, bounties, bountyRequests, reports, riskEvents, riskScores, sessions, users, walletFreezes } from '../src/db';
import { CLIENT_IP_HEADER } from '../src/lib/auth';
import { checkLedger } from '../src/modules/ledger';
import { eventsFor } from '../src/modules/outbox';
import { CLOSE } from '../src/modules/realtime/protocol';
import { createStaff, logIn, PASSWORD, signUp, type TestAccount } from './support/accounts';
import { apply, bountyInProgress, createDraft, openBounty, send } from './support/bounties';
import { hasCluster, randomIp, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { balanceOf, fund } from './support/ledger';
import { moneyPost, onboard, settleWebhooks, walletOf } from './support/money';
import { holdLock } from './support/locks';
import { connectSocket } from './support/sockets';
import { waitFor } from './support/wait';

describe.skipIf(!hasCluster)('admin console: accounts', () => {
  let t: TestApp;
  let baseUrl: string;
  let admin: TestAccount;
  let otherAdmin: TestAccount;
  let moderator: TestAccount;

  beforeAll(async () => {
    t = await startTestApp({}, { work: true });
    const server = t.listen();
    baseUrl = `http://127.0.0.1:${server.port}`;
    [admin, otherAdmin, moderator] = await Promise.all([createStaff(t, 'admin', 'users-admin'), createStaff(t, 'admin', 'users-admin-2'), createStaff(t, 'moderator', 'users-mod')]);
  }, 60_000);
  afterAll(() => t.close());

  const code = (body: unknown) => at(body, 'error');
  const act = (by: TestAccount, userId: string, action: string, json: unknown) => send(t, by, 'POST', `/admin/users/${userId}/${action}`, json);
  const auditRows = (where: SQL | undefined) => t.database.primary.select().from(auditLog).where(where).orderBy(auditLog.id);
  /** The wallet as an admin sees it (the account's own cookie may be dead by then). */
  const walletSummary = async (userId: string) => {
    await t.settle();
    return at((await send(t, admin, 'GET', `/admin/users/${userId}`)).body, 'data', 'wallet');
  };
  const storedUser = async (id: string) => (await t.database.primary.select().from(users).where(eq(users.id, id)))[0];
  const signIn = (account: TestAccount) =>
    t.request('/auth/login', { method: 'POST', json: { email: account.email, password: PASSWORD }, headers: { [CLIENT_IP_HEADER]: randomIp() } });
  const topicsFor = async (userId: string) => (await eventsFor(t.database.primary, userId)).map((event) => event.topic);
  const withdraw = (account: TestAccount, amount: number) =>
    t.request('/wallet/withdrawals', moneyPost(account, { amount: { amount, currency: 'usd' } }));

  /** Every account of one page walk: the ids in order, and how many pages it took. */
  async function walk(query: string, limit: number): Promise<{ ids: string[]; pages: number; rows: unknown[] }> {
    const rows: unknown[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await send(t, admin, 'GET', `/admin/users?${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.status).toBe(200);
      rows.push(...items(at(page.body, 'data')));
      cursor = at(page.body, 'pagination', 'nextCursor') as string | null;
      pages += 1;
    } while (cursor && pages < 20);
    return { ids: rows.map((row) => String(at(row, 'id'))), pages, rows };
  }

  test('search by email or name with role, banned, frozen and risk filters, newest first, in pages that neither skip nor repeat', async () => {
    const tag = `zq${crypto.randomUUID().slice(0, 8)}`;
    const people: TestAccount[] = [];
    // One at a time: created_at orders them.
    for (const label of ['plain', 'promoted', 'banned', 'frozen', 'risky']) people.push(await signUp(t, `${tag}-${label}`, `${label} ${tag}`));
    const [plain, promoted, banned, frozen, risky] = people as [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount];
    expect((await act(admin, promoted.id, 'role', { role: 'moderator', reason: 'Joins moderation' })).status).toBe(200);
    expect((await act(admin, banned.id, 'ban', { reason: 'Spam' })).status).toBe(200);
    expect((await act(admin, frozen.id, 'freeze', { reason: 'Under review' })).status).toBe(200);
    await t.database.primary.insert(riskScores).values({ userId: risky.id, score: 85, level: 'high', factors: { velocity: 85 }, computedAt: new Date() });
    await t.settle();

    const all = await walk(`q=${tag}`, 2);
    expect(all.ids).toEqual([risky.id, frozen.id, banned.id, promoted.id, plain.id]);
    expect(all.pages).toBe(3);
    // By email too, case-insensitively; a LIKE wildcard is a literal character.
    expect((await walk(`q=${encodeURIComponent(`${tag.toUpperCase()}-FROZEN-`)}`, 20)).ids).toEqual([frozen.id]);
    expect((await walk(`q=${encodeURIComponent(`${tag}%`)}`, 20)).ids).toEqual([]);
    expect((await walk(`q=${tag.slice(0, 4)}_${tag.slice(5)}`, 20)).ids).toEqual([]);

    expect((await walk(`q=${tag}&role=moderator`, 20)).ids).toEqual([promoted.id]);
    expect((await walk(`q=${tag}&banned=true`, 20)).ids).toEqual([banned.id]);
    expect((await walk(`q=${tag}&banned=false`, 1)).ids).toEqual([risky.id, frozen.id, promoted.id, plain.id]);
    expect((await walk(`q=${tag}&frozen=true`, 20)).ids).toEqual([frozen.id]);
    expect((await walk(`q=${tag}&frozen=false&role=user`, 20)).ids).toEqual([risky.id, banned.id, plain.id]);
    expect((await walk(`q=${tag}&riskLevel=high`, 20)).ids).toEqual([risky.id]);
    expect((await walk(`q=${tag}&riskLevel=low`, 20)).ids).toEqual([]);

    const rowOf = (id: string) => all.rows.find((row) => at(row, 'id') === id);
    expect(rowOf(banned.id)).toMatchObject({ banned: true, frozen: false, riskLevel: null, role: 'user', email: banned.email.toLowerCase() });
    expect(rowOf(frozen.id)).toMatchObject({ banned: false, frozen: true });
    expect(rowOf(risky.id)).toMatchObject({ riskLevel: 'high' });
    expect(rowOf(promoted.id)).toMatchObject({ role: 'moderator' });

    // Only admins read accounts; bad filters are 422.
    expect((await send(t, moderator, 'GET', `/admin/users?q=${tag}`)).status).toBe(403);
    expect((await send(t, plain, 'GET', `/admin/users?q=${tag}`)).status).toBe(403);
    expect((await send(t, null, 'GET', `/admin/users?q=${tag}`)).status).toBe(401);
    for (const bad of ['role=root', 'banned=yes', 'riskLevel=extreme', 'cursor=not-ours']) {
      expect([bad, (await send(t, admin, 'GET', `/admin/users?${bad}`)).status]).toEqual([bad, 422]);
    }
  });

  test('the detail shows the account, profile, wallet, bounties both ways, requests, reports against and by, risk events and score', async () => {
    const subject = await signUp(t, 'detail-subject', 'Dana Detail');
    const other = await signUp(t, 'detail-other');
    await onboard(t, subject);
    const posted = await openBounty(t, subject, { title: 'Design a logo for the bakery' });
    const hunted = await bountyInProgress(t, other, subject);
    const elsewhere = await openBounty(t, other);
    const requestId = await apply(t, subject, elsewhere);
    await fund(t.database, subject.id, 1_234);
    const now = new Date();
    await t.database.primary.insert(reports).values([
      { reporterId: other.id, targetType: 'user', targetId: subject.id, subjectUserId: subject.id, reason: 'scam', text: 'Asked me to pay outside', snapshot: {}, createdAt: now },
      { reporterId: subject.id, targetType: 'user', targetId: other.id, subjectUserId: other.id, reason: 'spam', text: 'Spams me', snapshot: {}, createdAt: now },
    ]);
    await t.database.primary.insert(riskEvents).values({ userId: subject.id, rule: 'deposit_velocity', outcome: 'flag', subjectType: 'deposit', subjectId: null, detail: { count: 6 }, createdAt: now });
    await t.database.primary.insert(riskScores).values({ userId: subject.id, score: 40, level: 'medium', factors: { deposit_velocity: 40 }, computedAt: now });
    await t.settle();

    const detail = await send(t, admin, 'GET', `/admin/users/${subject.id}`);
    expect(detail.status).toBe(200);
    const data = at(detail.body, 'data');
    expect(at(data, 'account')).toMatchObject({ id: subject.id, email: subject.email.toLowerCase(), role: 'user', banned: false, banReason: null });
    expect(at(data, 'profile')).toMatchObject({ userId: subject.id, displayName: 'Dana Detail' });
    expect(at(data, 'wallet')).toMatchObject({ available: { amount: 1_234, currency: 'usd' }, inEscrow: { amount: 5_000 }, frozen: false });
    expect(items(at(data, 'bountiesPosted')).map((row) => [at(row, 'id'), at(row, 'state')])).toEqual([[posted, 'open']]);
    expect(items(at(data, 'bountiesHunted')).map((row) => [at(row, 'id'), at(row, 'state')])).toEqual([[hunted, 'in_progress']]);
    expect(items(at(data, 'requests')).map((row) => [at(row, 'id'), at(row, 'status')])).toContainEqual([requestId, 'pending']);
    expect(items(at(data, 'requests'))).toHaveLength(2);
    expect(at(data, 'reportsAgainst')).toMatchObject({ open: 1, latest: [{ reporterId: other.id, reason: 'scam', status: 'open' }] });
    expect(at(data, 'reportsBy')).toMatchObject({ open: 1, latest: [{ subjectUserId: other.id, reason: 'spam' }] });
    expect(at(data, 'riskEvents')).toMatchObject([{ rule: 'deposit_velocity', outcome: 'flag', detail: { count: 6 } }]);
    expect(at(data, 'riskScore')).toMatchObject({ score: 40, level: 'medium' });

    expect(code((await send(t, admin, 'GET', '/admin/users/no-such-user')).body)).toBe('USER_NOT_FOUND');
    expect((await send(t, admin, 'GET', '/admin/users/bad%00id')).status).toBe(422);
    expect((await send(t, moderator, 'GET', `/admin/users/${subject.id}`)).status).toBe(403);
    expect((await send(t, subject, 'GET', `/admin/users/${subject.id}`)).status).toBe(403);
  });

  test('a ban ends the cookie and the socket at once, withdraws the pending requests, cancels and refunds the open bounty, audited once with the request id; unban lets them back', async () => {
    const victim = await signUp(t, 'ban-victim');
    const poster = await signUp(t, 'ban-poster');
    const applicant = await signUp(t, 'ban-applicant');
    const ownBounty = await openBounty(t, victim);
    const applicantsRequest = await apply(t, applicant, ownBounty);
    const postersBounty = await openBounty(t, poster);
    const victimsRequest = await apply(t, victim, postersBounty);
    const secondDevice = await logIn(t, victim);
    const socket = await connectSocket(baseUrl, { cookie: victim.jar.header() });
    await socket.waitFor('ready', (frame) => frame.type === 'ready');
    expect(await walletSummary(victim.id)).toMatchObject({ available: { amount: 0 }, inEscrow: { amount: 5_000 } });

    const response = await t.request(`/admin/users/${victim.id}/ban`, { method: 'POST', json: { reason: 'Scam: asked for payment outside' }, headers: { cookie: admin.jar.header() } });
    expect(response.status).toBe(200);
    const banRequestId = response.headers.get('x-request-id');
    expect(banRequestId).toBeTruthy();
    expect(at(await readJson(response), 'data')).toEqual({
      userId: victim.id,
      banExpires: null,
      sessionsRevoked: 2,
      requestsWithdrawn: [victimsRequest],
      bountiesCancelled: [ownBounty],
    });

    // The socket closes as banned; the cookies (both devices) stop working, for writes and reads.
    expect((await socket.closed(2_000)).code).toBe(CLOSE.banned);
    for (const jar of [victim.jar, secondDevice]) {
      const write = await t.request(`/bounties/${postersBounty}/requests`, { method: 'POST', json: { message: 'Let me back in, I can do this.' }, headers: { cookie: jar.header() } });
      expect([write.status, code(await readJson(write))]).toEqual([401, 'UNAUTHORIZED']);
      expect((await t.request('/auth/me', { headers: { cookie: jar.header() } })).status).toBe(401);
    }
    expect(await t.database.primary.select().from(sessions).where(eq(sessions.userId, victim.id))).toEqual([]);
    const refused = await signIn(victim);
    expect([refused.status, code(await readJson(refused))]).toEqual([403, 'BANNED_USER']);

    // The poster sees the request withdrawn, and was told.
    await t.settle();
    const theirs = await send(t, poster, 'GET', `/bounties/${postersBounty}/requests`);
    expect(items(at(theirs.body, 'data')).map((row) => [at(row, 'id'), at(row, 'status'), at(row, 'closedReason')])).toEqual([[victimsRequest, 'withdrawn', 'hunter']]);
    expect(await topicsFor(poster.id)).toContain('request.withdrawn');

    // The open bounty is cancelled by an admin, its applicant's request closed, the escrow back in the wallet.
    const bounty = await send(t, admin, 'GET', `/bounties/${ownBounty}`);
    expect(at(bounty.body, 'data')).toMatchObject({ state: 'cancelled', cancelReason: 'admin' });
    const [closed] = await t.database.primary.select().from(bountyRequests).where(eq(bountyRequests.id, applicantsRequest));
    expect(closed).toMatchObject({ status: 'rejected', closedReason: 'closed' });
    expect(await walletSummary(victim.id)).toMatchObject({ available: { amount: 5_000 }, inEscrow: { amount: 0 } });
    expect(await balanceOf(t.database, victim.id, 'available')).toBe(5_000);
    expect(await checkLedger(t.database.primary)).toEqual({ balanceMismatches: [], unbalancedTransactions: [] });

    // One user.ban row and one bounty.admin_cancel row, both with the ban's request id.
    const audited = await auditRows(eq(auditLog.requestId, banRequestId ?? ''));
    expect(audited.map((row) => [row.action, row.targetId, row.actorId]).sort()).toEqual(
      [['bounty.admin_cancel', ownBounty, admin.id], ['user.ban', victim.id, admin.id]].sort(),
    );
    expect(audited.find((row) => row.action === 'user.ban')).toMatchObject({
      reason: 'Scam: asked for payment outside',
      before: { banned: false, role: 'user' },
      after: { banned: true, role: 'user', requestsWithdrawn: 1, bountiesCancelled: 1, sessionsRevoked: 2 },
    });

    // Banning again is refused and logs nothing; unbanning lets them sign in (and tells them).
    expect(code((await act(admin, victim.id, 'ban', { reason: 'Again' })).body)).toBe('ALREADY_BANNED');
    const unban = await act(admin, victim.id, 'unban', { reason: 'Appeal accepted' });
    expect(unban.status).toBe(200);
    expect(at(unban.body, 'data')).toMatchObject({ banned: false, banReason: null, banExpires: null });
    expect((await signIn(victim)).status).toBe(200);
    expect(await topicsFor(victim.id)).toContain('account.unbanned');
    expect(code((await act(admin, victim.id, 'unban', { reason: 'Twice' })).body)).toBe('NOT_BANNED');
    expect((await auditRows(eq(auditLog.targetId, victim.id))).map((row) => row.action).sort()).toEqual(['user.ban', 'user.unban']);
  });

  test('a ban with an expiry: refused while it runs, over once it has passed; an expiry in the past is 422', async () => {
    const member = await signUp(t, 'ban-expiry');
    const past = await act(admin, member.id, 'ban', { reason: 'Cool down', expiresAt: new Date(Date.now() - 60_000).toISOString() });
    expect([past.status, code(past.body)]).toEqual([422, 'BAN_EXPIRY_PAST']);
    expect(await storedUser(member.id)).toMatchObject({ banned: false });

    const until = new Date(Date.now() + 3_600_000);
    const ban = await act(admin, member.id, 'ban', { reason: 'Cool down', expiresAt: until.toISOString() });
    expect(ban.status).toBe(200);
    expect(new Date(String(at(ban.body, 'data', 'banExpires'))).getTime()).toBe(until.getTime());
    const refused = await signIn(member);
    expect([refused.status, code(await readJson(refused))]).toEqual([403, 'BANNED_USER']);

    // The hour passes (moved in the database: the ban is judged by the real clock).
    await t.database.primary.update(users).set({ banExpires: new Date(Date.now() - 1_000) }).where(eq(users.id, member.id));
    await t.settle();
    expect((await walk(`q=${member.email.split('@')[0] ?? ''}&banned=false`, 20)).ids).toEqual([member.id]);
    const back = await signIn(member);
    expect(back.status).toBe(200);
  });

  test('roles: a moderator cannot grant one (403); an admin can, audited, and the person is told; nobody changes their own', async () => {
    const member = await signUp(t, 'role-member');
    const byModerator = await act(moderator, member.id, 'role', { role: 'moderator', reason: 'Helping out' });
    expect([byModerator.status, code(byModerator.body)]).toEqual([403, 'FORBIDDEN']);
    expect((await act(moderator, moderator.id, 'role', { role: 'admin', reason: 'Promote myself' })).status).toBe(403);
    expect((await storedUser(moderator.id))?.role).toBe('moderator');

    const promote = await t.request(`/admin/users/${member.id}/role`, { method: 'POST', json: { role: 'moderator', reason: 'Joins the moderation team' }, headers: { cookie: admin.jar.header() } });
    expect(promote.status).toBe(200);
    expect(at(await readJson(promote), 'data', 'role')).toBe('moderator');
    expect((await storedUser(member.id))?.role).toBe('moderator');
    const [row] = await auditRows(and(eq(auditLog.action, 'user.role'), eq(auditLog.targetId, member.id)));
    expect(row).toMatchObject({ actorId: admin.id, reason: 'Joins the moderation team', before: { role: 'user' }, after: { role: 'moderator' }, requestId: promote.headers.get('x-request-id') });
    expect(await topicsFor(member.id)).toContain('account.role_changed');
    // The new moderator's next request runs as one (staff powers are read from the database).
    expect((await send(t, member, 'GET', '/admin/users')).status).toBe(403);
    expect(code((await act(admin, member.id, 'role', { role: 'moderator', reason: 'Again' })).body)).toBe('ROLE_UNCHANGED');
  });

  test('an admin cannot ban, demote, freeze, unban or unfreeze themselves, and nothing is logged', async () => {
    const attempts = [
      await act(otherAdmin, otherAdmin.id, 'ban', { reason: 'Test' }),
      await act(otherAdmin, otherAdmin.id, 'role', { role: 'user', reason: 'Test' }),
      await act(otherAdmin, otherAdmin.id, 'freeze', { reason: 'Test' }),
      await act(otherAdmin, otherAdmin.id, 'unban', { reason: 'Test' }),
      await act(otherAdmin, otherAdmin.id, 'unfreeze', { reason: 'Test' }),
    ];
    expect(attempts.map((attempt) => [attempt.status, code(attempt.body)])).toEqual(Array(5).fill([403, 'CANNOT_ACT_ON_SELF']));
    expect(await storedUser(otherAdmin.id)).toMatchObject({ role: 'admin', banned: false });
    expect(await t.database.primary.select().from(walletFreezes).where(eq(walletFreezes.userId, otherAdmin.id))).toEqual([]);
    expect(await auditRows(eq(auditLog.targetId, otherAdmin.id))).toEqual([]);
  });

  test('a freeze blocks a withdrawal until it is lifted; freezing twice or lifting nothing is 409', async () => {
    const member = await signUp(t, 'freeze-member');
    await onboard(t, member);
    await fund(t.database, member.id, 5_000);
    const freeze = await act(admin, member.id, 'freeze', { reason: 'Card payments under review' });
    expect(freeze.status).toBe(200);
    expect(at(freeze.body, 'data')).toEqual({ userId: member.id, frozen: true, freezes: ['admin'] });
    expect(await walletOf(t, member)).toMatchObject({ frozen: true, frozenReason: 'Card payments under review' });
    const refused = await withdraw(member, 1_000);
    expect([refused.status, code(await readJson(refused))]).toEqual([403, 'WALLET_FROZEN']);
    expect(code((await act(admin, member.id, 'freeze', { reason: 'Again' })).body)).toBe('WALLET_ALREADY_FROZEN');

    const unfreeze = await act(admin, member.id, 'unfreeze', { reason: 'Reviewed: fine' });
    expect(at(unfreeze.body, 'data')).toEqual({ userId: member.id, frozen: false, freezes: [] });
    expect((await walletOf(t, member)).frozen).toBe(false);
    expect((await withdraw(member, 1_000)).status).toBe(201);
    expect(code((await act(admin, member.id, 'unfreeze', { reason: 'Again' })).body)).toBe('WALLET_NOT_FROZEN');

    const audited = await auditRows(eq(auditLog.targetId, member.id));
    expect(audited.map((row) => [row.action, row.reason])).toEqual([['wallet.freeze', 'Card payments under review'], ['wallet.unfreeze', 'Reviewed: fine']]);
    const topics = await topicsFor(member.id);
    expect(topics.filter((topic) => topic.startsWith('wallet.'))).toEqual(['wallet.frozen', 'wallet.unfrozen']);
  });

  test("a chargeback's freeze outlives an admin's unfreeze", async () => {
    const member = await signUp(t, 'chargeback-member');
    await onboard(t, member);
    await fund(t.database, member.id, 5_000);
    await t.database.primary.insert(walletFreezes).values({ userId: member.id, source: 'chargeback', reason: 'A card payment was disputed' });
    expect(code((await act(admin, member.id, 'unfreeze', { reason: 'Nothing of ours' })).body)).toBe('WALLET_NOT_FROZEN');
    expect((await act(admin, member.id, 'freeze', { reason: 'Also reviewing' })).status).toBe(200);
    const unfreeze = await act(admin, member.id, 'unfreeze', { reason: 'Our review is done' });
    expect(at(unfreeze.body, 'data')).toEqual({ userId: member.id, frozen: true, freezes: ['chargeback'] });
    expect(await walletOf(t, member)).toMatchObject({ frozen: true, frozenReason: 'A card payment was disputed' });
    expect((await withdraw(member, 1_000)).status).toBe(403);
    // Still frozen: nobody tells them it was lifted.
    expect(await topicsFor(member.id)).not.toContain('wallet.unfrozen');
  });

  test('a stale sign-in still reads but cannot act (403 SESSION_NOT_FRESH); a fresh one can', async () => {
    const staleAdmin = await createStaff(t, 'admin', 'users-stale-admin');
    const member = await signUp(t, 'stale-target');
    await t.database.primary.update(sessions).set({ createdAt: new Date(Date.now() - 2 * 86_400_000) }).where(eq(sessions.userId, staleAdmin.id));
    await t.settle();
    expect((await send(t, staleAdmin, 'GET', '/admin/users')).status).toBe(200);
    expect((await send(t, staleAdmin, 'GET', `/admin/users/${member.id}`)).status).toBe(200);
    const bodies: Array<[string, unknown]> = [
      ['ban', { reason: 'Stale' }],
      ['unban', { reason: 'Stale' }],
      ['role', { role: 'moderator', reason: 'Stale' }],
      ['freeze', { reason: 'Stale' }],
      ['unfreeze', { reason: 'Stale' }],
    ];
    for (const [action, json] of bodies) {
      const answer = await act(staleAdmin, member.id, action, json);
      expect([action, answer.status, code(answer.body)]).toEqual([action, 403, 'SESSION_NOT_FRESH']);
    }
    expect(await auditRows(eq(auditLog.targetId, member.id))).toEqual([]);
    // Signing in again makes it fresh.
    const fresh = { ...staleAdmin, jar: await logIn(t, staleAdmin) };
    expect((await act(fresh, member.id, 'freeze', { reason: 'Fresh now' })).status).toBe(200);
  });

  test('every action without a reason (missing, blank, too long) is 422 and changes nothing', async () => {
    const member = await signUp(t, 'no-reason');
    const actions: Array<[string, Record<string, unknown>]> = [['ban', {}], ['unban', {}], ['role', { role: 'moderator' }], ['freeze', {}], ['unfreeze', {}]];
    for (const [action, extra] of actions) {
      for (const reason of [undefined, '   ', 'x'.repeat(2_001), 'a\u0000b']) {
        const answer = await act(admin, member.id, action, reason === undefined ? extra : { ...extra, reason });
        expect([action, reason?.length, answer.status, code(answer.body)]).toEqual([action, reason?.length, 422, 'VALIDATION_ERROR']);
      }
    }
    expect(await storedUser(member.id)).toMatchObject({ role: 'user', banned: false });
    expect(await auditRows(eq(auditLog.targetId, member.id))).toEqual([]);
  });

  test('regression (issue 12 review): a draft paid by card opens nothing once its poster was banned while the payment was under way', async () => {
    const poster = await signUp(t, 'banned-card-poster');
    const draft = await createDraft(t, poster, { reward: { amount: 2_500, currency: 'usd' } });
    t.stripeServer.webhooks.configure({ hold: true });
    try {
      const published = poster.jar.store(await t.request(`/bounties/${draft}/publish`, moneyPost(poster, { funding: 'card', paymentMethodId: 'pm_card_visa' })));
      expect(published.status).toBe(202);
      expect((await act(admin, poster.id, 'ban', { reason: 'Stolen card' })).status).toBe(200);
    } finally {
      t.stripeServer.webhooks.configure({ hold: false });
      t.stripeServer.webhooks.flush();
      await settleWebhooks(t);
    }
    const [bounty] = await t.database.primary.select({ state: bounties.state }).from(bounties).where(eq(bounties.id, draft));
    expect(bounty?.state).toBe('draft');
    // The payment is credited to the (banned) wallet, where a freeze or a refund can deal with it.
    expect(await balanceOf(t.database, poster.id, 'available')).toBe(2_500);
  });

  test("regression (issue 12 review): an admin renaming someone else gives a reason and is audited; the owner needs neither", async () => {
    const member = await signUp(t, 'renamed-member');
    const silent = await send(t, admin, 'PATCH', `/users/${member.id}`, { name: 'Not their name' });
    expect([silent.status, code(silent.body)]).toEqual([422, 'VALIDATION_ERROR']);
    expect((await send(t, admin, 'PATCH', `/users/${member.id}`, { name: 'Sam Sample', reason: 'Impersonated a public figure' })).status).toBe(200);
    expect((await send(t, member, 'PATCH', `/users/${member.id}`, { name: 'Sam S.' })).status).toBe(200);
    const audited = await auditRows(eq(auditLog.targetId, member.id));
    expect(audited.map((row) => [row.action, row.reason, row.before?.name, row.after?.name])).toEqual([
      ['user.update', 'Impersonated a public figure', 'renamed-member', 'Sam Sample'],
    ]);
  });

  test('regression (issue 12 review): an application racing a ban waits for it and is refused, never left pending', async () => {
    const [poster, applicant] = await Promise.all([signUp(t, 'race-poster'), signUp(t, 'race-applicant')]);
    const bountyId = await openBounty(t, poster);
    // The ban's first step, held open: the account row locked for update and the flag set, not yet committed.
    const ban = await holdLock(t.database.primary, sql`update ${users} set banned = true, ban_reason = 'Race' where ${users.id} = ${applicant.id}`);
    const applying = send(t, applicant, 'POST', `/bounties/${bountyId}/requests`, { message: 'Me, me!' });
    await waitFor('the apply waiting on the account row', async () => {
      const [waiting] = await t.database.primary
        .select({ n: sql<number>`count(*)::int` })
        .from(sql`pg_stat_activity`)
        .where(sql`wait_event_type = 'Lock' and query ilike '%from "users"%for share%'`);
      return (waiting?.n ?? 0) > 0;
    });
    ban.release();
    await ban.done;
    const answer = await applying;
    expect([answer.status, code(answer.body)]).toEqual([403, 'USER_BANNED']);
    const pending = await t.database.primary.select().from(bountyRequests).where(eq(bountyRequests.hunterId, applicant.id));
    expect(pending).toHaveLength(0);
  });

  test('regression (issue 12 review): an account with a live bounty or money is not deleted (its escrow would lose its owner)', async () => {
    const [poster, saver] = await Promise.all([signUp(t, 'delete-poster'), signUp(t, 'delete-saver')]);
    const bountyId = await openBounty(t, poster);
    const refused = await send(t, admin, 'DELETE', `/users/${poster.id}`, { reason: 'Asked to be forgotten' });
    expect([refused.status, code(refused.body)]).toEqual([409, 'ACCOUNT_IN_USE']);
    expect(await storedUser(poster.id)).toBeDefined();
    await fund(t.database, saver.id, 1_200);
    const own = await send(t, saver, 'DELETE', `/users/${saver.id}`);
    expect([own.status, code(own.body)]).toEqual([409, 'ACCOUNT_IN_USE']);
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/cancel`)).status).toBe(200);
    // Cancelled, the escrow is back in the wallet: still money, still refused.
    expect(code((await send(t, admin, 'DELETE', `/users/${poster.id}`, { reason: 'Asked to be forgotten' })).body)).toBe('ACCOUNT_IN_USE');
    const empty = await signUp(t, 'delete-empty');
    expect((await send(t, admin, 'DELETE', `/users/${empty.id}`, { reason: 'Duplicate account' })).status).toBe(200);
    expect(await storedUser(empty.id)).toBeUndefined();
  });
});
