/**
 * The refusals of the block routes (served by the moderation module, which lists these codes):
 * their own catalog, so the blocks service never imports the moderation module back.
 */
import { defineErrors } from '../../lib/errors';

export const BLOCKS_ERRORS = defineErrors({
  BLOCKED_USER_NOT_FOUND: { status: 404, message: 'No such user' },
  BLOCK_NOT_FOUND: { status: 404, message: 'You have not blocked this user' },
  CANNOT_BLOCK_SELF: { status: 422, message: 'You cannot block yourself' },
});
