/** Probes for the load balancer: /health (liveness, 503 while draining) and /health/db. */
import { Elysia } from 'elysia';
import type { DatabaseCluster } from '../../db';
import { presentsToken, type TokenAccess } from '../../lib/bearer';
import { errorSchema } from '../../lib/http';
import type { ModuleInfo } from '../module';
import { databaseHealthSchema, databaseHealthSummarySchema, livenessSchema } from './schemas';
import { databaseHealth, type Lifecycle, liveness, summarizeHealth } from './service';

export const healthModule: ModuleInfo = {
  tag: { name: 'health', description: 'Probes for load balancers' },
  errors: {},
};

export const healthRoutes = (deps: { database: DatabaseCluster; lifecycle: Lifecycle; version: string; detail: TokenAccess }) =>
  new Elysia({ prefix: '/health', tags: [healthModule.tag.name] })
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
      async ({ set, request }) => {
        const health = await databaseHealth(deps.database);
        if (!health.primary.ok) set.status = 503;
        return presentsToken(deps.detail, request.headers.get('authorization')) ? health : summarizeHealth(health);
      },
      {
        response: {
          200: databaseHealthSchema.or(databaseHealthSummarySchema),
          503: databaseHealthSchema.or(databaseHealthSummarySchema),
          500: errorSchema,
        },
        detail: {
          summary: 'Database probe',
          description:
            '200 when the primary answers, 503 otherwise; answers within 2 s even when a database hangs. ' +
            'Anyone gets the status and `ok` per node. The detail (node names, latency, replica state and lag, ' +
            'reads served) needs `Authorization: Bearer <OPS_TOKEN>` in production; outside production without ' +
            'an OPS_TOKEN everyone sees it.',
          security: [],
        },
      },
    );
