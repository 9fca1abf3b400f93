import type { DatabaseCluster } from '../../db';

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
