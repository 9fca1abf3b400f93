/**
 * What Bun.serve runs for every request, for src/server.ts and the tests' listening servers alike:
 * the checks that must happen before Elysia routes anything, then the app.
 *
 * Bun answers some malformed requests itself, with an empty body, before any of this runs; those
 * thresholds are set as far out as is useful and documented in the README (Limits):
 * - bodies past `bunBodyCeilingBytes` (Bun's maxRequestBodySize): we refuse from BODY_LIMIT_BYTES up,
 *   in our format, so Bun's bare 413 only meets bodies over 64 MiB;
 * - headers past Bun's --max-http-header-size (package.json's scripts set 64 KiB; Bun's default is
 *   16 KiB): we refuse from MAX_HEADER_BYTES up with our 431;
 * - broken framing (bad Content-Length, bad chunking, a request line that is not HTTP/1.x) is Bun's
 *   400 / 505, which no handler can shape.
 */
import type { Server, WebSocketHandler } from 'bun';
import { websocket as elysiaWebsocket } from 'elysia/ws';
import type { SocketSettings } from './config/env';
import { stampClientIp } from './lib/auth';
import { COMMON_ERRORS, HttpError, httpErrorResponse } from './lib/errors';
import type { Logger } from './lib/logger';
import { traceRequest } from './lib/telemetry';
import type { SocketHub } from './modules/realtime/hub';
import { observeRequest } from './plugins/http-metrics';
import { securityHeaders, stampSecurityHeaders } from './plugins/security-headers';

/** Request line plus headers we accept; past it, 431 in our format. */
export const MAX_HEADER_BYTES = 12 * 1024;
const BUN_BODY_CEILING_BYTES = 64 * 1024 * 1024;

/** Bun's own body limit: far enough above ours that our handler sees (and refuses) what it should. */
export const bunBodyCeilingBytes = (bodyLimitBytes: number): number => Math.max(BUN_BODY_CEILING_BYTES, 2 * bodyLimitBytes);

function headerBytes(request: Request): number {
  let total = request.url.length + request.method.length;
  for (const [name, value] of request.headers) total += name.length + value.length + 4;
  return total;
}

type HandledApp = { handle: (request: Request) => Promise<Response> | Response };

/** Refused before the app saw it: still a request id and the one log line, like every request. */
function refuse(error: HttpError, request: Request, logger: Logger): Response {
  const requestId = crypto.randomUUID();
  const response = httpErrorResponse(error);
  response.headers.set('x-request-id', requestId);
  logger.info({ requestId, method: request.method, route: null, status: error.status, error: error.code }, 'request');
  // The app's latency histogram never saw it (src/plugins/http-metrics.ts): counted here, unrouted.
  observeRequest(request.method, undefined, error.status, 0);
  return response;
}

export function createFetchHandler(app: HandledApp, trustedProxies: readonly string[], logger: Logger, headers: Readonly<Record<string, string>>) {
  const stamp = (response: Response): Response => stampSecurityHeaders(response, headers);
  const route = (request: Request, server: Server<unknown>): Promise<Response> | Response => {
    // Bun builds request.url from the Host header; an unusable Host leaves a URL nothing can route
    // by (issue 7: with "Host: x", /zzzzz/health answered from /health). Short hosts are handled
    // by the app's router (src/app.ts, standardHostname: false).
    if (!URL.canParse(request.url)) return refuse(COMMON_ERRORS.error('INVALID_HOST'), request, logger);
    if (headerBytes(request) > MAX_HEADER_BYTES) {
      return refuse(new HttpError(431, 'HEADERS_TOO_LARGE', `The request line and headers exceed ${MAX_HEADER_BYTES} bytes`), request, logger);
    }
    return app.handle(stampClientIp(request, server.requestIP(request)?.address, trustedProxies));
  };
  // The one place every response passes, the refusals above included (src/plugins/security-headers.ts).
  return (request: Request, server: Server<unknown>): Promise<Response> | Response => {
    const response = traceRequest(request, () => route(request, server));
    return response instanceof Promise ? response.then(stamp) : stamp(response);
  };
}

/** Elysia declares its own copy of Bun's ServerWebSocket type, which drifted (binaryType "blob"); the handler is Bun's. */
const websocket = elysiaWebsocket as unknown as WebSocketHandler<unknown>;

export type ServeOptions = {
  /** The app; Elysia's `.ws()` upgrades through `app.server`, which this sets. */
  app: HandledApp & { server: unknown };
  hub: SocketHub;
  trustedProxies: readonly string[];
  logger: Logger;
  /** The public URL (BETTER_AUTH_URL): HSTS is sent when it is https. */
  publicUrl: string;
  bodyLimitBytes: number;
  sockets: SocketSettings;
  port: number;
  hostname: string;
  reusePort?: boolean;
  /** HTTP keep-alive idle timeout (s); sockets use WS_IDLE_TIMEOUT_S. */
  idleTimeout?: number;
};

/**
 * Bun.serve for the app, HTTP and WebSocket alike (src/server.ts and the tests' `listen()`): our
 * checks in front, Elysia's WebSocket handler with explicit bounds, and the hub publishing through
 * this server. A frame past maxPayloadLength closes with 1009; the hub closes a socket whose buffer
 * passes WS_BACKPRESSURE_LIMIT_BYTES with 1013 (Bun's limit, twice that, is the hard stop); Bun
 * pings idle sockets and drops dead ones.
 */
export function serveApp(options: ServeOptions): Server<unknown> {
  const { sockets } = options;
  const server = Bun.serve({
    port: options.port,
    hostname: options.hostname,
    reusePort: options.reusePort ?? false,
    fetch: createFetchHandler(options.app, options.trustedProxies, options.logger, securityHeaders(options.publicUrl)),
    maxRequestBodySize: bunBodyCeilingBytes(options.bodyLimitBytes),
    ...(options.idleTimeout === undefined ? {} : { idleTimeout: options.idleTimeout }),
    websocket: {
      ...websocket,
      maxPayloadLength: sockets.maxPayloadBytes,
      idleTimeout: sockets.idleTimeoutS,
      // The hub closes a slow reader with 1013 at WS_BACKPRESSURE_LIMIT_BYTES; Bun's own limit (it
      // drops the connection without a close frame) is a hard stop above that, for bytes the hub
      // does not see (pings, pongs) between its checks.
      backpressureLimit: 2 * sockets.backpressureLimitBytes,
      closeOnBackpressureLimit: true,
      sendPings: true,
    },
  });
  // app.handle drops the server argument; Elysia's ws route falls back to app.server.
  options.app.server = server;
  options.hub.attach(server);
  return server;
}
