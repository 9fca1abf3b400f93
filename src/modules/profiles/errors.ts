/** The codes the profiles and reviews routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const PROFILES_ERRORS = defineErrors({
  USER_NOT_FOUND: { status: 404, message: 'No such user' },
  BOUNTY_NOT_FOUND: { status: 404, message: 'No such bounty' },
  NOT_A_PARTY: { status: 403, message: "Only the bounty's poster and its hunter review each other" },
  REVIEW_NOT_OPEN: { status: 409, message: 'Reviews open once the work has ended: completed, or cancelled after a hunter was accepted' },
  REVIEW_WINDOW_CLOSED: { status: 409, message: 'The time to review this bounty has passed' },
  ALREADY_REVIEWED: { status: 409, message: 'You have reviewed this bounty already' },
  USER_BLOCKED: { status: 403, message: 'One of you blocked the other: you cannot review each other' },
});
