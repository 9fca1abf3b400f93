/**
 * Escrow for the marketplace: a bounty's reward held from its poster's wallet while the bounty
 * runs, then released to the hunter (less the platform fee), refunded to the poster, or split.
 * Each takes the caller's transaction, so the bounty's state change and the money commit together.
 */
import type { LedgerHold, Transaction } from '../../db';
import { escrowAccount, platformAccount, userAccount } from './accounts';
import { type HoldSelector, openHold, resolveHold } from './holds';
import { post } from './posting';

/**
 * The platform's fee on `amount`: basis points, rounded half up to a whole minor unit. The one
 * rounding rule: the payout is `amount - fee`, so fee + payout is the amount exactly.
 */
export function platformFee(amount: number, feeBps: number): number {
  return Math.floor((amount * feeBps + 5_000) / 10_000);
}

const escrowOf = (bountyId: string): HoldSelector => ({ kind: 'escrow', referenceId: bountyId });

/** Poster's available -> the bounty's escrow. Once per bounty; refused on a frozen wallet or short balance. */
export function holdEscrow(tx: Transaction, input: { bountyId: string; posterId: string; amount: number; currency: string }) {
  return openHold(tx, {
    kind: 'escrow',
    referenceId: input.bountyId,
    userId: input.posterId,
    from: userAccount(input.posterId, 'available', input.currency),
    to: escrowAccount(input.bountyId, input.posterId, input.currency),
    amount: input.amount,
    description: `Reward held in escrow for bounty ${input.bountyId}`,
  });
}

/** Escrow -> the hunter's available, less the fee (to the platform). */
export function releaseEscrow(tx: Transaction, input: { bountyId: string; hunterId: string; feeBps: number }): Promise<LedgerHold> {
  return resolveHold(tx, escrowOf(input.bountyId), (hold) => {
    const fee = platformFee(hold.amount, input.feeBps);
    return {
      status: 'posted',
      kind: 'escrow.release',
      description: `Reward released for bounty ${input.bountyId}`,
      destinations: [
        { account: userAccount(input.hunterId, 'available', hold.currency), amount: hold.amount - fee },
        { account: platformAccount('fees', hold.currency), amount: fee },
      ],
    };
  });
}

/** Escrow -> back to the poster's available, in full. */
export function refundEscrow(tx: Transaction, input: { bountyId: string }): Promise<LedgerHold> {
  return resolveHold(tx, escrowOf(input.bountyId), (hold, accounts) => ({
    status: 'voided',
    kind: 'escrow.refund',
    description: `Reward returned from bounty ${input.bountyId}`,
    destinations: [{ account: accounts.source, amount: hold.amount }],
  }));
}

/**
 * A settlement: `hunterAmount` of the escrow to the hunter (the fee taken on that part only),
 * the rest back to the poster. 0 and the full amount are allowed (a refund or a release by ruling).
 */
export function splitEscrow(tx: Transaction, input: { bountyId: string; hunterId: string; hunterAmount: number; feeBps: number }): Promise<LedgerHold> {
  return resolveHold(tx, escrowOf(input.bountyId), (hold, accounts) => {
    if (!Number.isSafeInteger(input.hunterAmount) || input.hunterAmount < 0 || input.hunterAmount > hold.amount) {
      throw new Error(`ledger: split of ${input.hunterAmount} outside 0..${hold.amount}`);
    }
    const fee = platformFee(input.hunterAmount, input.feeBps);
    return {
      status: 'posted',
      kind: 'escrow.split',
      description: `Reward split for bounty ${input.bountyId}`,
      destinations: [
        { account: userAccount(input.hunterId, 'available', hold.currency), amount: input.hunterAmount - fee },
        { account: platformAccount('fees', hold.currency), amount: fee },
        { account: accounts.source, amount: hold.amount - input.hunterAmount },
      ],
    };
  });
}

/** Money in from Stripe to a user's available balance (a deposit's effect, keyed by the caller). */
export function creditFromStripe(tx: Transaction, input: { userId: string; amount: number; currency: string; effectKey: string; description: string; reference: { type: string; id: string } }) {
  return post(tx, {
    kind: 'deposit',
    effectKey: input.effectKey,
    description: input.description,
    reference: input.reference,
    legs: [
      { account: platformAccount('external', input.currency), amount: -input.amount },
      { account: userAccount(input.userId, 'available', input.currency), amount: input.amount },
    ],
  });
}
