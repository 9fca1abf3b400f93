/** Risk's refusals beside the common ones. A deny's message is the rule's words for the user (rules.ts). */
import { defineErrors } from '../../lib/errors';

export const RISK_ERRORS = defineErrors({
  RISK_DENIED: { status: 403, message: 'This is not available on your account right now. Contact support if you think this is a mistake.' },
  CARD_FUNDS_ON_HOLD: { status: 409, message: 'Money from recent card payments cannot be withdrawn yet' },
  NEW_ACCOUNT_LIMIT: { status: 403, message: 'New accounts have limits until their first completed bounty' },
  RISK_USER_NOT_FOUND: { status: 404, message: 'No such user, and no risk record of one' },
});
