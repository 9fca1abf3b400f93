/**
 * POST /webhooks/stripe: Stripe's events, verified on the raw body and applied once (service.ts).
 * It reads its own body (`parse: 'none'`), so the error handler mounts it ahead of the body
 * parser, as it does Better-Auth's handler, and it renders its own errors in the one format.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { readBodyCapped } from '../../lib/body';
import { HttpError, httpErrorResponse } from '../../lib/errors';
import { errorSchema, ok, successSchema } from '../../lib/http';
import type { Logger } from '../../lib/logger';
import { stripeWebhookEvents } from '../../lib/metrics';
import type { Stripe } from '../../lib/stripe';
import type { DatabasePlugin } from '../../plugins/database';
import type { ModuleInfo } from '../module';
import { WEBHOOK_ERRORS } from './errors';
import type { FundBounty } from './effects';
import { type EnqueueReconcile, receiveEvent } from './service';
import { verifyStripeEvent } from './verify';

export const webhooksModule: ModuleInfo = {
  tag: { name: 'webhooks', description: "Stripe's events (signed): payments, refunds, disputes, payout accounts, transfers" },
  errors: WEBHOOK_ERRORS.codes,
};

export type WebhookRouteDeps = {
  databasePlugin: DatabasePlugin;
  stripe: Stripe;
  /** The account endpoint's and the Connect endpoint's signing secrets. */
  webhookSecrets: readonly string[];
  /** Live keys take only live events (a Connect endpoint also receives connected accounts' test events). */
  liveMode: boolean;
  bodyLimitBytes: number;
  logger: Logger;
  enqueueReconcile: EnqueueReconcile;
  /** Opens a bounty paid by card when its payment succeeds. */
  fundBounty: FundBounty;
  /** The clock the signature's timestamp is judged by (tests move it). */
  now?: () => number;
};

const receivedSchema = z.object({
  received: z.literal(true),
  outcome: z.enum(['processed', 'deferred', 'ignored', 'duplicate']).describe('duplicate: this event id was received before and changed nothing now'),
});

export const stripeWebhookRoutes = (deps: WebhookRouteDeps) =>
  new Elysia({ name: 'stripe-webhooks', tags: [webhooksModule.tag.name] }).use(deps.databasePlugin).post(
    '/webhooks/stripe',
    async ({ request, db }) => {
      try {
        const body = new TextDecoder().decode(await readBodyCapped(request, deps.bodyLimitBytes));
        const event = await verifyStripeEvent(deps.stripe, {
          body,
          signature: request.headers.get('stripe-signature'),
          secrets: deps.webhookSecrets,
          nowMs: (deps.now ?? Date.now)(),
        });
        const outcome = await receiveEvent((work) => db.transaction(work), deps.enqueueReconcile, event, deps.liveMode, deps.fundBounty);
        stripeWebhookEvents.inc({ outcome });
        return Response.json(ok({ received: true as const, outcome }));
      } catch (error) {
        // Refused (a bad signature, a stale timestamp, too large) or failed (Stripe sends it again).
        stripeWebhookEvents.inc({ outcome: error instanceof HttpError && error.status < 500 ? 'rejected' : 'failed' });
        if (error instanceof HttpError) return httpErrorResponse(error);
        // A 500 makes Stripe send the event again later: nothing of it was kept.
        deps.logger.error({ err: error }, 'stripe webhook failed');
        return httpErrorResponse(new HttpError(500, 'INTERNAL_SERVER_ERROR', 'Internal server error'));
      }
    },
    {
      parse: 'none',
      response: { 200: successSchema(receivedSchema), 400: errorSchema, 413: errorSchema, 500: errorSchema, 503: errorSchema },
      detail: {
        summary: 'Stripe webhook',
        description:
          'Called by Stripe. Verified by the Stripe-Signature header over the raw body; a timestamp more than 300 s old or ' +
          'in the future is 400. Each event id is applied once; duplicates answer 200 `duplicate`.',
        security: [{}],
      },
    },
  );
