/** Wallet rows as the API shows them. */
import type { Deposit, Withdrawal } from '../../db';
import { money } from '../ledger';
import type { DepositView, ReviewedWithdrawalView, WithdrawalView } from './schemas';

export const toDepositView = (deposit: Deposit, clientSecret: string | null = null): DepositView => ({
  id: deposit.id,
  amount: money(deposit.amount, deposit.currency),
  method: deposit.method,
  status: deposit.status,
  paymentIntentId: deposit.paymentIntentId,
  clientSecret,
  failureReason: deposit.failureReason,
  bountyId: deposit.bountyId,
  createdAt: deposit.createdAt,
});

export const toWithdrawalView = (withdrawal: Withdrawal): WithdrawalView => ({
  id: withdrawal.id,
  amount: money(withdrawal.amount, withdrawal.currency),
  status: withdrawal.status,
  failureReason: withdrawal.failureReason,
  createdAt: withdrawal.createdAt,
  updatedAt: withdrawal.updatedAt,
});

export const toReviewedWithdrawalView = (withdrawal: Withdrawal): ReviewedWithdrawalView => ({
  id: withdrawal.id,
  userId: withdrawal.userId,
  amount: money(withdrawal.amount, withdrawal.currency),
  status: withdrawal.status,
  heldReason: withdrawal.heldReason,
  failureReason: withdrawal.failureReason,
  reviewedBy: withdrawal.reviewedBy,
  reviewedAt: withdrawal.reviewedAt,
  createdAt: withdrawal.createdAt,
  updatedAt: withdrawal.updatedAt,
});
