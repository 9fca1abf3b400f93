/**
 * Saved cards (`/payments/methods`, through a Stripe customer and SetupIntents) and the Apple Pay
 * web domain-association file. Deposits themselves are wallet routes.
 */
import { Elysia } from 'elysia';
import { z } from 'zod';
import { authErrors, commonErrors, errorSchema, ok, successSchema } from '../../lib/http';
import { PROVIDER_ERRORS, type Stripe } from '../../lib/stripe';
import { notFound } from '../../lib/errors';
import type { AuthPlugin } from '../../plugins/auth';
import type { DatabasePlugin } from '../../plugins/database';
import { IDEMPOTENCY_KEY_HEADER, type IdempotencyPlugin } from '../../plugins/idempotency';
import type { ModuleInfo } from '../module';
import { paymentMethodParams, paymentMethodSchema, removedSchema, setupBody, setupSchema } from './schemas';
import { listPaymentMethods, removePaymentMethod, startSetup } from './service';

export const paymentsModule: ModuleInfo = {
  tag: { name: 'payments', description: 'Saved cards (Stripe SetupIntents) and Apple Pay on the web' },
  errors: PROVIDER_ERRORS.codes,
};

const APPLE_PAY_ASSOCIATION_PATH = '/.well-known/apple-developer-merchantid-domain-association';

export type PaymentsRouteDeps = {
  databasePlugin: DatabasePlugin;
  authPlugin: AuthPlugin;
  idempotencyPlugin: IdempotencyPlugin;
  stripe: Stripe;
  applePayDomainAssociation: string | null;
};

export const paymentsRoutes = (deps: PaymentsRouteDeps) =>
  new Elysia({ tags: [paymentsModule.tag.name] })
    .use(deps.databasePlugin)
    .use(deps.authPlugin)
    .use(deps.idempotencyPlugin)
    .get('/payments/methods', async ({ user, db }) => ok(await listPaymentMethods({ db, stripe: deps.stripe }, user.id)), {
      auth: true,
      response: { 200: successSchema(z.array(paymentMethodSchema).max(100)), ...authErrors, ...commonErrors },
      detail: { summary: 'Your saved cards' },
    })
    .post(
      '/payments/methods',
      async ({ user, db, body, request, set }) => {
        const result = await startSetup(
          { db, stripe: deps.stripe },
          { id: user.id, email: user.email, name: user.name },
          // Without a key of the client's, each call is a new SetupIntent.
          { paymentMethodId: body.paymentMethodId, requestKey: request.headers.get(IDEMPOTENCY_KEY_HEADER) ?? crypto.randomUUID() },
        );
        set.status = 201;
        return ok(result);
      },
      {
        auth: true,
        idempotency: 'optional',
        body: setupBody,
        response: { 201: successSchema(setupSchema), 402: errorSchema, ...authErrors, ...commonErrors },
        detail: {
          summary: 'Save a card',
          description: 'Creates a SetupIntent on your Stripe customer; the app confirms it with the card (Stripe keeps the card, we keep nothing of it).',
        },
      },
    )
    .delete(
      '/payments/methods/:id',
      async ({ user, db, params }) => {
        if (!(await removePaymentMethod({ db, stripe: deps.stripe }, user.id, params.id))) throw PROVIDER_ERRORS.error('PAYMENT_METHOD_NOT_FOUND');
        return ok({ id: params.id, removed: true as const });
      },
      {
        auth: true,
        params: paymentMethodParams,
        response: { 200: successSchema(removedSchema), ...authErrors, ...commonErrors },
        detail: { summary: 'Remove a saved card', description: "Another user's card is the same 404 as one that does not exist." },
      },
    )
    .get(
      APPLE_PAY_ASSOCIATION_PATH,
      ({ set }) => {
        if (deps.applePayDomainAssociation === null) throw notFound('Apple Pay on the web is not configured');
        set.headers['content-type'] = 'text/plain; charset=utf-8';
        return deps.applePayDomainAssociation;
      },
      {
        response: { 200: z.string().max(65_536), 404: errorSchema, 500: errorSchema },
        // A file for Apple's verifier, not an API: the document generator skips paths with a dot anyway.
        detail: { hide: true },
      },
    );
