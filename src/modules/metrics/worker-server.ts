/**
 * `bun run worker` has no API, yet its job failures, pools and queue backlogs are counted in its
 * own memory: with WORKER_METRICS_PORT set it serves GET /metrics there (the same rendering and the
 * same bearer token as the API's), so Prometheus scrapes each worker like an instance. Nothing
 * else is served: any other request is 404 in the one error format.
 */
import type { Server } from 'bun';
import type { DatabaseCluster } from '../../db';
import type { JobQueue } from '../../jobs';
import { presentsToken, type TokenAccess } from '../../lib/bearer';
import { COMMON_ERRORS, httpErrorResponse } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { securityHeaders, stampSecurityHeaders } from '../../plugins/security-headers';
import { metricsTokenRequired } from './index';
import { METRICS_CONTENT_TYPE, renderMetrics } from './service';

export type WorkerMetricsOptions = {
  database: DatabaseCluster;
  jobs: JobQueue;
  access: TokenAccess;
  logger: Logger;
  port: number;
  hostname: string;
  /** The public URL (BETTER_AUTH_URL): HSTS only when it is https, as on the API. */
  publicUrl: string;
};

export function serveWorkerMetrics(options: WorkerMetricsOptions): Server<unknown> {
  const headers = securityHeaders(options.publicUrl);
  const answer = async (request: Request): Promise<Response> => {
    // As on the API (src/serve.ts): Bun builds the URL from the Host header, which may not parse.
    if (!URL.canParse(request.url)) return httpErrorResponse(COMMON_ERRORS.error('INVALID_HOST'));
    const { pathname } = new URL(request.url);
    if (pathname !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      return httpErrorResponse(COMMON_ERRORS.error('NOT_FOUND', 'A worker serves GET /metrics only'));
    }
    if (!presentsToken(options.access, request.headers.get('authorization'))) return httpErrorResponse(metricsTokenRequired());
    const body = await renderMetrics(options.database, options.jobs);
    return new Response(request.method === 'HEAD' ? null : body, { headers: { 'content-type': METRICS_CONTENT_TYPE } });
  };
  // Every answer, errors included, as the API's: security headers, and no cache may keep it.
  const finish = (response: Response): Response => {
    response.headers.set('cache-control', 'no-store');
    return stampSecurityHeaders(response, headers);
  };
  return Bun.serve({
    port: options.port,
    hostname: options.hostname,
    async fetch(request) {
      try {
        return finish(await answer(request));
      } catch (error) {
        options.logger.error({ err: error }, 'worker metrics: the scrape failed');
        return finish(httpErrorResponse(COMMON_ERRORS.error('INTERNAL_SERVER_ERROR')));
      }
    },
  });
}
