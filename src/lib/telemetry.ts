/**
 * OpenTelemetry traces: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (config.tracing). When off,
 * nothing is started or loaded (the SDK is imported on start) and every helper here is one check
 * of a variable. When on: a root span per request (an incoming `traceparent` continued), spans for
 * database statements and transactions (src/db/pools.ts), Stripe calls (src/lib/stripe.ts), jobs
 * (src/jobs/queue.ts, beside pg-boss's own send/process spans) and WebSocket fan-out
 * (src/modules/realtime/hub.ts); the active span's ids go into every log line (src/lib/logger.ts).
 *
 * What a span may carry is decided here and by its callers: method, route template, status,
 * statement kind, pool name, queue name, counts. Never headers, cookies, query strings, bodies,
 * SQL text or its values. Not @elysiajs/opentelemetry: it records cookies, the authorization
 * header and request bodies (passwords) as attributes. Libraries that trace themselves through the
 * global API (Better-Auth, pg-boss) record exceptions with their messages, and drizzle puts query
 * values in those ("params: ..."): the exporter cuts them, as the logger does.
 */
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  INVALID_SPAN_CONTEXT,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter, TracerProvider } from '@opentelemetry/sdk-trace';
import type { AppConfig } from '../config/env';
import { withoutParams } from './logger';

export { SpanKind, SpanStatusCode };

let tracer: Tracer | null = null;
let provider: TracerProvider | null = null;

/** Whether spans are being recorded (pg-boss's own telemetry is switched by it, src/jobs/queue.ts). */
export const tracingActive = (): boolean => tracer !== null;

export type TracingOptions = {
  serviceName: string;
  serviceVersion: string;
  /** This process among several (service.instance.id). */
  instanceId?: string;
  /** The OTLP/HTTP collector (spans batched). */
  endpoint?: URL;
  /** Instead of an endpoint (tests): each span is handed over as it ends. */
  exporter?: SpanExporter;
};

/** Pending spans get this long at shutdown; an unreachable collector must not hold the exit. */
const SHUTDOWN_FLUSH_MS = 3_000;
const EXPORT_TIMEOUT_MS = 5_000;

/** OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; the traces path is appended unless given. */
export const otlpTracesUrl = (endpoint: URL): string =>
  /\/v1\/traces\/?$/.test(endpoint.pathname) ? endpoint.href : new URL('v1/traces', endpoint.href.endsWith('/') ? endpoint.href : `${endpoint.href}/`).href;

/**
 * Registers the tracer provider, W3C trace-context propagation and an AsyncLocalStorage context
 * (it follows awaits through postgres-js, Elysia's hooks and timers on Bun). Call before the job
 * queue is created: pg-boss's telemetry is switched on at its construction.
 */
