/** The codes the analytics routes answer beside the common ones. */
import { defineErrors } from '../../lib/errors';
import { MAX_RANGE_DAYS } from './schemas';

export const ANALYTICS_ERRORS = defineErrors({
  ANALYTICS_DISABLED: { status: 404, message: 'Analytics is switched off on this service (ENABLE_ANALYTICS=false): nothing is recorded' },
  INVALID_RANGE: { status: 422, message: '`from` must not be after `to`' },
  RANGE_TOO_LONG: { status: 422, message: `A report covers at most ${MAX_RANGE_DAYS} days` },
});
