/**
 * Payment intents, the charges their confirmation creates, refunds and disputes. Confirming with
 * a test card behaves as in Stripe's test mode: `pm_card_visa` succeeds, `pm_card_chargeDeclined`
 * answers 402 card_declined, `pm_card_createDispute` succeeds and is then disputed.
 */
import { cardOutcome, usablePaymentMethod } from './cards';
import { type Ops, type Route, route } from './context';
import { customerParam } from './customers';
import { StripeApiError, invalidRequest, noSuch, unexpectedState } from './errors';
import type { Metadata, Params } from './params';
import { type Charge, type Dispute, type PaymentIntent, type PaymentMethod, type Refund, clientSecret, newId, unixNow } from './state';

/** Stripe's largest amount (eight digits) and the USD minimum of 50 cents. */
const MAX_AMOUNT = 99_999_999;
const USD_MINIMUM = 50;
const DECLINED = 'Your card was declined.';

export function currencyParam(params: Params): string {
  const currency = params.requiredString('currency').toLowerCase();
  if (!/^[a-z]{3}$/.test(currency)) throw invalidRequest(`Invalid currency: ${currency}.`, 'currency');
  return currency;
}

function amountParam(params: Params, currency: string): number {
  const amount = params.requiredInteger('amount');
  if (amount < 1) throw invalidRequest('This value must be greater than or equal to 1.', 'amount');
  if (currency === 'usd' && amount < USD_MINIMUM)
    throw invalidRequest('Amount must be at least $0.50 usd', 'amount', 'amount_too_small');
  if (amount > MAX_AMOUNT) throw invalidRequest('Amount must be no more than $999,999.99', 'amount', 'amount_too_large');
  return amount;
}

function intentById(ops: Ops, id: string): PaymentIntent {
  const intent = ops.store.paymentIntents.get(id);
  if (!intent) throw noSuch('payment_intent', id, 'intent', 404);
  return intent;
}

function createCharge(ops: Ops, intent: PaymentIntent, method: PaymentMethod, declined: boolean): Charge {
  const charge: Charge = {
    id: newId('ch'),
    object: 'charge',
    created: unixNow(),
    livemode: false,
    amount: intent.amount,
    amount_captured: declined ? 0 : intent.amount,
    amount_refunded: 0,
    captured: !declined,
    currency: intent.currency,
    customer: intent.customer,
    description: intent.description,
    disputed: false,
    failure_code: declined ? 'card_declined' : null,
    failure_message: declined ? DECLINED : null,
    metadata: { ...intent.metadata },
    paid: !declined,
    payment_intent: intent.id,
    payment_method: method.id,
    payment_method_details: { type: 'card', card: { ...method.card } },
    refunded: false,
    status: declined ? 'failed' : 'succeeded',
    transfer_group: intent.transfer_group,
  };
  ops.store.charges.set(charge.id, charge);
  return charge;
}

/** Charges the intent's method: succeeded, or back to requires_payment_method with a 402. */
function confirmIntent(ops: Ops, intent: PaymentIntent, requested: string | undefined): PaymentIntent {
  if (intent.status === 'succeeded')
    throw unexpectedState('You cannot confirm this PaymentIntent because it has already succeeded after being previously confirmed.');
  if (intent.status === 'canceled')
    throw unexpectedState('You cannot confirm this PaymentIntent because it has a status of canceled. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_action, requires_payment_method.');
  const methodId = requested ?? intent.payment_method;
  if (methodId === null)
    throw invalidRequest(
      "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method.",
      'payment_method',
      'payment_intent_unexpected_state',
    );
  const method = usablePaymentMethod(ops, methodId, intent.customer);
  const outcome = cardOutcome(ops, method);
  const declined = outcome === 'generic_decline' || outcome === 'insufficient_funds';
  const charge = createCharge(ops, intent, method, declined);
  intent.latest_charge = charge.id;
  if (declined) {
    intent.status = 'requires_payment_method';
    intent.payment_method = null;
    intent.last_payment_error = {
      type: 'card_error',
      code: 'card_declined',
      decline_code: outcome,
      message: DECLINED,
      charge: charge.id,
      payment_method: structuredClone(method),
    };
    ops.emit('charge.failed', charge);
    ops.emit('payment_intent.payment_failed', intent);
    throw new StripeApiError(402, 'card_error', DECLINED, {
      code: 'card_declined',
      decline_code: outcome,
      charge: charge.id,
      payment_intent: structuredClone(intent),
      doc_url: 'https://stripe.com/docs/error-codes/card-declined',
    });
  }
  intent.status = 'succeeded';
  intent.payment_method = method.id;
  intent.amount_received = intent.amount;
  intent.last_payment_error = null;
  ops.emit('charge.succeeded', charge);
  ops.emit('payment_intent.succeeded', intent);
  // The dispute test card is disputed right after it succeeds; its event follows the others.
  if (outcome === 'dispute') openDispute(ops, charge.id);
  return intent;
}

