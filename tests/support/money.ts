/**
 * Money through the API, as a client does it: deposits confirmed with Stripe's test cards on the
 * app's local Stripe server, payout accounts onboarded there, webhooks delivered to the app and
 * waited for. Every call goes through `t.request`, so the API document is checked on each.
 */
import { z } from 'zod';
import type { TestAccount } from './accounts';
import type { TestApp } from './harness';

export const withCookie = (account: TestAccount, init: Parameters<TestApp['request']>[1] = {}) => ({
  ...init,
  headers: { ...Object.fromEntries(new Headers(init.headers)), cookie: account.jar.header() },
});

/** A POST that needs an Idempotency-Key, with a fresh key unless one is given. */
export const moneyPost = (account: TestAccount, json: unknown, key: string = crypto.randomUUID()) =>
  withCookie(account, { method: 'POST', json, headers: { 'idempotency-key': key } });

const money = z.object({ amount: z.number(), currency: z.string() });
const walletBody = z.object({
  success: z.literal(true),
  data: z.object({ available: money, heldForWithdrawals: money, inEscrow: money, owed: money, frozen: z.boolean(), frozenReason: z.string().nullable() }),
});
const depositBody = z.object({ success: z.literal(true), data: z.object({ id: z.string(), status: z.string(), paymentIntentId: z.string().nullable(), clientSecret: z.string().nullable() }) });
const accountBody = z.object({ success: z.literal(true), data: z.object({ accountId: z.string(), payoutsEnabled: z.boolean() }) });

export type WalletView = z.infer<typeof walletBody>['data'];

/**
 * The wallet as its owner reads it once the replicas have replayed everything: jobs and webhooks
 * change balances without the owner holding a read-your-writes token for their writes.
 */
export async function walletOf(t: TestApp, account: TestAccount): Promise<WalletView> {
  await t.settle();
  const response = account.jar.store(await t.request('/wallet', withCookie(account)));
  return walletBody.parse(await response.json()).data;
}

/** Deposits by card, confirmed at once, and waits for Stripe's webhooks to reach the app. */
export async function depositByCard(t: TestApp, account: TestAccount, amount: number, paymentMethodId = 'pm_card_visa') {
  const response = account.jar.store(
    await t.request('/wallet/deposits', moneyPost(account, { amount: { amount, currency: 'usd' }, method: 'card', paymentMethodId })),
  );
  if (response.status !== 201) throw new Error(`deposit failed: ${response.status} ${await response.text()}`);
  const deposit = depositBody.parse(await response.json()).data;
  await settleWebhooks(t);
  return deposit;
}

/** Creates the user's payout account and completes Stripe's onboarding for it (account.updated). */
export async function onboard(t: TestApp, account: TestAccount): Promise<string> {
  const response = account.jar.store(await t.request('/connect/account', withCookie(account, { method: 'POST' })));
  const { accountId } = accountBody.parse(await response.json()).data;
  t.stripeServer.accounts.completeOnboarding(accountId);
  await settleWebhooks(t);
  return accountId;
}

/**
 * Waits for Stripe's webhooks to reach the app, then for the replicas to replay what they wrote:
 * the client holds no read-your-writes token for a webhook's writes, so its next read may come
 * from a replica (up to MAX_REPLICA_LAG_MS behind).
 */
export async function settleWebhooks(t: TestApp): Promise<void> {
  await t.stripeServer.webhooks.settled();
  await t.settle();
}
