/**
 * Money operations for admins (issue 12 item 4) on the real cluster: ledger accounts and a user's
 * postings page by page; manual adjustments posted at once up to ADJUSTMENT_DUAL_CONTROL_CENTS and
 * under dual control above it (never approved by their creator, posted once even when two admins
 * approve at once, rejected without moving money), the threshold counted over one admin's day of
 * adjustments for one user (splitting gains nothing), no admin adjusting or deciding for their own
 * account, a debit past the balance refused without a trace, one adjustment per Idempotency-Key
 * (a reused key with another body refused even after its stored answer is gone); dead-lettered jobs listed (a webhook reconciliation
 * with its Stripe event) and sent again once, audited; disputes with their evidence. Moderators,
 * users and anonymous callers are refused everywhere.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, asc, eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { auditLog, idempotencyKeys, ledgerAccounts, ledgerAdjustments, ledgerEntries, ledgerTransactions, webhookEvents } from '../src/db';
import { defineJob } from '../src/jobs';
import { checkLedger } from '../src/modules/ledger';
import { eventsFor } from '../src/modules/outbox';
import { RECONCILE_JOB } from '../src/modules/webhooks/jobs';
import { createStaff, signUp, type TestAccount } from './support/accounts';
import { send, submission, submittedBounty } from './support/bounties';
import { conversationOf, said } from './support/conversations';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { balanceOf } from './support/ledger';
import { moneyPost, onboard } from './support/money';
import { waitFor } from './support/wait';

/** ADJUSTMENT_DUAL_CONTROL_CENTS here: $100.00. */
const THRESHOLD = 10_000;

const FLAKY_JOB = 'tests.admin-money.flaky';
/** Runs of the flaky job by run id; it throws while its run id is in `failing`. */
const runs: string[] = [];
const failing = new Set<string>();
const flakyJob = defineJob<{ runId: string }>({
  name: FLAKY_JOB,
  payload: z.object({ runId: z.string().max(64) }),
  retryLimit: 0,
  retryDelaySeconds: 1,
  retryBackoff: false,
  expireInSeconds: 10,
  deadLetter: true,
  async handler(payload) {
    runs.push(payload.runId);
    if (failing.has(payload.runId)) throw new Error(`flaky job ${payload.runId} failed on purpose`);
  },
});