/** A refund of `amount` (default: what is left); emits charge.refunded and refund.created. */
export function refundCharge(
  ops: Ops,
  chargeId: string,
  options: { amount?: number; reason?: string; metadata?: Metadata } = {},
): Refund {
  const charge = ops.store.charges.get(chargeId);
  if (!charge) throw noSuch('charge', chargeId, 'charge');
  if (charge.status !== 'succeeded') throw invalidRequest(`Charge ${chargeId} did not succeed and cannot be refunded.`, 'charge');
  const openDispute = [...ops.store.disputes.values()].some((dispute) => dispute.charge === chargeId && dispute.status === 'needs_response');
  if (openDispute) throw invalidRequest(`Charge ${chargeId} has been charged back; cannot issue a refund.`, undefined, 'charge_disputed');
  const refundable = charge.amount - charge.amount_refunded;
  if (refundable === 0) throw invalidRequest(`Charge ${chargeId} has already been refunded.`, undefined, 'charge_already_refunded');
  const amount = options.amount ?? refundable;
  if (amount < 1) throw invalidRequest('Invalid positive integer', 'amount');
  if (amount > refundable)
    throw invalidRequest(
      `Refund amount (${amount}) is greater than unrefunded amount on charge (${refundable})`,
      'amount',
      'amount_too_large',
    );
  charge.amount_refunded += amount;
  charge.refunded = charge.amount_refunded === charge.amount;
  const refund: Refund = {
    id: newId('re'),
    object: 'refund',
    created: unixNow(),
    livemode: false,
    amount,
    charge: charge.id,
    currency: charge.currency,
    payment_intent: charge.payment_intent,
    reason: options.reason ?? null,
    status: 'succeeded',
    metadata: options.metadata ?? {},
  };
  ops.store.refunds.set(refund.id, refund);
  ops.emit('charge.refunded', charge);
  ops.emit('refund.created', refund);
  return refund;
}

/** A chargeback on a succeeded charge; emits charge.dispute.created. */
export function openDispute(ops: Ops, chargeId: string): Dispute {
  const charge = ops.store.charges.get(chargeId);
  if (!charge) throw noSuch('charge', chargeId, 'charge');
  if (charge.status !== 'succeeded') throw invalidRequest(`Charge ${chargeId} did not succeed and cannot be disputed.`, 'charge');
  if (charge.disputed) throw invalidRequest(`Charge ${chargeId} is already disputed.`, 'charge');
  charge.disputed = true;
  const dispute: Dispute = {
    id: newId('dp'),
    object: 'dispute',
    created: unixNow(),
    livemode: false,
    amount: charge.amount,
    currency: charge.currency,
    charge: charge.id,
    payment_intent: charge.payment_intent,
    reason: 'fraudulent',
    status: 'needs_response',
    is_charge_refundable: false,
    metadata: {},
  };
  ops.store.disputes.set(dispute.id, dispute);
  ops.emit('charge.dispute.created', dispute);
  return dispute;
}

/** Settles an open dispute; emits charge.dispute.closed. */
export function closeDispute(ops: Ops, disputeId: string, status: 'won' | 'lost'): Dispute {
  const dispute = ops.store.disputes.get(disputeId);
  if (!dispute) throw noSuch('dispute', disputeId, 'dispute');
  if (dispute.status !== 'needs_response') throw invalidRequest(`Dispute ${disputeId} is already closed (${dispute.status}).`, 'dispute');
  dispute.status = status;
  ops.emit('charge.dispute.closed', dispute);
  return dispute;
}

const INTENT_PARAMS = [
  'amount',
  'currency',
  'customer',
  'allowed_payment_method_types',
  'payment_method_types',
  'automatic_payment_methods',
  'payment_method',
  'confirm',
  'off_session',
  'metadata',
  'description',
  'transfer_group',
] as const;

