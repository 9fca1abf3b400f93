/**
 * The test controls over HTTP under /_local, for developers with curl (JSON bodies, no API key;
 * the server listens on 127.0.0.1 by default). The routes are listed in index.ts's header.
 */
import { z } from 'zod';
import type { TestControls } from './controls';
import { StripeApiError } from './errors';

type Handler = (id: string, body: unknown, url: URL) => object | Response;
type ControlRoute = { method: string; pattern: RegExp; handle: Handler };

const STATE_COLLECTIONS = {
  customers: 'customers',
  payment_methods: 'paymentMethods',
  payment_intents: 'paymentIntents',
  charges: 'charges',
  refunds: 'refunds',
  disputes: 'disputes',
  setup_intents: 'setupIntents',
  accounts: 'accounts',
  transfers: 'transfers',
  payouts: 'payouts',
} as const satisfies Record<string, keyof TestControls['state']>;

const amount = z.number().int().positive();
const schemas = {
  configure: z.strictObject({ duplicate: z.boolean().optional(), delayMs: z.number().int().min(0).optional(), hold: z.boolean().optional() }),
  flush: z.strictObject({ order: z.enum(['created', 'reverse']).default('created') }),
  fault: z.strictObject({
    method: z.enum(['POST', 'GET']),
    path: z.string().min(1),
    mode: z.enum(['hang_before', 'timeout_after', 'error_500', 'connection_reset']),
    times: z.number().int().positive().optional(),
  }),
  restrict: z.strictObject({ currently_due: z.array(z.string()).min(1) }),
  payoutFailure: z.strictObject({
    amount,
    currency: z.string().length(3),
    failure_code: z.string().optional(),
    failure_message: z.string().optional(),
  }),
  amount: z.strictObject({ amount: amount.optional() }),
  close: z.strictObject({ status: z.enum(['won', 'lost']) }),
};

const ok = { ok: true };

function controlRoutes(controls: TestControls): ControlRoute[] {
  const at = (method: string, path: string, handle: Handler): ControlRoute => ({
    method,
    pattern: new RegExp(`^/_local${path.replace(':id', '([^/]+)')}$`),
    handle,
  });
  return [
    // A browser following an account link: onboarding is done at once, then back to the app.
    at('GET', '/onboarding/:id', (id, _body, url) => {
      controls.accounts.completeOnboarding(id);
      const returnUrl = url.searchParams.get('return_url');
      return returnUrl
        ? Response.redirect(returnUrl, 302)
        : new Response(`Onboarding of ${id} is complete.\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }),
    at('POST', '/webhooks/configure', (_id, body) => {
      controls.webhooks.configure(schemas.configure.parse(body));
      return ok;
    }),
    at('POST', '/webhooks/flush', (_id, body) => {
      controls.webhooks.flush(schemas.flush.parse(body));
      return ok;
    }),
    at('GET', '/webhooks/events', (_id, _body, url) => ({ data: controls.webhooks.events(url.searchParams.get('type') ?? undefined) })),
    at('GET', '/webhooks/deliveries', () => ({ data: controls.webhooks.deliveries() })),
    at('POST', '/faults', (_id, body) => {
      const { path, ...fault } = schemas.fault.parse(body);
      controls.faults.inject({ ...fault, path: new RegExp(path) });
      return ok;
    }),
    at('DELETE', '/faults', () => {
      controls.faults.clear();
      return ok;
    }),
    at('POST', '/faults/release', () => {
      controls.faults.release();
      return ok;
    }),
    at('POST', '/accounts/:id/complete_onboarding', (id) => controls.accounts.completeOnboarding(id)),
    at('POST', '/accounts/:id/restrict', (id, body) => controls.accounts.restrict(id, schemas.restrict.parse(body).currently_due)),
    at('POST', '/accounts/:id/payout_failure', (id, body) => {
      const failure = schemas.payoutFailure.parse(body);
      return controls.payouts.fail(id, {
        amount: failure.amount,
        currency: failure.currency,
        failureCode: failure.failure_code,
        failureMessage: failure.failure_message,
      });
    }),
    at('POST', '/charges/:id/refund', (id, body) => controls.charges.refund(id, schemas.amount.parse(body).amount)),
    at('POST', '/charges/:id/dispute', (id) => controls.charges.dispute(id)),
    at('POST', '/disputes/:id/close', (id, body) => controls.disputes.close(id, schemas.close.parse(body).status)),
    at('POST', '/transfers/:id/reverse', (id, body) => controls.transfers.reverse(id, schemas.amount.parse(body).amount)),
    at('GET', '/state/:id', (collection) => {
      const reader = Object.entries(STATE_COLLECTIONS).find(([name]) => name === collection)?.[1];
      if (reader === undefined)
        throw new StripeApiError(404, 'invalid_request_error', `Unknown collection '${collection}': one of ${Object.keys(STATE_COLLECTIONS).join(', ')}`);
      return { data: controls.state[reader]() };
    }),
  ];
}

const problem = (status: number, message: string): Response =>
  Response.json({ error: { type: 'invalid_request_error', message } }, { status });

async function jsonBody(request: Request): Promise<unknown> {
  const text = await request.text();
  return text.trim() === '' ? {} : JSON.parse(text);
}

/** Answers a /_local request; bad input is a 400 in Stripe's error shape. */
export function createControlHandler(controls: TestControls): (request: Request, url: URL) => Promise<Response> {
  const routes = controlRoutes(controls);
  return async (request, url) => {
    for (const route of routes) {
      const match = route.pattern.exec(url.pathname);
      if (!match || route.method !== request.method) continue;
      try {
        const result = route.handle(decodeURIComponent(match[1] ?? ''), await jsonBody(request), url);
        return result instanceof Response ? result : Response.json(result);
      } catch (error) {
        if (error instanceof StripeApiError) return Response.json(error.body(), { status: error.status });
        if (error instanceof z.ZodError) return problem(400, z.prettifyError(error));
        if (error instanceof SyntaxError) return problem(400, `Invalid JSON or pattern: ${error.message}`);
        if (error instanceof Error) return problem(400, error.message);
        throw error;
      }
    }
    return problem(404, `Unrecognized request URL (${request.method}: ${url.pathname}).`);
  };
}
