/**
 * LISTEN on the primary (hot standbys refuse it), on a connection of its own so a listener never
 * holds a pool slot. postgres-js reconnects a dropped listener by itself and runs `onListen`
 * again each time: the hook where a subscriber catches up on what it missed meanwhile.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { Sql } from 'postgres';
import { POOL_CLOSE_GRACE_S } from './pools';

export interface Listener {
  /** `onListen` runs once LISTEN is in place, and again after every reconnection. */
  listen(channel: string, onNotify: (payload: string) => void, onListen: () => void): Promise<void>;
  /** NOTIFY through another connection than the listening one (a heartbeat proves both ends work). */
  notify(channel: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

export function postgresListener(sql: Sql): Listener {
  return {
    async listen(channel, onNotify, onListen) {
      await sql.listen(channel, onNotify, onListen);
    },
    async notify(channel, payload) {
      await sql.notify(channel, payload);
    },
    // Also ends the listening connection postgres-js opened for listen().
    close: () => sql.end({ timeout: POOL_CLOSE_GRACE_S }),
  };
}

/** Embedded PGlite: one process, no connection to lose, so `onListen` runs once. */
export function pgliteListener(client: PGlite): Listener {
  const unsubscribers: Array<() => Promise<void>> = [];
  return {
    async listen(channel, onNotify, onListen) {
      unsubscribers.push(await client.listen(channel, onNotify));
      onListen();
    },
    async notify(channel, payload) {
      await client.query('select pg_notify($1, $2)', [channel, payload]);
    },
    close: async () => {
      await Promise.allSettled(unsubscribers.map((unsubscribe) => unsubscribe()));
    },
  };
}
