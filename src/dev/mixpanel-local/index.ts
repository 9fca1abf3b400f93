/**
 * A small, stateful, local server speaking Mixpanel's ingestion API, for development and tests:
 * the service's own `mixpanel` client is pointed at it (MIXPANEL_API_HOST=127.0.0.1:<port>,
 * MIXPANEL_PROTOCOL=http), so forwarding takes the production code path and lands here, recorded.
 *
 * API (as Mixpanel's):
 *   GET  /track?data=<base64 JSON event>                  one event
 *   POST /track   body data=<base64 JSON array of events>  up to 50 (form-encoded)
 *   POST /import  the same, with HTTP Basic auth (a service account or the API secret)
 *   Each answers `1` when every event was taken, `0` when any was refused (no token, no name,
 *   more than 50); `?verbose=1` answers `{"status":1,"error":null}` instead.
 * Controls, in process (the returned LocalMixpanel) and over HTTP (JSON):
 *   GET    /_local/events         what was taken, oldest first, with the raw request bodies
 *   DELETE /_local/events         forget it
 *   POST   /_local/fail {count}   the next `count` ingestion requests answer 503
 * In process only: down(true) answers 503 to every ingestion request until down(false) (an
 * outage); refuse(check) refuses whole any request holding an event `check` picks (`0`, as a
 * validation failure would), until refuse(null).
 * e.g. curl localhost:<port>/_local/events
 */
import type { Server } from 'bun';
import type { Logger } from '../../lib/logger';

export type RecordedEvent = {
  endpoint: '/track' | '/import';
  event: string;
  properties: Record<string, unknown>;
  receivedAt: Date;
};

export type LocalMixpanel = {
  /** host:port, as MIXPANEL_API_HOST takes it. */
  host: string;
  url: string;
  /** Events taken, oldest first (a refused request records nothing). */
  readonly events: readonly RecordedEvent[];
  /** Every ingestion request's decoded payload as received, refused ones included (to search for what must never be sent). */
  readonly rawPayloads: readonly string[];
  failNext(count: number): void;
  down(on: boolean): void;
  refuse(check: ((event: { event: string; properties: Record<string, unknown> }) => boolean) | null): void;
  /** Polls until `check` holds over the recorded events (bounded). */
  waitForEvents(check: (events: readonly RecordedEvent[]) => boolean, timeoutMs?: number): Promise<readonly RecordedEvent[]>;
  reset(): void;
  stop(): Promise<void>;
};

export type LocalMixpanelOptions = { port?: number; hostname?: string; logger?: Pick<Logger, 'info' | 'warn'> };

/** Mixpanel takes at most 50 events a request. */
const MAX_BATCH = 50;

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function startLocalMixpanel(options: LocalMixpanelOptions = {}): LocalMixpanel {
  const logger = options.logger;
  const events: RecordedEvent[] = [];
  const rawPayloads: string[] = [];
  let failures = 0;
  let isDown = false;
  let refusing: ((event: { event: string; properties: Record<string, unknown> }) => boolean) | null = null;

  const answer = (verbose: boolean, error: string | null): Response =>
    verbose ? Response.json({ status: error === null ? 1 : 0, error }) : new Response(error === null ? '1' : '0', { headers: { 'content-type': 'text/plain' } });

  async function ingest(request: Request, endpoint: RecordedEvent['endpoint']): Promise<Response> {
    const url = new URL(request.url);
    const verbose = url.searchParams.get('verbose') === '1';
    if (isDown || failures > 0) {
      if (!isDown) failures -= 1;
      logger?.warn({ endpoint }, 'local Mixpanel: failing a request as asked');
      return new Response('Service Unavailable', { status: 503 });
    }
    if (endpoint === '/import' && !request.headers.get('authorization')?.startsWith('Basic ')) return answer(verbose, 'missing authentication');
    const encoded = request.method === 'POST' ? new URLSearchParams(await request.text()).get('data') : url.searchParams.get('data');
    if (encoded === null) return answer(verbose, 'no data');
    let decoded: string;
    let parsed: unknown;
    try {
      decoded = Buffer.from(encoded, 'base64').toString('utf8');
      parsed = JSON.parse(decoded);
    } catch {
      return answer(verbose, 'data is not base64-encoded JSON');
    }
    rawPayloads.push(decoded);
    const list = Array.isArray(parsed) ? parsed : [parsed];
    if (list.length > MAX_BATCH) return answer(verbose, `more than ${MAX_BATCH} events`);
    const taken: RecordedEvent[] = [];
    for (const item of list) {
      if (!isRecord(item) || typeof item.event !== 'string' || item.event === '' || !isRecord(item.properties)) return answer(verbose, 'an event needs a name and properties');
      if (typeof item.properties.token !== 'string' || item.properties.token === '') return answer(verbose, 'an event needs the project token');
      if (refusing?.({ event: item.event, properties: item.properties })) return answer(verbose, 'an event was refused as asked');
      taken.push({ endpoint, event: item.event, properties: item.properties, receivedAt: new Date() });
    }
    events.push(...taken);
    logger?.info({ endpoint, events: taken.length }, 'local Mixpanel: events received');
    return answer(verbose, null);
  }

  function reset(): void {
    events.length = 0;
    rawPayloads.length = 0;
    failures = 0;
    isDown = false;
    refusing = null;
  }

  async function control(request: Request, path: string): Promise<Response> {
    if (path === '/_local/events' && request.method === 'GET') return Response.json({ events, rawPayloads });
    if (path === '/_local/events' && request.method === 'DELETE') {
      reset();
      return Response.json({ reset: true });
    }
    const body: unknown = await request.json().catch(() => ({}));
    if (path === '/_local/fail' && request.method === 'POST' && isRecord(body) && typeof body.count === 'number') {
      failures += body.count;
      return Response.json({ failing: failures });
    }
    return Response.json({ error: 'No such control' }, { status: 404 });
  }

  const server: Server<undefined> = Bun.serve({
    port: options.port ?? 0,
    hostname: options.hostname ?? '127.0.0.1',
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === '/track' && (request.method === 'GET' || request.method === 'POST')) return ingest(request, '/track');
      if (path === '/import' && request.method === 'POST') return ingest(request, '/import');
      if (path.startsWith('/_local/')) return control(request, path);
      return new Response('Not found', { status: 404 });
    },
  });
  const host = `${server.hostname}:${server.port}`;
  logger?.info({ host, controls: `http://${host}/_local/events` }, 'local Mixpanel server listening');

  return {
    host,
    url: `http://${host}`,
    get events() {
      return events;
    },
    get rawPayloads() {
      return rawPayloads;
    },
    failNext(count) {
      failures += count;
    },
    down(on) {
      isDown = on;
    },
    refuse(check) {
      refusing = check;
    },
    async waitForEvents(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(events)) {
        if (Date.now() > deadline) throw new Error(`local Mixpanel: the expected events did not arrive within ${timeoutMs} ms (got ${events.length})`);
        await Bun.sleep(25);
      }
      return events;
    },
    reset,
    stop: async () => {
      await server.stop(true);
    },
  };
}