export const paymentRoutes: readonly Route[] = [
  route('POST', '/v1/payment_intents', INTENT_PARAMS, ({ params, ...ops }) => {
    const currency = currencyParam(params);
    const amount = amountParam(params, currency);
    const customer = customerParam(ops, params);
    const confirm = params.boolean('confirm') ?? false;
    if (params.boolean('off_session') !== undefined && !confirm)
      throw invalidRequest('You can only pass in `off_session` when `confirm` is set to true.', 'off_session');
    const automatic = params.object('automatic_payment_methods')?.boolean('enabled');
    const methodTypes = params.paymentMethodTypes();
    const id = newId('pi');
    const intent: PaymentIntent = {
      id,
      object: 'payment_intent',
      created: unixNow(),
      livemode: false,
      amount,
      amount_received: 0,
      currency,
      customer,
      payment_method: null,
      allowed_payment_method_types: methodTypes.allowed,
      payment_method_types: methodTypes.types,
      automatic_payment_methods: automatic === undefined ? null : { enabled: automatic },
      status: 'requires_payment_method',
      client_secret: clientSecret(id),
      capture_method: 'automatic',
      confirmation_method: 'automatic',
      latest_charge: null,
      last_payment_error: null,
      canceled_at: null,
      cancellation_reason: null,
      description: params.string('description') ?? null,
      metadata: params.metadata(),
      transfer_group: params.string('transfer_group') ?? null,
      next_action: null,
    };
    const requested = params.string('payment_method');
    // Resolved last and before the intent is stored: a request that fails leaves no intent behind.
    if (requested !== undefined) {
      intent.payment_method = usablePaymentMethod(ops, requested, customer).id;
      intent.status = 'requires_confirmation';
    }
    ops.store.paymentIntents.set(id, intent);
    ops.emit('payment_intent.created', intent);
    return confirm ? confirmIntent(ops, intent, undefined) : intent;
  }),
  route('GET', '/v1/payment_intents/:id', ['client_secret'], ({ id, ...ops }) => intentById(ops, id)),
  route('POST', '/v1/payment_intents/:id/confirm', ['payment_method', 'off_session'], ({ id, params, ...ops }) => {
    // Validated but without effect: there is no authentication step here for it to skip.
    params.boolean('off_session');
    return confirmIntent(ops, intentById(ops, id), params.string('payment_method'));
  }),
  route('POST', '/v1/payment_intents/:id/cancel', ['cancellation_reason'], ({ id, params, ...ops }) => {
    const intent = intentById(ops, id);
    const reason = params.oneOf('cancellation_reason', ['duplicate', 'fraudulent', 'requested_by_customer', 'abandoned'] as const);
    if (intent.status !== 'requires_payment_method' && intent.status !== 'requires_confirmation')
      throw unexpectedState(
        `You cannot cancel this PaymentIntent because it has a status of ${intent.status}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.`,
      );
    intent.status = 'canceled';
    intent.canceled_at = unixNow();
    intent.cancellation_reason = reason ?? null;
    ops.emit('payment_intent.canceled', intent);
    return intent;
  }),

  route('POST', '/v1/refunds', ['payment_intent', 'charge', 'amount', 'reason', 'metadata'], ({ params, ...ops }) => {
    const intentId = params.string('payment_intent');
    const chargeId = params.string('charge');
    const options = {
      amount: params.integer('amount'),
      reason: params.oneOf('reason', ['duplicate', 'fraudulent', 'requested_by_customer'] as const),
      metadata: params.metadata(),
    };
    if (chargeId !== undefined && intentId !== undefined)
      throw invalidRequest('You can only pass one of the following params: payment_intent or charge.', 'charge');
    if (chargeId !== undefined) return refundCharge(ops, chargeId, options);
    if (intentId === undefined)
      throw invalidRequest('One of the following params should be provided for this request: payment_intent or charge.', undefined, 'parameter_missing');
    const intent = ops.store.paymentIntents.get(intentId);
    if (!intent) throw noSuch('payment_intent', intentId, 'payment_intent');
    if (intent.status !== 'succeeded' || intent.latest_charge === null)
      throw invalidRequest(`This PaymentIntent (${intentId}) does not have a successful charge to refund.`, 'payment_intent');
    return refundCharge(ops, intent.latest_charge, options);
  }),
];
