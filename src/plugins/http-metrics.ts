/**
 * Request latency and in-flight requests (src/lib/metrics.ts), measured around the app's whole
 * handler: Elysia's onAfterResponse never runs for a Response returned from an onRequest hook (the
 * CORS preflight), so a count kept in hooks would miss those and let in-flight drift upward. Here
 * every request that reaches the app is counted once, with the status of the Response it got.
 * The time is until the Response exists (headers ready), not until its body has streamed.
 */
import { Elysia } from 'elysia';
import { httpRequestDuration, httpRequestsInFlight } from '../lib/metrics';
import { noteRequestRoute } from '../lib/telemetry';

/** Routes as labels: a bounded set. Unmatched paths share one, or a scan would mint a series per path. */
export const UNMATCHED_ROUTE = 'unmatched';
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The route each request matched, noted by the hooks below while it is handled. */
const routeByRequest = new WeakMap<Request, string>();

const routeLabel = (route: string | undefined): string => (!route || route === '*' || route === '/*' ? UNMATCHED_ROUTE : route);

type Observer = { observe(seconds: number): void };
/** Children per label set: prom-client hashes the labels object on every observe() (2.9 µs against 1.5). */
const observers = new Map<string, Observer>();

/** One finished request in the histogram (also for requests refused before the app, src/serve.ts). */
export function observeRequest(method: string, route: string | undefined, status: number, seconds: number): void {
  const labels = { method: METHODS.has(method) ? method : 'other', route: routeLabel(route), status_class: `${Math.floor(status / 100)}xx` };
  const key = `${labels.method} ${labels.status_class} ${labels.route}`;
  let observer = observers.get(key);
  if (!observer) {
    observer = httpRequestDuration.labels(labels);
    observers.set(key, observer);
  }
  observer.observe(seconds);
}

/** A WebSocket upgrade answers no Response (Bun took the connection): 101. */
const statusOf = (response: unknown): number => (response instanceof Response ? response.status : 101);

function finished(request: Request, startedAt: number, status: number): void {
  httpRequestsInFlight.dec();
  observeRequest(request.method, routeByRequest.get(request), status, (performance.now() - startedAt) / 1000);
}

export const httpMetrics = () =>
  new Elysia({ name: 'http-metrics' })
    // The matched route, from hooks that only read `request` and `route` (a hook given the whole
    // context makes Elysia prepare all of it, query and cookies included, for every request).
    // Transform runs for every routed request; onError also sees those refused before it (a bad body).
    // The same route names the request's root span (src/lib/telemetry.ts).
    .onTransform({ as: 'global' }, ({ request, route }) => {
      routeByRequest.set(request, route);
      noteRequestRoute(route);
    })
    .onError({ as: 'global' }, ({ request, route }) => {
      routeByRequest.set(request, route);
      noteRequestRoute(route);
    })
    // Elysia calls a wrapper per request and then calls what it returns with the request.
    .wrap((handle) => (request: Request) => {
      const startedAt = performance.now();
      httpRequestsInFlight.inc();
      let result: unknown;
      try {
        result = handle(request);
      } catch (error) {
        finished(request, startedAt, 500);
        throw error;
      }
      if (!(result instanceof Promise)) {
        finished(request, startedAt, statusOf(result));
        return result;
      }
      return result.then(
        (response: unknown) => {
          finished(request, startedAt, statusOf(response));
          return response;
        },
        (error: unknown) => {
          finished(request, startedAt, 500);
          throw error;
        },
      );
    });
