/**
 * Blocks through the API on the real primary + replica (issue 12 item 3): a person's block list
 * (add, again, remove, pages), and what a block does either way: the blocked person neither sees
 * nor applies to the blocker's bounties (404, absent from browse and search), neither reviews the
 * other, and neither messages the other. Staff are never hidden by a block; the hunter of a bounty
 * keeps it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { createStaff, signUp, type TestAccount } from './support/accounts';
import { apply, openBounty, send, type Sent, submittedBounty } from './support/bounties';
import { conversationOf, say } from './support/conversations';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { at, items } from './support/json';
import { onboard } from './support/money';

describe.skipIf(!hasCluster)('blocks', () => {
  let t: TestApp;
  let poster: TestAccount;
  let hunter: TestAccount;
  let admin: TestAccount;

  beforeAll(async () => {
    t = await startTestApp();
    [poster, hunter, admin] = await Promise.all([signUp(t, 'block-poster'), signUp(t, 'block-hunter', 'Hana Hunter'), createStaff(t, 'admin')]);
    await onboard(t, hunter);
  }, 60_000);
  afterAll(() => t.close());

  const code = (sent: Sent) => at(sent.body, 'error');
  const block = (blocker: TestAccount, userId: string) => send(t, blocker, 'POST', '/blocks', { userId });
  const unblock = (blocker: TestAccount, userId: string) => send(t, blocker, 'DELETE', `/blocks/${userId}`);
  async function blockList(account: TestAccount, limit = 100): Promise<Array<{ userId: unknown; name: unknown }>> {
    const found: Array<{ userId: unknown; name: unknown }> = [];
    let cursor: unknown = null;
    do {
      const listed = await send(t, account, 'GET', `/blocks?limit=${limit}${cursor ? `&cursor=${String(cursor)}` : ''}`);
      expect(listed.status).toBe(200);
      const rows = items(at(listed.body, 'data'));
      expect(rows.length).toBeLessThanOrEqual(limit);
      found.push(...rows.map((row) => ({ userId: at(row, 'userId'), name: at(row, 'name') })));
      cursor = at(listed.body, 'pagination', 'nextCursor');
    } while (cursor !== null);
    return found;
  }
  /** Anyone's browse for a word only this test's bounty carries. */
  async function browse(viewer: TestAccount | null, word: string): Promise<unknown[]> {
    await t.settle();
    const found: unknown[] = [];
    for (const path of [`/search/bounties?q=${word}`, `/bounties?q=${word}`]) {
      const listed = await send(t, viewer, 'GET', path);
      expect(listed.status).toBe(200);
      found.push(...items(at(listed.body, 'data')).map((row) => at(row, 'id')));
    }
    return found;
  }
  const uniqueWord = () => `quibbler${crypto.randomUUID().replaceAll(/[^a-f]/g, '').slice(0, 6)}`;

  test('the list: block (201), again (200, the same block), unblock (then 404), pages; yourself 422, no such user 404', async () => {
    const me = await signUp(t, 'block-lister');
    const others = await Promise.all([signUp(t, 'block-a', 'Ann'), signUp(t, 'block-b', 'Ben'), signUp(t, 'block-c', 'Cy')]);
    const first = await block(me, others[0]?.id ?? '');
    expect([first.status, at(first.body, 'data', 'userId'), at(first.body, 'data', 'name')]).toEqual([201, others[0]?.id, 'Ann']);
    const again = await block(me, others[0]?.id ?? '');
    expect([again.status, at(again.body, 'data', 'createdAt')]).toEqual([200, at(first.body, 'data', 'createdAt')]);
    for (const other of others.slice(1)) expect((await block(me, other.id)).status).toBe(201);

    const self = await block(me, me.id);
    expect([self.status, code(self)]).toEqual([422, 'CANNOT_BLOCK_SELF']);
    const nobody = await block(me, 'no_such_user_here');
    expect([nobody.status, code(nobody)]).toEqual([404, 'BLOCKED_USER_NOT_FOUND']);
    expect((await send(t, null, 'POST', '/blocks', { userId: others[0]?.id })).status).toBe(401);

    await t.settle();
    // Newest first: the order they were blocked in, reversed.
    const expected = others.map((other) => other.id).reverse();
    expect((await blockList(me, 2)).map((row) => row.userId)).toEqual(expected);
    expect((await blockList(others[0] as TestAccount)).length).toBe(0);
    expect((await send(t, me, 'GET', '/blocks?cursor=%21%21')).status).toBe(422);

    const lifted = await unblock(me, others[1]?.id ?? '');
    expect([lifted.status, at(lifted.body, 'data', 'blocked')]).toEqual([200, false]);
    const twice = await unblock(me, others[1]?.id ?? '');
    expect([twice.status, code(twice)]).toEqual([404, 'BLOCK_NOT_FOUND']);
    await t.settle();
    expect((await blockList(me)).map((row) => row.userId)).toEqual([others[2]?.id, others[0]?.id]);
  });

  test("a blocked person neither sees nor applies to the blocker's bounties (404, absent from browse); either way; staff still see them", async () => {
    const blocked = await signUp(t, 'block-blocked');
    const bystander = await signUp(t, 'block-bystander');
    const moderator = await createStaff(t, 'moderator');
    const word = uniqueWord();
    const bountyId = await openBounty(t, poster, { title: `Paint the ${word} fence` });
    expect(await browse(blocked, word)).toEqual([bountyId, bountyId]);

    expect((await block(poster, blocked.id)).status).toBe(201);
    expect((await block(poster, moderator.id)).status).toBe(201);
    await t.settle();
    const seen = await send(t, blocked, 'GET', `/bounties/${bountyId}`);
    expect([seen.status, code(seen)]).toEqual([404, 'BOUNTY_NOT_FOUND']);
    const applied = await send(t, blocked, 'POST', `/bounties/${bountyId}/requests`, { message: 'I would love to take this on today.' });
    expect([applied.status, code(applied)]).toEqual([404, 'BOUNTY_NOT_FOUND']);
    expect(await browse(blocked, word)).toEqual([]);
    // Nobody else loses it: anonymous readers, bystanders, staff (even one the poster blocked).
    expect(await browse(null, word)).toEqual([bountyId, bountyId]);
    expect(await browse(bystander, word)).toEqual([bountyId, bountyId]);
    expect(await browse(moderator, word)).toEqual([bountyId, bountyId]);
    expect((await send(t, moderator, 'GET', `/bounties/${bountyId}`)).status).toBe(200);
    expect((await send(t, admin, 'GET', `/bounties/${bountyId}`)).status).toBe(200);

    // The other way round: whoever blocks a poster stops seeing that poster's bounties too.
    const other = await signUp(t, 'block-blocker');
    expect((await block(other, poster.id)).status).toBe(201);
    await t.settle();
    expect((await send(t, other, 'GET', `/bounties/${bountyId}`)).status).toBe(404);
    expect(await browse(other, word)).toEqual([]);

    // Unblocked, it is back.
    expect((await unblock(poster, blocked.id)).status).toBe(200);
    await t.settle();
    expect((await send(t, blocked, 'GET', `/bounties/${bountyId}`)).status).toBe(200);
    expect(await browse(blocked, word)).toEqual([bountyId, bountyId]);
  });

  test('messaging is refused both ways once either blocked the other', async () => {
    const applicant = await signUp(t, 'block-chatter');
    const bountyId = await openBounty(t, poster);
    await apply(t, applicant, bountyId);
    const conversationId = await conversationOf(t, applicant, bountyId);
    if (!conversationId) throw new Error('no conversation');
    expect((await say(t, applicant, conversationId, 'Hello before the block')).status).toBe(201);

    expect((await block(applicant, poster.id)).status).toBe(201);
    for (const [from, label] of [[applicant, 'the blocker'], [poster, 'the blocked']] as const) {
      const sent = await say(t, from, conversationId, 'Are you there?');
      expect([label, sent.status, code(sent)]).toEqual([label, 403, 'USER_BLOCKED']);
    }
    expect((await unblock(applicant, poster.id)).status).toBe(200);
    expect((await say(t, poster, conversationId, 'Back in touch')).status).toBe(201);
  });

  test("neither reviews the other once either blocked; the hunter still sees the bounty they worked on", async () => {
    const worker = await signUp(t, 'block-worker');
    await onboard(t, worker);
    const bountyId = await submittedBounty(t, poster, worker);
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/approve`)).status).toBe(200);
    expect((await block(poster, worker.id)).status).toBe(201);

    for (const [reviewer, label] of [[worker, 'the blocked'], [poster, 'the blocker']] as const) {
      const sent = await send(t, reviewer, 'POST', `/bounties/${bountyId}/reviews`, { rating: 1, text: 'Would not work with them again.' });
      expect([label, sent.status, code(sent)]).toEqual([label, 403, 'USER_BLOCKED']);
    }
    expect((await send(t, worker, 'GET', `/bounties/${bountyId}`)).status).toBe(200);

    expect((await unblock(poster, worker.id)).status).toBe(200);
    expect((await send(t, worker, 'POST', `/bounties/${bountyId}/reviews`, { rating: 4, text: 'Clear brief, paid on time.' })).status).toBe(201);
  });
});
