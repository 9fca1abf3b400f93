/**
 * Receiving Stripe events: each event id is recorded once (`INSERT ... ON CONFLICT DO NOTHING`,
 * which also queues a concurrent duplicate behind the first until it commits) and its effect is
 * applied in the same transaction, so an event is either recorded with its effect or not at all
 * (and Stripe, seeing a 5xx, sends it again). An event about an object we do not know yet is
 * recorded as deferred and handed to the reconcile job in that same transaction.
 */
import { and, eq, isNotNull, lt, sql } from 'drizzle-orm';
import { type Database, deposits, type Transaction, webhookEvents, type WebhookEventStatus } from '../../db';
import type { Logger } from '../../lib/logger';
import type { Stripe } from '../../lib/stripe';
import { storeFetchedAccount } from '../connect/service';
import {
  accountUpdated,
  chargeRefunded,
  disputeClosed,
  disputeCreated,
  type EffectOutcome,
  idOf,
  paymentFailed,
  paymentSucceeded,
  type FundBounty,
  payoutFailed,
  payoutPaid,
  transferReversed,
} from './effects';

/** Puts the reconcile job for an event on the queue, inside the caller's transaction. */
export type EnqueueReconcile = (tx: Transaction, eventId: string) => Promise<void>;
export type RunTransaction = <T>(work: (tx: Transaction) => Promise<T>) => Promise<T>;

export type ReceiveOutcome = WebhookEventStatus | 'duplicate';

/** The handled types (the README lists them); every other type is recorded and ignored. */
export async function applyEvent(tx: Transaction, event: Stripe.Event, fundBounty: FundBounty): Promise<EffectOutcome> {
  switch (event.type) {
    case 'payment_intent.succeeded':
      return paymentSucceeded(tx, event.data.object, fundBounty);
    case 'payment_intent.payment_failed':
      return paymentFailed(tx, event.data.object);
    case 'charge.refunded':
      return chargeRefunded(tx, event.data.object);
    case 'charge.dispute.created':
      return disputeCreated(tx, event.data.object);
    case 'charge.dispute.closed':
      return disputeClosed(tx, event.data.object);
    case 'account.updated':
      return accountUpdated(tx, event.data.object, new Date(event.created * 1000));
    case 'transfer.reversed':
      return transferReversed(tx, event.data.object);
    case 'payout.failed':
      return payoutFailed(tx, event.data.object, event.account ?? null, new Date(event.created * 1000));
    case 'payout.paid':
      return payoutPaid(tx, event.data.object, event.account ?? null, new Date(event.created * 1000));
    default:
      return 'ignored';
  }
}

const objectIdOf = (event: Stripe.Event): string | null => {
  const object: unknown = event.data.object;
  return typeof object === 'object' && object !== null && 'id' in object && typeof object.id === 'string' ? object.id : null;
};

/**
 * The event as kept in webhook_events: without the secrets Stripe objects carry (a
 * PaymentIntent's or SetupIntent's client_secret confirms a payment from the app), which we
 * never need again.
 */
function storable(event: Stripe.Event): Stripe.Event {
  const copy = structuredClone(event);
  const object: unknown = copy.data.object;
  if (typeof object === 'object' && object !== null && 'client_secret' in object) Reflect.deleteProperty(object, 'client_secret');
  return copy;
}

const statusOf = (outcome: EffectOutcome): WebhookEventStatus => (outcome === 'unknown' ? 'deferred' : outcome);

/** `liveMode`: whether our key is live; an event of the other mode is recorded and ignored. */
export async function receiveEvent(
  runTransaction: RunTransaction,
  enqueueReconcile: EnqueueReconcile,
  event: Stripe.Event,
  liveMode: boolean,
  fundBounty: FundBounty,
): Promise<ReceiveOutcome> {
  return runTransaction(async (tx) => {
    const [recorded] = await tx
      .insert(webhookEvents)
      .values({ id: event.id, type: event.type, objectId: objectIdOf(event), status: 'processed', payload: storable(event) })
      .onConflictDoNothing({ target: webhookEvents.id })
      .returning({ id: webhookEvents.id });
    if (!recorded) return 'duplicate';
    const status = event.livemode === liveMode ? statusOf(await applyEvent(tx, event, fundBounty)) : 'ignored';
    if (status !== 'processed') await tx.update(webhookEvents).set({ status }).where(eq(webhookEvents.id, event.id));
    if (status === 'deferred') await enqueueReconcile(tx, event.id);
    return status;
  });
}

export type ReconcileDeps = { database: Database; stripe: Stripe; logger: Logger; fundBounty: FundBounty };

/** Thrown while the object an event is about is still unknown: the queue retries with backoff. */
class NotYetKnownError extends Error {
  constructor(eventId: string) {
    super(`the object of event ${eventId} is not known yet`);
    this.name = 'NotYetKnownError';
  }
}

/**
 * A deferred event, again: first the object we were missing is retrieved from Stripe (outside
 * any transaction) and its current state applied (a payment's success, a payout account), then
 * the event itself. Its effects are keyed as the webhook's are, so nothing happens twice.
 */
export async function reconcileEvent(deps: ReconcileDeps, eventId: string): Promise<WebhookEventStatus> {
  const [row] = await deps.database.select().from(webhookEvents).where(eq(webhookEvents.id, eventId));
  if (!row) throw new Error(`webhook event ${eventId} is not recorded`);
  if (row.status !== 'deferred') return row.status;
  const event = row.payload;
  const missing = await retrieveMissing(deps.stripe, event);
  const status = await deps.database.transaction(async (tx) => {
    if (missing.intent?.status === 'succeeded') await paymentSucceeded(tx, missing.intent, deps.fundBounty);
    // The account as Stripe has it now; one that none of our users has is not ours to track.
    const foreign = missing.account !== undefined && !(await storeFetchedAccount(tx, missing.account, missing.fetchedAt));
    const outcome = await reconciledOutcome(tx, event, missing, foreign, deps.fundBounty);
    if (outcome === 'unknown') return 'deferred' as const;
    await tx.update(webhookEvents).set({ status: outcome }).where(eq(webhookEvents.id, eventId));
    return outcome;
  });
  if (status === 'deferred') throw new NotYetKnownError(eventId);
  deps.logger.info({ eventId, type: event.type, status }, 'deferred webhook event reconciled');
  return status;
}

