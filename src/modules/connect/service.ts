/**
 * Payout accounts: one Stripe Connect Express account per user, onboarded through Stripe's hosted
 * flow and kept current by `account.updated` webhooks (applyAccountState). A change of the payout
 * destination (a new bank account, or payouts enabled) is noted for the risk rules, which hold a
 * withdrawal that follows it shortly (src/modules/risk/links.ts).
 */
import { and, eq, lte } from 'drizzle-orm';
import { type ConnectAccount, connectAccounts, type DatabaseSession, type Transaction } from '../../db';
import { callStripe, type Stripe } from '../../lib/stripe';
import { notePayoutDestination } from '../risk/links';
import type { ConnectAccountView } from './schemas';

export type ConnectDeps = { db: DatabaseSession; stripe: Stripe; returnUrl: string; refreshUrl: string };

const toConnectAccountView = (account: ConnectAccount): ConnectAccountView => ({
  accountId: account.stripeAccountId,
  detailsSubmitted: account.detailsSubmitted,
  chargesEnabled: account.chargesEnabled,
  payoutsEnabled: account.payoutsEnabled,
  requirementsDue: account.requirementsDue,
  disabledReason: account.disabledReason,
  payoutFailureReason: account.payoutFailureReason,
});

async function findOnPrimary(db: DatabaseSession, userId: string): Promise<ConnectAccount | undefined> {
  const [row] = await db.write((primary) => primary.select().from(connectAccounts).where(eq(connectAccounts.userId, userId)));
  return row;
}

/** What Stripe's account object says, as our columns. */
function accountState(account: Stripe.Account) {
  return {
    detailsSubmitted: account.details_submitted ?? false,
    chargesEnabled: account.charges_enabled ?? false,
    payoutsEnabled: account.payouts_enabled ?? false,
    requirementsDue: account.requirements?.currently_due ?? [],
    disabledReason: account.requirements?.disabled_reason ?? null,
  };
}

/**
 * The fingerprints of the account's payout destinations (bank accounts or debit cards), when
 * Stripe includes its external accounts in the object (the local Stripe server does not: then only
 * payouts becoming enabled counts as a change).
 */
function destinationFingerprints(account: Stripe.Account): string[] {
  const external = account.external_accounts?.data ?? [];
  return external.map((destination) => destination.fingerprint).filter((fingerprint): fingerprint is string => typeof fingerprint === 'string' && fingerprint.length > 0);
}

/** After a stored state change: the payout destination, for the risk rules. */
function notePayoutChange(tx: Transaction, userId: string, payoutsWereEnabled: boolean, account: Stripe.Account, at: Date): Promise<void> {
  return notePayoutDestination(tx, {
    userId,
    fingerprints: destinationFingerprints(account),
    payoutsWereEnabled,
    payoutsEnabled: account.payouts_enabled ?? false,
    at,
  });
}

/**
 * The user's Express account, created on first call (`created: true`). Two racing first calls
 * send the same Stripe idempotency key and get the same account.
 */
export async function ensureConnectAccount(deps: ConnectDeps, user: { id: string; email: string }): Promise<{ account: ConnectAccountView; created: boolean }> {
  const existing = await findOnPrimary(deps.db, user.id);
  if (existing) return { account: toConnectAccountView(existing), created: false };
  const account = await callStripe(() =>
    deps.stripe.accounts.create(
      { type: 'express', country: 'US', email: user.email, capabilities: { transfers: { requested: true } }, metadata: { user_id: user.id } },
      { idempotencyKey: `connect-account:${user.id}` },
    ),
  );
  await deps.db.write((primary) =>
    primary
      .insert(connectAccounts)
      // A millisecond before its creation second: every event about the account is newer.
      .values({ userId: user.id, stripeAccountId: account.id, ...accountState(account), stateAt: new Date((account.created ?? 0) * 1000 - 1) })
      .onConflictDoNothing(),
  );
  const stored = await findOnPrimary(deps.db, user.id);
  if (!stored) throw new Error('connect account row missing after insert');
  return { account: toConnectAccountView(stored), created: true };
}

