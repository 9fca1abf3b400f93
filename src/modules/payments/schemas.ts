import { z } from 'zod';

export const paymentMethodSchema = z.object({
  id: z.string().max(255),
  brand: z.string().max(50).nullable(),
  last4: z.string().max(4).nullable(),
  expMonth: z.number().int().nullable(),
  expYear: z.number().int().nullable(),
});

/** A Stripe PaymentMethod id (`pm_...`): a saved card, or with test keys a test card such as pm_card_visa. */
export const paymentMethodIdSchema = z.string().max(255).regex(/^pm_[A-Za-z0-9_]+$/, 'is not a payment method id');

export const setupBody = z.object({
  paymentMethodId: paymentMethodIdSchema
    .optional()
    .describe('Confirm at once with this payment method (a developer or a test, where the app would confirm; e.g. pm_card_visa with test keys)'),
});

export const setupSchema = z.object({
  setupIntentId: z.string().max(255),
  clientSecret: z.string().max(512).nullable().describe("The SetupIntent's client secret: the app confirms it with the card"),
  status: z.string().max(50),
  paymentMethod: paymentMethodSchema.nullable().describe('The saved card, once the SetupIntent succeeded'),
});

export const paymentMethodParams = z.object({ id: paymentMethodIdSchema });
export const removedSchema = z.object({ id: z.string().max(255), removed: z.literal(true) });
