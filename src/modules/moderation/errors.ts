/** Moderation's refusals beside the common ones (the block routes' are in blocks/errors.ts). */
import { defineErrors } from '../../lib/errors';

export const MODERATION_ERRORS = defineErrors({
  REPORT_NOT_FOUND: { status: 404, message: 'No such report' },
  REPORT_TARGET_NOT_FOUND: { status: 404, message: 'Nothing to report there: no such bounty, user, message or review that you can see' },
  CANNOT_REPORT_OWN: { status: 422, message: 'You cannot report yourself or your own content' },
  REPORT_TARGET_INVALID: { status: 422, message: 'This cannot be reported' },
  REPORT_ALREADY_OPEN: { status: 409, message: 'You already have an open report about this: a moderator will look at it' },
  REPORT_ALREADY_RESOLVED: { status: 409, message: 'The report was resolved already' },
  ADMIN_REQUIRED: { status: 403, message: 'Only an admin does this: ask an admin to resolve the report' },
  OWN_REPORT_SUBJECT: { status: 403, message: 'A report against you, by you, or on content you are part of is resolved by another moderator' },
  NOTHING_TO_REMOVE: { status: 422, message: 'A reported user has no content to remove: warn or ban instead' },
  INVALID_BAN_EXPIRY: { status: 422, message: 'A ban expiry must be in the future' },
});
