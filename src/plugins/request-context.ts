/**
 * Request id (x-request-id in and out) and one JSON log line per request:
 * method, route, status, duration, request id, and the database target that served it.
 */
import { Elysia } from 'elysia';
import type { Logger } from '../lib/logger';

const REQUEST_ID = /^[\w.:-]{1,128}$/;

type RequestMeta = { id: string; startedAt: number; logged: boolean };
// Keyed by the Request object: available in every hook, including onError and onAfterResponse.
const metaByRequest = new WeakMap<Request, RequestMeta>();

/** The request's id (x-request-id): what an audit row records so it meets the request's log line. */
export const requestIdOf = (request: Request): string | null => metaByRequest.get(request)?.id ?? null;

/** Database targets are recorded here by the database plugin so the log line can name them. */
export const dbTargetsByRequest = new WeakMap<Request, string[]>();

/**
 * Requests whose log line is not written yet. The line is written after the response has gone
 * out, so a graceful shutdown waits for this to reach 0 before flushing the log (src/server.ts).
 */
export type UnloggedRequests = { count: number };

type RequestLine = { request: Request; route: string | null; status: number };

/**
 * A Response returned from an onRequest hook (the CORS preflight, src/plugins/cors.ts) skips
 * Elysia's onAfterResponse: the plugin answering that early writes its line through this. Without
 * it a preflight had no log line, and each one left `unlogged` one higher for good, so a graceful
 * shutdown waited out its whole deadline (found in issue 13's review).
 */
const earlyAnswerLoggers = new WeakMap<Request, (status: number) => void>();
export const logAnsweredBeforeRouting = (request: Request, status: number): void => earlyAnswerLoggers.get(request)?.(status);

/** `logger` writes only the request line: fixed, safe fields (it may be an unredacted logger). */
export const requestContext = (options: { logger: Logger; unlogged?: UnloggedRequests }) => {
  const writeLine = ({ request, route, status }: RequestLine): void => {
    const meta = metaByRequest.get(request);
    if (meta?.logged) return;
    if (meta) meta.logged = true;
    const targets = dbTargetsByRequest.get(request);
    // Still in the request's context (its root span's, src/lib/telemetry.ts): the line carries its trace id.
    options.logger.info(
      {
        requestId: meta?.id,
        method: request.method,
        route: route || new URL(request.url).pathname,
        status,
        durationMs: meta ? Math.round((performance.now() - meta.startedAt) * 10) / 10 : undefined,
        dbTarget: targets && targets.length > 0 ? [...new Set(targets)].join(',') : undefined,
      },
      'request',
    );
    if (options.unlogged) options.unlogged.count -= 1;
  };
  return (
    new Elysia({ name: 'request-context' })
      .onRequest(({ request, set }) => {
        if (options.unlogged) options.unlogged.count += 1;
        const incoming = request.headers.get('x-request-id');
        // A client-supplied id is kept only when it is short and plain: it lands in our logs.
        const id = incoming && REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
        metaByRequest.set(request, { id, startedAt: performance.now(), logged: false });
        earlyAnswerLoggers.set(request, (status) => writeLine({ request, route: null, status }));
        set.headers['x-request-id'] = id;
      })
      .onAfterResponse({ as: 'global' }, ({ request, set, route, responseValue }) => {
        // A raw Response (Better-Auth's) carries its own status; set.status would read 200.
        const status = responseValue instanceof Response ? responseValue.status : Number(set.status ?? 200);
        writeLine({ request, route, status });
      })
  );
};
