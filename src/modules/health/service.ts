import type { DatabaseCluster } from '../../db';
import type { DatabaseHealthSummary } from './schemas';

export type Lifecycle = {
  draining: boolean;
  readonly startedAt: number;
  /** Requests whose log line is still to be written (see src/plugins/request-context.ts). */
  readonly unlogged: { count: number };
};

export const createLifecycle = (): Lifecycle => ({ draining: false, startedAt: Date.now(), unlogged: { count: 0 } });

export function liveness(lifecycle: Lifecycle, version: string) {
  return {
    status: lifecycle.draining ? ('draining' as const) : ('ok' as const),
    uptime: Math.round((Date.now() - lifecycle.startedAt) / 100) / 10,
    version,
  };
}

/** Primary down: the service cannot write, so the probe fails. A replica down only degrades it. */
export async function databaseHealth(database: DatabaseCluster) {
  const health = await database.checkHealth();
  const status = !health.primary.ok
    ? ('down' as const)
    : health.replicas.some((replica) => !replica.ok || replica.state !== 'healthy')
      ? ('degraded' as const)
      : ('ok' as const);
  return { status, ...health };
}

export type DatabaseHealthDetail = Awaited<ReturnType<typeof databaseHealth>>;

/** What an anonymous caller (a load balancer) needs: the verdict and each node's ok, no names or lag. */
export const summarizeHealth = (health: DatabaseHealthDetail): DatabaseHealthSummary => ({
  status: health.status,
  primary: { ok: health.primary.ok },
  replicas: health.replicas.map((replica) => ({ ok: replica.ok })),
});
