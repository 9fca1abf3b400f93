/** The codes money operations answer beside the common ones (used by the wallet, payments and bounty routes). */
import { defineErrors } from '../../lib/errors';

export const LEDGER_ERRORS = defineErrors({
  INSUFFICIENT_FUNDS: { status: 409, message: 'Your available balance does not cover this amount' },
  WALLET_FROZEN: { status: 403, message: 'This wallet is frozen: money cannot leave it until support reviews it' },
  HOLD_ALREADY_RESOLVED: { status: 409, message: 'This money has already been released or returned' },
  UNSUPPORTED_CURRENCY: { status: 422, message: 'This currency is not supported' },
});

/**
 * A posting whose effect key exists with other legs: a programming error (the same effect must
 * always move the same money), never a client's mistake, so not an HttpError.
 */
export class LedgerConflictError extends Error {
  constructor(readonly effectKey: string) {
    super(`ledger invariant: effect ${effectKey} was already posted with other legs`);
    this.name = 'LedgerConflictError';
  }
}
