/**
 * CORS with credentials for the configured origins only. Hand-written (thin glue): the
 * @elysiajs/cors plugin put its allow/expose headers on every response, browser or not, which
 * cost each request four headers (issue 8); here a response carries CORS headers only when the
 * request's Origin is one we trust, and every response says `Vary: Origin` so caches keep them apart.
 * A preflight (OPTIONS with Access-Control-Request-Method) is answered here, 204, before routing.
 */
import { Elysia } from 'elysia';
import { logAnsweredBeforeRouting } from './request-context';

const METHODS = 'GET, POST, PATCH, PUT, DELETE, OPTIONS';
const ALLOWED_HEADERS = 'content-type, x-request-id, x-db-lsn, idempotency-key, authorization, if-none-match';
// ETag is not CORS-safelisted: without it a web client's script could not revalidate (If-None-Match).
const EXPOSED_HEADERS = 'x-request-id, x-db-lsn, x-db-target, retry-after, ratelimit, ratelimit-policy, idempotent-replayed, etag';
const PREFLIGHT_MAX_AGE_S = '600';

export const corsPlugin = (origins: readonly string[]) => {
  const trusted = new Set(origins);
  return new Elysia({ name: 'cors' }).onRequest(({ request, set }) => {
    set.headers.vary = 'Origin';
    const origin = request.headers.get('origin');
    const allowed = origin !== null && trusted.has(origin);
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
      const headers: Record<string, string> = { vary: 'Origin' };
      if (allowed) {
        headers['access-control-allow-origin'] = origin;
        headers['access-control-allow-credentials'] = 'true';
        headers['access-control-allow-methods'] = METHODS;
        headers['access-control-allow-headers'] = ALLOWED_HEADERS;
        headers['access-control-max-age'] = PREFLIGHT_MAX_AGE_S;
      }
      logAnsweredBeforeRouting(request, 204);
      return new Response(null, { status: 204, headers });
    }
    if (allowed) {
      set.headers['access-control-allow-origin'] = origin;
      set.headers['access-control-allow-credentials'] = 'true';
      set.headers['access-control-expose-headers'] = EXPOSED_HEADERS;
    }
    return undefined;
  });
};
