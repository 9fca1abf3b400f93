/**
 * The one Stripe client. Every call the service makes to Stripe goes through the official SDK
 * built here: against api.stripe.com in production, against the local Stripe-compatible server
 * (src/dev/stripe-local) in development and tests, so both run the same code path.
 */
import Stripe from 'stripe';
import type { AppConfig } from '../config/env';

export type { Stripe };

export function createStripeClient(config: AppConfig['stripe']): Stripe {
  const base = config.apiBase;
  return new Stripe(config.secretKey, {
    // Our jobs retry, with the same idempotency key, on their own schedule; an SDK retry inside a
    // request would only add to the request's time.
    maxNetworkRetries: 0,
    timeout: config.timeoutMs,
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol === 'https:' ? ('https' as const) : ('http' as const),
        }
      : {}),
  });
}
