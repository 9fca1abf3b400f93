import type { DatabaseCluster } from '../../config/database';

export type Lifecycle = { draining: boolean; readonly startedAt: number };

export const createLifecycle = (): Lifecycle => ({ draining: false, startedAt: Date.now() });

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
