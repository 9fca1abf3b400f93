/** The codes the users routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const USERS_ERRORS = defineErrors({
  NOT_FOUND: { status: 404, message: 'No such user' },
  NOT_YOUR_ACCOUNT: { status: 403, message: 'You can only change or delete your own account' },
  ADMIN_ONLY_FIELDS: { status: 403, message: 'Only an admin can change these fields' },
  CANNOT_MODIFY_SELF: { status: 403, message: 'You cannot change your own role or ban yourself' },
});
