/** The admin console's refusals beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const ADMIN_ERRORS = defineErrors({
  USER_NOT_FOUND: { status: 404, message: 'No such user' },
  CANNOT_ACT_ON_SELF: { status: 403, message: 'An admin cannot ban, demote or freeze their own account: another admin does it' },
  // Accounts (users.ts): each action is refused when it would change nothing, so its audit row always records a change.
  ALREADY_BANNED: { status: 409, message: 'The account is banned already: unban it first to change the ban' },
  NOT_BANNED: { status: 409, message: 'The account is not banned' },
  BAN_EXPIRY_PAST: { status: 422, message: 'expiresAt must be in the future (leave it out for a ban until lifted)' },
  ROLE_UNCHANGED: { status: 409, message: 'The account has this role already' },
  WALLET_ALREADY_FROZEN: { status: 409, message: 'The wallet is frozen by an admin already' },
  WALLET_NOT_FROZEN: { status: 409, message: 'The wallet has no admin freeze to lift (a chargeback freeze is lifted by the ledger once the debt is settled)' },
});
