/**
 * /ws/messages on the real cluster with two instances (A and B: own pools, own LISTEN connection,
 * own server), like two processes: delivery across instances exactly once and in order, through a
 * killed LISTEN connection, catch-up with lastEventId, isolation between users, typing, bounds,
 * refusals at upgrade, closes on sign-out, ban and shutdown.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { and, eq, lte, sql } from 'drizzle-orm';
import { conversationMembers, conversations, userEvents, users } from '../src/db';
import { CLOSE } from '../src/modules/realtime/protocol';
import { appendUserEvents, lastEventId } from '../src/modules/realtime/stream';
import { logIn, signUp, type TestAccount } from './support/accounts';
import { createDraft } from './support/bounties';
import { hasCluster, startTestApp, type TestApp } from './support/harness';
import { connectSocket, type Frame, type TestSocket, upgradeStatus } from './support/sockets';
import { waitFor } from './support/wait';

const isEvent = (frame: Frame): boolean => frame.type === 'event';
const eventWithId = (id: number) => (frame: Frame): boolean => frame.type === 'event' && frame.id === id;
const readyFrame = (frame: Frame): boolean => frame.type === 'ready';

/** Appends `count` events to a person's stream through `t`'s primary, one transaction. */
async function appendEvents(t: TestApp, userId: string, count: number, tag: string): Promise<void> {
  await t.database.primary.transaction(async (tx) => {
    await appendUserEvents(
      tx,
      new Date(),
      Array.from({ length: count }, (_, index) => ({ userId, type: 'message.created' as const, data: { tag, index } })),
    );
  });
}

/** The last id handed out to a person (committed). */
const lastSeq = (t: TestApp, userId: string): Promise<number> => lastEventId(t.database.primary, userId);

/** Ids must run from `first` to `last` by one: no gap, no duplicate, in order. */
function expectContiguous(ids: number[], first: number, last: number): void {
  expect(ids).toEqual(Array.from({ length: last - first + 1 }, (_, index) => first + index));
}