describe.skipIf(!hasCluster)('money operations for admins', () => {
  let t: TestApp;
  let creator: TestAccount;
  let second: TestAccount;
  let third: TestAccount;
  let moderator: TestAccount;

  beforeAll(async () => {
    t = await startTestApp({ ADJUSTMENT_DUAL_CONTROL_CENTS: String(THRESHOLD) });
    // A job of this file's own, defined before the queue starts (its queues are created then).
    t.jobs.define(flakyJob);
    await t.jobs.start({ work: true });
    [creator, second, third, moderator] = await Promise.all([
      createStaff(t, 'admin', 'adjusting-admin'),
      createStaff(t, 'admin', 'second-admin'),
      createStaff(t, 'admin', 'third-admin'),
      createStaff(t, 'moderator', 'money-moderator'),
    ]);
  });
  afterAll(() => t.close());

  const adjust = (admin: TestAccount, body: Record<string, unknown>, key: string = crypto.randomUUID()) =>
    t.request('/admin/ledger/adjustments', moneyPost(admin, body, key)).then(async (response) => ({ status: response.status, headers: response.headers, body: await readJson(response) }));
  const credit = (userId: string, amount: number, reason = 'Goodwill credit after a failed payout') =>
    ({ userId, accountKind: 'available', currency: 'usd', amount, reason });
  const decide = (admin: TestAccount, id: string, decision: 'approve' | 'reject', note = 'Checked against the Stripe dashboard') =>
    send(t, admin, 'POST', `/admin/ledger/adjustments/${id}/${decision}`, { note });
  // In the order they were written (a bare select returns them in whatever order the plan reads them).
  const auditOf = (targetId: string) => t.database.primary.select().from(auditLog).where(eq(auditLog.targetId, targetId)).orderBy(asc(auditLog.at), asc(auditLog.id));
  const adjustedEvents = async (userId: string) => (await eventsFor(t.database.primary, userId)).filter((event) => event.topic === 'ledger.adjusted');
  const postingsOf = (effectKey: string) => t.database.primary.select().from(ledgerTransactions).where(eq(ledgerTransactions.effectKey, effectKey));
  const cleanLedger = { balanceMismatches: [], unbalancedTransactions: [] };

  test('an adjustment at or below the threshold posts at once: balances, one audit row, the user told', async () => {
    const user = await signUp(t, 'adjusted-user');
    const created = await adjust(creator, credit(user.id, THRESHOLD));
    expect(created.status).toBe(201);
    const id = String(at(created.body, 'data', 'id'));
    expect(at(created.body, 'data')).toMatchObject({ status: 'posted', amount: { amount: THRESHOLD, currency: 'usd' }, createdBy: creator.id, decidedBy: null });
    expect(await balanceOf(t.database, user.id)).toBe(THRESHOLD);
    // The other side: the platform's adjustments account, negative by as much.
    const [transaction] = await postingsOf(`adjustment:${id}`);
    expect(transaction?.id).toBe(Number(at(created.body, 'data', 'transactionId')));
    const legs = await t.database.primary
      .select({ kind: ledgerAccounts.kind, ownerId: ledgerAccounts.ownerId, amount: ledgerEntries.amount })
      .from(ledgerEntries)
      .innerJoin(ledgerAccounts, eq(ledgerAccounts.id, ledgerEntries.accountId))
      .where(eq(ledgerEntries.transactionId, transaction?.id ?? 0));
    expect(legs.sort((a, b) => a.amount - b.amount)).toEqual([
      { kind: 'adjustments', ownerId: 'platform', amount: -THRESHOLD },
      { kind: 'available', ownerId: user.id, amount: THRESHOLD },
    ]);
    expect(await checkLedger(t.database.primary)).toEqual(cleanLedger);
    const audit = await auditOf(id);
    expect(audit.map((row) => [row.action, row.actorId, row.reason])).toEqual([['ledger.adjustment.create', creator.id, 'Goodwill credit after a failed payout']]);
    expect(audit[0]?.after).toMatchObject({ userId: user.id, amount: THRESHOLD, status: 'posted' });
    const events = await adjustedEvents(user.id);
    expect(events.map((event) => [event.subjectId, event.payload])).toEqual([[id, { amount: THRESHOLD, currency: 'usd', reason: 'Goodwill credit after a failed payout' }]]);
  });

  test('accounts and postings page newest first through every entry, each with its transaction', async () => {
    const user = await signUp(t, 'postings-user');
    const amounts = [300, 400, -200, 500];
    for (const amount of amounts) expect((await adjust(creator, credit(user.id, amount))).status).toBe(201);
    const owed = await adjust(creator, { ...credit(user.id, -700, 'Chargeback not covered by the wallet'), accountKind: 'receivable' });
    expect(owed.status).toBe(201);
    await t.settle();

    const accounts = await send(t, creator, 'GET', `/admin/ledger/users/${user.id}`);
    expect(accounts.status).toBe(200);
    const byKind = Object.fromEntries(items(at(accounts.body, 'data')).map((account) => [String(at(account, 'kind')), account]));
    expect(Object.keys(byKind).sort()).toEqual(['available', 'receivable']);
    expect(at(byKind.available, 'balance')).toEqual({ amount: 1_000, currency: 'usd' });
    expect(at(byKind.receivable, 'balance')).toEqual({ amount: -700, currency: 'usd' });
    expect(at(byKind.receivable, 'allowNegative')).toBe(true);

    // Postings: both accounts merged, newest first, two per page.
    const seen: unknown[] = [];
    let path = `/admin/ledger/users/${user.id}/postings?limit=2`;
    for (let pages = 0; pages < 5; pages += 1) {
      const page = await send(t, creator, 'GET', path);
      expect(page.status).toBe(200);
      seen.push(...items(at(page.body, 'data')));
      const cursor = at(page.body, 'pagination', 'nextCursor');
      if (cursor === null) break;
      path = `/admin/ledger/users/${user.id}/postings?limit=2&cursor=${String(cursor)}`;
    }
    expect(seen.map((entry) => at(entry, 'amount', 'amount'))).toEqual([-700, 500, -200, 400, 300]);
    expect(seen.map((entry) => at(entry, 'account', 'kind'))).toEqual(['receivable', 'available', 'available', 'available', 'available']);
    const ids = seen.map((entry) => Number(at(entry, 'id')));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(at(seen[0], 'transaction', 'kind')).toBe('adjustment');
    expect(String(at(seen[0], 'transaction', 'effectKey'))).toBe(`adjustment:${String(at(owed.body, 'data', 'id'))}`);
    expect(at(seen[1], 'balanceAfter')).toEqual({ amount: 1_000, currency: 'usd' });

    // One account, two entries per page: the same entries with their balances after.
    const accountId = Number(at(byKind.available, 'id'));
    const first = await send(t, creator, 'GET', `/admin/ledger/accounts/${accountId}?limit=2`);
    expect(first.status).toBe(200);
    expect(at(first.body, 'data', 'account')).toMatchObject({ id: accountId, ownerType: 'user', ownerId: user.id, kind: 'available', balance: { amount: 1_000, currency: 'usd' }, allowNegative: false });
    const next = await send(t, creator, 'GET', `/admin/ledger/accounts/${accountId}?limit=2&cursor=${String(at(first.body, 'pagination', 'nextCursor'))}`);
    const entries = [...items(at(first.body, 'data', 'entries')), ...items(at(next.body, 'data', 'entries'))];
    expect(entries.map((entry) => [at(entry, 'amount', 'amount'), at(entry, 'balanceAfter', 'amount')])).toEqual([[500, 1_000], [-200, 500], [400, 700], [300, 300]]);
    expect(at(next.body, 'pagination', 'nextCursor')).toBeNull();

    expect((await send(t, creator, 'GET', '/admin/ledger/accounts/999999999')).status).toBe(404);
    expect((await send(t, creator, 'GET', `/admin/ledger/accounts/${accountId}?cursor=abc`)).status).toBe(422);
  });

  test('above the threshold it waits; its creator cannot approve it; of two approvals at once one posts it, once', async () => {
    const user = await signUp(t, 'dual-control-user');
    const created = await adjust(creator, credit(user.id, THRESHOLD + 1));
    expect(created.status).toBe(201);
    const id = String(at(created.body, 'data', 'id'));
    expect(at(created.body, 'data')).toMatchObject({ status: 'pending_approval', transactionId: null });
    expect(await balanceOf(t.database, user.id)).toBe(0);
    expect(await postingsOf(`adjustment:${id}`)).toEqual([]);
    expect(await adjustedEvents(user.id)).toEqual([]);

    await t.settle();
    const queue = await send(t, second, 'GET', '/admin/ledger/adjustments?limit=100');
    expect(queue.status).toBe(200);
    expect(items(at(queue.body, 'data')).map((item) => at(item, 'id'))).toContain(id);

    const own = await decide(creator, id, 'approve');
    expect([own.status, at(own.body, 'error')]).toEqual([403, 'FOUR_EYES_REQUIRED']);
    const ownReject = await decide(creator, id, 'reject');
    expect([ownReject.status, at(ownReject.body, 'error')]).toEqual([403, 'FOUR_EYES_REQUIRED']);

    const both = await Promise.all([decide(second, id, 'approve'), decide(third, id, 'approve')]);
    expect(both.map((sent) => sent.status).sort()).toEqual([200, 409]);
    const won = both.find((sent) => sent.status === 200);
    const lost = both.find((sent) => sent.status === 409);
    expect(at(lost?.body, 'error')).toBe('ADJUSTMENT_ALREADY_DECIDED');
    expect(at(won?.body, 'data')).toMatchObject({ status: 'posted', decisionNote: 'Checked against the Stripe dashboard' });
    expect([second.id, third.id]).toContain(String(at(won?.body, 'data', 'decidedBy')));

    expect(await balanceOf(t.database, user.id)).toBe(THRESHOLD + 1);
    expect((await postingsOf(`adjustment:${id}`)).length).toBe(1);
    expect(await checkLedger(t.database.primary)).toEqual(cleanLedger);
    expect((await auditOf(id)).map((row) => row.action).sort()).toEqual(['ledger.adjustment.approve', 'ledger.adjustment.create']);
    expect((await adjustedEvents(user.id)).length).toBe(1);
    // Decided: out of the queue, and once only.
    await t.settle();
    const after = await send(t, second, 'GET', '/admin/ledger/adjustments?limit=100');
    expect(items(at(after.body, 'data')).map((item) => at(item, 'id'))).not.toContain(id);
    expect((await decide(second, id, 'reject')).status).toBe(409);
  });

  test('a rejected adjustment moves no money and tells no one', async () => {
    const user = await signUp(t, 'rejected-user');
    const created = await adjust(creator, credit(user.id, 50_000));
    const id = String(at(created.body, 'data', 'id'));
    const rejected = await decide(second, id, 'reject', 'No evidence of the missing deposit');
    expect(rejected.status).toBe(200);
    expect(at(rejected.body, 'data')).toMatchObject({ status: 'rejected', decidedBy: second.id, transactionId: null });
    expect(await balanceOf(t.database, user.id)).toBe(0);
    expect(await postingsOf(`adjustment:${id}`)).toEqual([]);
    expect(await adjustedEvents(user.id)).toEqual([]);
    expect((await auditOf(id)).map((row) => [row.action, row.reason])).toEqual([
      ['ledger.adjustment.create', 'Goodwill credit after a failed payout'],
      ['ledger.adjustment.reject', 'No evidence of the missing deposit'],
    ]);
    const late = await decide(third, id, 'approve');
    expect([late.status, at(late.body, 'error')]).toEqual([409, 'ADJUSTMENT_ALREADY_DECIDED']);
    expect(await balanceOf(t.database, user.id)).toBe(0);

    // The user's adjustments, newest first: this one, rejected.
    await t.settle();
    const listed = await send(t, second, 'GET', `/admin/ledger/adjustments?userId=${user.id}&status=rejected`);
    expect(items(at(listed.body, 'data')).map((item) => [at(item, 'id'), at(item, 'status')])).toEqual([[id, 'rejected']]);
    const unscoped = await send(t, second, 'GET', '/admin/ledger/adjustments?status=posted');
    expect([unscoped.status, at(unscoped.body, 'error')]).toEqual([422, 'ADJUSTMENT_LIST_NEEDS_USER']);
  });

  test('a debit past the available balance is 409 INSUFFICIENT_FUNDS and writes nothing', async () => {
    const user = await signUp(t, 'overdrawn-user');
    expect((await adjust(creator, credit(user.id, 1_000))).status).toBe(201);
    const auditRows = async () => (await t.database.primary.select({ n: sql<number>`count(*)::int` }).from(auditLog).where(eq(auditLog.actorId, creator.id)))[0]?.n;
    const before = await auditRows();
    const refused = await adjust(creator, credit(user.id, -1_001, 'Reverse a duplicate credit'));
    expect([refused.status, at(refused.body, 'error')]).toEqual([409, 'INSUFFICIENT_FUNDS']);
    expect(await balanceOf(t.database, user.id)).toBe(1_000);
    expect(await auditRows()).toBe(before);
    const rows = await t.database.primary.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.userId, user.id));
    expect(rows.map((row) => row.amount)).toEqual([1_000]);
    expect((await adjustedEvents(user.id)).length).toBe(1);
    // Exactly the balance is fine.
    expect((await adjust(creator, credit(user.id, -1_000, 'Reverse a duplicate credit'))).status).toBe(201);
    expect(await balanceOf(t.database, user.id)).toBe(0);
  });

  test('the same Idempotency-Key twice gives the same adjustment; with another body it is refused', async () => {
    const user = await signUp(t, 'idempotent-user');
    const key = crypto.randomUUID();
    const first = await adjust(creator, credit(user.id, 700), key);
    const again = await adjust(creator, credit(user.id, 700), key);
    expect([first.status, again.status]).toEqual([201, 201]);
    expect(at(again.body, 'data', 'id')).toBe(at(first.body, 'data', 'id'));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await adjust(creator, credit(user.id, 800), key)).status).toBe(422);
    // Another admin's key is theirs: the same string makes their own adjustment.
    const other = await adjust(second, credit(user.id, 700), key);
    expect(other.status).toBe(201);
    expect(at(other.body, 'data', 'id')).not.toBe(at(first.body, 'data', 'id'));
    expect(await balanceOf(t.database, user.id)).toBe(1_400);
    expect((await t.database.primary.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.userId, user.id))).length).toBe(2);
    // Bad input is a 4xx before anything: zero, past the maximum, a fraction, no key.
    for (const amount of [0, t.config.money.maxAmount + 1, 1.5]) expect((await adjust(creator, credit(user.id, amount))).status).toBe(422);
    expect((await send(t, creator, 'POST', '/admin/ledger/adjustments', credit(user.id, 100))).status).toBe(400);
    expect((await adjust(creator, credit('no-such-user', 100))).status).toBe(404);
  });

  test('the key reused with another body after its stored answer is gone is 422, the same body still gives the adjustment', async () => {
    const user = await signUp(t, 'expired-key-user');
    const key = crypto.randomUUID();
    const first = await adjust(creator, credit(user.id, 700), key);
    expect(first.status).toBe(201);
    // The idempotency plugin's record expires after 24 h; deleting it is that day passing. Only the
    // adjustment's own (creator, request key) row answers from here on.
    const forgetKey = () => t.database.primary.delete(idempotencyKeys).where(and(eq(idempotencyKeys.userId, creator.id), eq(idempotencyKeys.key, key)));
    await forgetKey();
    const same = await adjust(creator, credit(user.id, 700), key);
    expect([same.status, at(same.body, 'data', 'id')]).toEqual([201, at(first.body, 'data', 'id')]);
    await forgetKey();
    const reused = await adjust(creator, credit(user.id, 80_00, 'Another correction entirely'), key);
    expect([reused.status, at(reused.body, 'error')]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    await forgetKey();
    const otherUser = await signUp(t, 'expired-key-other-user');
    const elsewhere = await adjust(creator, credit(otherUser.id, 700), key);
    expect([elsewhere.status, at(elsewhere.body, 'error')]).toEqual([422, 'IDEMPOTENCY_KEY_REUSED']);
    expect(await balanceOf(t.database, user.id)).toBe(700);
    expect(await balanceOf(t.database, otherUser.id)).toBe(0);
    expect((await t.database.primary.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.requestKey, key))).length).toBe(1);
  });

  test('an admin cannot adjust their own account: 403 OWN_ADJUSTMENT, nothing written, no audit row', async () => {
    const auditRows = async () => (await t.database.primary.select({ n: sql<number>`count(*)::int` }).from(auditLog).where(eq(auditLog.actorId, creator.id)))[0]?.n;
    const before = await auditRows();
    // At the threshold it would post at once; above it, it would wait: both refused.
    for (const amount of [100, THRESHOLD * 3]) {
      const own = await adjust(creator, credit(creator.id, amount, 'My payout went missing'));
      expect([amount, own.status, at(own.body, 'error')]).toEqual([amount, 403, 'OWN_ADJUSTMENT']);
    }
    expect(await balanceOf(t.database, creator.id)).toBe(0);
    expect(await t.database.primary.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.userId, creator.id))).toEqual([]);
    expect(await auditRows()).toBe(before);
    expect(await adjustedEvents(creator.id)).toEqual([]);
  });

  test('the person an adjustment is made out to cannot approve or reject it: 403 OWN_ADJUSTMENT; another admin can', async () => {
    // `third` is an admin and the target: `second` makes out a credit to them that needs approval.
    const created = await adjust(second, credit(third.id, THRESHOLD * 2, 'Refund of a double charge'));
    expect(created.status).toBe(201);
    const id = String(at(created.body, 'data', 'id'));
    expect(at(created.body, 'data', 'status')).toBe('pending_approval');
    for (const decision of ['approve', 'reject'] as const) {
      const own = await decide(third, id, decision);
      expect([decision, own.status, at(own.body, 'error')]).toEqual([decision, 403, 'OWN_ADJUSTMENT']);
    }
    expect(await balanceOf(t.database, third.id)).toBe(0);
    expect((await auditOf(id)).map((row) => row.action)).toEqual(['ledger.adjustment.create']);
    const approved = await decide(creator, id, 'approve');
    expect([approved.status, at(approved.body, 'data', 'decidedBy')]).toEqual([200, creator.id]);
    expect(await balanceOf(t.database, third.id)).toBe(THRESHOLD * 2);
  });

  test("splitting gains nothing: the threshold applies to one admin's adjustments for one user over 24 hours", async () => {
    const user = await signUp(t, 'split-credit-user');
    // Five credits of exactly the threshold ($100.00 each). The first brings the day's total for
    // (creator, user) to $100.00, at the threshold: it posts. Each later one would bring it to
    // $200, $300, $400, $500 (waiting ones count too): past the threshold, each waits for a second admin.
    const statuses: unknown[] = [];
    for (let credits = 0; credits < 5; credits += 1) {
      const created = await adjust(creator, credit(user.id, THRESHOLD, 'Goodwill credit, part of five'));
      expect(created.status).toBe(201);
      statuses.push(at(created.body, 'data', 'status'));
    }
    expect(statuses).toEqual(['posted', 'pending_approval', 'pending_approval', 'pending_approval', 'pending_approval']);
    expect(await balanceOf(t.database, user.id)).toBe(THRESHOLD);
    // A debit counts by its absolute value as well: it waits too.
    const debit = await adjust(creator, credit(user.id, -100, 'Reverse a cent-sized mistake'));
    expect(at(debit.body, 'data', 'status')).toBe('pending_approval');

    // At once, five on another user: one admin's adjustments for one user are taken one at a
    // time, so exactly one (whichever came first) posts and four wait.
    const racedUser = await signUp(t, 'raced-split-user');
    const raced = await Promise.all(Array.from({ length: 5 }, () => adjust(creator, credit(racedUser.id, THRESHOLD, 'Goodwill credit, at once'))));
    expect(raced.map((created) => created.status)).toEqual([201, 201, 201, 201, 201]);
    expect(raced.map((created) => at(created.body, 'data', 'status')).sort()).toEqual(['pending_approval', 'pending_approval', 'pending_approval', 'pending_approval', 'posted']);
    expect(await balanceOf(t.database, racedUser.id)).toBe(THRESHOLD);
    expect(await checkLedger(t.database.primary)).toEqual(cleanLedger);
  });

  test('moderators, users and anonymous callers are refused on every route', async () => {
    const user = await signUp(t, 'curious-user');
    const pending = await adjust(creator, credit(user.id, THRESHOLD * 2));
    const id = String(at(pending.body, 'data', 'id'));
    const routes: Array<[string, string, unknown?]> = [
      ['GET', '/admin/ledger/accounts/1'],
      ['GET', `/admin/ledger/users/${user.id}`],
      ['GET', `/admin/ledger/users/${user.id}/postings`],
      ['GET', '/admin/ledger/adjustments'],
      ['GET', `/admin/ledger/adjustments/${id}`],
      ['POST', '/admin/ledger/adjustments', credit(user.id, 100)],
      ['POST', `/admin/ledger/adjustments/${id}/approve`, { note: 'Looks right to me' }],
      ['POST', `/admin/ledger/adjustments/${id}/reject`, { note: 'Looks wrong to me' }],
      ['GET', '/admin/dead-letters'],
      ['POST', `/admin/dead-letters/${crypto.randomUUID()}/retry`, { reason: 'Try again' }],
      ['GET', '/admin/disputes'],
      ['GET', `/admin/disputes/${crypto.randomUUID()}`],
    ];
    for (const [method, path, body] of routes) {
      const headers = { 'idempotency-key': crypto.randomUUID() };
      expect([method, path, (await send(t, null, method, path, body, headers)).status]).toEqual([method, path, 401]);
      for (const caller of [moderator, user]) expect([method, path, (await send(t, caller, method, path, body, headers)).status]).toEqual([method, path, 403]);
    }
    const [row] = await t.database.primary.select().from(ledgerAdjustments).where(eq(ledgerAdjustments.id, id));
    expect(row?.status).toBe('pending_approval');
    expect(await balanceOf(t.database, user.id)).toBe(0);
  });

  /** The dead letter of `jobId` as GET /admin/dead-letters lists it, once it can be retried. */
  async function listedDeadLetter(jobId: string): Promise<unknown> {
    return waitFor(
      `the dead letter of job ${jobId}`,
      async () => {
        await t.settle();
        const listed = await send(t, second, 'GET', '/admin/dead-letters?limit=100');
        const found = items(at(listed.body, 'data')).find((item) => at(item, 'jobId') === jobId);
        return found !== undefined && at(found, 'retryable') === true ? found : null;
      },
      15_000,
      100,
    );
  }

  test('a job that failed for good is listed, and its retry runs it again once, audited', async () => {
    const runId = crypto.randomUUID();
    failing.add(runId);
    const jobId = await t.jobs.send(FLAKY_JOB, { runId });
    if (jobId === null) throw new Error('the flaky job was not sent');
    const letter = await listedDeadLetter(jobId);
    expect(letter).toMatchObject({ job: FLAKY_JOB, jobId, payload: { runId }, attempts: 1, webhookEvent: null });
    expect(String(at(letter, 'error', 'message'))).toContain('failed on purpose');
    expect(runs.filter((run) => run === runId).length).toBe(1);

    failing.delete(runId);
    const deadLetterId = String(at(letter, 'id'));
    const retried = await send(t, second, 'POST', `/admin/dead-letters/${deadLetterId}/retry`, { reason: 'The upstream outage is over' });
    expect(retried.status).toBe(200);
    const newJobId = String(at(retried.body, 'data', 'jobId'));
    expect(newJobId).not.toBe(jobId);
    expect((await t.jobs.waitForJob(FLAKY_JOB, newJobId)).state).toBe('completed');
    expect(runs.filter((run) => run === runId).length).toBe(2);

    const again = await send(t, third, 'POST', `/admin/dead-letters/${deadLetterId}/retry`, { reason: 'Once more' });
    expect([again.status, at(again.body, 'error')]).toEqual([409, 'DEAD_LETTER_ALREADY_RETRIED']);
    const audit = await auditOf(deadLetterId);
    expect(audit.map((row) => [row.action, row.actorId, row.targetType, row.reason])).toEqual([['dead_letter.retry', second.id, 'job', 'The upstream outage is over']]);
    expect(audit[0]?.after).toEqual({ job: FLAKY_JOB, jobId: newJobId });
    await t.settle();
    const listed = await send(t, second, 'GET', '/admin/dead-letters?limit=100');
    expect(items(at(listed.body, 'data')).map((item) => at(item, 'id'))).not.toContain(deadLetterId);
    expect((await send(t, second, 'POST', `/admin/dead-letters/${crypto.randomUUID()}/retry`, { reason: 'Unknown' })).status).toBe(404);
  });

  test("a webhook reconciliation's dead letter names its Stripe event; the list pages newest first", async () => {
    // The reconciliation gives up at once here (no retries), on an intent the local Stripe never made.
    await t.database.primary.execute(sql.raw(`update ${t.jobsSchema}.queue set retry_limit = 0 where name = '${RECONCILE_JOB}'`));
    const eventId = `evt_admin_money_${crypto.randomUUID().replaceAll('-', '')}`;
    const objectId = `pi_missing_${crypto.randomUUID().replaceAll('-', '')}`;
    await t.database.primary.insert(webhookEvents).values({
      id: eventId,
      type: 'payment_intent.succeeded',
      objectId,
      status: 'deferred',
      payload: JSON.parse(JSON.stringify({ id: eventId, object: 'event', type: 'payment_intent.succeeded', data: { object: { id: objectId, object: 'payment_intent' } } })),
    });
    const jobId = await t.jobs.send(RECONCILE_JOB, { eventId });
    if (jobId === null) throw new Error('the reconcile job was not sent');
    const letter = await listedDeadLetter(jobId);
    expect(letter).toMatchObject({ job: RECONCILE_JOB, payload: { eventId }, webhookEvent: { id: eventId, type: 'payment_intent.succeeded', objectId, status: 'deferred' } });

    // Another dead letter after it: newest first, one per page.
    const runId = crypto.randomUUID();
    failing.add(runId);
    const flakyId = await t.jobs.send(FLAKY_JOB, { runId });
    if (flakyId === null) throw new Error('the flaky job was not sent');
    await listedDeadLetter(flakyId);
    const first = await send(t, second, 'GET', '/admin/dead-letters?limit=1');
    expect(items(at(first.body, 'data')).map((item) => at(item, 'jobId'))).toEqual([flakyId]);
    const next = await send(t, second, 'GET', `/admin/dead-letters?limit=1&cursor=${String(at(first.body, 'pagination', 'nextCursor'))}`);
    expect(items(at(next.body, 'data')).map((item) => at(item, 'jobId'))).toEqual([jobId]);
  });

  test('disputes: the open ones listed, and the evidence with history, submission and the whole conversation', async () => {
    const poster = await signUp(t, 'disputing-poster');
    const hunter = await signUp(t, 'disputed-hunter');
    await onboard(t, hunter);
    const bountyId = await submittedBounty(t, poster, hunter);
    const conversationId = await conversationOf(t, hunter, bountyId);
    if (conversationId === null) throw new Error('no conversation');
    await said(t, hunter, conversationId, 'Pushed the fix, please have a look');
    const regretted = await said(t, poster, conversationId, 'This is useless, pay me back');
    expect((await send(t, poster, 'DELETE', `/messages/${regretted}`)).status).toBe(200);
    const disputed = await send(t, poster, 'POST', `/bounties/${bountyId}/dispute`, { reason: 'Totals scroll away on a phone', criteria: [2] });
    expect(disputed.status).toBe(200);
    await t.settle();

    const listed = await send(t, second, 'GET', '/admin/disputes?limit=100');
    expect(listed.status).toBe(200);
    const row = items(at(listed.body, 'data')).find((item) => at(item, 'bounty', 'id') === bountyId);
    expect(row).toMatchObject({
      bounty: { title: 'Fix the checkout page layout', state: 'disputed', reward: { amount: 5_000, currency: 'usd' } },
      poster: { id: poster.id },
      hunter: { id: hunter.id },
      openedBy: { id: poster.id, role: 'poster' },
      answered: false,
      escalated: false,
    });
    const notEscalated = await send(t, second, 'GET', '/admin/disputes?escalated=false&limit=100');
    expect(items(at(notEscalated.body, 'data')).map((item) => at(item, 'bounty', 'id'))).toContain(bountyId);
    const escalated = await send(t, second, 'GET', '/admin/disputes?escalated=true&limit=100');
    expect(items(at(escalated.body, 'data')).map((item) => at(item, 'bounty', 'id'))).not.toContain(bountyId);

    const evidence = await send(t, second, 'GET', `/admin/disputes/${bountyId}`);
    expect(evidence.status).toBe(200);
    const data = at(evidence.body, 'data');
    expect(at(data, 'bounty', 'allowedTransitions')).toContain('resolve');
    expect(items(at(data, 'disputes')).map((dispute) => [at(dispute, 'reason'), at(dispute, 'criteria')])).toEqual([['Totals scroll away on a phone', [2]]]);
    expect(items(at(data, 'history')).map((step) => at(step, 'action'))).toEqual(['publish', 'accept', 'submit', 'dispute']);
    expect(items(at(data, 'submissions')).map((item) => at(item, 'message'))).toEqual([submission.message]);
    const texts = items(at(data, 'conversation', 'messages')).filter((message) => at(message, 'kind') === 'text');
    expect(texts.map((message) => [at(message, 'body'), at(message, 'deleted')])).toEqual([
      ['Pushed the fix, please have a look', false],
      ['This is useless, pay me back', true],
    ]);
    expect(at(data, 'ruling')).toMatchObject({ open: true, action: `POST /bounties/${bountyId}/resolve`, outcomes: ['release', 'refund', 'split'] });

    const undisputed = await submittedBounty(t, poster, hunter);
    expect((await send(t, second, 'GET', `/admin/disputes/${undisputed}`)).status).toBe(404);
  });
});
