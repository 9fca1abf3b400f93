/**
 * The local server's objects, shaped like Stripe's (the fields our service and its tests read,
 * not every field Stripe has), their ids, and the in-memory store that holds them.
 */
import { invalidRequest } from './errors';
import type { Metadata, Params } from './params';

type Base<O extends string> = { id: string; object: O; created: number; livemode: false };

export type List<T> = { object: 'list'; data: T[]; has_more: boolean; url: string };

export type Customer = Base<'customer'> & {
  email: string | null;
  name: string | null;
  description: string | null;
  metadata: Metadata;
};

export type CardDetails = {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  funding: 'credit';
  country: 'US';
};

export type PaymentMethod = Base<'payment_method'> & {
  type: 'card';
  card: CardDetails;
  customer: string | null;
  billing_details: { address: null; email: null; name: null; phone: null };
  metadata: Metadata;
};

export type LastPaymentError = {
  type: 'card_error';
  code: 'card_declined';
  decline_code: string;
  message: string;
  charge: string;
  payment_method: PaymentMethod;
};

export type PaymentIntentStatus = 'requires_payment_method' | 'requires_confirmation' | 'succeeded' | 'canceled';

export type PaymentIntent = Base<'payment_intent'> & {
  amount: number;
  amount_received: number;
  currency: string;
  customer: string | null;
  payment_method: string | null;
  /** What the request allowed (null when it did not say); the types in use are payment_method_types. */
  allowed_payment_method_types: string[] | null;
  payment_method_types: string[];
  automatic_payment_methods: { enabled: boolean } | null;
  status: PaymentIntentStatus;
  client_secret: string;
  capture_method: 'automatic';
  confirmation_method: 'automatic';
  latest_charge: string | null;
  last_payment_error: LastPaymentError | null;
  canceled_at: number | null;
  cancellation_reason: string | null;
  description: string | null;
  metadata: Metadata;
  transfer_group: string | null;
  next_action: null;
};

export type Charge = Base<'charge'> & {
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  captured: boolean;
  currency: string;
  customer: string | null;
  description: string | null;
  disputed: boolean;
  failure_code: string | null;
  failure_message: string | null;
  metadata: Metadata;
  paid: boolean;
  payment_intent: string;
  payment_method: string;
  payment_method_details: { type: 'card'; card: CardDetails };
  refunded: boolean;
  status: 'succeeded' | 'failed';
  transfer_group: string | null;
};

export type Refund = Base<'refund'> & {
  amount: number;
  charge: string;
  currency: string;
  payment_intent: string;
  reason: string | null;
  status: 'succeeded';
  metadata: Metadata;
};

export type Dispute = Base<'dispute'> & {
  amount: number;
  currency: string;
  charge: string;
  payment_intent: string;
  reason: 'fraudulent';
  status: 'needs_response' | 'won' | 'lost';
  is_charge_refundable: false;
  metadata: Metadata;
};

export type SetupIntent = Base<'setup_intent'> & {
  customer: string | null;
  payment_method: string | null;
  allowed_payment_method_types: string[] | null;
  payment_method_types: string[];
  status: 'requires_payment_method' | 'requires_confirmation' | 'succeeded' | 'canceled';
  usage: 'off_session' | 'on_session';
  client_secret: string;
  description: string | null;
  metadata: Metadata;
};

export type CapabilityStatus = 'active' | 'inactive' | 'pending';

export type Requirements = {
  currently_due: string[];
  eventually_due: string[];
  past_due: string[];
  pending_verification: string[];
  disabled_reason: string | null;
  current_deadline: null;
  errors: never[];
};

export type Account = Base<'account'> & {
  type: 'express' | 'standard' | 'custom';
  country: string;
  email: string | null;
  business_type: string | null;
  default_currency: string;
  capabilities: Record<string, CapabilityStatus>;
  charges_enabled: boolean;
  payouts_enabled: boolean;
  details_submitted: boolean;
  requirements: Requirements;
  metadata: Metadata;
};

export type TransferReversal = Base<'transfer_reversal'> & {
  amount: number;
  currency: string;
  transfer: string;
  metadata: Metadata;
};

export type Transfer = Base<'transfer'> & {
  amount: number;
  amount_reversed: number;
  currency: string;
  description: string | null;
  destination: string;
  metadata: Metadata;
  reversals: List<TransferReversal>;
  reversed: boolean;
  source_transaction: string | null;
  transfer_group: string | null;
};

