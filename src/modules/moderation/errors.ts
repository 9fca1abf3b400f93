/** Moderation's refusals beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const MODERATION_ERRORS = defineErrors({
  REPORT_NOT_FOUND: { status: 404, message: 'No such report' },
});
