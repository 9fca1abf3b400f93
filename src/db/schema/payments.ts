/**
 * Money's records outside the ledger: deposits (Stripe PaymentIntents we created), withdrawals
 * (Connect transfers), the Stripe objects a user has (customer, connected account), frozen
 * wallets, the webhook events received, and stored Idempotency-Key responses.
 *
 * None of these reference `users` with a foreign key: financial records outlive a deleted
 * account (they are evidence for refunds, disputes and tax), so deleting a user never cascades
 * into them or is blocked by them.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import type Stripe from 'stripe';
import { inList } from './checks';
import { ledgerHolds } from './ledger';

export const depositMethods = ['card', 'apple_pay'] as const;
export type DepositMethod = (typeof depositMethods)[number];
export const depositStatuses = ['creating', 'requires_payment', 'processing', 'succeeded', 'failed', 'canceled'] as const;
export type DepositStatus = (typeof depositStatuses)[number];

/**
 * A PaymentIntent we created. The row is written BEFORE Stripe is called and its id travels in
 * the intent's metadata, so a webhook always finds the deposit it is about, whatever the order.
 */
export const deposits = pgTable(
  'deposits',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id').notNull(),
    /** The Idempotency-Key of the request that created it: one deposit per key and user. */
    requestKey: text('request_key').notNull(),
    /** Set when the deposit funds a bounty straight from a card (credited and held in escrow). */
    bountyId: text('bounty_id'),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    method: text('method').$type<DepositMethod>().notNull(),
    status: text('status').$type<DepositStatus>().notNull().default('creating'),
    paymentIntentId: text('payment_intent_id').unique(),
    chargeId: text('charge_id'),
    /** How much of the charge has been refunded and taken back from the wallet (charge.refunded). */
    refundedAmount: bigint('refunded_amount', { mode: 'number' }).notNull().default(0),
    failureReason: text('failure_reason'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('deposits_user_request_key').on(table.userId, table.requestKey),
    index('deposits_user_created_idx').on(table.userId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    index('deposits_charge_id_idx').on(table.chargeId),
    // The sweep's work list (deposits still waiting for their webhook), oldest first.
    index('deposits_waiting_idx').on(table.updatedAt).where(sql`${table.status} in ('requires_payment', 'processing')`),
    check('deposits_amount_positive', sql`${table.amount} > 0`),
    check('deposits_method_check', sql`${table.method} in (${inList(depositMethods)})`),
    check('deposits_status_check', sql`${table.status} in (${inList(depositStatuses)})`),
  ],
);

/**
 * `held`: a risk rule held it for review (the amount is held, no payout job yet): an admin
 * approves it (then `pending`, paid by the job) or rejects it (`rejected`, the hold voided).
 */
export const withdrawalStatuses = ['held', 'pending', 'paid', 'failed', 'reversed', 'payout_failed', 'rejected'] as const;
export type WithdrawalStatus = (typeof withdrawalStatuses)[number];

/**
 * A cash-out: the amount is held (a pending ledger transfer) when it is asked for; a job then
 * makes the Connect transfer with the idempotency key `withdrawal:<id>` and posts or voids the hold.
 */
export const withdrawals = pgTable(
  'withdrawals',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: text('user_id').notNull(),
    requestKey: text('request_key').notNull(),
    holdId: uuid('hold_id').notNull().references(() => ledgerHolds.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<WithdrawalStatus>().notNull().default('pending'),
    stripeAccountId: text('stripe_account_id').notNull(),
    stripeTransferId: text('stripe_transfer_id').unique(),
    /** How much of the transfer Stripe reversed and we returned to the wallet (transfer.reversed). */
    reversedAmount: bigint('reversed_amount', { mode: 'number' }).notNull().default(0),
    /** Why it failed (or why the bank payout after it failed), in words the user can act on. */
    failureReason: text('failure_reason'),
    attempts: integer('attempts').notNull().default(0),
    /** Why a risk rule held it (for the reviewing admin; the user sees only that it is under review). */
    heldReason: text('held_reason'),
    reviewedBy: text('reviewed_by'),
    reviewedAt: timestamp('reviewed_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('withdrawals_user_request_key').on(table.userId, table.requestKey),
    // The risk review queue, oldest first.
    index('withdrawals_held_idx').on(table.createdAt, table.id).where(sql`${table.status} = 'held'`),
    index('withdrawals_user_created_idx').on(table.userId, table.createdAt.desc().nullsFirst(), table.id.desc().nullsFirst()),
    check('withdrawals_amount_positive', sql`${table.amount} > 0`),
    check('withdrawals_status_check', sql`${table.status} in (${inList(withdrawalStatuses)})`),
  ],
);

/** The Stripe customer that holds a user's saved cards. */
export const paymentCustomers = pgTable('payment_customers', {
  userId: text('user_id').primaryKey(),
  stripeCustomerId: text('stripe_customer_id').notNull().unique(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** A user's Stripe Connect Express account, kept current by `account.updated`. */
export const connectAccounts = pgTable('connect_accounts', {
  userId: text('user_id').primaryKey(),
  stripeAccountId: text('stripe_account_id').notNull().unique(),
  detailsSubmitted: boolean('details_submitted').notNull().default(false),
  chargesEnabled: boolean('charges_enabled').notNull().default(false),
  payoutsEnabled: boolean('payouts_enabled').notNull().default(false),
  requirementsDue: jsonb('requirements_due').$type<string[]>().notNull().default([]),
  disabledReason: text('disabled_reason'),
  /** Why Stripe's last payout to the user's bank failed (payout.failed), until one succeeds. */
  payoutFailureReason: text('payout_failure_reason'),
  /** When the payout event behind payoutFailureReason was created: an older one changes nothing. */
  payoutEventAt: timestamp('payout_event_at', { withTimezone: true }),
  /** When the payout destination (the bank account behind the connected account) last changed: risk rules read it. */
  payoutDetailsChangedAt: timestamp('payout_details_changed_at', { withTimezone: true }),
  /** When Stripe produced the state stored here: an older event never overwrites a newer state. */
  stateAt: timestamp('state_at', { withTimezone: true }).notNull().defaultNow(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export const freezeSources = ['chargeback', 'admin'] as const;
export type FreezeSource = (typeof freezeSources)[number];

/**
 * A wallet that may not send money out: a chargeback it could not cover (lifted by itself once
 * the debt is settled), or an admin's freeze (lifted only by an admin). Either one freezes.
 */
export const walletFreezes = pgTable(
  'wallet_freezes',
  {
    userId: text('user_id').notNull(),
    source: text('source').$type<FreezeSource>().notNull().default('chargeback'),
    reason: text('reason').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    primaryKey({ name: 'wallet_freezes_pkey', columns: [table.userId, table.source] }),
    check('wallet_freezes_source_check', sql`${table.source} in (${inList(freezeSources)})`),
  ],
);

export const webhookEventStatuses = ['processed', 'deferred', 'ignored'] as const;
export type WebhookEventStatus = (typeof webhookEventStatuses)[number];

/** Every Stripe event received, once (`INSERT ... ON CONFLICT DO NOTHING` on its id). */
export const webhookEvents = pgTable(
  'webhook_events',
  {
    id: text('id').primaryKey(),
    type: text('type').notNull(),
    objectId: text('object_id'),
    status: text('status').$type<WebhookEventStatus>().notNull(),
    /** The event as received: a deferred one is reconciled from it (and the object, re-fetched). */
    payload: jsonb('payload').$type<Stripe.Event>().notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [check('webhook_events_status_check', sql`${table.status} in (${inList(webhookEventStatuses)})`)],
);

/**
 * Idempotency-Key: the first response to a key, replayed for the same key and body. Scoped per
 * user; kept 24 h (`expires_at`).
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: text('user_id').notNull(),
    key: text('key').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    /** sha256 of method, path and body: the same key with another request is refused (422). */
    fingerprint: text('fingerprint').notNull(),
    /** Null while the first request is still running. */
    responseStatus: integer('response_status'),
    responseBody: text('response_body'),
    lockedAt: timestamp('locked_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ name: 'idempotency_keys_pkey', columns: [table.userId, table.key] }), index('idempotency_keys_expires_at_idx').on(table.expiresAt)],
);

export type Deposit = typeof deposits.$inferSelect;
export type Withdrawal = typeof withdrawals.$inferSelect;
export type ConnectAccount = typeof connectAccounts.$inferSelect;
