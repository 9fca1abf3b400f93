/**
 * Each person's event stream on the real primary: numbers without gaps or repeats however many
 * transactions write at once, and pruning that keeps what is recent and goes in bounded batches.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { DatabaseCluster, userEvents } from '../src/db';
import { createLogger } from '../src/lib/logger';
import { appendUserEvents, eventsAfter, lastEventId, oldestEventId, pruneUserEvents } from '../src/modules/realtime/stream';
import { hasCluster, testConfig } from './support/harness';

describe.skipIf(!hasCluster)('the event stream', () => {
  let database: DatabaseCluster;
  beforeAll(async () => {
    database = await DatabaseCluster.open(testConfig().database, createLogger({ level: 'silent' }));
  });
  afterAll(() => database.close());

  test('20 concurrent writers for two people: each person numbered 1..n in commit order, no gap, no repeat', async () => {
    const [alice, bob] = [`stream-a-${crypto.randomUUID()}`, `stream-b-${crypto.randomUUID()}`];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        database.primary.transaction(async (tx) => {
          // Alternate the order the people are named in: the cursors are still locked in one order.
          const people = i % 2 === 0 ? [alice, bob] : [bob, alice];
          await appendUserEvents(tx, new Date(), people.map((userId) => ({ userId, type: 'message.created', data: { writer: i } })));
        }),
      ),
    );
    for (const person of [alice, bob]) {
      const events = await eventsAfter(database.primary, person, 0, 100);
      expect(events.map((event) => event.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect(new Set(events.map((event) => event.data.writer)).size).toBe(20);
      expect(await lastEventId(database.primary, person)).toBe(20);
    }
  });

  test('pruning drops what is older than the cutoff, in batches, and keeps the rest', async () => {
    const person = `stream-prune-${crypto.randomUUID()}`;
    const old = new Date(Date.now() - 30 * 86_400_000);
    // 12,000 old events (more than two pruning batches) and 3 recent ones.
    await database.primary.execute(sql`
      insert into ${userEvents} (user_id, seq, type, data, created_at)
      select ${person}, n, 'message.created', '{}'::jsonb, ${old.toISOString()}::timestamptz from generate_series(1, 12000) as n`);
    await database.primary.transaction((tx) =>
      tx.execute(sql`insert into user_event_cursors (user_id, last_seq) values (${person}, 12000)`),
    );
    await database.primary.transaction((tx) =>
      appendUserEvents(tx, new Date(), [1, 2, 3].map((n) => ({ userId: person, type: 'message.created' as const, data: { n } }))),
    );
    const deleted = await pruneUserEvents(database.primary, new Date(Date.now() - 7 * 86_400_000));
    expect(deleted).toBeGreaterThanOrEqual(12_000);
    expect((await eventsAfter(database.primary, person, 0, 100)).map((event) => event.id)).toEqual([12001, 12002, 12003]);
    // A client that last saw event 50 is too far behind: the oldest kept is past it (the socket sends resync).
    expect(await oldestEventId(database.primary, person)).toBe(12001);
  });
});
