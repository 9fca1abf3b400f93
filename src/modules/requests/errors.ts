/**
 * The codes the requests routes answer beside the common ones. Accepting runs the bounty's
 * `accept` transition, so the engine's refusals (a bounty not open, a non-poster, one the viewer
 * cannot see) come with their bounties codes; they are listed here too, for this tag's readers.
 */
import { defineErrors, HttpError } from '../../lib/errors';
import { BOUNTIES_ERRORS } from '../bounties/errors';

const { BOUNTY_NOT_FOUND, INVALID_TRANSITION, NOT_YOUR_TRANSITION } = BOUNTIES_ERRORS.codes;

export const REQUESTS_ERRORS = defineErrors({
  BOUNTY_NOT_FOUND,
  INVALID_TRANSITION,
  NOT_YOUR_TRANSITION,
  REQUEST_NOT_FOUND: { status: 404, message: 'No such request' },
  OWN_BOUNTY: { status: 403, message: 'You cannot apply to your own bounty' },
  NOT_THE_POSTER: { status: 403, message: 'Only the bounty\'s poster may do this' },
  NOT_YOUR_REQUEST: { status: 403, message: 'Only the hunter who sent the request may do this' },
  BOUNTY_NOT_OPEN: { status: 409, message: 'The bounty is not open for requests' },
  ALREADY_REQUESTED: { status: 409, message: 'You already have a live request on this bounty' },
  REAPPLY_REFUSED: { status: 409, message: 'The poster turned you down for this bounty: you cannot apply again' },
  TOO_MANY_PENDING_REQUESTS: { status: 409, message: 'You have as many pending requests as allowed: withdraw one or wait for answers' },
  REQUEST_NOT_PENDING: { status: 409, message: 'The request is no longer pending' },
  HUNTER_CANNOT_BE_PAID: { status: 409, message: 'The hunter cannot be paid yet: they must finish setting up payouts before you accept them' },
});

export type RequestsErrorCode = keyof typeof REQUESTS_ERRORS.codes;

/** A 409 that names the value it was refused on (`state`, `status`), as the engine's do. */
export const conflictOn = (code: RequestsErrorCode, path: string, value: string, message?: string): HttpError =>
  REQUESTS_ERRORS.error(code, message, [{ path, message: value }]);