export async function findConnectAccount(db: DatabaseSession, userId: string): Promise<ConnectAccountView | null> {
  const [row] = await db.read((reader) => reader.select().from(connectAccounts).where(eq(connectAccounts.userId, userId)));
  return row ? toConnectAccountView(row) : null;
}

/** A fresh Stripe-hosted onboarding link for the user's account; null when they have none. */
export async function createOnboardingLink(deps: ConnectDeps, userId: string): Promise<{ url: string; expiresAt: Date } | null> {
  const account = await findOnPrimary(deps.db, userId);
  if (!account) return null;
  const link = await callStripe(() =>
    deps.stripe.accountLinks.create({ account: account.stripeAccountId, type: 'account_onboarding', return_url: deps.returnUrl, refresh_url: deps.refreshUrl }),
  );
  return { url: link.url, expiresAt: new Date(link.expires_at * 1000) };
}

export type AccountStateOutcome = 'applied' | 'stale' | 'tie' | 'unknown';

/**
 * Stores an `account.updated` event's state unless a newer one is stored (events come in any
 * order). Stripe dates events to the second: a tie with the stored state cannot be ordered, so it
 * is `tie` and the caller has the current state fetched instead. `unknown`: no row for it (yet).
 */
export async function applyAccountEvent(tx: Transaction, account: Stripe.Account, eventAt: Date): Promise<AccountStateOutcome> {
  const [stored] = await tx
    .select({ stateAt: connectAccounts.stateAt, userId: connectAccounts.userId, payoutsEnabled: connectAccounts.payoutsEnabled })
    .from(connectAccounts)
    .where(eq(connectAccounts.stripeAccountId, account.id))
    .for('update');
  if (!stored) return 'unknown';
  if (stored.stateAt.getTime() > eventAt.getTime()) return 'stale';
  if (stored.stateAt.getTime() === eventAt.getTime()) return 'tie';
  await tx.update(connectAccounts).set({ ...accountState(account), stateAt: eventAt, updatedAt: new Date() }).where(eq(connectAccounts.stripeAccountId, account.id));
  await notePayoutChange(tx, stored.userId, stored.payoutsEnabled, account, eventAt);
  return 'applied';
}

/**
 * Stores the account as just fetched from Stripe (the truth as of `fetchedAt`), recording it for
 * the user its metadata names if we have no row (the request that created it failed after Stripe
 * answered). Dated to the second it was fetched in, so an event of that same second is a tie
 * (fetched again) rather than wrongly older. False when the account is none of our users'.
 */
export async function storeFetchedAccount(tx: Transaction, account: Stripe.Account, fetchedAt: Date): Promise<boolean> {
  const stateAt = new Date(Math.floor(fetchedAt.getTime() / 1000) * 1000);
  const userId = account.metadata?.user_id;
  const [before] = await tx.select({ payoutsEnabled: connectAccounts.payoutsEnabled }).from(connectAccounts).where(eq(connectAccounts.stripeAccountId, account.id)).for('update');
  if (userId) {
    await tx.insert(connectAccounts).values({ userId, stripeAccountId: account.id, ...accountState(account), stateAt }).onConflictDoNothing();
  }
  const updated = await tx
    .update(connectAccounts)
    .set({ ...accountState(account), stateAt, updatedAt: new Date() })
    .where(and(eq(connectAccounts.stripeAccountId, account.id), lte(connectAccounts.stateAt, stateAt)))
    .returning({ userId: connectAccounts.userId });
  const [changed] = updated;
  if (changed) {
    await notePayoutChange(tx, changed.userId, before?.payoutsEnabled ?? false, account, stateAt);
    return true;
  }
  const [known] = await tx.select({ userId: connectAccounts.userId }).from(connectAccounts).where(eq(connectAccounts.stripeAccountId, account.id));
  return known !== undefined;
}
