/**
 * The double-entry ledger: accounts, transactions and their entries, and two-phase holds.
 * Only src/modules/ledger writes these tables. What must always be true is enforced here, in the
 * database (the triggers are in drizzle/0004_money_invariants.sql):
 * - a transaction's entries sum to zero per currency (deferred constraint trigger, at commit);
 * - entries and transactions are never updated or deleted (trigger);
 * - an account that may not go negative never does (CHECK);
 * - each entry carries the account's balance after it, chained to the previous entry, and the
 *   cached balance equals the last entry's (triggers), so the cached balance is the sum of entries;
 * - an entry's currency is its account's (composite foreign key);
 * - a hold leaves `pending` once, to `posted` or `voided` (trigger), and its resolution is one
 *   transaction keyed `hold:<id>:resolve` (unique effect key).
 *
 * Amounts are integers in minor units (cents) as `bigint` columns, read as JS numbers: every
 * amount the service accepts is bounded by MONEY_MAX_AMOUNT, far inside 2^53.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, foreignKey, index, integer, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { inList } from './checks';

export const accountOwnerTypes = ['user', 'bounty', 'platform'] as const;
export type AccountOwnerType = (typeof accountOwnerTypes)[number];

/**
 * - `available`: what a user can spend or withdraw (owner: user);
 * - `withdrawal_hold`: held for the user's withdrawals in flight (owner: user);
 * - `receivable`: what a user owes the platform after a chargeback their wallet could not cover
 *   (owner: user; the platform's claim, so it may be negative: -500 means "owes $5");
 * - `escrow`: a bounty's reward while the bounty runs (owner: bounty, user_id: who funded it);
 * - `fees`: the platform's revenue (owner: platform);
 * - `external`: money outside the ledger, at Stripe (owner: platform, negative: what Stripe holds
 *   for us). Every deposit comes from it and every payout goes to it.
 * - `adjustments`: the other side of every admin's manual correction (owner: platform, may be
 *   negative: what the platform gave users by correction, net).
 */
export const accountKinds = ['available', 'withdrawal_hold', 'receivable', 'escrow', 'fees', 'external', 'adjustments'] as const;
export type AccountKind = (typeof accountKinds)[number];

export const ledgerAccounts = pgTable(
  'ledger_accounts',
  {
    // Ascending ids are the lock order: every posting locks its accounts by id, so two postings
    // never wait on each other in a circle.
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    ownerType: text('owner_type').$type<AccountOwnerType>().notNull(),
    ownerId: text('owner_id').notNull(),
    kind: text('kind').$type<AccountKind>().notNull(),
    currency: text('currency').notNull(),
    /** The person the account is for (an escrow account: its funder), for the wallet's totals. */
    userId: text('user_id'),
    balance: bigint('balance', { mode: 'number' }).notNull().default(0),
    allowNegative: boolean('allow_negative').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    unique('ledger_accounts_owner_kind_currency_key').on(table.ownerType, table.ownerId, table.kind, table.currency),
    // Target of the entries' (account_id, currency) foreign key: an entry is in its account's currency.
    unique('ledger_accounts_id_currency_key').on(table.id, table.currency),
    index('ledger_accounts_user_kind_idx').on(table.userId, table.kind),
    // GET /admin/ledger/users/:userId: a person's accounts (their escrows too) in id order.
    index('ledger_accounts_user_id_idx').on(table.userId, table.id),
    check('ledger_accounts_non_negative', sql`${table.allowNegative} or ${table.balance} >= 0`),
    check('ledger_accounts_currency_check', sql`${table.currency} ~ '^[a-z]{3}$'`),
    check('ledger_accounts_owner_type_check', sql`${table.ownerType} in (${inList(accountOwnerTypes)})`),
    check('ledger_accounts_kind_check', sql`${table.kind} in (${inList(accountKinds)})`),
  ],
);

export const holdKinds = ['withdrawal', 'escrow'] as const;
export type HoldKind = (typeof holdKinds)[number];
export const holdStatuses = ['pending', 'posted', 'voided'] as const;
export type HoldStatus = (typeof holdStatuses)[number];

