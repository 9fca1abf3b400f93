/**
 * The process's Prometheus metrics (prom-client): one registry, and the counters and gauges that
 * code anywhere in the service updates as things happen. Values read from elsewhere at scrape time
 * (pools, replicas, queue depths, the ledger check) are collected by src/modules/metrics for the
 * app whose /metrics is scraped. Metric names are what docs/operations.md's alert rules query:
 * renaming one is a change to those rules too.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const metricsRegistry = new Registry();
// Process metrics: CPU, memory, event-loop lag (the GC histogram stays empty on Bun's JavaScriptCore).
collectDefaultMetrics({ register: metricsRegistry });
// Except heap spaces: Bun's v8.getHeapSpaceStatistics() walks the whole heap on the event loop
// (140 ms with 2 M objects, 17-50 ms in a test process), stalling every request at each scrape.
// process.memoryUsage() still gives nodejs_heap_size_*_bytes at a few microseconds.
for (const kind of ['total', 'used', 'available']) metricsRegistry.removeSingleMetric(`nodejs_heap_space_size_${kind}_bytes`);

const registers = [metricsRegistry];

/** Latency by route template (never the raw path: ids would make a series per object). */
export const httpRequestDuration = new Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by method, route template and status class (2xx, 4xx, 5xx).',
  labelNames: ['method', 'route', 'status_class'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers,
});

export const httpRequestsInFlight = new Gauge({
  name: 'http_requests_in_flight',
  help: 'HTTP requests being handled right now.',
  registers,
});

export const webSocketConnections = new Gauge({
  name: 'ws_connections',
  help: 'Open WebSocket connections on this instance.',
  registers,
});

export const webSocketMessages = new Counter({
  name: 'ws_messages_total',
  help: 'WebSocket frames: received from clients (in) and sent to them (out).',
  labelNames: ['direction'] as const,
  registers,
});

export const stripeWebhookEvents = new Counter({
  name: 'stripe_webhook_events_total',
  help: 'Stripe webhook deliveries by outcome: processed, deferred, ignored, duplicate, rejected (4xx: signature, age, size), failed (5xx: Stripe retries).',
  labelNames: ['outcome'] as const,
  registers,
});

export const jobFailures = new Counter({
  name: 'job_failures_total',
  help: 'Job attempts that failed, by queue (a failure that will be retried counts too).',
  labelNames: ['queue'] as const,
  registers,
});

export const rateLimitRejections = new Counter({
  name: 'rate_limit_rejections_total',
  help: 'Requests refused with 429, by rate-limit policy.',
  labelNames: ['policy'] as const,
  registers,
});

export const analyticsForwardDropped = new Counter({
  name: 'analytics_forward_dropped_total',
  help: 'Analytics events given up on by forwarding (Mixpanel): still unsent 4 days after they were queued.',
  registers,
});