export type Payout = Base<'payout'> & {
  amount: number;
  currency: string;
  arrival_date: number;
  automatic: true;
  method: 'standard';
  type: 'bank_account';
  status: 'failed';
  failure_code: string;
  failure_message: string;
  metadata: Metadata;
};

/** What a card does when charged: Stripe's test cards, and the saved methods cloned from them. */
export type CardOutcome = 'succeeds' | 'generic_decline' | 'insufficient_funds' | 'dispute';

const ID_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Stripe-looking ids: a prefix and 24 random base62 characters. */
export function newId(prefix: string, length = 24): string {
  const bytes = crypto.getRandomValues(new Uint8Array(length));
  let suffix = '';
  // 62 does not divide 256: the slight bias toward early characters does not matter for ids.
  for (const byte of bytes) suffix += ID_ALPHABET[byte % ID_ALPHABET.length];
  return `${prefix}_${suffix}`;
}

export const clientSecret = (id: string): string => `${id}_secret_${newId('x', 25).slice(2)}`;

export const unixNow = (): number => Math.floor(Date.now() / 1000);

export const emptyList = <T>(url: string): List<T> => ({ object: 'list', data: [], has_more: false, url });

/** Every object the server holds, by id, in creation order. */
export class Store {
  readonly customers = new Map<string, Customer>();
  readonly paymentMethods = new Map<string, PaymentMethod>();
  readonly paymentIntents = new Map<string, PaymentIntent>();
  readonly charges = new Map<string, Charge>();
  readonly refunds = new Map<string, Refund>();
  readonly disputes = new Map<string, Dispute>();
  readonly setupIntents = new Map<string, SetupIntent>();
  readonly accounts = new Map<string, Account>();
  readonly transfers = new Map<string, Transfer>();
  readonly payouts = new Map<string, Payout>();
  /** How each saved payment method behaves when charged (never part of a response). */
  readonly cardOutcomes = new Map<string, CardOutcome>();
  /** Detached methods, which Stripe never lets be used again. */
  readonly detached = new Set<string>();

  /** Any object by id, for `expand`. */
  find(id: string): object | undefined {
    const prefix = id.slice(0, id.indexOf('_'));
    const collections: Record<string, Map<string, object>> = {
      cus: this.customers,
      pm: this.paymentMethods,
      pi: this.paymentIntents,
      ch: this.charges,
      re: this.refunds,
      dp: this.disputes,
      seti: this.setupIntents,
      acct: this.accounts,
      tr: this.transfers,
      po: this.payouts,
    };
    return collections[prefix]?.get(id);
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function expandPath(node: Record<string, unknown>, path: readonly string[], full: string, store: Store): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  const value = node[head];
  if (head === 'data' && Array.isArray(value)) {
    for (const item of value) if (isRecord(item)) expandPath(item, rest, full, store);
    return;
  }
  if (value === null) return;
  const found = typeof value === 'string' ? store.find(value) : value;
  if (!isRecord(found)) throw invalidRequest(`This property cannot be expanded (${full}).`, 'expand');
  const copy = structuredClone(found);
  node[head] = copy;
  expandPath(copy, rest, full, store);
}

/** A response copy with `expand[]` paths (`latest_charge`, `data.customer`) replaced by objects. */
export function expanded(value: object, paths: readonly string[], store: Store): object {
  if (paths.length === 0) return value;
  const copy = structuredClone(value);
  if (!isRecord(copy)) return copy;
  for (const path of paths) expandPath(copy, path.split('.'), path, store);
  return copy;
}

/** Stripe's list: newest first, `limit` (1 to 100, default 10), `starting_after` / `ending_before`. */
export function listOf<T extends { id: string }>(items: readonly T[], url: string, params: Params): List<T> {
  const limit = params.integer('limit') ?? 10;
  if (limit < 1 || limit > 100) throw invalidRequest('Invalid limit: must be between 1 and 100', 'limit');
  const newestFirst = [...items].reverse();
  const position = (param: 'starting_after' | 'ending_before'): number | undefined => {
    const cursor = params.string(param);
    if (cursor === undefined) return undefined;
    const index = newestFirst.findIndex((item) => item.id === cursor);
    if (index < 0) throw invalidRequest(`No such object: '${cursor}'`, param);
    return index;
  };
  const after = position('starting_after');
  const before = position('ending_before');
  const window = newestFirst.slice(after === undefined ? 0 : after + 1, before);
  // ending_before pages backwards: the `limit` items just newer than the cursor.
  const data = before === undefined ? window.slice(0, limit) : window.slice(-limit);
  return { object: 'list', data, has_more: window.length > limit, url };
}
