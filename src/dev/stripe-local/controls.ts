/**
 * The test controls: what Stripe's dashboard, its banks and its card networks would do (complete
 * onboarding, restrict an account, fail a payout, refund, dispute, reverse), webhook and fault
 * switches, and copies of the state for assertions. Each change emits the event Stripe would,
 * with `request.id` null as for changes made outside the API.
 */
import { closeDispute, openDispute, refundCharge } from './payments';
import { type PayoutFailure, completeOnboarding, failPayout, restrictAccount, reverseTransfer } from './connect';
import type { Ops } from './context';
import type { FaultSpec, Faults } from './faults';
import type {
  Account,
  Charge,
  Customer,
  Dispute,
  PaymentIntent,
  PaymentMethod,
  Payout,
  Refund,
  SetupIntent,
  Transfer,
  TransferReversal,
} from './state';
import type { DeliveryAttempt, FlushOrder, StripeEvent, WebhookDispatcher, WebhookSettings } from './webhooks';

export type TestControls = {
  webhooks: {
    configure(settings: Partial<WebhookSettings>): void;
    flush(options?: { order: FlushOrder }): void;
    /** Resolves when no event is queued or being delivered (held events aside). */
    settled(): Promise<void>;
    /** Every event created, oldest first; only those of `type` when given. */
    events(type?: string): StripeEvent[];
    /** Every delivery attempt, in order. */
    deliveries(): DeliveryAttempt[];
  };
  faults: { inject(spec: FaultSpec): void; clear(): void; release(): void };
  accounts: {
    completeOnboarding(accountId: string): Account;
    restrict(accountId: string, currentlyDue: string[]): Account;
  };
  payouts: { fail(accountId: string, failure: PayoutFailure): Payout };
  charges: { refund(chargeId: string, amount?: number): Refund; dispute(chargeId: string): Dispute };
  disputes: { close(disputeId: string, status: 'won' | 'lost'): Dispute };
  transfers: { reverse(transferId: string, amount?: number): TransferReversal };
  /** Copies of every object, oldest first. */
  state: {
    customers(): Customer[];
    paymentMethods(): PaymentMethod[];
    paymentIntents(): PaymentIntent[];
    charges(): Charge[];
    refunds(): Refund[];
    disputes(): Dispute[];
    setupIntents(): SetupIntent[];
    accounts(): Account[];
    transfers(): Transfer[];
    payouts(): Payout[];
  };
};

const copies = <T>(items: Map<string, T>): T[] => structuredClone([...items.values()]);

/** `ops.emit` here records events with no request, as for changes made outside the API. */
export function createTestControls(ops: Ops, dispatcher: WebhookDispatcher, faults: Faults): TestControls {
  const { store } = ops;
  const copy = <T>(value: T): T => structuredClone(value);
  return {
    webhooks: {
      configure: (settings) => dispatcher.configure(settings),
      flush: (options = { order: 'created' }) => dispatcher.flush(options.order),
      settled: () => dispatcher.settled(),
      events: (type) => dispatcher.events(type),
      deliveries: () => dispatcher.deliveries(),
    },
    faults: {
      inject: (spec) => faults.inject(spec),
      clear: () => faults.clear(),
      release: () => faults.release(),
    },
    accounts: {
      completeOnboarding: (accountId) => copy(completeOnboarding(ops, accountId)),
      restrict: (accountId, currentlyDue) => copy(restrictAccount(ops, accountId, currentlyDue)),
    },
    payouts: { fail: (accountId, failure) => copy(failPayout(ops, accountId, failure)) },
    charges: {
      refund: (chargeId, amount) => copy(refundCharge(ops, chargeId, { amount })),
      dispute: (chargeId) => copy(openDispute(ops, chargeId)),
    },
    disputes: { close: (disputeId, status) => copy(closeDispute(ops, disputeId, status)) },
    transfers: { reverse: (transferId, amount) => copy(reverseTransfer(ops, transferId, amount)) },
    state: {
      customers: () => copies(store.customers),
      paymentMethods: () => copies(store.paymentMethods),
      paymentIntents: () => copies(store.paymentIntents),
      charges: () => copies(store.charges),
      refunds: () => copies(store.refunds),
      disputes: () => copies(store.disputes),
      setupIntents: () => copies(store.setupIntents),
      accounts: () => copies(store.accounts),
      transfers: () => copies(store.transfers),
      payouts: () => copies(store.payouts),
    },
  };
}
