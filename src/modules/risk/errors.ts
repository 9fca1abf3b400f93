/** Risk's refusals beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const RISK_ERRORS = defineErrors({
  RISK_DENIED: { status: 403, message: 'This is not allowed on your account right now' },
});
