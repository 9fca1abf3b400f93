/**
 * Customers, their payment methods and setup intents (saving a card for later): the endpoints
 * under /v1/customers, /v1/payment_methods and /v1/setup_intents.
 */
import { attachPaymentMethod, usablePaymentMethod } from './cards';
import { type Ops, type Route, route } from './context';
import { invalidRequest, noSuch, parameterMissing } from './errors';
import type { Params } from './params';
import { type Customer, type PaymentMethod, type SetupIntent, clientSecret, listOf, newId, unixNow } from './state';

/** The customer a parameter names; 400 when it does not exist. */
export function customerParam(ops: Ops, params: Params): string | null {
  const id = params.string('customer');
  if (id === undefined) return null;
  if (!ops.store.customers.has(id)) throw noSuch('customer', id, 'customer');
  return id;
}

function customerById(ops: Ops, id: string): Customer {
  const customer = ops.store.customers.get(id);
  if (!customer) throw noSuch('customer', id, 'id', 404);
  return customer;
}

function listPaymentMethods(ops: Ops, customer: string, params: Params, url: string): object {
  const type = params.string('type');
  const methods = [...ops.store.paymentMethods.values()].filter(
    (method) => method.customer === customer && (type === undefined || method.type === type),
  );
  return listOf(methods, url, params);
}

function setupIntentById(ops: Ops, id: string): SetupIntent {
  const intent = ops.store.setupIntents.get(id);
  if (!intent) throw noSuch('setup_intent', id, 'intent', 404);
  return intent;
}

/** Saves the method for the intent's customer (a test card becomes a new attached clone). */
function confirmSetupIntent(ops: Ops, intent: SetupIntent, paymentMethod: string | undefined): SetupIntent {
  if (intent.status === 'succeeded' || intent.status === 'canceled')
    throw invalidRequest(
      `You cannot confirm this SetupIntent because it has a status of ${intent.status}.`,
      undefined,
      'setup_intent_unexpected_state',
    );
  const methodId = paymentMethod ?? intent.payment_method;
  if (methodId === null) throw parameterMissing('payment_method');
  let method: PaymentMethod = usablePaymentMethod(ops, methodId, intent.customer);
  if (intent.customer !== null && method.customer === null) method = attachPaymentMethod(ops, method.id, intent.customer);
  intent.payment_method = method.id;
  intent.status = 'succeeded';
  ops.emit('setup_intent.succeeded', intent);
  return intent;
}

export const customerRoutes: readonly Route[] = [
  route('POST', '/v1/customers', ['email', 'name', 'description', 'metadata'], ({ params, ...ops }) => {
    const customer: Customer = {
      id: newId('cus'),
      object: 'customer',
      created: unixNow(),
      livemode: false,
      email: params.string('email') ?? null,
      name: params.string('name') ?? null,
      description: params.string('description') ?? null,
      metadata: params.metadata(),
    };
    ops.store.customers.set(customer.id, customer);
    ops.emit('customer.created', customer);
    return customer;
  }),
  route('GET', '/v1/customers/:id', [], ({ id, ...ops }) => customerById(ops, id)),
  route('GET', '/v1/customers/:id/payment_methods', ['type', 'limit', 'starting_after', 'ending_before'], ({ id, params, path, ...ops }) =>
    listPaymentMethods(ops, customerById(ops, id).id, params, path),
  ),

  route('GET', '/v1/payment_methods', ['customer', 'type', 'limit', 'starting_after', 'ending_before'], ({ params, path, ...ops }) => {
    const customer = customerParam(ops, params);
    if (customer === null) throw parameterMissing('customer');
    return listPaymentMethods(ops, customer, params, path);
  }),
  route('GET', '/v1/payment_methods/:id', [], ({ id, store }) => {
    const method = store.paymentMethods.get(id);
    if (!method) throw noSuch('PaymentMethod', id, 'payment_method', 404);
    return method;
  }),
  route('POST', '/v1/payment_methods/:id/attach', ['customer'], ({ id, params, ...ops }) => {
    const customer = customerParam(ops, params);
    if (customer === null) throw parameterMissing('customer');
    return attachPaymentMethod(ops, id, customer);
  }),
  route('POST', '/v1/payment_methods/:id/detach', [], ({ id, ...ops }) => {
    const method = ops.store.paymentMethods.get(id);
    if (!method) throw noSuch('PaymentMethod', id, 'payment_method', 404);
    if (method.customer === null)
      throw invalidRequest(`The payment method ${id} is not attached to a customer.`, 'payment_method');
    method.customer = null;
    ops.store.detached.add(id);
    ops.emit('payment_method.detached', method);
    return method;
  }),

  route(
    'POST',
    '/v1/setup_intents',
    ['customer', 'allowed_payment_method_types', 'payment_method_types', 'usage', 'confirm', 'payment_method', 'description', 'metadata'],
    ({ params, ...ops }) => {
      const id = newId('seti');
      const customer = customerParam(ops, params);
      const methodTypes = params.paymentMethodTypes();
      const intent: SetupIntent = {
        id,
        object: 'setup_intent',
        created: unixNow(),
        livemode: false,
        customer,
        payment_method: null,
        allowed_payment_method_types: methodTypes.allowed,
        payment_method_types: methodTypes.types,
        status: 'requires_payment_method',
        usage: params.oneOf('usage', ['off_session', 'on_session'] as const) ?? 'off_session',
        client_secret: clientSecret(id),
        description: params.string('description') ?? null,
        metadata: params.metadata(),
      };
      const confirm = params.boolean('confirm') ?? false;
      const requested = params.string('payment_method');
      // Resolved last and before the intent is stored: a request that fails leaves no intent behind.
      if (requested !== undefined) {
        intent.payment_method = usablePaymentMethod(ops, requested, customer).id;
        intent.status = 'requires_confirmation';
      }
      ops.store.setupIntents.set(id, intent);
      ops.emit('setup_intent.created', intent);
      return confirm ? confirmSetupIntent(ops, intent, undefined) : intent;
    },
  ),
  route('GET', '/v1/setup_intents/:id', [], ({ id, ...ops }) => setupIntentById(ops, id)),
  route('POST', '/v1/setup_intents/:id/confirm', ['payment_method'], ({ id, params, ...ops }) =>
    confirmSetupIntent(ops, setupIntentById(ops, id), params.string('payment_method')),
  ),
];
