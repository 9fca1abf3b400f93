/**
 * The PostgreSQL NOTIFY channels, each carrying ids only (payloads must stay under 8000 bytes and
 * the database stays the one source of what happened):
 * - user events: the ids of people whose event stream grew (src/modules/realtime/stream.ts);
 * - outbox: the ids of new outbox events, for the jobs that fan them out to notifications;
 * - sessions: a session that ended or a user who was banned (triggers, drizzle/0008);
 * - typing: who is typing where (ephemeral: announced, never stored).
 */
import { sql } from 'drizzle-orm';
import type { Transaction } from '../../db';

export const CHANNELS = {
  userEvents: 'bountyexpo_user_events',
  outbox: 'bountyexpo_outbox',
  sessions: 'bountyexpo_sessions',
  typing: 'bountyexpo_typing',
} as const;
export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

/** PostgreSQL refuses payloads of 8000 bytes or more; chunks stay well below. */
const MAX_PAYLOAD_BYTES = 7_000;

/**
 * Announces ids on `channel` when `tx` commits (a NOTIFY inside a transaction is delivered only on
 * commit, and never if it rolls back): a subscriber never hears of a row it cannot read yet.
 * Duplicate ids are sent once.
 */
export async function announce(tx: Transaction, channel: Channel, ids: ReadonlyArray<string | number>): Promise<void> {
  const unique = [...new Set(ids)];
  let chunk: Array<string | number> = [];
  let bytes = 2;
  const flush = async () => {
    if (chunk.length === 0) return;
    await tx.execute(sql`select pg_notify(${channel}, ${JSON.stringify(chunk)})`);
    chunk = [];
    bytes = 2;
  };
  for (const id of unique) {
    const size = JSON.stringify(id).length + 1;
    if (bytes + size > MAX_PAYLOAD_BYTES) await flush();
    chunk.push(id);
    bytes += size;
  }
  await flush();
}
