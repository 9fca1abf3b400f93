/**
 * A small, stateful, local server speaking Expo's push API, for development and tests: the
 * service's own expo-server-sdk is pointed at it (EXPO_BASE_URL), so pushes take the production
 * code path (chunks, tickets, receipts, the SDK's errors) and land here, recorded and logged.
 *
 * API (as Expo's):
 *   POST /--/api/v2/push/send          a message or up to 100 (gzip accepted) -> { data: tickets }
 *   POST /--/api/v2/push/getReceipts   { ids } -> { data: { [id]: receipt } }
 * Controls, in process (the returned LocalExpo) and over HTTP (JSON):
 *   GET    /_local/pushes               what was received, oldest first
 *   DELETE /_local/pushes               forget it (and every control below)
 *   POST   /_local/unregister {token}   the token answers DeviceNotRegistered from now on (tickets and receipts)
 *   POST   /_local/fail {count, status} the next `count` sends answer `status` (429 or 5xx)
 * e.g. curl localhost:12112/_local/pushes
 */
import type { Server } from 'bun';
import type { Logger } from '../../lib/logger';

export type RecordedPush = {
  ticketId: string;
  to: string;
  title: string | null;
  body: string | null;
  data: unknown;
  receivedAt: Date;
};

export type LocalExpo = {
  /** Base URL without a trailing slash (EXPO_BASE_URL). */
  url: string;
  port: number;
  /** Accepted pushes, oldest first (a failed request records nothing). */
  readonly pushes: readonly RecordedPush[];
  pushesTo(token: string): RecordedPush[];
  /** Send requests answered so far, failed ones included. */
  readonly sendRequests: number;
  unregister(token: string): void;
  failNext(count: number, status: number): void;
  /** Polls until `check` holds over the recorded pushes (bounded). */
  waitForPushes(check: (pushes: readonly RecordedPush[]) => boolean, timeoutMs?: number): Promise<readonly RecordedPush[]>;
  reset(): void;
  stop(): Promise<void>;
};

export type LocalExpoOptions = { port?: number; hostname?: string; logger?: Pick<Logger, 'info' | 'warn'> };

const MAX_MESSAGES = 100;
const TOKEN = /^(ExponentPushToken|ExpoPushToken)\[.+\]$|^[a-z\d]{8}-[a-z\d]{4}-[a-z\d]{4}-[a-z\d]{4}-[a-z\d]{12}$/i;

type Message = { to?: unknown; title?: unknown; body?: unknown; data?: unknown };
type Ticket = { status: 'ok'; id: string } | { status: 'error'; message: string; details: { error: string } };

const json = (status: number, body: unknown): Response => Response.json(body, { status });
const apiError = (status: number, code: string, message: string): Response => json(status, { errors: [{ code, message }] });

async function bodyOf(request: Request): Promise<unknown> {
  const raw = new Uint8Array(await request.arrayBuffer());
  const bytes = request.headers.get('content-encoding') === 'gzip' ? Bun.gunzipSync(raw) : raw;
  return JSON.parse(new TextDecoder().decode(bytes));
}

const textOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);

