/**
 * GET /metrics: Prometheus text exposition (prom-client): the process's request latency,
 * in-flight requests, WebSocket, webhook, job and rate-limit counters and its default process
 * metrics, with this app's database pools, replicas, reads, job backlogs and last ledger check.
 * Not public in production: `Authorization: Bearer <METRICS_TOKEN>` (src/lib/bearer.ts).
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { DatabaseCluster } from '../../db';
import type { JobQueue } from '../../jobs';
import { presentsToken, type TokenAccess } from '../../lib/bearer';
import { defineErrors, HttpError } from '../../lib/errors';
import { commonErrors, errorSchema } from '../../lib/http';
import type { ModuleInfo } from '../module';
import { METRICS_CONTENT_TYPE, renderMetrics } from './service';

export const METRICS_ERRORS = defineErrors({
  METRICS_TOKEN_REQUIRED: { status: 401, message: 'Send Authorization: Bearer <METRICS_TOKEN>' },
});

/** 401 with the challenge Prometheus (or a person) needs: the API's /metrics and a worker's port alike. */
export const metricsTokenRequired = (): HttpError => {
  const { status, message } = METRICS_ERRORS.codes.METRICS_TOKEN_REQUIRED;
  return new HttpError(status, 'METRICS_TOKEN_REQUIRED', message, undefined, { 'www-authenticate': 'Bearer realm="metrics"' });
};

export const metricsModule: ModuleInfo = {
  tag: { name: 'metrics', description: 'Prometheus metrics' },
  errors: METRICS_ERRORS.codes,
};

export type MetricsDeps = { database: DatabaseCluster; jobs: JobQueue; access: TokenAccess };

export const metricsRoutes = (deps: MetricsDeps) => {
  const tokenRequired = deps.access.token !== undefined || !deps.access.openWithoutToken;
  return new Elysia({ tags: [metricsModule.tag.name] }).get(
    '/metrics',
    async ({ set, request }) => {
      if (!presentsToken(deps.access, request.headers.get('authorization'))) throw metricsTokenRequired();
      set.headers['content-type'] = METRICS_CONTENT_TYPE;
      return renderMetrics(deps.database, deps.jobs);
    },
    {
      response: { 200: z.string().max(10_000_000), 401: errorSchema, ...commonErrors },
      detail: {
        summary: 'Prometheus metrics',
        description:
          'Request latency by method, route template and status class; requests in flight; database pools (size, in use, ' +
          'waiting), replica state and lag, routed reads; job backlogs, failures and dead letters; WebSocket connections and ' +
          'frames; Stripe webhook outcomes; rate-limit refusals; the last ledger check; process metrics. With METRICS_TOKEN set ' +
          '(and always in production) it needs `Authorization: Bearer <METRICS_TOKEN>`: 401 METRICS_TOKEN_REQUIRED otherwise.',
        // Open outside production without a token: the document says which this instance is.
        security: tokenRequired ? [{ metricsToken: [] }] : [{ metricsToken: [] }, {}],
      },
    },
  );
};

export { type OperationsSnapshot, operationsSnapshot, REPLICA_STATES } from './service';
