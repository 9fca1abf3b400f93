/**
 * The codes the Idempotency-Key plugin (src/plugins/idempotency.ts) answers, on every route that
 * takes the `idempotency` option. Kept apart from the plugin so the API document can list them
 * without importing the plugin's database code.
 */
import { defineErrors } from '../lib/errors';

export const IDEMPOTENCY_ERRORS = defineErrors({
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, message: 'Send an Idempotency-Key header with this request' },
  INVALID_IDEMPOTENCY_KEY: { status: 400, message: 'The Idempotency-Key must be 1 to 255 visible ASCII characters' },
  IDEMPOTENCY_REQUEST_IN_PROGRESS: { status: 409, message: 'A request with this Idempotency-Key is still being processed; retry shortly' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'This Idempotency-Key was already used for a different request' },
});
