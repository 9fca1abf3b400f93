/** The codes the notifications routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const NOTIFICATIONS_ERRORS = defineErrors({
  NOTIFICATION_NOT_FOUND: { status: 404, message: 'No such notification' },
  DEVICE_NOT_FOUND: { status: 404, message: 'No such device on your account' },
  INVALID_PUSH_TOKEN: { status: 422, message: 'Not an Expo push token (ExponentPushToken[...])' },
  CATEGORY_LOCKED: { status: 422, message: 'Money and security notices cannot be switched off or sent as a digest' },
  DIGEST_EMAIL_ONLY: { status: 422, message: 'Only email has a digest; push is on or off' },
});