export async function startTracing(options: TracingOptions): Promise<void> {
  if (provider) throw new Error('tracing is already started');
  const [sdk, { defaultResource, resourceFromAttributes }, { AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
  ]);
  let processor: InstanceType<typeof sdk.SimpleSpanProcessor> | InstanceType<typeof sdk.BatchSpanProcessor>;
  if (options.exporter) {
    processor = new sdk.SimpleSpanProcessor({ exporter: redacting(options.exporter) });
  } else if (options.endpoint) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    const exporter = new OTLPTraceExporter({ url: otlpTracesUrl(options.endpoint), timeoutMillis: EXPORT_TIMEOUT_MS });
    processor = new sdk.BatchSpanProcessor({ exporter: redacting(exporter), exportTimeoutMillis: EXPORT_TIMEOUT_MS });
  } else {
    throw new Error('tracing needs an endpoint or an exporter');
  }
  const resource = defaultResource().merge(
    resourceFromAttributes({
      'service.name': options.serviceName,
      'service.version': options.serviceVersion,
      ...(options.instanceId ? { 'service.instance.id': options.instanceId } : {}),
    }),
  );
  const started = new sdk.TracerProvider({ resource, spanProcessors: [processor] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(started);
  provider = started;
  tracer = started.getTracer('bountyexpo-api', options.serviceVersion);
}

/** The process's tracing per its config: started only when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
export async function startTracingFromConfig(config: Pick<AppConfig, 'tracing' | 'version'>, instanceId: string): Promise<boolean> {
  const { endpoint, serviceName } = config.tracing;
  if (!endpoint) return false;
  await startTracing({ serviceName, serviceVersion: config.version, instanceId, endpoint });
  return true;
}

/**
 * Stops recording, then sends what is pending (bounded: the collector may be gone). A no-op when
 * tracing is off. The globals are released, so a test's tracing ends with the test.
 */
export async function stopTracing(timeoutMs = SHUTDOWN_FLUSH_MS): Promise<void> {
  const current = provider;
  if (!current) return;
  tracer = null;
  provider = null;
  trace.disable();
  propagation.disable();
  context.disable();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  await Promise.race([current.shutdown().catch(() => undefined), deadline]);
  clearTimeout(timer);
}

// --- spans -------------------------------------------------------------------------------------

/** What work gets when tracing is off: setting attributes on it does nothing. */
const NO_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The type of an error, never its message (drizzle's carries the statement's values). */
function recordFailure(span: Span, error: unknown): void {
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : null;
  span.setAttribute('error.type', code ?? (error instanceof Error ? error.constructor.name : 'unknown'));
  span.setStatus({ code: SpanStatusCode.ERROR });
}

export type SpanOptions = {
  kind?: SpanKind;
  attributes?: Attributes;
  /** A trace of its own (background work: whatever context started it is not its cause). */
  root?: boolean;
  /** Only inside a trace: a statement polled by a background loop is not worth a trace of its own. */
  requireParent?: boolean;
};

/**
 * Runs `work` in a span (ended when it settles; a throw marks it failed and is rethrown). Spans
 * started inside `work` are its children. With tracing off, `work` runs as it is.
 */
export function withSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  if (!tracer) return work(NO_SPAN);
  const parent = options.root ? ROOT_CONTEXT : context.active();
  if (options.requireParent && !trace.getSpan(parent)) return work(NO_SPAN);
  const span = tracer.startSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent);
  return context.with(trace.setSpan(parent, span), async () => {
    try {
      return await work(span);
    } catch (error) {
      recordFailure(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

const STATEMENT_KIND = /^\s*\(?\s*([A-Za-z]{1,16})\b/;

/**
 * A span per database statement, inside a trace only (pg-boss's polling and the replica probes
 * have none): the statement kind (SELECT, INSERT, ...) and the pool, never the text or values.
 * `run` returns postgres-js's query, which runs once something awaits it; awaiting it here, in the
 * same tick, leaves drizzle's `.values()` (called next) in effect: postgres-js starts a tick later.
 */
export function traceStatement<T extends PromiseLike<unknown>>(pool: string, text: string, run: () => T): T {
  if (!tracer) return run();
  const parent = context.active();
  if (!trace.getSpan(parent)) return run();
  const operation = STATEMENT_KIND.exec(text)?.[1]?.toUpperCase() ?? 'UNKNOWN';
  const span = tracer.startSpan(operation, { kind: SpanKind.CLIENT, attributes: dbAttributes(pool, operation) }, parent);
  let query: T;
  try {
    query = run();
  } catch (error) {
    recordFailure(span, error);
    span.end();
    throw error;
  }
  query.then(
    () => span.end(),
    (error: unknown) => {
      recordFailure(span, error);
      span.end();
    },
  );
  return query;
}

/** A transaction's span (its statements are children), inside a trace only, like statements. */
export const traceTransaction = <T>(pool: string, run: () => Promise<T>): Promise<T> =>
  withSpan('transaction', { kind: SpanKind.CLIENT, attributes: dbAttributes(pool, 'transaction'), requireParent: true }, run);

const dbAttributes = (pool: string, operation: string): Attributes => ({
  'db.system.name': 'postgresql',
  'db.operation.name': operation,
  'bountyexpo.db.target': pool,
});

// --- requests ----------------------------------------------------------------------------------

/** The request's root span, found from the request's hooks (its context carries it). */
class RequestSpan {
  /** Elysia's context object for the request: the router stamps `route` on it once one matched. */
  /** The route template the request matched (noted by src/plugins/http-metrics.ts's transform and error hooks). */
  route: string | null = null;
  constructor(
    readonly span: Span,
    readonly method: string,
  ) {}
}
const REQUEST_SPAN = createContextKey('bountyexpo.request-span');

const headerGetter: TextMapGetter<Headers> = {
  get: (headers, key) => headers.get(key) ?? undefined,
  keys: (headers) => [...headers.keys()],
};

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);

/**
 * Runs the request's handling inside its root span (SERVER), continuing an incoming `traceparent`,
 * and ends it when the Response exists: named `<METHOD> <route template>`, with the status and the
 * request id. Ended here rather than in an after-response hook, which Elysia skips for a Response
 * returned from onRequest (the CORS preflight). Only the method and scheme are read from the
 * request; a WebSocket upgrade (no Response) is a 101.
 */
export function traceRequest(request: Request, handle: () => Promise<Response> | Response): Promise<Response> | Response {
  if (!tracer) return handle();
  const parent = propagation.extract(ROOT_CONTEXT, request.headers, headerGetter);
  const method = METHODS.has(request.method) ? request.method : '_OTHER';
  const span = tracer.startSpan(
    method,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.scheme': request.url.startsWith('https:') ? 'https' : 'http' } },
    parent,
  );
  const entry = new RequestSpan(span, method);
  const active: Context = trace.setSpan(parent, span).setValue(REQUEST_SPAN, entry);
  const answered = (response: unknown): void => finish(entry, response instanceof Response ? response : null);
  try {
    const response = context.with(active, handle);
    if (response instanceof Response) {
      answered(response);
      return response;
    }
    return response.then(
      (value) => {
        answered(value);
        return value;
      },
      (error: unknown) => {
        finish(entry, new Response(null, { status: 500 }));
        throw error;
      },
    );
  } catch (error) {
    finish(entry, new Response(null, { status: 500 }));
    throw error;
  }
}

/** The route template the request matched, to name its span by at the end (the latency histogram's hooks note it). */
export function noteRequestRoute(route: string): void {
  if (!tracer || route === '') return;
  const entry = context.active().getValue(REQUEST_SPAN);
  if (entry instanceof RequestSpan) entry.route = route;
}

function finish(entry: RequestSpan, response: Response | null): void {
  const { span, route } = entry;
  // The template only (`/bounties/:id`): a path may carry a token (a password-reset link's).
  if (route) {
    span.updateName(`${entry.method} ${route}`);
    span.setAttribute('http.route', route);
  }
  const status = response?.status ?? 101;
  span.setAttribute('http.response.status_code', status);
  const requestId = response?.headers.get('x-request-id');
  if (requestId) span.setAttribute('bountyexpo.request_id', requestId);
  if (status >= 500) {
    span.setAttribute('error.type', String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

// --- export ------------------------------------------------------------------------------------

/** Strings as they leave the process: a "params: ..." section (query values) cut, as in logs. */
function redactAttributes(attributes: Attributes): Attributes {
  let copy: Attributes | null = null;
  for (const [key, value] of Object.entries(attributes)) {
    if (typeof value !== 'string') continue;
    const cut = withoutParams(value);
    if (cut === value) continue;
    copy ??= { ...attributes };
    copy[key] = cut;
  }
  return copy ?? attributes;
}

function redactSpan(span: ReadableSpan): ReadableSpan {
  const attributes = redactAttributes(span.attributes);
  const events = span.events.map((event) => {
    if (!event.attributes) return event;
    const cut = redactAttributes(event.attributes);
    return cut === event.attributes ? event : { ...event, attributes: cut };
  });
  const message = span.status.message === undefined ? undefined : withoutParams(span.status.message);
  const changed = attributes !== span.attributes || message !== span.status.message || events.some((event, index) => event !== span.events[index]);
  if (!changed) return span;
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => span.spanContext(),
    ...(span.parentSpanContext ? { parentSpanContext: span.parentSpanContext } : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: message === undefined ? { code: span.status.code } : { code: span.status.code, message },
    attributes,
    links: span.links,
    events,
    duration: span.duration,
    ended: span.ended,
    resource: span.resource,
    instrumentationScope: span.instrumentationScope,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

/** The exporter every span leaves through: values a library put in an exception message are cut. */
function redacting(exporter: SpanExporter): SpanExporter {
  return {
    export: (spans, done) => exporter.export(spans.map(redactSpan), done),
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}
