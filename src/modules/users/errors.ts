/** The codes the users routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const USERS_ERRORS = defineErrors({
  NOT_FOUND: { status: 404, message: 'No such user' },
  NOT_YOUR_ACCOUNT: { status: 403, message: 'You can only change or delete your own account' },
  ACCOUNT_IN_USE: { status: 409, message: 'The account has live bounties or money in its wallet: finish or cancel the work and withdraw first' },
  USE_ADMIN_USERS: {
    status: 422,
    message: 'role and ban fields are not changed here: an admin changes them at POST /admin/users/{id}/role, /ban and /unban (audited, with a reason)',
  },
});
