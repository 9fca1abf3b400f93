/** The probe queries: a replica's replay position, and the primary's WAL position for lag. */
import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { parseLsn, readYourWritesLsn } from './lsn';
import type { PrimaryWalPosition, ReplicaProbeResult } from './replica-router';
import { selectRows } from './rows';
import type { Database } from './types';

// Probes must answer fast or count as failed; the client-side bound also covers the connect timeout.
export const PROBE_STATEMENT_TIMEOUT_MS = 500;
export const PROBE_TIMEOUT_MS = 1_500;

const probeRow = z.object({
  in_recovery: z.boolean(),
  replay_lsn: z.string().nullable(),
  receive_lsn: z.string().nullable(),
});
const primaryWalRow = z.object({ insert_lsn: z.string(), flush_lsn: z.string(), block_size: z.coerce.number().int().positive() });
export const insertLsnRow = z.object({ lsn: z.string(), block_size: z.coerce.number().int().positive() });

/** The primary's side of the lag measure (see PrimaryWalHistory). */
export async function primaryWalPosition(db: Database): Promise<PrimaryWalPosition | null> {
  const [row] = await selectRows(
    db,
    sql`select pg_current_wal_insert_lsn()::text as insert_lsn, pg_current_wal_flush_lsn()::text as flush_lsn,
               current_setting('wal_block_size') as block_size`,
    primaryWalRow,
  );
  const insertLsn = row ? parseLsn(row.insert_lsn) : null;
  const flushLsn = row ? parseLsn(row.flush_lsn) : null;
  if (!row || insertLsn === null || flushLsn === null) return null;
  return { insertLsn: readYourWritesLsn(insertLsn, row.block_size), flushLsn };
}

export async function probeReplica(db: Database): Promise<ReplicaProbeResult> {
  const [row] = await selectRows(
    db,
    sql`select pg_is_in_recovery() as in_recovery,
               pg_last_wal_replay_lsn()::text as replay_lsn,
               pg_last_wal_receive_lsn()::text as receive_lsn`,
    probeRow,
  );
  if (!row) throw new Error('replica probe returned no row');
  return {
    inRecovery: row.in_recovery,
    replayLsn: row.replay_lsn ? parseLsn(row.replay_lsn) : null,
    receiveLsn: row.receive_lsn ? parseLsn(row.receive_lsn) : null,
  };
}
