/**
 * The bus between instances on the real primary. Regression (issue 11 review): postgres-js
 * re-listens once after its LISTEN connection drops and swallows a failure, so an instance whose
 * re-listen failed (the primary down past the connect timeout) stayed deaf for good. The heartbeat
 * must notice and rebuild the listener, and subscribers must catch up (onListen).
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { sql } from 'drizzle-orm';
import { DatabaseCluster, type Listener } from '../src/db';
import { createLogger } from '../src/lib/logger';
import { EventBus } from '../src/modules/realtime/bus';
import { CHANNELS } from '../src/modules/realtime/channels';
import { hasCluster, testConfig } from './support/harness';
import { waitFor } from './support/wait';

describe.skipIf(!hasCluster)('the NOTIFY bus', () => {
  let database: DatabaseCluster;
  beforeAll(async () => {
    database = await DatabaseCluster.open(testConfig().database, createLogger({ level: 'silent' }));
  });
  afterAll(() => database.close());

  const announce = (ids: string[]) =>
    database.primary.transaction(async (tx) => {
      await tx.execute(sql`select pg_notify(${CHANNELS.typing}, ${JSON.stringify(ids)})`);
    });

  test('a listener that went deaf (its re-listen failed silently) is rebuilt by the heartbeat, and subscribers catch up', async () => {
    // The first listener stops passing notifications on after deafen(): LISTEN is gone, as after a
    // failed silent re-listen. Later listeners are the real thing.
    let first: { deafen(): void } | null = null;
    const opened: string[] = [];
    const factory = {
      openListener(label: string): Listener {
        const real = database.openListener(label);
        opened.push(label);
        if (first) return real;
        let deaf = false;
        first = { deafen: () => (deaf = true) };
        return {
          listen: (channel, onNotify, onListen) => real.listen(channel, (payload) => (deaf ? undefined : onNotify(payload)), onListen),
          notify: (channel, payload) => real.notify(channel, payload),
          close: () => real.close(),
        };
      },
    };
    const received: unknown[] = [];
    let listens = 0;
    const bus = new EventBus(factory, createLogger({ level: 'silent' }), `bus-test-${crypto.randomUUID().slice(0, 8)}`, { heartbeatMs: 100 });
    bus.subscribe(CHANNELS.typing, { onMessage: (payload) => received.push(payload), onListen: () => (listens += 1) });
    await bus.start();
    try {
      await announce(['before']);
      await waitFor('the first announcement', () => received.length === 1, 5_000);
      expect(listens).toBe(1);

      (first as { deafen(): void } | null)?.deafen();
      await announce(['while deaf']);
      // Rebuilt within a few heartbeats; onListen runs again (the subscribers' catch-up hook).
      await waitFor('the listener rebuilt', () => bus.restarts === 1 && listens === 2, 5_000);
      expect(opened).toHaveLength(2);
      await announce(['after']);
      await waitFor('an announcement after the rebuild', () => received.some((payload) => JSON.stringify(payload) === '["after"]'), 5_000);
      // What was announced while deaf is not replayed by NOTIFY: catching up is the subscribers' job.
      expect(received).not.toContainEqual(['while deaf']);
    } finally {
      await bus.stop();
    }
  });

  test('a healthy listener is never rebuilt', async () => {
    const bus = new EventBus(database, createLogger({ level: 'silent' }), `bus-test-${crypto.randomUUID().slice(0, 8)}`, { heartbeatMs: 50 });
    bus.subscribe(CHANNELS.typing, { onMessage: () => {} });
    await bus.start();
    try {
      await Bun.sleep(600);
      expect(bus.restarts).toBe(0);
    } finally {
      await bus.stop();
    }
  });
});
