/** The codes the bounties routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const BOUNTIES_ERRORS = defineErrors({
  BOUNTY_NOT_FOUND: { status: 404, message: 'No such bounty' },
  INVALID_TRANSITION: { status: 409, message: 'The bounty is not in a state that allows this' },
  TRANSITION_REFUSED: { status: 409, message: 'The lifecycle refuses this now' },
  NOT_YOUR_TRANSITION: { status: 403, message: 'Another party takes this step' },
  NOT_EDITABLE: { status: 409, message: 'Only a draft can be changed this way' },
  UNKNOWN_CRITERIA: { status: 422, message: 'Cite the ids of the bounty\'s acceptance criteria' },
  FUNDING_PENDING: { status: 409, message: 'A card payment for this bounty is in progress' },
  INVALID_SPLIT: { status: 422, message: 'The hunter\'s share must be between 0 and the reward' },
  DEADLINE_PASSED: { status: 422, message: 'The deadline must be in the future' },
});
