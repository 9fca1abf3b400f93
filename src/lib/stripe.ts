/**
 * The one Stripe client. Every call the service makes to Stripe goes through the official SDK
 * built here: against api.stripe.com in production, against the local Stripe-compatible server
 * (src/dev/stripe-local) in development and tests, so both run the same code path.
 */
import Stripe from 'stripe';
import type { AppConfig } from '../config/env';
import { defineErrors, type HttpError, serviceUnavailable } from './errors';
import { SpanKind, withSpan } from './telemetry';

/** The SDK's class (its typed errors live on it); `Stripe` the type is a client. */
export { Stripe as StripeSdk };
export type { Stripe };

export function createStripeClient(config: Pick<AppConfig['stripe'], 'secretKey' | 'apiBase' | 'timeoutMs'>): Stripe {
  const base = config.apiBase;
  return new Stripe(config.secretKey, {
    // Our jobs retry, with the same idempotency key, on their own schedule; an SDK retry inside a
    // request would only add to the request's time.
    maxNetworkRetries: 0,
    timeout: config.timeoutMs,
    httpClient: tracedHttpClient(Stripe.createFetchHttpClient()),
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol === 'https:' ? ('https' as const) : ('http' as const),
        }
      : {}),
  });
}

type HttpClient = NonNullable<Stripe.StripeConfig['httpClient']>;

/** An id in a path (`pi_3Mt...`, `acct_1N...`): resource names are lowercase letters and `_` only. */
const PATH_ID = /^(?!v\d+$)(?=.*[0-9A-Z])[\w-]+$/;

/** `/v1/payment_intents/pi_3Mt.../confirm?expand[]=x` -> `/v1/payment_intents/{id}/confirm`. */
export const stripePathTemplate = (path: string): string =>
  (path.split('?')[0] ?? '')
    .split('/')
    .map((segment) => (PATH_ID.test(segment) ? '{id}' : segment))
    .join('/');

/**
 * The SDK's own HTTP client (fetch, as on Bun by default), each call a CLIENT span when traced:
 * method, path template, host and status. Never the headers (the secret key, idempotency keys,
 * the connected account), the query, the body or the ids.
 */
function tracedHttpClient(inner: HttpClient): HttpClient {
  return {
    getClientName: () => inner.getClientName(),
    makeRequest: (host, port, path, method, headers, requestData, protocol, timeout) => {
      const template = stripePathTemplate(path);
      const attributes = { 'http.request.method': method, 'url.template': template, 'server.address': host, 'server.port': Number(port) };
      return withSpan(`stripe ${method} ${template}`, { kind: SpanKind.CLIENT, attributes }, async (span) => {
        const response = await inner.makeRequest(host, port, path, method, headers, requestData, protocol, timeout);
        span.setAttribute('http.response.status_code', response.getStatusCode());
        return response;
      });
    },
  };
}

/** How the service answers when Stripe refuses or cannot be reached (the payments modules' catalog). */
export const PROVIDER_ERRORS = defineErrors({
  PAYMENT_DECLINED: { status: 402, message: 'The payment was declined' },
  PAYMENT_METHOD_NOT_FOUND: { status: 404, message: 'No such payment method' },
  PAYMENT_PROVIDER_REFUSED: { status: 422, message: 'The payment provider refused this request' },
  PAYMENT_PROVIDER_UNAVAILABLE: { status: 503, message: 'The payment provider could not be reached, retry shortly' },
});

/**
 * Whether Stripe said no for good (retrying the same request gives the same answer), as opposed
 * to a timeout, a connection failure, a rate limit or a 5xx, which a retry with the SAME
 * idempotency key may turn into a success (or reveal as one that already happened).
 */
export function isDefinitiveRefusal(error: unknown): error is Stripe.errors.StripeError {
  if (!(error instanceof Stripe.errors.StripeError)) return false;
  if (error instanceof Stripe.errors.StripeConnectionError || error instanceof Stripe.errors.StripeAPIError) return false;
  // Our key was refused (rotated, revoked, lacking a permission): ours to fix, not the user's
  // request to fail; everything waits and retries meanwhile.
  if (error instanceof Stripe.errors.StripeAuthenticationError || error instanceof Stripe.errors.StripePermissionError) return false;
  if (error instanceof Stripe.errors.StripeRateLimitError || error instanceof Stripe.errors.StripeIdempotencyError) return false;
  const status = error.statusCode ?? 0;
  return status >= 400 && status < 500 && status !== 409 && status !== 429;
}

/** A Stripe failure during a request, as our refusal: declined 402, refused 422, otherwise 503. */
export function providerRefusal(error: unknown): HttpError {
  if (error instanceof Stripe.errors.StripeCardError) return PROVIDER_ERRORS.error('PAYMENT_DECLINED', error.message);
  if (isDefinitiveRefusal(error)) {
    if (error.code === 'resource_missing' && error.param === 'payment_method') return PROVIDER_ERRORS.error('PAYMENT_METHOD_NOT_FOUND');
    return PROVIDER_ERRORS.error('PAYMENT_PROVIDER_REFUSED', error.message);
  }
  return serviceUnavailable(PROVIDER_ERRORS.codes.PAYMENT_PROVIDER_UNAVAILABLE.message, 'PAYMENT_PROVIDER_UNAVAILABLE', 2);
}

/** Runs a Stripe call during a request; its failure becomes our refusal (402, 404, 422 or 503). */
export async function callStripe<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw providerRefusal(error);
  }
}
