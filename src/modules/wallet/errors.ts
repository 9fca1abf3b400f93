/** The codes the wallet routes answer beside the common ones and the ledger's. */
import { defineErrors } from '../../lib/errors';

export const WALLET_ERRORS = defineErrors({
  PAYOUTS_NOT_ENABLED: { status: 409, message: 'Set up payouts first: POST /connect/account, then finish onboarding' },
  WITHDRAWAL_NOT_FOUND: { status: 404, message: 'No such withdrawal' },
  WITHDRAWAL_NOT_HELD: { status: 409, message: 'Only a withdrawal held for review can be approved or rejected' },
  OWN_WITHDRAWAL_REVIEW: { status: 403, message: 'Another admin reviews your own withdrawal' },
  DEPOSIT_NOT_FOUND: { status: 404, message: 'No such deposit' },
  DEPOSIT_KEY_EXPIRED: { status: 409, message: 'This Idempotency-Key started a deposit over 23 hours ago that never reached the payment provider: use a new key' },
});
