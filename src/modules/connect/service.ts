/**
 * Payout accounts: one Stripe Connect Express account per user, onboarded through Stripe's hosted
 * flow and kept current by `account.updated` webhooks (applyAccountState).
 */
import { and, eq, lte } from 'drizzle-orm';
import { type ConnectAccount, connectAccounts, type DatabaseSession, type Transaction } from '../../db';
import { providerRefusal, type Stripe } from '../../lib/stripe';
import type { ConnectAccountView } from './schemas';

export type ConnectDeps = { db: DatabaseSession; stripe: Stripe; returnUrl: string; refreshUrl: string };

export const toConnectAccountView = (account: ConnectAccount): ConnectAccountView => ({
  accountId: account.stripeAccountId,
  detailsSubmitted: account.detailsSubmitted,
  chargesEnabled: account.chargesEnabled,
  payoutsEnabled: account.payoutsEnabled,
  requirementsDue: account.requirementsDue,
  disabledReason: account.disabledReason,
  payoutFailureReason: account.payoutFailureReason,
});

async function call<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw providerRefusal(error);
  }
}

async function findOnPrimary(db: DatabaseSession, userId: string): Promise<ConnectAccount | undefined> {
  const [row] = await db.write((primary) => primary.select().from(connectAccounts).where(eq(connectAccounts.userId, userId)));
  return row;
}

/** What Stripe's account object says, as our columns. */
export function accountState(account: Stripe.Account) {
  return {
    detailsSubmitted: account.details_submitted ?? false,
    chargesEnabled: account.charges_enabled ?? false,
    payoutsEnabled: account.payouts_enabled ?? false,
    requirementsDue: account.requirements?.currently_due ?? [],
    disabledReason: account.requirements?.disabled_reason ?? null,
  };
}

/**
 * The user's Express account, created on first call (`created: true`). Two racing first calls
 * send the same Stripe idempotency key and get the same account.
 */
export async function ensureConnectAccount(deps: ConnectDeps, user: { id: string; email: string }): Promise<{ account: ConnectAccountView; created: boolean }> {
  const existing = await findOnPrimary(deps.db, user.id);
  if (existing) return { account: toConnectAccountView(existing), created: false };
  const account = await call(() =>
    deps.stripe.accounts.create(
      { type: 'express', country: 'US', email: user.email, capabilities: { transfers: { requested: true } }, metadata: { user_id: user.id } },
      { idempotencyKey: `connect-account:${user.id}` },
    ),
  );
  await deps.db.write((primary) =>
    primary
      .insert(connectAccounts)
      .values({ userId: user.id, stripeAccountId: account.id, ...accountState(account), stateAt: account.created ? new Date(account.created * 1000) : new Date() })
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
  const link = await call(() =>
    deps.stripe.accountLinks.create({ account: account.stripeAccountId, type: 'account_onboarding', return_url: deps.returnUrl, refresh_url: deps.refreshUrl }),
  );
  return { url: link.url, expiresAt: new Date(link.expires_at * 1000) };
}

/**
 * Stores Stripe's account state as of `stateAt`, unless a newer state is stored already (events
 * arrive in any order). False when we have no row for the account (yet).
 */
export async function applyAccountState(tx: Transaction, account: Stripe.Account, stateAt: Date): Promise<boolean> {
  const [known] = await tx.select({ userId: connectAccounts.userId }).from(connectAccounts).where(eq(connectAccounts.stripeAccountId, account.id));
  if (!known) return false;
  await tx
    .update(connectAccounts)
    .set({ ...accountState(account), stateAt, updatedAt: new Date() })
    .where(and(eq(connectAccounts.stripeAccountId, account.id), lte(connectAccounts.stateAt, stateAt)));
  return true;
}
