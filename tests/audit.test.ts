/**
 * The audit log (issue 12): one row per staff action, written in the action's own transaction,
 * carrying the request id of the request that acted; GET /admin/audit filters by actor, target,
 * action and time and pages newest first; and nothing can change the log, not even a statement
 * run straight on the primary.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { eq, sql } from 'drizzle-orm';
import { auditLog } from '../src/db';
import { createStaff, type TestAccount, signUp } from './support/accounts';
import { openBounty, send, submittedBounty } from './support/bounties';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items, readJson } from './support/json';
import { onboard, withCookie } from './support/money';

describe.skipIf(!hasCluster)('the audit log', () => {
  let t: TestApp;
  let admin: TestAccount;
  let otherAdmin: TestAccount;
  let poster: TestAccount;
  let hunter: TestAccount;

  beforeAll(async () => {
    t = await startTestApp();
    [admin, otherAdmin, poster, hunter] = await Promise.all([
      createStaff(t, 'admin', 'audit-admin'),
      createStaff(t, 'admin', 'audit-admin-2'),
      signUp(t, 'audit-poster'),
      signUp(t, 'audit-hunter'),
    ]);
    await onboard(t, hunter);
  });
  afterAll(() => t.close());

  const auditPage = async (account: TestAccount, query: string) => {
    const response = await t.request(`/admin/audit?${query}`, withCookie(account));
    expect(response.status).toBe(200);
    const body = await readJson(response);
    return { entries: items(at(body, 'data')), nextCursor: at(body, 'pagination', 'nextCursor') as string | null };
  };

  /** An admin cancels one of the poster's bounties: one audited action. Returns the bounty and the request id. */
  const cancelled = async (by: TestAccount, reason: string) => {
    const bountyId = await openBounty(t, poster);
    const response = await t.request(`/bounties/${bountyId}/admin-cancel`, withCookie(by, { method: 'POST', json: { reason } }));
    expect(response.status).toBe(200);
    return { bountyId, requestId: response.headers.get('x-request-id') };
  };

  test('an admin action writes exactly one row, with who, what, why, before and after, and the request id', async () => {
    const { bountyId, requestId } = await cancelled(admin, 'Spam listing: the same bounty posted 40 times');
    await t.settle();
    const { entries } = await auditPage(admin, `targetId=${bountyId}`);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      actorId: admin.id,
      actorRole: 'admin',
      action: 'bounty.admin_cancel',
      targetType: 'bounty',
      targetId: bountyId,
      reason: 'Spam listing: the same bounty posted 40 times',
      before: { state: 'open' },
      after: { state: 'cancelled', cancelReason: 'admin' },
      requestId,
    });
  });

  test('a refused action (a second cancel, 409) leaves no row', async () => {
    const bountyId = await openBounty(t, poster);
    // An admin cancelling a bounty twice: the second is refused (409) and must not be logged.
    expect((await send(t, admin, 'POST', `/bounties/${bountyId}/admin-cancel`, { reason: 'First' })).status).toBe(200);
    expect((await send(t, admin, 'POST', `/bounties/${bountyId}/admin-cancel`, { reason: 'Second' })).status).toBe(409);
    await t.settle();
    const { entries } = await auditPage(admin, `targetId=${bountyId}`);
    expect(entries.map((entry) => at(entry, 'reason'))).toEqual(['First']);
  });

  test('filters by actor, action, target and time, newest first, in pages that neither skip nor repeat', async () => {
    const before = new Date(Date.now() - 1_000).toISOString();
    const mine = [];
    for (let index = 0; index < 5; index += 1) mine.push(await cancelled(otherAdmin, `Cleanup ${index}`));
    await t.settle();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: unknown[]; nextCursor: string | null } = await auditPage(admin, `actorId=${otherAdmin.id}&action=bounty.admin_cancel&from=${encodeURIComponent(before)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(page.entries.length).toBeLessThanOrEqual(2);
      seen.push(...page.entries.map((entry) => String(at(entry, 'targetId'))));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(mine.map((entry) => entry.bountyId).reverse());
    // A window that ends before them holds none of them.
    const earlier = await auditPage(admin, `actorId=${otherAdmin.id}&to=${encodeURIComponent(before)}`);
    expect(earlier.entries).toHaveLength(0);
    // By target type and id.
    const one = await auditPage(admin, `targetType=bounty&targetId=${mine[2]?.bountyId}`);
    expect(one.entries.map((entry) => at(entry, 'reason'))).toEqual(['Cleanup 2']);
  });

  test('bad filters are 422, never a 500', async () => {
    for (const query of ['action=user.nothing', 'from=yesterday', 'cursor=not-ours', 'actorId=%00', 'targetType=' + 'x'.repeat(100)]) {
      const response = await t.request(`/admin/audit?${query}`, withCookie(admin));
      expect([query, response.status]).toEqual([query, 422]);
    }
  });

  test('nothing can change or remove an entry, not even a statement on the primary', async () => {
    const { bountyId } = await cancelled(admin, 'Evidence that must stay');
    const refusals: string[] = [];
    for (const statement of [
      sql`update ${auditLog} set reason = 'rewritten' where ${auditLog.targetId} = ${bountyId}`,
      sql`delete from ${auditLog} where ${auditLog.targetId} = ${bountyId}`,
      sql`truncate ${auditLog}`,
    ]) {
      try {
        await t.database.primary.execute(statement);
        refusals.push('allowed');
      } catch (error) {
        refusals.push(String((error as { cause?: { code?: string } }).cause?.code ?? (error as { code?: string }).code));
      }
    }
    expect(refusals).toEqual(['P0001', 'P0001', 'P0001']);
    const [row] = await t.database.primary.select().from(auditLog).where(eq(auditLog.targetId, bountyId));
    expect(row?.reason).toBe('Evidence that must stay');
  });

  test('regression (issue 12 review): a ruling with the longest reason allowed (5,000) is read back, not a 500', async () => {
    const bountyId = await submittedBounty(t, poster, hunter);
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/dispute`, { reason: 'Criterion 1 is not met.', criteria: [1] })).status).toBe(200);
    const reason = `${'The work meets criterion 1; the rest was never asked for. '.repeat(90).slice(0, 4_999)}.`;
    expect((await send(t, admin, 'POST', `/bounties/${bountyId}/resolve`, { outcome: 'release', reason })).status).toBe(200);
    await t.settle();
    const { entries } = await auditPage(admin, `targetId=${bountyId}`);
    expect(entries.map((entry) => String(at(entry, 'reason')).length)).toEqual([5_000]);
  });
});
