/** The codes the Connect routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const CONNECT_ERRORS = defineErrors({
  CONNECT_ACCOUNT_NOT_FOUND: { status: 404, message: 'No payout account yet: POST /connect/account first' },
});
