/**
 * The HTTP side: Bun.serve, API-key auth, routing to the endpoints, injected faults and
 * Idempotency-Key handling, in Stripe's order: auth, then the parameters' shape (a malformed
 * request stores nothing), then the key (replay, conflict or claim), then the endpoint.
 */
import type { Server } from 'bun';
import type { Route } from './context';
import { createControlHandler } from './control-routes';
import type { TestControls } from './controls';
import { StripeApiError, apiError, invalidRequest } from './errors';
import type { Faults } from './faults';
import { parseForm } from './form';
import type { IdempotencyKeys } from './idempotency';
import { Params } from './params';
import { type Store, expanded, newId } from './state';
import type { Logger, WebhookDispatcher } from './webhooks';

export type ServerParts = {
  hostname: string;
  port: number;
  store: Store;
  routes: readonly Route[];
  dispatcher: WebhookDispatcher;
  faults: Faults;
  idempotency: IdempotencyKeys;
  controls: TestControls;
  logger: Logger;
};

type Outcome = { status: number; body: string };

const NO_KEY_MESSAGE =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').";

const redact = (key: string): string => (key.length > 12 ? `${key.slice(0, 8)}${'*'.repeat(key.length - 12)}${key.slice(-4)}` : '****');

/** The API key of Bearer auth (or Basic with the key as user name, as curl -u sends it). */
function apiKeyOf(request: Request): string {
  const [scheme = '', credential = ''] = (request.headers.get('authorization') ?? '').trim().split(/\s+/, 2);
  let key = '';
  if (/^bearer$/i.test(scheme)) key = credential;
  else if (/^basic$/i.test(scheme)) {
    try {
      key = atob(credential).split(':')[0] ?? '';
    } catch {
      // Not base64: no key, answered below.
    }
  }
  if (key === '') throw new StripeApiError(401, 'invalid_request_error', NO_KEY_MESSAGE);
  // Test-mode keys only: this server must never be mistaken for live Stripe.
  if (!/^(sk|rk)_test_\w+$/.test(key)) throw new StripeApiError(401, 'invalid_request_error', `Invalid API Key provided: ${redact(key)}`);
  return key;
}

/** A closed connection, no response: the client sees ECONNRESET. */
function dropConnection(): Response {
  // Bun closes the socket when the body fails before its first byte; an error without a reason
  // keeps Bun from logging it as an unhandled error.
  return new Response(new ReadableStream({ start: (controller) => controller.error() }));
}

const errorOutcome = (error: StripeApiError): Outcome => ({ status: error.status, body: JSON.stringify(error.body(), null, 2) });

const reply = (outcome: Outcome, requestId: string, headers: Record<string, string> = {}): Response =>
  new Response(outcome.body, {
    status: outcome.status,
    headers: { 'content-type': 'application/json', 'request-id': requestId, ...headers },
  });

/** Listens; `url` is the base URL without a trailing slash. */
export function startServer(parts: ServerParts): { server: Server<undefined>; url: string } {
  const { store, routes, dispatcher, faults, idempotency, logger } = parts;
  const controlHandler = createControlHandler(parts.controls);
  let serverUrl = '';

  function findRoute(method: string, path: string): { route: Route; id: string } | null {
    for (const route of routes) {
      const match = route.method === method ? route.pattern.exec(path) : null;
      if (match) return { route, id: decodeURIComponent(match[1] ?? '') };
    }
    return null;
  }

  /** Runs the endpoint: its result (expanded as asked) or its error, never a throw. */
  function execute(route: Route, id: string, params: Params, path: string, requestId: string, idempotencyKey: string | null): Outcome {
    const origin = { requestId, idempotencyKey };
    const emit = (type: string, object: object, account?: string): void => {
      dispatcher.emit(type, object, origin, account);
    };
    try {
      const result = route.handle({ store, emit, serverUrl, id, params, path });
      return { status: 200, body: JSON.stringify(expanded(result, params.expand(), store), null, 2) };
    } catch (error) {
      if (error instanceof StripeApiError) return errorOutcome(error);
      logger.warn({ path, error: error instanceof Error ? error.message : String(error) }, 'local Stripe: endpoint failed');
      return errorOutcome(apiError());
    }
  }

  async function handleApi(request: Request, url: URL, server: Server<undefined>, requestId: string): Promise<Response> {
    const { method } = request;
    const path = url.pathname;
    const apiKey = apiKeyOf(request);
    // Acting as a connected account is not imitated; saying so beats silently acting as the platform.
    if (request.headers.has('stripe-account'))
      throw invalidRequest('The local Stripe server does not support the Stripe-Account header.', undefined, 'parameter_unknown');
    const fault = faults.take(method, path);
    if (fault === 'error_500') return reply(errorOutcome(apiError('An unknown error occurred (injected by the local Stripe server).')), requestId);
    if (fault === 'connection_reset') return dropConnection();

    const found = findRoute(method, path);
    if (!found) throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
    const params = new Params(parseForm(method === 'GET' ? url.searchParams : await request.text()));
    params.assertKnown(found.route.params);

    const key = method === 'POST' ? request.headers.get('idempotency-key') : null;
    const keyHeader: Record<string, string> = key === null ? {} : { 'idempotency-key': key };
    const claim = key === null ? null : idempotency.claim(apiKey, key, path, params.form);
    if (claim?.kind === 'replay')
      return reply(claim.response, requestId, { ...keyHeader, 'idempotent-replayed': 'true', 'original-request': claim.response.requestId });

    // A held request must outlive Bun's idle timeout: the hold has its own bound.
    if (fault === 'hang_before' || fault === 'timeout_after') server.timeout(request, 0);
    if (fault === 'hang_before') {
      await faults.hold();
      claim?.abandon();
      return dropConnection();
    }
    const outcome = execute(found.route, found.id, params, path, requestId, key);
    claim?.finish({ ...outcome, requestId });
    if (fault === 'timeout_after') await faults.hold();
    return reply(outcome, requestId, keyHeader);
  }

  const server = Bun.serve({
    hostname: parts.hostname,
    port: parts.port,
    async fetch(request, bunServer) {
      const url = new URL(request.url);
      if (url.pathname.startsWith('/_local/')) return controlHandler(request, url);
      const requestId = newId('req', 14);
      try {
        if (!url.pathname.startsWith('/v1/'))
          throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${request.method}: ${url.pathname}).`);
        return await handleApi(request, url, bunServer, requestId);
      } catch (error) {
        if (error instanceof StripeApiError) return reply(errorOutcome(error), requestId);
        logger.warn({ path: url.pathname, error: error instanceof Error ? error.message : String(error) }, 'local Stripe: request failed');
        return reply(errorOutcome(apiError()), requestId);
      }
    },
  });
  serverUrl = `http://${parts.hostname.includes(':') ? `[${parts.hostname}]` : parts.hostname}:${server.port}`;
  return { server, url: serverUrl };
}