describe.skipIf(!hasCluster)('/ws/messages across two instances', () => {
  let a: TestApp;
  let b: TestApp;
  let urlA: string;
  let urlB: string;
  let alice: TestAccount;
  let bob: TestAccount;
  let carol: TestAccount;
  const opened: TestSocket[] = [];
  const open = async (base: string, account: TestAccount | string, options: { lastEventId?: number; origin?: string } = {}) => {
    const cookie = typeof account === 'string' ? account : account.jar.header();
    const socket = await connectSocket(base, { cookie, ...options });
    opened.push(socket);
    return socket;
  };

  beforeAll(async () => {
    [a, b] = await Promise.all([startTestApp(), startTestApp()]);
    urlA = a.listen().url.origin;
    urlB = b.listen().url.origin;
    [alice, bob, carol] = await Promise.all([signUp(a, 'ws-alice'), signUp(a, 'ws-bob'), signUp(a, 'ws-carol')]);
  });
  afterAll(async () => {
    for (const socket of opened) socket.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  test('an event written through A reaches a socket on B once, in order; another user sees none of it', async () => {
    const onB = await open(urlB, alice);
    const ready = await onB.waitFor('ready', readyFrame);
    const start = Number(ready.lastEventId);
    expect(start).toBe(await lastSeq(a, alice.id));
    const carolOnA = await open(urlA, carol);
    const carolOnB = await open(urlB, carol);
    await Promise.all([carolOnA.waitFor('ready', readyFrame), carolOnB.waitFor('ready', readyFrame)]);

    const latencies: number[] = [];
    for (let round = 0; round < 5; round += 1) {
      const sentAt = performance.now();
      await appendEvents(a, alice.id, 2, `round-${round}`);
      await onB.waitFor(`event ${start + 2 * round + 2}`, eventWithId(start + 2 * round + 2));
      latencies.push(performance.now() - sentAt);
    }
    console.log(`delivery A -> B (commit to frame), ms: ${latencies.map((ms) => ms.toFixed(1)).join(', ')}`);
    expectContiguous(onB.eventIds(), start + 1, start + 10);
    const first = onB.frames.find(isEvent);
    expect(first).toMatchObject({ type: 'event', id: start + 1, event: 'message.created', data: { tag: 'round-0', index: 0 } });
    expect(typeof first?.at).toBe('string');

    // Carol's own event arrives on both of her sockets (delivery flowed), and nothing of Alice's did.
    const carolStart = await lastSeq(a, carol.id);
    await appendEvents(b, carol.id, 1, 'carol');
    await Promise.all([carolOnA.waitFor('carol event', eventWithId(carolStart + 1)), carolOnB.waitFor('carol event', eventWithId(carolStart + 1))]);
    for (const socket of [carolOnA, carolOnB]) {
      expect(socket.frames.filter(isEvent).map((frame) => (frame.data as { tag: string }).tag)).toEqual(['carol']);
    }
    expect(onB.frames.filter(isEvent).some((frame) => (frame.data as { tag: string }).tag === 'carol')).toBe(false);
  });

  test("killing B's LISTEN connection while events are written loses nothing", async () => {
    const onB = await open(urlB, bob);
    const start = Number((await onB.waitFor('ready', readyFrame)).lastEventId);
    const channel = 'bountyexpo_user_events';
    const listenerName = `bountyexpo-listen-${b.instanceId}`;
    const terminate = sql`select pg_terminate_backend(pid) as killed from pg_stat_activity where application_name = ${listenerName}`;
    const listensBefore = b.bus.listens.get(channel) ?? 0;
    const total = 30;
    const writer = (async () => {
      for (let index = 0; index < total; index += 1) {
        await appendEvents(a, bob.id, 1, `w${index}`);
        await Bun.sleep(5);
      }
    })();
    await onB.waitFor('a few events', eventWithId(start + 3));
    await a.database.primary.execute(terminate);
    await writer;
    await onB.waitFor(`event ${start + total}`, eventWithId(start + total), 15_000);
    await waitFor('LISTEN to be back', () => (b.bus.listens.get(channel) ?? 0) > listensBefore);

    // The last events are announced while B cannot hear them (terminated in their transaction,
    // committed before it reconnects) and nothing is written afterwards: only the catch-up on
    // reconnect (onListen) can deliver them.
    const listensMid = b.bus.listens.get(channel) ?? 0;
    await a.database.primary.transaction(async (tx) => {
      await appendUserEvents(tx, new Date(), Array.from({ length: 5 }, (_, index) => ({ userId: bob.id, type: 'message.created' as const, data: { tag: `gap${index}` } })));
      await tx.execute(terminate);
    });
    await onB.waitFor(`event ${start + total + 5}`, eventWithId(start + total + 5), 15_000);
    expectContiguous(onB.eventIds(), start + 1, start + total + 5);
    // The connection really came back (onListen ran again), and the socket survived it.
    expect(b.bus.listens.get(channel) ?? 0).toBeGreaterThan(listensMid);
    expect(onB.isClosed).toBe(false);
  });

  test('a dropped socket reconnecting with lastEventId gets exactly what it missed, in order, then ready, then live events', async () => {
    const first = await open(urlA, alice);
    const seen = Number((await first.waitFor('ready', readyFrame)).lastEventId);
    first.close();
    await first.closed();
    await appendEvents(a, alice.id, 3, 'missed-1');
    await appendEvents(b, alice.id, 4, 'missed-2');

    const again = await open(urlB, alice, { lastEventId: seen });
    const ready = await again.waitFor('ready', readyFrame);
    expect(ready.lastEventId).toBe(seen + 7);
    expectContiguous(again.eventIds(), seen + 1, seen + 7);
    const readyAt = again.frames.indexOf(ready);
    expect(again.frames.slice(0, readyAt).every(isEvent)).toBe(true);

    await appendEvents(a, alice.id, 1, 'live');
    await again.waitFor('the live event', eventWithId(seen + 8), 5_000, readyAt);
    expectContiguous(again.eventIds(), seen + 1, seen + 8);

    // From the middle: only what came after.
    const middle = await open(urlA, alice, { lastEventId: seen + 5 });
    await middle.waitFor('ready', readyFrame);
    expectContiguous(middle.eventIds(), seen + 6, seen + 8);
  });

  test('sockets connecting while events are being written see each event exactly once', async () => {
    const start = await lastSeq(a, bob.id);
    const total = 40;
    const writer = (async () => {
      for (let index = 0; index < total; index += 1) await appendEvents(index % 2 === 0 ? a : b, bob.id, 1, `c${index}`);
    })();
    const sockets: TestSocket[] = [];
    for (let index = 0; index < 6; index += 1) {
      sockets.push(await open(index % 2 === 0 ? urlA : urlB, bob, { lastEventId: start }));
      await Bun.sleep(10);
    }
    await writer;
    for (const socket of sockets) {
      await socket.waitFor(`event ${start + total}`, eventWithId(start + total), 10_000);
      expectContiguous(socket.eventIds(), start + 1, start + total);
    }
  });

  test('lastEventId older than what is kept, or ahead of the stream, is answered with resync then ready', async () => {
    const dave = await signUp(a, 'ws-dave');
    await appendEvents(a, dave.id, 5, 'old');
    // Retention dropped the first three (what the prune job does by age).
    await a.database.primary.delete(userEvents).where(and(eq(userEvents.userId, dave.id), lte(userEvents.seq, 3)));
    const behind = await open(urlA, dave, { lastEventId: 1 });
    await behind.waitFor('ready', readyFrame);
    expect(behind.frames.map((frame) => frame.type)).toEqual(['resync', 'ready']);
    expect(behind.frames[1]).toMatchObject({ lastEventId: 5 });

    const fine = await open(urlA, dave, { lastEventId: 3 });
    await fine.waitFor('ready', readyFrame);
    expect(fine.eventIds()).toEqual([4, 5]);

    const ahead = await open(urlB, dave, { lastEventId: 99 });
    await ahead.waitFor('ready', readyFrame);
    expect(ahead.frames.map((frame) => frame.type)).toEqual(['resync', 'ready']);
  });

  test('typing reaches the other member on another instance, not a stranger, is rate limited and never stored', async () => {
    const bountyId = await createDraft(a, alice);
    const now = new Date();
    const [conversation] = await a.database.primary
      .insert(conversations)
      .values({ bountyId, posterId: alice.id, hunterId: bob.id, createdAt: now })
      .returning({ id: conversations.id });
    const conversationId = conversation?.id ?? '';
    await a.database.primary.insert(conversationMembers).values([
      { conversationId, userId: alice.id, role: 'poster', activityAt: now, joinedAt: now },
      { conversationId, userId: bob.id, role: 'hunter', activityAt: now, joinedAt: now },
    ]);
    const aliceOnA = await open(urlA, alice);
    const bobOnB = await open(urlB, bob);
    const carolOnB = await open(urlB, carol);
    await Promise.all([aliceOnA, bobOnB, carolOnB].map((socket) => socket.waitFor('ready', readyFrame)));
    const storedBefore = await a.database.primary.$count(userEvents);

    aliceOnA.send({ type: 'typing', conversationId });
    aliceOnA.send({ type: 'typing', conversationId }); // within 2 s: dropped
    const typing = await bobOnB.waitFor('typing', (frame) => frame.type === 'typing');
    expect(typing).toEqual({ type: 'typing', conversationId, userId: alice.id });

    // A stranger may not type there; ping/pong marks when every earlier frame was handled.
    carolOnB.send({ type: 'typing', conversationId });
    await carolOnB.waitFor('refusal', (frame) => frame.type === 'error' && frame.code === 'CONVERSATION_NOT_FOUND');
    aliceOnA.send({ type: 'ping' });
    await aliceOnA.waitFor('pong', (frame) => frame.type === 'pong');
    bobOnB.send({ type: 'typing', conversationId });
    await aliceOnA.waitFor('bob typing', (frame) => frame.type === 'typing' && frame.userId === bob.id);

    expect(bobOnB.frames.filter((frame) => frame.type === 'typing')).toHaveLength(1);
    expect(carolOnB.frames.some((frame) => frame.type === 'typing')).toBe(false);
    expect(aliceOnA.frames.filter((frame) => frame.type === 'typing').map((frame) => frame.userId)).toEqual([bob.id]);
    expect(await a.database.primary.$count(userEvents)).toBe(storedBefore);
  });

  test('an invalid frame is answered with an error and the socket stays; ping is answered with pong', async () => {
    const socket = await open(urlA, carol);
    await socket.waitFor('ready', readyFrame);
    socket.sendRaw('not json');
    socket.send({ type: 'typing', conversationId: 'not-a-uuid' });
    socket.send({ type: 'subscribe', everything: true });
    await waitFor('three errors', () => socket.frames.filter((frame) => frame.type === 'error' && frame.code === 'INVALID_FRAME').length === 3);
    socket.send({ type: 'ping' });
    await socket.waitFor('pong', (frame) => frame.type === 'pong');
    expect(socket.isClosed).toBe(false);
  });

  test('a frame over WS_MAX_PAYLOAD_BYTES closes with 1009', async () => {
    const socket = await open(urlB, carol);
    await socket.waitFor('ready', readyFrame);
    socket.sendRaw(JSON.stringify({ type: 'ping', pad: 'x'.repeat(b.config.sockets.maxPayloadBytes) }));
    expect((await socket.closed()).code).toBe(CLOSE.tooBig);
  });

  test('more frames than WS_MESSAGES_PER_10S closes with 1008', async () => {
    const socket = await open(urlA, carol);
    await socket.waitFor('ready', readyFrame);
    const limit = a.config.sockets.messagesPer10s;
    for (let index = 0; index < limit + 5; index += 1) socket.send({ type: 'ping' });
    const closed = await socket.closed();
    expect(closed.code).toBe(CLOSE.policy);
    expect(closed.reason).toContain('rate limit');
    // Within the limit every frame was answered.
    expect(socket.frames.filter((frame) => frame.type === 'pong').length).toBeGreaterThanOrEqual(limit - 1);
  });

  test('the upgrade is refused before it happens: foreign Origin 403, no session 401, bad lastEventId 422; our Origin is fine', async () => {
    const cookie = carol.jar.header();
    const foreign = await upgradeStatus(urlA, { cookie, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ success: false, error: 'INVALID_ORIGIN' });
    expect((await upgradeStatus(urlA, { cookie, origin: 'null' })).status).toBe(403);
    const anonymous = await upgradeStatus(urlA);
    expect(anonymous.status).toBe(401);
    expect(JSON.parse(anonymous.body)).toMatchObject({ success: false, error: 'UNAUTHORIZED' });
    expect((await upgradeStatus(urlA, { cookie: 'bountyexpo.session_token=forged.value' })).status).toBe(401);
    expect((await upgradeStatus(urlA, { cookie }, '?lastEventId=-1')).status).toBe(422);
    expect((await upgradeStatus(urlA, { cookie }, '?lastEventId=abc')).status).toBe(422);
    const own = await open(urlA, carol, { origin: new URL(a.config.auth.baseUrl).origin });
    await own.waitFor('ready', readyFrame);
    const cors = await open(urlB, carol, { origin: b.config.corsOrigins[0] ?? '' });
    await cors.waitFor('ready', readyFrame);
  });

  test('sign-out closes that session\'s sockets on every instance within a second; another session\'s stay', async () => {
    const erin = await signUp(a, 'ws-erin');
    const otherDevice = await logIn(a, erin);
    const onA = await open(urlA, erin);
    const onB = await open(urlB, erin);
    const otherOnB = await open(urlB, otherDevice.header());
    await Promise.all([onA, onB, otherOnB].map((socket) => socket.waitFor('ready', readyFrame)));
    const response = await a.request('/auth/logout', { method: 'POST', headers: { cookie: erin.jar.header() } });
    expect(response.status).toBe(200);
    const signedOutAt = performance.now();
    const [closedA, closedB] = await Promise.all([onA.closed(1_000), onB.closed(1_000)]);
    console.log(`sign-out to close on both instances: ${(performance.now() - signedOutAt).toFixed(1)} ms`);
    expect([closedA.code, closedB.code]).toEqual([CLOSE.sessionEnded, CLOSE.sessionEnded]);
    otherOnB.send({ type: 'ping' });
    await otherOnB.waitFor('pong', (frame) => frame.type === 'pong');
    expect(otherOnB.isClosed).toBe(false);
    // The ended session cannot open a new one.
    expect((await upgradeStatus(urlA, { cookie: erin.jar.header() })).status).toBe(401);
  });

  test('a ban closes all of the user\'s sockets on every instance within a second, and refuses new ones', async () => {
    const frank = await signUp(a, 'ws-frank');
    const second = await logIn(a, frank);
    const sockets = [await open(urlA, frank), await open(urlB, frank), await open(urlB, second.header())];
    await Promise.all(sockets.map((socket) => socket.waitFor('ready', readyFrame)));
    await a.database.primary.update(users).set({ banned: true }).where(eq(users.id, frank.id));
    const bannedAt = performance.now();
    const closes = await Promise.all(sockets.map((socket) => socket.closed(1_000)));
    console.log(`ban to close on both instances: ${(performance.now() - bannedAt).toFixed(1)} ms`);
    expect(closes.map((close) => close.code)).toEqual([CLOSE.banned, CLOSE.banned, CLOSE.banned]);
    const refused = await upgradeStatus(urlB, { cookie: frank.jar.header() });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body)).toMatchObject({ error: 'USER_BANNED' });
  });

  test('the hub counts sockets, frames and closes', () => {
    expect(b.hub.counters.opened).toBeGreaterThan(5);
    expect(b.hub.counters.framesPublished).toBeGreaterThan(0);
    expect(b.hub.counters.closesByCode[CLOSE.sessionEnded]).toBeGreaterThanOrEqual(1);
    expect(b.hub.counters.open).toBe(b.hub.socketCount);
  });

  test('shutdown closes every socket with 1001', async () => {
    const sockets = [await open(urlA, alice), await open(urlA, bob)];
    await Promise.all(sockets.map((socket) => socket.waitFor('ready', readyFrame)));
    const closedCount = a.hub.closeAll();
    expect(closedCount).toBeGreaterThanOrEqual(2);
    const closes = await Promise.all(sockets.map((socket) => socket.closed(1_000)));
    expect(closes.map((close) => close.code)).toEqual([CLOSE.goingAway, CLOSE.goingAway]);
    await waitFor('the hub to forget them', () => a.hub.socketCount === 0);
  });
});
