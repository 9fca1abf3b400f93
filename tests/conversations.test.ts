/**
 * Conversations through the API on the real primary + replica (issue 11 items 1 and 8): the thread
 * exists as soon as a hunter applies; sends are idempotent by clientMessageId under retries and
 * concurrent duplicates; message pages neither skip nor repeat while messages arrive; unread counts
 * and read receipts across two devices; the edit window on a moved clock; soft delete as members
 * and admins see it; strangers get 404; blocked pairs and rejected hunters cannot write; bounty
 * transitions post system messages, to every live applicant too, and are read for whoever made
 * them; an admin joins only a disputed conversation.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { and, eq, sql } from 'drizzle-orm';
import { bountyRequests, conversationMembers, conversations, messages, outboxEvents, unreadReminders, userBlocks } from '../src/db';
import { createAdmin, logIn, signUp, type TestAccount } from './support/accounts';
import { apply, bountyInProgress, openBounty, send, submittedBounty } from './support/bounties';
import { conversationOf, idsOf, messageItems, messagesOf, said, say, stateChangesOf, streamOf, systemMessagesOf, unreadEverywhere } from './support/conversations';
import { hasCluster, startTestApp, type TestApp, testClock } from './support/harness';
import { at, items } from './support/json';
import { onboard } from './support/money';
import { createLogger } from '../src/lib/logger';
import { TRANSITION_NAMES } from '../src/modules/bounties/lifecycle';
import { fireDueTimers } from '../src/modules/bounties/timers';
import { TRANSITION_SENTENCES } from '../src/modules/conversations/announce';

const MISSING = '00000000-0000-4000-8000-000000000000';
const EDIT_WINDOW_MIN = 15;
const REMINDER_MIN = 30;
const HOUR_MS = 3_600_000;

describe.skipIf(!hasCluster)('conversations', () => {
  const clock = testClock();
  let t: TestApp;
  let poster: TestAccount;
  let hunter: TestAccount;
  let stranger: TestAccount;
  let admin: TestAccount;

  beforeAll(async () => {
    t = await startTestApp({ MESSAGE_EDIT_WINDOW_MIN: String(EDIT_WINDOW_MIN), UNREAD_REMINDER_MIN: String(REMINDER_MIN) }, { clock: clock.now });
    [poster, hunter, stranger, admin] = await Promise.all([signUp(t, 'poster', 'Pat Poster'), signUp(t, 'hunter', 'Hana Hunter'), signUp(t, 'stranger'), createAdmin(t)]);
    await onboard(t, hunter);
  }, 60_000);
  afterAll(() => t.close());

  /** A fresh open bounty of the poster's that the hunter applied to, and its conversation. */
  async function thread(applicant: TestAccount = hunter): Promise<{ bountyId: string; requestId: string; conversationId: string }> {
    const bountyId = await openBounty(t, poster);
    const requestId = await apply(t, applicant, bountyId);
    const conversationId = await conversationOf(t, applicant, bountyId);
    if (!conversationId) throw new Error('no conversation after apply');
    return { bountyId, requestId, conversationId };
  }

  const code = (body: unknown) => at(body, 'error');

  test('the conversation exists right after apply, with both members; a re-application reuses it', async () => {
    const { bountyId, requestId, conversationId } = await thread();
    const seen = await send(t, hunter, 'GET', `/conversations/${conversationId}`);
    expect(seen.status).toBe(200);
    expect(at(seen.body, 'data')).toMatchObject({ bounty: { id: bountyId, title: 'Fix the checkout page layout', state: 'open' }, myRole: 'hunter', readOnly: false, lastMessage: null, unreadCount: 0 });
    const members = items(at(seen.body, 'data', 'members')).map((member) => [at(member, 'userId'), at(member, 'role'), at(member, 'name')]);
    expect(members).toEqual([[poster.id, 'poster', 'Pat Poster'], [hunter.id, 'hunter', 'Hana Hunter']]);
    await t.settle();
    expect(await conversationOf(t, poster, bountyId)).toBe(conversationId);

    // Withdrawn: read-only; applying again reopens the same thread.
    expect((await send(t, hunter, 'POST', `/requests/${requestId}/withdraw`)).status).toBe(200);
    expect(code((await say(t, hunter, conversationId, 'Still there?')).body)).toBe('CONVERSATION_CLOSED');
    await apply(t, hunter, bountyId);
    expect(await conversationOf(t, hunter, bountyId)).toBe(conversationId);
    expect((await say(t, hunter, conversationId, 'Back again')).status).toBe(201);
    const rows = await t.database.primary.select().from(conversations).where(and(eq(conversations.bountyId, bountyId), eq(conversations.hunterId, hunter.id)));
    expect(rows).toHaveLength(1);
  });

  test('the backfill (drizzle/0009) gives a request of the previous release its conversation, and is idempotent', async () => {
    const bountyId = await openBounty(t, poster);
    // A request as the previous release stored it: no conversation.
    await t.database.primary.insert(bountyRequests).values({ bountyId, hunterId: stranger.id, message: 'From before chat existed', status: 'pending', createdAt: clock.now(), updatedAt: clock.now() });
    const statements = readFileSync(new URL('../drizzle/0009_conversations_backfill.sql', import.meta.url), 'utf8').split('--> statement-breakpoint');
    for (let run = 0; run < 2; run += 1) for (const statement of statements) await t.database.primary.execute(sql.raw(statement));
    const rows = await t.database.primary.select().from(conversations).where(eq(conversations.bountyId, bountyId));
    expect(rows.map((row) => [row.posterId, row.hunterId])).toEqual([[poster.id, stranger.id]]);
    const members = await t.database.primary.select().from(conversationMembers).where(eq(conversationMembers.conversationId, rows[0]?.id ?? MISSING));
    expect(members.map((member) => [member.userId, member.role]).sort()).toEqual([[poster.id, 'poster'], [stranger.id, 'hunter']].sort());
    expect((await say(t, stranger, rows[0]?.id ?? MISSING, 'Hello from the old request')).status).toBe(201);
  });

  test('a retried send returns the first message (200), never a second, sequentially and concurrently', async () => {
    const { conversationId } = await thread();
    const clientMessageId = crypto.randomUUID();
    const first = await say(t, hunter, conversationId, 'Hello, when can I start?', clientMessageId);
    expect(first.status).toBe(201);
    const retry = await say(t, hunter, conversationId, 'Hello, when can I start? (retry)', clientMessageId);
    expect(retry.status).toBe(200);
    expect(at(retry.body, 'data')).toEqual(at(first.body, 'data'));

    const racing = crypto.randomUUID();
    const answers = await Promise.all(Array.from({ length: 6 }, () => say(t, poster, conversationId, 'Tomorrow works', racing)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    expect(new Set(answers.map((answer) => at(answer.body, 'data', 'id'))).size).toBe(1);

    const stored = await t.database.primary.select().from(messages).where(eq(messages.conversationId, conversationId));
    expect(stored.map((message) => message.body)).toEqual(['Hello, when can I start?', 'Tomorrow works']);
    // The same id from another sender is another message.
    expect((await say(t, poster, conversationId, 'Separate', clientMessageId)).status).toBe(201);
  });

  test('pages by before / after / around neither skip nor repeat while messages arrive', async () => {
    const { conversationId } = await thread();
    for (let n = 1; n <= 12; n += 1) await said(t, n % 2 ? hunter : poster, conversationId, `message ${n}`);
    const newest = await messagesOf(t, hunter, conversationId, '?limit=5');
    expect(messageItems(newest.body).map((message) => message.body)).toEqual(['message 8', 'message 9', 'message 10', 'message 11', 'message 12']);
    expect(at(newest.body, 'pagination', 'nextAfter')).toBeNull();

    // Walk back while the poster keeps writing: every page older, none overlapping.
    const seen: number[] = [...idsOf(newest.body)];
    let before = Number(at(newest.body, 'pagination', 'nextBefore'));
    for (let guard = 0; Number.isFinite(before) && before > 0; guard += 1) {
      if (guard > 20) throw new Error('paging back never ended');
      await said(t, poster, conversationId, `interleaved ${seen.length}`);
      const older = await messagesOf(t, hunter, conversationId, `?limit=5&before=${before}`);
      expect(older.status).toBe(200);
      seen.unshift(...idsOf(older.body));
      const next = at(older.body, 'pagination', 'nextBefore');
      before = next === null ? 0 : Number(next);
    }
    // Then forward from the newest page's end: exactly what arrived since, in order (the poster's
    // writes, read by the hunter from the replica once it caught up: without it this flaked).
    await t.settle();
    let after = Math.max(...idsOf(newest.body));
    const arrived: number[] = [];
    for (let guard = 0; ; guard += 1) {
      if (guard > 20) throw new Error('paging forward never ended');
      const newer = await messagesOf(t, hunter, conversationId, `?limit=2&after=${after}`);
      expect(newer.status).toBe(200);
      arrived.push(...idsOf(newer.body));
      if (at(newer.body, 'pagination', 'nextAfter') === null) break;
      after = Number(at(newer.body, 'pagination', 'nextAfter'));
    }
    const all = (await t.database.primary.select({ id: messages.id }).from(messages).where(eq(messages.conversationId, conversationId))).map((row) => row.id).sort((a, b) => a - b);
    expect([...seen, ...arrived]).toEqual(all);

    // Around a message: itself, what led to it and what followed, oldest first.
    const middle = all[6] ?? 0;
    const around = await messagesOf(t, hunter, conversationId, `?limit=4&around=${middle}`);
    expect(idsOf(around.body)).toEqual(all.slice(5, 9));
    expect(at(around.body, 'pagination')).toEqual({ nextBefore: all[5], nextAfter: all[8] });
    // One anchor at most.
    expect((await messagesOf(t, hunter, conversationId, `?before=${middle}&after=${middle}`)).status).toBe(422);
  });

  test('concurrent senders and a reader polling `after` see every message exactly once, in order', async () => {
    const { conversationId } = await thread();
    const polled: number[] = [];
    let after = 0;
    let writing = true;
    let polls = 0;
    const poll = async () => {
      polls += 1;
      if (polls > 5_000) throw new Error('the reader never caught up');
      const page = await messagesOf(t, hunter, conversationId, `?limit=100&after=${after}`);
      if (page.status !== 200) throw new Error(`poll: ${page.status} ${JSON.stringify(page.body)}`);
      const ids = idsOf(page.body);
      polled.push(...ids);
      after = ids.at(-1) ?? after;
    };
    const reader = (async () => {
      while (writing) await poll();
    })();
    try {
      await Promise.all(
        Array.from({ length: 4 }, async (_, sender) => {
          for (let n = 0; n < 8; n += 1) await said(t, sender % 2 ? poster : hunter, conversationId, `burst ${sender}.${n}`);
        }),
      );
    } finally {
      writing = false;
      await reader;
    }
    await poll();
    const all = (await t.database.primary.select({ id: messages.id }).from(messages).where(eq(messages.conversationId, conversationId))).map((row) => row.id).sort((a, b) => a - b);
    expect(all).toHaveLength(32);
    expect(polled).toEqual(all);
  }, 30_000);

  test('unread counts and read receipts across two devices; a read to the end drops the reminder', async () => {
    const { conversationId } = await thread();
    const phone: TestAccount = { ...hunter, jar: await logIn(t, hunter) };
    const ids = [await said(t, poster, conversationId, 'one'), await said(t, poster, conversationId, 'two'), await said(t, poster, conversationId, 'three')];
    await said(t, hunter, conversationId, 'mine does not count');
    await t.settle();

    const unread = await send(t, phone, 'GET', '/conversations/unread');
    expect(at(unread.body, 'data', 'conversations')).toContainEqual({ conversationId, unreadCount: 3 });
    const [reminder] = await t.database.primary.select().from(unreadReminders).where(and(eq(unreadReminders.conversationId, conversationId), eq(unreadReminders.userId, hunter.id)));
    expect(reminder?.dueAt.getTime()).toBeGreaterThan(clock.now().getTime() + (REMINDER_MIN - 1) * 60_000);

    // The phone reads up to "two"; the laptop sees one left, the poster sees the receipt.
    const read = await send(t, phone, 'POST', `/conversations/${conversationId}/read`, { lastReadMessageId: ids[1] });
    expect(at(read.body, 'data')).toEqual({ conversationId, lastReadMessageId: ids[1], unreadCount: 1 });
    await t.settle();
    const laptop = await send(t, hunter, 'GET', `/conversations/${conversationId}`);
    expect(at(laptop.body, 'data', 'unreadCount')).toBe(1);
    const posterView = await send(t, poster, 'GET', `/conversations/${conversationId}`);
    const receipt = items(at(posterView.body, 'data', 'members')).find((member) => at(member, 'userId') === hunter.id);
    expect(at(receipt, 'lastReadMessageId')).toBe(ids[1]);
    const receipts = await streamOf(t, poster.id, 'conversation.read');
    expect(receipts.map((event) => event.data)).toContainEqual({ conversationId, userId: hunter.id, lastReadMessageId: ids[1] });
    // The hunter's other device hears of it too.
    expect((await streamOf(t, hunter.id, 'conversation.read')).map((event) => event.data)).toContainEqual({ conversationId, userId: hunter.id, lastReadMessageId: ids[1] });

    // Never backwards; a message of another conversation is refused.
    const back = await send(t, hunter, 'POST', `/conversations/${conversationId}/read`, { lastReadMessageId: ids[0] });
    expect(at(back.body, 'data')).toEqual({ conversationId, lastReadMessageId: ids[1], unreadCount: 1 });
    const elsewhere = await thread();
    const foreign = await said(t, hunter, elsewhere.conversationId, 'other thread');
    expect(code((await send(t, hunter, 'POST', `/conversations/${conversationId}/read`, { lastReadMessageId: foreign })).body)).toBe('UNKNOWN_MESSAGE');

    const done = await send(t, hunter, 'POST', `/conversations/${conversationId}/read`, { lastReadMessageId: ids[2] });
    expect(at(done.body, 'data', 'unreadCount')).toBe(0);
    expect(await t.database.primary.select().from(unreadReminders).where(and(eq(unreadReminders.conversationId, conversationId), eq(unreadReminders.userId, hunter.id)))).toEqual([]);
  });

  test('a send tells every member (the sender\'s other devices too) and the outbox tells the others', async () => {
    const { conversationId } = await thread();
    const id = await said(t, hunter, conversationId, `Here is my plan: ${'x'.repeat(200)}`);
    for (const userId of [poster.id, hunter.id]) {
      const created = (await streamOf(t, userId, 'message.created')).filter((event) => at(event.data, 'message', 'id') === id);
      expect(created).toHaveLength(1);
    }
    const [outbox] = await t.database.primary.select().from(outboxEvents).where(and(eq(outboxEvents.topic, 'message.created'), eq(outboxEvents.subjectId, conversationId)));
    expect(outbox).toMatchObject({ recipientId: poster.id, subjectType: 'conversation', payload: { messageId: id, senderId: hunter.id } });
    expect(String(at(outbox?.payload, 'preview'))).toHaveLength(140);
  });

  test('an edit within the window keeps the history; after it, refused', async () => {
    const { conversationId } = await thread();
    const id = await said(t, hunter, conversationId, 'I can start Monday');
    const other = await said(t, poster, conversationId, 'Great');
    clock.advance((EDIT_WINDOW_MIN - 1) * 60_000);
    const edited = await send(t, hunter, 'PATCH', `/messages/${id}`, { text: 'I can start Tuesday' });
    expect(edited.status).toBe(200);
    expect(at(edited.body, 'data', 'body')).toBe('I can start Tuesday');
    expect(at(edited.body, 'data', 'editedAt')).not.toBeNull();
    expect((await streamOf(t, poster.id, 'message.edited')).some((event) => at(event.data, 'message', 'id') === id)).toBe(true);

    await t.settle();
    const asAdmin = messageItems((await messagesOf(t, admin, conversationId)).body).find((message) => message.id === id);
    expect(at(asAdmin, 'edits', 0, 'body')).toBe('I can start Monday');
    const asPoster = messageItems((await messagesOf(t, poster, conversationId)).body).find((message) => message.id === id);
    expect(asPoster?.body).toBe('I can start Tuesday');
    expect(asPoster?.edits).toBeUndefined();

    expect(code((await send(t, hunter, 'PATCH', `/messages/${other}`, { text: 'Not mine' })).body)).toBe('NOT_YOUR_MESSAGE');
    expect(code((await send(t, stranger, 'PATCH', `/messages/${id}`, { text: 'Hi' })).body)).toBe('MESSAGE_NOT_FOUND');

    clock.advance(2 * 60_000);
    const late = await send(t, hunter, 'PATCH', `/messages/${id}`, { text: 'Wednesday then' });
    expect([late.status, code(late.body)]).toEqual([409, 'EDIT_WINDOW_CLOSED']);
  });

  test('a deleted message: members see no text, an admin sees it', async () => {
    const { conversationId } = await thread();
    const id = await said(t, hunter, conversationId, 'My phone number is 555-0100');
    expect((await send(t, poster, 'DELETE', `/messages/${id}`)).status).toBe(403);
    expect((await send(t, stranger, 'DELETE', `/messages/${id}`)).status).toBe(404);
    const deleted = await send(t, hunter, 'DELETE', `/messages/${id}`);
    expect(at(deleted.body, 'data')).toMatchObject({ id, body: null, deleted: true });
    expect((await send(t, hunter, 'DELETE', `/messages/${id}`)).status).toBe(200);
    expect(code((await send(t, hunter, 'PATCH', `/messages/${id}`, { text: 'edit after delete' })).body)).toBe('MESSAGE_DELETED');

    await t.settle();
    const asPoster = messageItems((await messagesOf(t, poster, conversationId)).body).find((message) => message.id === id);
    expect(asPoster).toMatchObject({ body: null, deleted: true });
    const asAdmin = messageItems((await messagesOf(t, admin, conversationId)).body).find((message) => message.id === id);
    expect(asAdmin).toMatchObject({ body: 'My phone number is 555-0100', deleted: true });
    expect((await streamOf(t, poster.id, 'message.deleted')).some((event) => at(event.data, 'message', 'body') === null && at(event.data, 'message', 'id') === id)).toBe(true);
    // The row is still there.
    const [row] = await t.database.primary.select().from(messages).where(eq(messages.id, id));
    expect(row?.body).toBe('My phone number is 555-0100');
  });

  test('a stranger gets 404 for every conversation and message; an admin reads but does not write without joining', async () => {
    const { bountyId, conversationId } = await thread();
    const id = await said(t, hunter, conversationId, 'Private');
    await t.settle();
    const attempts = [
      await send(t, stranger, 'GET', `/conversations/${conversationId}`),
      await send(t, stranger, 'GET', `/conversations/${conversationId}/messages`),
      await send(t, stranger, 'POST', `/conversations/${conversationId}/messages`, { text: 'hi', clientMessageId: 'x1' }),
      await send(t, stranger, 'POST', `/conversations/${conversationId}/read`, { lastReadMessageId: id }),
      await send(t, stranger, 'PATCH', `/messages/${id}`, { text: 'hi' }),
      await send(t, stranger, 'DELETE', `/messages/${id}`),
      await send(t, hunter, 'GET', `/conversations/${MISSING}`),
      await send(t, hunter, 'DELETE', `/messages/999999999999`),
    ];
    expect(attempts.map((attempt) => attempt.status)).toEqual([404, 404, 404, 404, 404, 404, 404, 404]);
    expect(await conversationOf(t, stranger, bountyId)).toBeNull();
    expect((await send(t, null, 'GET', `/conversations/${conversationId}`)).status).toBe(401);

    const read = await send(t, admin, 'GET', `/conversations/${conversationId}`);
    expect([read.status, at(read.body, 'data', 'myRole')]).toEqual([200, null]);
    expect(code((await say(t, admin, conversationId, 'Moderator here')).body)).toBe('NOT_A_MEMBER');
  });

  test('a blocked pair cannot message each other, either way', async () => {
    const { conversationId } = await thread();
    expect((await say(t, hunter, conversationId, 'Before the block')).status).toBe(201);
    await t.database.primary.insert(userBlocks).values({ blockerId: poster.id, blockedId: hunter.id, createdAt: clock.now() });
    const fromHunter = await say(t, hunter, conversationId, 'Hello?');
    expect([fromHunter.status, code(fromHunter.body)]).toEqual([403, 'USER_BLOCKED']);
    expect(code((await say(t, poster, conversationId, 'Go away')).body)).toBe('USER_BLOCKED');
    await t.database.primary.delete(userBlocks).where(and(eq(userBlocks.blockerId, poster.id), eq(userBlocks.blockedId, hunter.id)));
    expect((await say(t, hunter, conversationId, 'Unblocked')).status).toBe(201);
  });

  test("a rejected hunter's thread stays readable but read-only", async () => {
    const { requestId, conversationId } = await thread();
    await said(t, hunter, conversationId, 'Pick me');
    expect((await send(t, poster, 'POST', `/requests/${requestId}/reject`)).status).toBe(200);
    const hunterSays = await say(t, hunter, conversationId, 'Why not?');
    expect([hunterSays.status, code(hunterSays.body)]).toEqual([409, 'CONVERSATION_CLOSED']);
    expect(code((await say(t, poster, conversationId, 'Sorry')).body)).toBe('CONVERSATION_CLOSED');
    await t.settle();
    const seen = await send(t, hunter, 'GET', `/conversations/${conversationId}`);
    expect(at(seen.body, 'data', 'readOnly')).toBe(true);
    expect(messageItems((await messagesOf(t, hunter, conversationId)).body).map((message) => message.body)).toEqual(['Pick me']);
  });

  test('accept, submit and approve post system messages and state changes to both sides', async () => {
    const bountyId = await submittedBounty(t, poster, hunter);
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/approve`)).status).toBe(200);
    const conversationId = await conversationOf(t, hunter, bountyId);
    if (!conversationId) throw new Error('no conversation');
    await t.settle();
    const system = messageItems((await messagesOf(t, hunter, conversationId)).body).filter((message) => message.kind === 'system');
    expect(system.map((message) => [message.systemEvent, message.body, message.senderId])).toEqual([
      ['bounty.accept', 'The poster accepted the request', null],
      ['bounty.submit', 'Work submitted', null],
      ['bounty.approve', 'Approved: the reward was released', null],
    ]);
    const changesOf = async (userId: string) =>
      (await streamOf(t, userId, 'bounty.state_changed')).filter((event) => at(event.data, 'bountyId') === bountyId).map((event) => [at(event.data, 'action'), at(event.data, 'to')]);
    const worked = [['accept', 'in_progress'], ['submit', 'submitted'], ['approve', 'completed']];
    expect(await changesOf(poster.id)).toEqual([['publish', 'open'], ...worked]);
    expect(await changesOf(hunter.id)).toEqual(worked);
  });

  test('every lifecycle transition has its sentence in chat', () => {
    expect(TRANSITION_NAMES.filter((name) => !TRANSITION_SENTENCES[name])).toEqual([]);
  });

  test('an admin joins only a disputed conversation, shown as admin, and may then write', async () => {
    const bountyId = await bountyInProgress(t, poster, hunter);
    const conversationId = await conversationOf(t, hunter, bountyId);
    if (!conversationId) throw new Error('no conversation');
    const early = await send(t, admin, 'POST', `/conversations/${conversationId}/join`);
    expect([early.status, code(early.body)]).toEqual([409, 'NOT_DISPUTED']);
    expect((await send(t, poster, 'POST', `/conversations/${conversationId}/join`)).status).toBe(403);

    expect((await send(t, hunter, 'POST', `/bounties/${bountyId}/submit`, { message: 'Done', links: ['https://example.com/pr/1'] })).status).toBe(200);
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/dispute`, { reason: 'Criterion 1 is not met', criteria: [1] })).status).toBe(200);
    const joined = await send(t, admin, 'POST', `/conversations/${conversationId}/join`);
    expect(joined.status).toBe(200);
    expect(at(joined.body, 'data', 'myRole')).toBe('admin');
    expect(items(at(joined.body, 'data', 'members')).map((member) => at(member, 'role'))).toEqual(['poster', 'hunter', 'admin']);
    expect((await send(t, admin, 'POST', `/conversations/${conversationId}/join`, { note: 'Ignored: already a member' })).status).toBe(200);
    expect((await say(t, admin, conversationId, 'Please both share your evidence')).status).toBe(201);

    await t.settle();
    const system = messageItems((await messagesOf(t, poster, conversationId)).body).filter((message) => message.systemEvent === 'conversation.admin_joined');
    expect(system).toHaveLength(1);
    expect((await streamOf(t, hunter.id, 'conversation.member_joined')).map((event) => event.data)).toContainEqual({ conversationId, member: { userId: admin.id, role: 'admin' } });
  });

  /** `account`'s conversation about `bountyId` (read after the replica caught up). */
  async function threadOf(account: TestAccount, bountyId: string): Promise<string> {
    await t.settle();
    const id = await conversationOf(t, account, bountyId);
    if (!id) throw new Error(`no conversation of ${account.name} about ${bountyId}`);
    return id;
  }

  const unread = (n: number) => ({ list: n, detail: n, summary: n });

  test('regression (applicants left unaware of an accept): each other live applicant is told another hunter was picked; closed requests are not', async () => {
    const [rival, quitter, refused] = await Promise.all([signUp(t, 'rival'), signUp(t, 'quitter'), signUp(t, 'refused')]);
    const bountyId = await openBounty(t, poster);
    const requestId = await apply(t, hunter, bountyId);
    await apply(t, rival, bountyId);
    const quitterRequest = await apply(t, quitter, bountyId);
    const refusedRequest = await apply(t, refused, bountyId);
    expect((await send(t, quitter, 'POST', `/requests/${quitterRequest}/withdraw`)).status).toBe(200);
    expect((await send(t, poster, 'POST', `/requests/${refusedRequest}/reject`)).status).toBe(200);
    expect((await send(t, poster, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);

    expect(await systemMessagesOf(t, hunter, await threadOf(hunter, bountyId))).toEqual([['bounty.accept', 'The poster accepted the request']]);
    const rivalThread = await threadOf(rival, bountyId);
    expect(await systemMessagesOf(t, rival, rivalThread)).toEqual([['request.filled', 'Another hunter was picked: this thread is now read-only']]);
    expect(at((await send(t, rival, 'GET', `/conversations/${rivalThread}`)).body, 'data', 'readOnly')).toBe(true);
    // Requests closed before the accept: their threads hear nothing of it.
    for (const account of [quitter, refused]) expect(await systemMessagesOf(t, account, await threadOf(account, bountyId))).toEqual([]);

    // One state change each, the poster's not repeated per thread; none for the closed requests.
    const accepts = async (account: TestAccount) => (await stateChangesOf(t, account.id, bountyId)).filter((action) => action === 'accept');
    for (const account of [poster, hunter, rival]) expect(await accepts(account)).toEqual(['accept']);
    for (const account of [quitter, refused]) expect(await accepts(account)).toEqual([]);
    // News to the rival; the poster made it.
    expect(await unreadEverywhere(t, rival, rivalThread)).toEqual(unread(1));
    expect(await unreadEverywhere(t, poster, rivalThread)).toEqual(unread(0));
  });

  test('regression (applicants left unaware of a cancel): cancelling an open bounty tells each live applicant; unread text holds the poster\'s read mark back', async () => {
    const [rival, quitter] = await Promise.all([signUp(t, 'rival'), signUp(t, 'quitter')]);
    const bountyId = await openBounty(t, poster);
    await apply(t, hunter, bountyId);
    await apply(t, rival, bountyId);
    const quitterRequest = await apply(t, quitter, bountyId);
    expect((await send(t, quitter, 'POST', `/requests/${quitterRequest}/withdraw`)).status).toBe(200);
    const [hunterThread, rivalThread, quitterThread] = [await threadOf(hunter, bountyId), await threadOf(rival, bountyId), await threadOf(quitter, bountyId)];
    await said(t, rival, rivalThread, 'Any news?');
    expect((await send(t, poster, 'POST', `/bounties/${bountyId}/cancel`)).status).toBe(200);

    const cancelled = [['bounty.cancel', 'The poster cancelled the bounty']];
    expect(await systemMessagesOf(t, hunter, hunterThread)).toEqual(cancelled);
    expect(await systemMessagesOf(t, rival, rivalThread)).toEqual(cancelled);
    expect(await systemMessagesOf(t, quitter, quitterThread)).toEqual([]);
    for (const account of [poster, hunter, rival]) expect((await stateChangesOf(t, account.id, bountyId)).filter((action) => action === 'cancel')).toEqual(['cancel']);
    expect(await stateChangesOf(t, quitter.id, bountyId)).toEqual([]);

    expect(await unreadEverywhere(t, hunter, hunterThread)).toEqual(unread(1));
    expect(await unreadEverywhere(t, rival, rivalThread)).toEqual(unread(1));
    // The poster's own cancel is read where nothing waited; where "Any news?" is unread the mark
    // stays (moving it would hide the rival's message), so both count.
    expect(await unreadEverywhere(t, poster, hunterThread)).toEqual(unread(0));
    expect(await unreadEverywhere(t, poster, rivalThread)).toEqual(unread(2));
  });

  test("regression (own action counted unread): the actor's system message is read for them, news to the other side; list, conversation and /unread agree", async () => {
    const owner = await signUp(t, 'own-poster');
    const bountyId = await openBounty(t, owner);
    const requestId = await apply(t, hunter, bountyId);
    expect((await send(t, owner, 'POST', `/requests/${requestId}/accept`)).status).toBe(200);
    const conversationId = await threadOf(owner, bountyId);
    expect(at((await send(t, owner, 'GET', '/conversations/unread')).body, 'data')).toEqual({ total: 0, conversations: [] });
    expect(await unreadEverywhere(t, owner, conversationId)).toEqual(unread(0));
    expect(await unreadEverywhere(t, hunter, conversationId)).toEqual(unread(1));
    // A read receipt like any other: the hunter sees the owner's mark, the owner's devices hear of it.
    const [accepted] = messageItems((await messagesOf(t, hunter, conversationId)).body);
    const members = items(at((await send(t, hunter, 'GET', `/conversations/${conversationId}`)).body, 'data', 'members'));
    expect(at(members.find((member) => at(member, 'userId') === owner.id), 'lastReadMessageId')).toBe(accepted?.id);
    expect((await streamOf(t, owner.id, 'conversation.read')).map((event) => event.data)).toContainEqual({ conversationId, userId: owner.id, lastReadMessageId: accepted?.id });

    // The hunter withdraws: their own message is read (the unread accept, a system message, does
    // not hold the mark back); the owner has it unread.
    expect((await send(t, hunter, 'POST', `/bounties/${bountyId}/withdraw`, { reason: 'Something came up' })).status).toBe(200);
    expect(await unreadEverywhere(t, hunter, conversationId)).toEqual(unread(0));
    expect(await unreadEverywhere(t, owner, conversationId)).toEqual(unread(1));
    expect(at((await send(t, owner, 'GET', '/conversations/unread')).body, 'data')).toEqual({ total: 1, conversations: [{ conversationId, unreadCount: 1 }] });
  });

  test('regression (applicants left unaware of an expiry): the timer tells every live applicant, and being nobody, marks nothing read', async () => {
    const rival = await signUp(t, 'rival');
    const start = clock.now();
    try {
      const bountyId = await openBounty(t, poster, { deadline: new Date(start.getTime() + 2 * HOUR_MS).toISOString() });
      await apply(t, hunter, bountyId);
      await apply(t, rival, bountyId);
      const [hunterThread, rivalThread] = [await threadOf(hunter, bountyId), await threadOf(rival, bountyId)];
      clock.set(new Date(start.getTime() + (2 + t.config.marketplace.expiryGraceHours) * HOUR_MS + 60_000));
      await fireDueTimers(t.database.primary, { settings: t.config.marketplace, now: clock.now }, createLogger({ level: 'silent' }));

      const expired = [['bounty.expire', 'The bounty expired without a hunter']];
      expect(await systemMessagesOf(t, hunter, hunterThread)).toEqual(expired);
      expect(await systemMessagesOf(t, rival, rivalThread)).toEqual(expired);
      for (const account of [poster, hunter, rival]) expect((await stateChangesOf(t, account.id, bountyId)).filter((action) => action === 'expire')).toEqual(['expire']);
      for (const [account, conversationId] of [[poster, hunterThread], [poster, rivalThread], [hunter, hunterThread], [rival, rivalThread]] as const) {
        expect(await unreadEverywhere(t, account, conversationId)).toEqual(unread(1));
      }
    } finally {
      clock.set(start);
    }
  });
});
