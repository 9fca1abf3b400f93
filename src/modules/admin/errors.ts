/** The admin console's refusals beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const ADMIN_ERRORS = defineErrors({
  USER_NOT_FOUND: { status: 404, message: 'No such user' },
  CANNOT_ACT_ON_SELF: { status: 403, message: 'An admin cannot ban, demote or freeze their own account: another admin does it' },
});