/**
 * A pending transfer: money moved from `source_account_id` to `hold_account_id` and kept there
 * until it is posted (paid out, released) or voided (returned), exactly once.
 */
export const ledgerHolds = pgTable(
  'ledger_holds',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').$type<HoldKind>().notNull(),
    /** What the hold is for: a withdrawal's id, a bounty's id. One hold per kind and reference. */
    referenceId: text('reference_id').notNull(),
    userId: text('user_id').notNull(),
    sourceAccountId: bigint('source_account_id', { mode: 'number' }).notNull().references(() => ledgerAccounts.id),
    holdAccountId: bigint('hold_account_id', { mode: 'number' }).notNull().references(() => ledgerAccounts.id),
    amount: bigint('amount', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    status: text('status').$type<HoldStatus>().notNull().default('pending'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    resolvedAt: timestamp('resolved_at', { withTimezone: true }),
  },
  (table) => [
    unique('ledger_holds_kind_reference_key').on(table.kind, table.referenceId),
    check('ledger_holds_amount_positive', sql`${table.amount} > 0`),
    check('ledger_holds_kind_check', sql`${table.kind} in (${inList(holdKinds)})`),
    check('ledger_holds_status_check', sql`${table.status} in (${inList(holdStatuses)})`),
  ],
);

export const ledgerTransactions = pgTable(
  'ledger_transactions',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    kind: text('kind').notNull(),
    /**
     * What this transaction does, once: `pi:<id>:succeeded`, `hold:<id>:resolve`, ... A second
     * posting of the same effect finds it here and posts nothing.
     */
    effectKey: text('effect_key').notNull().unique(),
    /** A digest of the legs: the same effect key with other legs is a bug, refused (invariant 6). */
    fingerprint: text('fingerprint').notNull(),
    /** The hold this transaction opened or resolved, if any (its status is the entry's status). */
    holdId: uuid('hold_id').references(() => ledgerHolds.id),
    referenceType: text('reference_type'),
    referenceId: text('reference_id'),
    /** What the account holder sees beside the amount ("Deposit by card", "Withdrawal to your bank"). */
    description: text('description').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('ledger_transactions_hold_id_idx').on(table.holdId)],
);

export const ledgerEntries = pgTable(
  'ledger_entries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    transactionId: bigint('transaction_id', { mode: 'number' }).notNull().references(() => ledgerTransactions.id),
    accountId: bigint('account_id', { mode: 'number' }).notNull(),
    currency: text('currency').notNull(),
    /** Signed: positive credits the account, negative debits it. */
    amount: bigint('amount', { mode: 'number' }).notNull(),
    /** The account's balance after this entry; chained to the previous entry by a trigger. */
    balanceAfter: bigint('balance_after', { mode: 'number' }).notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    foreignKey({
      name: 'ledger_entries_account_currency_fk',
      columns: [table.accountId, table.currency],
      foreignColumns: [ledgerAccounts.id, ledgerAccounts.currency],
    }),
    // An account's history, newest first (GET /wallet/transactions, the chain check).
    index('ledger_entries_account_id_idx').on(table.accountId, table.id.desc().nullsFirst()),
    index('ledger_entries_transaction_id_idx').on(table.transactionId),
    check('ledger_entries_amount_nonzero', sql`${table.amount} <> 0`),
  ],
);

export type LedgerAccount = typeof ledgerAccounts.$inferSelect;
export type LedgerHold = typeof ledgerHolds.$inferSelect;
export type LedgerTransaction = typeof ledgerTransactions.$inferSelect;
export type LedgerEntry = typeof ledgerEntries.$inferSelect;

/** Each run of the periodic ledger check (src/modules/ledger/check.ts): /metrics shows the latest. */
export const ledgerChecks = pgTable('ledger_checks', {
  id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  checkedAt: timestamp('checked_at', { withTimezone: true }).notNull().defaultNow(),
  balanceMismatches: integer('balance_mismatches').notNull(),
  unbalancedTransactions: integer('unbalanced_transactions').notNull(),
});
