/** Probes for the load balancer: /health (liveness, 503 while draining) and /health/db. */
import { Elysia } from 'elysia';
import type { DatabaseCluster } from '../../config/database';
import { errorSchema } from '../../lib/http';
import { databaseHealthSchema, livenessSchema } from './schemas';
import { databaseHealth, type Lifecycle, liveness } from './service';

export const healthRoutes = (deps: { database: DatabaseCluster; lifecycle: Lifecycle; version: string }) =>
  new Elysia({ prefix: '/health', tags: ['health'] })
    .get(
      '',
      ({ set }) => {
        const body = liveness(deps.lifecycle, deps.version);
        if (body.status === 'draining') set.status = 503;
        return body;
      },
      {
        response: { 200: livenessSchema, 503: livenessSchema },
        detail: { summary: 'Liveness probe', description: '200 while serving; 503 with status "draining" once shutdown began.', security: [] },
      },
    )
    .get(
      '/db',
      async ({ set }) => {
        const body = await databaseHealth(deps.database);
        if (!body.primary.ok) set.status = 503;
        return body;
      },
      {
        response: { 200: databaseHealthSchema, 503: databaseHealthSchema, 500: errorSchema },
        detail: {
          summary: 'Database probe',
          description: 'The primary and each replica: reachability, latency, replica state and lag. 200 when the primary answers. Answers within 2 s even when a database hangs.',
          security: [],
        },
      },
    );
