/** The codes the posts routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const POSTS_ERRORS = defineErrors({
  NOT_FOUND: { status: 404, message: 'No such post' },
});
