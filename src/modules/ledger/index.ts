/**
 * The ledger: the one place money is written (src/modules/ledger). No routes of its own: the
 * wallet, payments, webhooks and (later) bounties modules call these functions inside their
 * transactions. See src/db/schema/ledger.ts for the invariants the database enforces.
 */
export { type AccountRef, escrowAccount, platformAccount, userAccount, userBalances } from './accounts';
export { checkLedger, latestLedgerCheck, type LedgerCheck, runLedgerCheck } from './check';
export { LEDGER_ERRORS, LedgerConflictError } from './errors';
export { creditFromStripe, holdEscrow, platformFee, refundEscrow, releaseEscrow, splitEscrow } from './escrow';
export { assertNotFrozen, type HoldSelector, isWalletFrozen, openHold, type Resolution, resolveHold } from './holds';
export { amountInputSchema, currencySchema, DEFAULT_CURRENCY, type Money, money, moneySchema, SUPPORTED_CURRENCIES } from './money';
export { type Leg, post, type Posting, type PostingResult } from './posting';
export { type Reclaim, reclaim, reverseTransaction, unfreezeIfSettled } from './reclaims';
