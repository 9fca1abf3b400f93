/**
 * Publishing a bounty paid by card (or Apple Pay): the request creates a deposit for the reward
 * with the bounty's id on it and answers with its PaymentIntent; the bounty stays a draft. When
 * Stripe's `payment_intent.succeeded` arrives, the webhook credits the wallet and, in the same
 * transaction, `openFundedBounty` holds the reward in escrow and publishes the bounty. A bounty
 * is never open unfunded.
 *
 * If the draft changed meanwhile (another reward, already published from the wallet, deleted),
 * or the wallet is frozen, the payment stays in the poster's wallet and the bounty as it is:
 * nothing is lost, and the poster can publish from the wallet.
 */
import { eq } from 'drizzle-orm';
import { bounties, type DepositMethod } from '../../db';
import { HttpError } from '../../lib/errors';
import { holdEscrow } from '../ledger';
import { createDeposit, type DepositDeps } from '../wallet/deposits';
import type { FundBounty } from '../webhooks/effects';
import type { DepositView } from '../wallet/schemas';
import type { Payer } from '../payments/service';
import { lockActiveAccount } from '../users/active';
import { assertPublishable, judgePublishing, type LifecycleDeps } from './actions';
import { type Actor, lockBounty, lockForTransition, transition } from './engine';

export type CardFunding = { method: DepositMethod; paymentMethodId?: string | undefined };

/** Checks the poster may publish now, marks the draft as funded by card, then asks Stripe. */
export async function publishByCard(
  deps: LifecycleDeps & Omit<DepositDeps, 'db'>,
  payer: Payer & { role: Exclude<Actor, 'system'>['role'] },
  bountyId: string,
  funding: CardFunding,
  requestKey: string,
): Promise<{ bountyId: string; deposit: DepositView }> {
  const now = deps.now();
  const bounty = await deps.db.transaction(async (tx) => {
    const { bounty: row } = await lockForTransition(tx, { bountyId, name: 'publish', actor: payer });
    assertPublishable(row, now);
    await judgePublishing(tx, deps, row, now);
    await tx.update(bounties).set({ funding: 'card', updatedAt: now }).where(eq(bounties.id, row.id));
    return row;
  });
  // Stripe is never called inside a transaction; the deposit keeps the Idempotency-Key, so a
  // retry makes no second intent.
  const deposit = await createDeposit(deps, payer, {
    amount: bounty.rewardAmount,
    currency: bounty.currency,
    method: funding.method,
    paymentMethodId: funding.paymentMethodId,
    bountyId: bounty.id,
    requestKey,
  });
  await deps.db.write((primary) =>
    primary.update(bounties).set({ fundingDepositId: deposit.id }).where(eq(bounties.id, bounty.id)),
  );
  return { bountyId: bounty.id, deposit };
}

/**
 * Holds the paid reward and publishes the draft, in the webhook's transaction, inside a savepoint:
 * when the bounty cannot be opened (see above) the money stays available and the webhook is
 * still processed. Returns whether the bounty opened.
 */
export const bountyFunder =
  (deps: Pick<LifecycleDeps, 'marketplace' | 'now'>): FundBounty =>
  async (tx, deposit, amount, currency) => {
    if (!deposit.bountyId) return false;
    const bountyId = deposit.bountyId;
    const posterId = deposit.userId;
    return tx
      .transaction(async (inner) => {
        const bounty = await lockBounty(inner, bountyId);
        if (!bounty || bounty.posterId !== posterId || bounty.state !== 'draft') return false;
        // A poster banned while the payment was under way opens nothing (403, caught below): the money stays in their wallet.
        if (!(await lockActiveAccount(inner, posterId, deps.now()))) return false;
        if (bounty.rewardAmount !== amount || bounty.currency !== currency) return false;
        const now = deps.now();
        // A payment that arrives (or is swept) after the deadline opens nothing that would expire at once.
        if (bounty.deadline.getTime() <= now.getTime()) return false;
        await transition(inner, deps.marketplace, { bountyId, name: 'publish', actor: { id: posterId, role: 'user' }, now }, async () => {
          await holdEscrow(inner, { bountyId, posterId, amount, currency });
          return { changes: { funding: 'card', fundingDepositId: deposit.id, publishedAt: now }, details: { funding: 'card', depositId: deposit.id } };
        });
        return true;
      })
      .catch((error: unknown) => {
        // A frozen wallet, a refused transition: the money stays in the wallet.
        if (error instanceof HttpError && error.status < 500) return false;
        throw error;
      });
  };