export function startLocalExpo(options: LocalExpoOptions = {}): LocalExpo {
  const logger = options.logger;
  const pushes: RecordedPush[] = [];
  const tokenOfTicket = new Map<string, string>();
  const unregistered = new Set<string>();
  const failures: number[] = [];
  let sendRequests = 0;

  const notRegistered = (token: string): Ticket => ({
    status: 'error',
    message: `"${token}" is not a registered push notification recipient`,
    details: { error: 'DeviceNotRegistered' },
  });

  async function send(request: Request): Promise<Response> {
    sendRequests += 1;
    const failure = failures.shift();
    if (failure !== undefined) {
      logger?.warn({ status: failure }, 'local Expo: failing a send as asked');
      return failure === 429 ? apiError(429, 'TOO_MANY_REQUESTS', 'Rate limit exceeded') : apiError(failure, 'INTERNAL_SERVER_ERROR', 'An unknown error occurred.');
    }
    let parsed: unknown;
    try {
      parsed = await bodyOf(request);
    } catch {
      return apiError(400, 'VALIDATION_ERROR', 'The body is not JSON');
    }
    const list = (Array.isArray(parsed) ? parsed : [parsed]) as Message[];
    // Expo counts recipients, not message objects.
    const targets = list.flatMap((message) => (Array.isArray(message.to) ? message.to : [message.to]).map((to) => ({ message, to })));
    if (targets.length > MAX_MESSAGES) return apiError(400, 'PUSH_TOO_MANY_NOTIFICATIONS', `You are trying to send more than ${MAX_MESSAGES} push notifications in one request.`);
    if (targets.some(({ to }) => typeof to !== 'string' || !TOKEN.test(to))) return apiError(400, 'VALIDATION_ERROR', '"to" must be a valid Expo push token.');
    const tickets: Ticket[] = targets.map(({ message, to }) => {
      const token = to as string;
      if (unregistered.has(token)) return notRegistered(token);
      const ticketId = crypto.randomUUID();
      tokenOfTicket.set(ticketId, token);
      const push = { ticketId, to: token, title: textOrNull(message.title), body: textOrNull(message.body), data: message.data ?? null, receivedAt: new Date() };
      pushes.push(push);
      logger?.info({ to: token, title: push.title, body: push.body }, 'local Expo: push received');
      return { status: 'ok', id: ticketId };
    });
    return json(200, { data: tickets });
  }

  async function receipts(request: Request): Promise<Response> {
    let parsed: unknown;
    try {
      parsed = await bodyOf(request);
    } catch {
      return apiError(400, 'VALIDATION_ERROR', 'The body is not JSON');
    }
    const ids = typeof parsed === 'object' && parsed !== null && 'ids' in parsed && Array.isArray(parsed.ids) ? parsed.ids : null;
    if (!ids) return apiError(400, 'VALIDATION_ERROR', '"ids" must be an array');
    const data: Record<string, unknown> = {};
    for (const id of ids) {
      const token = typeof id === 'string' ? tokenOfTicket.get(id) : undefined;
      if (token === undefined) continue;
      data[id as string] = unregistered.has(token) ? notRegistered(token) : { status: 'ok' };
    }
    return json(200, { data });
  }

  function reset(): void {
    pushes.length = 0;
    tokenOfTicket.clear();
    unregistered.clear();
    failures.length = 0;
    sendRequests = 0;
  }

  async function control(request: Request, path: string): Promise<Response> {
    if (path === '/_local/pushes' && request.method === 'GET') return json(200, { pushes });
    if (path === '/_local/pushes' && request.method === 'DELETE') {
      reset();
      return json(200, { reset: true });
    }
    const body = (await request.json().catch(() => ({}))) as Record<string, unknown>;
    if (path === '/_local/unregister' && request.method === 'POST' && typeof body.token === 'string') {
      unregistered.add(body.token);
      return json(200, { unregistered: body.token });
    }
    if (path === '/_local/fail' && request.method === 'POST' && typeof body.count === 'number' && typeof body.status === 'number') {
      for (let i = 0; i < body.count; i += 1) failures.push(body.status);
      return json(200, { failing: failures.length });
    }
    return apiError(404, 'NOT_FOUND', 'No such control');
  }

  const server: Server<undefined> = Bun.serve({
    port: options.port ?? 0,
    hostname: options.hostname ?? '127.0.0.1',
    async fetch(request) {
      // The SDK joins its base URL and path as text: tolerate a doubled slash.
      const path = new URL(request.url).pathname.replace(/\/{2,}/g, '/');
      if (request.method === 'POST' && path === '/--/api/v2/push/send') return send(request);
      if (request.method === 'POST' && path === '/--/api/v2/push/getReceipts') return receipts(request);
      if (path.startsWith('/_local/')) return control(request, path);
      return apiError(404, 'NOT_FOUND', 'Not found');
    },
  });
  const url = `http://${server.hostname}:${server.port}`;
  logger?.info({ url, sendUrl: `${url}/--/api/v2/push/send`, controls: `${url}/_local/pushes` }, 'local Expo push server listening');

  return {
    url,
    port: server.port ?? 0,
    get pushes() {
      return pushes;
    },
    pushesTo: (token) => pushes.filter((push) => push.to === token),
    get sendRequests() {
      return sendRequests;
    },
    unregister: (token) => void unregistered.add(token),
    failNext(count, status) {
      for (let i = 0; i < count; i += 1) failures.push(status);
    },
    async waitForPushes(check, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!check(pushes)) {
        if (Date.now() > deadline) throw new Error(`local Expo: the expected pushes did not arrive within ${timeoutMs} ms (got ${pushes.length})`);
        await Bun.sleep(25);
      }
      return pushes;
    },
    reset,
    stop: async () => {
      await server.stop(true);
    },
  };
}