/** The event again, in the light of what was just fetched. */
async function reconciledOutcome(tx: Transaction, event: Stripe.Event, missing: Missing, foreign: boolean, fundBounty: FundBounty): Promise<EffectOutcome> {
  if (foreign) return 'ignored';
  // The account fetched after this event arrived is at least as new as the event's snapshot.
  if (event.type === 'account.updated' && missing.account) return 'processed';
  if (event.type === 'transfer.reversed' && missing.transfer) return transferReversed(tx, missing.transfer);
  return applyEvent(tx, event, fundBounty);
}

type Missing = { intent?: Stripe.PaymentIntent; account?: Stripe.Account; transfer?: Stripe.Transfer; fetchedAt: Date };

async function retrieveMissing(stripe: Stripe, event: Stripe.Event): Promise<Missing> {
  const fetchedAt = new Date();
  return { ...(await retrieveObjects(stripe, event)), fetchedAt };
}

async function retrieveObjects(stripe: Stripe, event: Stripe.Event): Promise<Omit<Missing, 'fetchedAt'>> {
  switch (event.type) {
    case 'payment_intent.succeeded':
    case 'payment_intent.payment_failed':
      return { intent: await stripe.paymentIntents.retrieve(event.data.object.id) };
    case 'charge.refunded':
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const intentId = idOf(event.data.object.payment_intent);
      return intentId ? { intent: await stripe.paymentIntents.retrieve(intentId) } : {};
    }
    case 'account.updated':
      return { account: await stripe.accounts.retrieve(event.data.object.id) };
    case 'payout.failed':
    case 'payout.paid':
      return event.account ? { account: await stripe.accounts.retrieve(event.account) } : {};
    case 'transfer.reversed':
      return { transfer: await stripe.transfers.retrieve(event.data.object.id) };
    default:
      return {};
  }
}

/** How long a deposit may wait for its webhook before the sweep asks Stripe about it. */
const DEPOSIT_SWEEP_AFTER_MS = 15 * 60 * 1000;
const DEPOSIT_SWEEP_BATCH = 200;
/** An intent the app has not confirmed in this long is cancelled by the sweep (Stripe retries webhooks for 3 days). */
const DEPOSIT_ABANDONED_MS = 3 * 24 * 60 * 60 * 1000;

/**
 * The backstop for webhooks that never came (an endpoint misconfigured, an outage past Stripe's
 * 3 days of retries): deposits still waiting after DEPOSIT_SWEEP_AFTER_MS are looked up at Stripe
 * and a payment that succeeded is credited exactly as its webhook would have (same effect key,
 * so a late webhook changes nothing). Returns how many were credited.
 */
export async function sweepWaitingDeposits(deps: ReconcileDeps, now: Date): Promise<number> {
  const waiting = await deps.database
    .select({ id: deposits.id, paymentIntentId: deposits.paymentIntentId, createdAt: deposits.createdAt })
    .from(deposits)
    .where(
      and(
        // Literal, as the partial index says it: a parameter would keep a generic plan off it.
        sql`${deposits.status} in ('requires_payment', 'processing')`,
        isNotNull(deposits.paymentIntentId),
        lt(deposits.updatedAt, new Date(now.getTime() - DEPOSIT_SWEEP_AFTER_MS)),
      ),
    )
    .orderBy(deposits.updatedAt)
    .limit(DEPOSIT_SWEEP_BATCH);
  let credited = 0;
  for (const deposit of waiting) {
    if (!deposit.paymentIntentId) continue;
    // Outside any transaction: Stripe first, then the database. One deposit Stripe cannot answer
    // for must not stop the others: it is asked again on a later sweep.
    const intent = await deps.stripe.paymentIntents.retrieve(deposit.paymentIntentId).catch((error: unknown) => {
      deps.logger.warn({ depositId: deposit.id, err: error }, 'deposit sweep: the payment intent could not be retrieved');
      return null;
    });
    if (!intent) {
      await deps.database.update(deposits).set({ updatedAt: now }).where(eq(deposits.id, deposit.id));
    } else if (intent.status === 'succeeded') {
      await deps.database.transaction((tx) => paymentSucceeded(tx, intent, deps.fundBounty));
      credited += 1;
    } else if (intent.status === 'canceled') {
      await deps.database.update(deposits).set({ status: 'canceled', updatedAt: now }).where(eq(deposits.id, deposit.id));
    } else if (intent.status !== 'processing' && now.getTime() - deposit.createdAt.getTime() > DEPOSIT_ABANDONED_MS) {
      // Never confirmed by the app in 3 days: cancelled, so it stops being asked about.
      const canceled = await deps.stripe.paymentIntents.cancel(intent.id).catch(() => null);
      if (canceled?.status === 'canceled') await deps.database.update(deposits).set({ status: 'canceled', updatedAt: now }).where(eq(deposits.id, deposit.id));
    } else {
      // Still open (the app never confirmed it): asked again on a later sweep, not every run.
      await deps.database.update(deposits).set({ updatedAt: now }).where(eq(deposits.id, deposit.id));
    }
  }
  if (credited > 0) deps.logger.warn({ credited }, 'deposits credited by the sweep: their webhooks never arrived');
  return credited;
}
