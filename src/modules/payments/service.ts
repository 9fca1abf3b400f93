/**
 * Saved cards, through a Stripe customer per user and SetupIntents. Stripe keeps the cards; we
 * keep only which customer is whose. A card of another user's customer is the same 404 as a card
 * that does not exist.
 */
import { eq } from 'drizzle-orm';
import { type DatabaseSession, paymentCustomers } from '../../db';
import { callStripe, PROVIDER_ERRORS, providerRefusal, type Stripe } from '../../lib/stripe';

export type PaymentsDeps = { db: DatabaseSession; stripe: Stripe };
export type Payer = { id: string; email: string; name: string };

export type PaymentMethodView = { id: string; brand: string | null; last4: string | null; expMonth: number | null; expYear: number | null };

/** Stripe's test cards by name (`pm_card_visa`): accepted as-is only with test keys. */
const TEST_PAYMENT_METHOD = /^pm_card_[A-Za-z]+$/;

const toView = (method: Stripe.PaymentMethod): PaymentMethodView => ({
  id: method.id,
  brand: method.card?.brand ?? null,
  last4: method.card?.last4 ?? null,
  expMonth: method.card?.exp_month ?? null,
  expYear: method.card?.exp_year ?? null,
});

export async function findCustomerId(db: DatabaseSession, userId: string): Promise<string | null> {
  // On the primary: a customer created a moment ago must be found, or a second one would be made.
  const [row] = await db.write((primary) => primary.select().from(paymentCustomers).where(eq(paymentCustomers.userId, userId)));
  return row?.stripeCustomerId ?? null;
}

/**
 * The user's Stripe customer, created on first use. Two racing first uses send the same Stripe
 * idempotency key and get the same customer; the insert keeps one row either way.
 */
export async function ensureCustomer({ db, stripe }: PaymentsDeps, payer: Payer): Promise<string> {
  const existing = await findCustomerId(db, payer.id);
  if (existing) return existing;
  const customer = await callStripe(() =>
    stripe.customers.create({ email: payer.email, name: payer.name, metadata: { user_id: payer.id } }, { idempotencyKey: `customer:${payer.id}` }),
  );
  await db.write((primary) => primary.insert(paymentCustomers).values({ userId: payer.id, stripeCustomerId: customer.id }).onConflictDoNothing());
  const stored = await findCustomerId(db, payer.id);
  if (!stored) throw new Error('payment customer row missing after insert');
  return stored;
}

export async function listPaymentMethods({ db, stripe }: PaymentsDeps, userId: string): Promise<PaymentMethodView[]> {
  const customerId = await findCustomerId(db, userId);
  if (!customerId) return [];
  const methods = await callStripe(() => stripe.paymentMethods.list({ customer: customerId, type: 'card', limit: 100 }));
  return methods.data.map(toView);
}

/**
 * Whether a payment method may be charged for this user: one saved on their customer, or (test
 * keys only) one of Stripe's named test cards.
 */
export async function assertUsablePaymentMethod({ stripe }: PaymentsDeps, customerId: string, paymentMethodId: string, liveMode: boolean): Promise<void> {
  if (!liveMode && TEST_PAYMENT_METHOD.test(paymentMethodId)) return;
  if ((await ownerOf(stripe, paymentMethodId)) !== customerId) throw PROVIDER_ERRORS.error('PAYMENT_METHOD_NOT_FOUND');
}

/**
 * The customer a payment method is saved on; null when it is on none or does not exist (Stripe's
 * refusal). Only an unreachable Stripe is an error (503).
 */
async function ownerOf(stripe: Stripe, paymentMethodId: string): Promise<string | null> {
  try {
    const method = await stripe.paymentMethods.retrieve(paymentMethodId);
    return typeof method.customer === 'string' ? method.customer : (method.customer?.id ?? null);
  } catch (error) {
    const refusal = providerRefusal(error);
    if (refusal.status === 503) throw refusal;
    return null;
  }
}

export type SetupResult = { setupIntentId: string; clientSecret: string | null; status: string; paymentMethod: PaymentMethodView | null };

/**
 * Starts saving a card: a SetupIntent the app confirms with the card. With `paymentMethodId`
 * (a developer or a test, where the app would confirm), it is confirmed here.
 */
export async function startSetup(deps: PaymentsDeps, payer: Payer, input: { paymentMethodId?: string | undefined; requestKey: string }): Promise<SetupResult> {
  const customerId = await ensureCustomer(deps, payer);
  const intent = await callStripe(() =>
    deps.stripe.setupIntents.create(
      {
        customer: customerId,
        allowed_payment_method_types: ['card'],
        usage: 'off_session',
        metadata: { user_id: payer.id },
        ...(input.paymentMethodId ? { payment_method: input.paymentMethodId, confirm: true } : {}),
      },
      { idempotencyKey: `setup:${payer.id}:${input.requestKey}` },
    ),
  );
  const methodId = typeof intent.payment_method === 'string' ? intent.payment_method : (intent.payment_method?.id ?? null);
  const method = intent.status === 'succeeded' && methodId ? await callStripe(() => deps.stripe.paymentMethods.retrieve(methodId)) : null;
  return { setupIntentId: intent.id, clientSecret: intent.client_secret, status: intent.status, paymentMethod: method ? toView(method) : null };
}

/** Detaches a saved card. Not the user's (or not there): false, the caller's 404. */
export async function removePaymentMethod(deps: PaymentsDeps, userId: string, paymentMethodId: string): Promise<boolean> {
  const customerId = await findCustomerId(deps.db, userId);
  if (!customerId || (await ownerOf(deps.stripe, paymentMethodId)) !== customerId) return false;
  await callStripe(() => deps.stripe.paymentMethods.detach(paymentMethodId));
  return true;
}
