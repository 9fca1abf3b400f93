/**
 * A small, stateful, local Stripe-compatible server for development and tests. The service's own
 * stripe SDK client (src/lib/stripe.ts) is pointed at it, so tests run the production code path:
 * the SDK, its form encoding, its typed errors, Idempotency-Key headers, signed webhooks.
 *
 * API (under /v1, `Authorization: Bearer sk_test_...`): customers; payment_intents (+ confirm,
 * cancel) with Stripe's test cards (pm_card_visa, pm_card_mastercard, pm_card_chargeDeclined,
 * pm_card_chargeDeclinedInsufficientFunds, pm_card_createDispute); setup_intents (+ confirm);
 * payment_methods (list, retrieve, attach, detach); refunds; accounts and account_links (Express);
 * transfers (+ reversals). Anything else is Stripe's 404. See the endpoint files for details.
 *
 * Test controls, in process (the returned LocalStripe) and over HTTP (JSON, no API key):
 *   GET    /_local/onboarding/:account?return_url=...   completes onboarding, 302 to return_url
 *                                                         (the URL account links point to)
 *   POST   /_local/webhooks/configure  {duplicate?, delayMs?, hold?}
 *   POST   /_local/webhooks/flush      {order?: 'created' | 'reverse'}
 *   GET    /_local/webhooks/events?type=...
 *   GET    /_local/webhooks/deliveries
 *   POST   /_local/faults              {method: 'POST'|'GET', path: '<regex source>', mode, times?}
 *                                       mode: hang_before | timeout_after | error_500 | connection_reset
 *   DELETE /_local/faults               clears the rules; POST /_local/faults/release frees held requests
 *   POST   /_local/accounts/:id/complete_onboarding
 *   POST   /_local/accounts/:id/restrict        {currently_due: string[]}
 *   POST   /_local/accounts/:id/payout_failure  {amount, currency, failure_code?, failure_message?}
 *   POST   /_local/charges/:id/refund           {amount?}
 *   POST   /_local/charges/:id/dispute
 *   POST   /_local/disputes/:id/close           {status: 'won' | 'lost'}
 *   POST   /_local/transfers/:id/reverse        {amount?}
 *   GET    /_local/state/:collection            customers, payment_methods, payment_intents, charges,
 *                                                refunds, disputes, setup_intents, accounts, transfers, payouts
 * e.g. curl -X POST localhost:12111/_local/faults -d '{"method":"POST","path":"^/v1/transfers$","mode":"error_500"}'
 *
 * Webhooks go to a URL (fetch) or a function (a test passes `(req) => app.handle(req)`; the
 * Request's URL is then http://localhost/webhooks/stripe), signed with the webhook secret.
 */
import { connectRoutes } from './connect';
import type { Ops } from './context';
import { type TestControls, createTestControls } from './controls';
import { customerRoutes } from './customers';
import { Faults } from './faults';
import { IdempotencyKeys } from './idempotency';
import { paymentRoutes } from './payments';
import { startServer } from './server';
import { Store } from './state';
import { type Logger, type WebhookTarget, WebhookDispatcher } from './webhooks';

export type { WebhookTarget, Logger as LocalStripeLogger };
export type { TestControls } from './controls';
export type { FaultMode, FaultSpec } from './faults';
export type { DeliveryAttempt, FlushOrder, StripeEvent, WebhookSettings } from './webhooks';
export type { PayoutFailure } from './connect';
export { FUNCTION_TARGET_URL } from './webhooks';

export type LocalStripeOptions = {
  /** 0 = a free port. */
  port?: number;
  /** Default 127.0.0.1: the controls have no authentication. */
  hostname?: string;
  webhookSecret: string;
  /** Where events go; null or absent = recorded only. */
  webhookTarget?: WebhookTarget | null;
  logger?: Logger;
};

export type LocalStripe = TestControls & {
  /** e.g. http://127.0.0.1:54321 (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Stops listening, drops queued events and frees held requests. */
  stop(): Promise<void>;
  setWebhookTarget(target: WebhookTarget | null): void;
  /** Stripe forgets an idempotency key 24 h after its first use: `forgetAll` is that day passing. */
  idempotency: { forgetAll(): void };
};

const silent: Logger = { info: () => undefined, warn: () => undefined };

export async function startLocalStripe(options: LocalStripeOptions): Promise<LocalStripe> {
  const logger = options.logger ?? silent;
  const hostname = options.hostname ?? '127.0.0.1';
  const store = new Store();
  const faults = new Faults();
  const dispatcher = new WebhookDispatcher(options.webhookSecret, options.webhookTarget ?? null, logger);
  // Changes made through the controls have no request behind them (request.id null in events).
  const controlOps: Ops = {
    store,
    emit: (type, object, account) => {
      dispatcher.emit(type, object, { requestId: null, idempotencyKey: null }, account);
    },
  };
  const controls = createTestControls(controlOps, dispatcher, faults);
  const keys = new IdempotencyKeys();
  const { server, url } = startServer({
    hostname,
    port: options.port ?? 0,
    store,
    routes: [...customerRoutes, ...paymentRoutes, ...connectRoutes],
    dispatcher,
    faults,
    idempotency: keys,
    controls,
    logger,
  });
  logger.info({ url }, 'local Stripe server listening');

  return {
    ...controls,
    url,
    port: Number(new URL(url).port),
    setWebhookTarget: (target) => dispatcher.setTarget(target),
    idempotency: { forgetAll: () => keys.forgetAll() },
    stop: async () => {
      faults.release();
      await server.stop(true);
      await dispatcher.stop();
    },
  };
}
