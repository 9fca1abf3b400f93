/**
 * Stripe's test payment methods and the saved methods cloned from them. Using `pm_card_visa` (and
 * the others) creates a new `pm_` as Stripe does; the clone keeps the test card's behaviour, so a
 * method saved from `pm_card_chargeDeclined` declines when charged later.
 */
import { invalidRequest, noSuch } from './errors';
import type { Ops } from './context';
import { type CardOutcome, type PaymentMethod, newId, unixNow } from './state';

type TestCard = { brand: string; last4: string; outcome: CardOutcome };

const TEST_CARDS: Readonly<Record<string, TestCard>> = {
  pm_card_visa: { brand: 'visa', last4: '4242', outcome: 'succeeds' },
  pm_card_mastercard: { brand: 'mastercard', last4: '4444', outcome: 'succeeds' },
  pm_card_chargeDeclined: { brand: 'visa', last4: '0002', outcome: 'generic_decline' },
  pm_card_chargeDeclinedInsufficientFunds: { brand: 'visa', last4: '9995', outcome: 'insufficient_funds' },
  pm_card_createDispute: { brand: 'visa', last4: '0259', outcome: 'dispute' },
};

const testCard = (id: string): TestCard | undefined => (Object.hasOwn(TEST_CARDS, id) ? TEST_CARDS[id] : undefined);

function cloneTestCard(ops: Ops, card: TestCard, customer: string | null): PaymentMethod {
  const method: PaymentMethod = {
    id: newId('pm'),
    object: 'payment_method',
    created: unixNow(),
    livemode: false,
    type: 'card',
    card: {
      brand: card.brand,
      last4: card.last4,
      exp_month: 12,
      exp_year: new Date().getUTCFullYear() + 3,
      funding: 'credit',
      country: 'US',
    },
    customer,
    billing_details: { address: null, email: null, name: null, phone: null },
    metadata: {},
  };
  ops.store.paymentMethods.set(method.id, method);
  ops.store.cardOutcomes.set(method.id, card.outcome);
  return method;
}

/**
 * The method a payment or setup uses for `customer`: a fresh clone of a test card, or a saved
 * method that may be used with that customer (never a detached one, nor another customer's).
 */
export function usablePaymentMethod(ops: Ops, id: string, customer: string | null): PaymentMethod {
  const card = testCard(id);
  if (card) return cloneTestCard(ops, card, null);
  const method = ops.store.paymentMethods.get(id);
  if (!method) throw noSuch('PaymentMethod', id, 'payment_method');
  if (ops.store.detached.has(id))
    throw invalidRequest(
      'The provided PaymentMethod was previously used with a PaymentIntent without Customer attachment, shared with a connected account without Customer attachment, or was detached from a Customer. It may not be used again. To use a PaymentMethod multiple times, you must attach it to a Customer first.',
      'payment_method',
    );
  if (method.customer !== null && method.customer !== customer)
    throw invalidRequest(
      `The provided PaymentMethod belongs to a different Customer (${method.customer}). Use the Customer that owns it, or attach the PaymentMethod to this Customer first.`,
      'payment_method',
    );
  return method;
}

/** Attaches a method (a test card becomes a new clone) to a customer; emits payment_method.attached. */
export function attachPaymentMethod(ops: Ops, id: string, customer: string): PaymentMethod {
  const card = testCard(id);
  const method = card ? cloneTestCard(ops, card, null) : ops.store.paymentMethods.get(id);
  if (!method) throw noSuch('PaymentMethod', id, 'payment_method', 404);
  if (ops.store.detached.has(method.id))
    throw invalidRequest('This PaymentMethod was previously detached from a Customer and cannot be attached again.', 'payment_method');
  if (method.customer === customer) return method;
  if (method.customer !== null)
    throw invalidRequest('The payment method you provided has already been attached to a customer.', 'payment_method');
  method.customer = customer;
  ops.emit('payment_method.attached', method);
  return method;
}

/** What charging this method does (a method not cloned from a test card succeeds). */
export const cardOutcome = (ops: Ops, method: PaymentMethod): CardOutcome => ops.store.cardOutcomes.get(method.id) ?? 'succeeds';
