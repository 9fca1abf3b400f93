import type { DatabaseCluster } from '../../db';
import { latestLedgerCheck } from '../ledger';

const STATES = ['healthy', 'lagging', 'down', 'promoted'] as const;

const label = (value: string) => value.replace(/["\\\n]/g, '_');

export function renderMetrics(database: DatabaseCluster): string {
  const router = database.router;
  const lines = [
    '# HELP db_reads_total Routed reads by target and reason; target "none" counts reads refused past the fallback cap.',
    '# TYPE db_reads_total counter',
  ];
  for (const [target, byReason] of router.readCounts) {
    for (const [reason, count] of byReason) lines.push(`db_reads_total{target="${label(target)}",reason="${label(reason)}"} ${count}`);
  }
  lines.push('# HELP db_read_failures_total Routed reads that failed on a target (a failure on a replica is retried once elsewhere).', '# TYPE db_read_failures_total counter');
  for (const [target, count] of router.readFailures) lines.push(`db_read_failures_total{target="${label(target)}"} ${count}`);
  lines.push('# HELP db_replica_state 1 for the state each replica is in.', '# TYPE db_replica_state gauge');
  for (const node of database.replicas) {
    for (const state of STATES) lines.push(`db_replica_state{replica="${label(node.name)}",state="${state}"} ${node.state === state ? 1 : 0}`);
  }
  lines.push('# HELP db_replica_lag_bytes Replay lag in bytes behind the primary.', '# TYPE db_replica_lag_bytes gauge');
  for (const node of database.replicas) lines.push(`db_replica_lag_bytes{replica="${label(node.name)}"} ${node.lagBytes ?? 0}`);
  lines.push('# HELP db_replica_lag_ms Replay lag in milliseconds (how long ago the primary had WAL the replica lacks).', '# TYPE db_replica_lag_ms gauge');
  for (const node of database.replicas) lines.push(`db_replica_lag_ms{replica="${label(node.name)}"} ${node.lagMs ?? 0}`);
  lines.push('# HELP db_replica_reads_served_total Reads each replica served.', '# TYPE db_replica_reads_served_total counter');
  for (const node of database.replicas) lines.push(`db_replica_reads_served_total{replica="${label(node.name)}"} ${node.readsServed}`);
  lines.push('# HELP db_read_fallback_inflight Reads running on the primary because no replica qualified.', '# TYPE db_read_fallback_inflight gauge');
  lines.push(`db_read_fallback_inflight ${router.fallbackInflight}`);
  return `${lines.join('\n')}\n`;
}

/**
 * The last periodic ledger check (any process may have run it: the job runs once per cluster),
 * read from the primary. Absent before the first check; an unreachable primary leaves them out
 * rather than failing the scrape (the replica metrics above still tell that story).
 */
const LEDGER_METRICS_WAIT_MS = 1_000;

export async function renderLedgerMetrics(database: DatabaseCluster): Promise<string> {
  // Bounded: a scrape must answer even while the primary hangs.
  const check = await Promise.race([latestLedgerCheck(database.primary), Bun.sleep(LEDGER_METRICS_WAIT_MS).then(() => null)]).catch(() => null);
  if (!check) return '';
  return [
    '# HELP ledger_check_balance_mismatches Accounts whose cached balance differed from the sum of their entries at the last ledger check (must be 0).',
    '# TYPE ledger_check_balance_mismatches gauge',
    `ledger_check_balance_mismatches ${check.balanceMismatches}`,
    '# HELP ledger_check_unbalanced_transactions Ledger transactions whose entries did not sum to zero at the last check (must be 0).',
    '# TYPE ledger_check_unbalanced_transactions gauge',
    `ledger_check_unbalanced_transactions ${check.unbalancedTransactions}`,
    '# HELP ledger_check_last_run_timestamp_seconds When the last ledger check ran.',
    '# TYPE ledger_check_last_run_timestamp_seconds gauge',
    `ledger_check_last_run_timestamp_seconds ${Math.floor(check.checkedAt.getTime() / 1000)}`,
    '',
  ].join('\n');
}
