/** /health/db's view of the nodes: types, bounded checks, public-safe failure reasons. */
import { findErrorCode } from '../lib/errors';
import { TimeoutError } from '../lib/timeout';
import { isConnectionError } from './errors';
import { ProbeTimeoutError } from './probe-pool';
import type { ReplicaState } from './replica-router';

export type PoolHealth = {
  name: string;
  ok: boolean;
  latencyMs: number | null;
  error?: string;
};
export type ReplicaHealth = PoolHealth & {
  state: ReplicaState;
  lagBytes: number | null;
  lagMs: number | null;
  readsServed: number;
};
export type DatabaseHealth = {
  mode: 'postgres' | 'embedded';
  primary: PoolHealth;
  replicas: ReplicaHealth[];
  reads: { byTarget: Record<string, number>; byReason: Record<string, number> };
};

/** Each node's health check is cut off after this; all run at once, so /health/db answers within 2 s. */
export const HEALTH_TIMEOUT_MS = 1_500;

/**
 * A short, public-safe reason for /health/db (unauthenticated): the driver's code, never the
 * failed SQL text drizzle puts in its message.
 */
export function healthFailureReason(error: unknown): string {
  if (error instanceof TimeoutError || error instanceof ProbeTimeoutError) return 'timeout';
  const code = findErrorCode(error);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'CONNECT_TIMEOUT') return 'connect timeout';
  if (code && isConnectionError(error)) return `connection failed (${code})`;
  return code ? `query failed (${code})` : 'unreachable';
}
