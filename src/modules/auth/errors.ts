/** The codes the auth routes (and Better-Auth's endpoints behind /api/auth) answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const AUTH_ERRORS = defineErrors({
  USER_ALREADY_EXISTS: { status: 409, message: 'An account with this email already exists' },
  INVALID_EMAIL_OR_PASSWORD: { status: 401, message: 'Invalid email or password' },
  PASSWORD_POLICY: { status: 400, message: 'The password breaks the password policy' },
  INVALID_USER_FIELDS: { status: 400, message: 'A user field is invalid' },
});
