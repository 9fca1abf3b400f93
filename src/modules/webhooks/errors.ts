/** The codes POST /webhooks/stripe answers beside the common ones. */
import { defineErrors } from '../../lib/errors';

export const WEBHOOK_ERRORS = defineErrors({
  WEBHOOK_SIGNATURE_MISSING: { status: 400, message: 'The Stripe-Signature header is missing' },
  WEBHOOK_SIGNATURE_INVALID: { status: 400, message: 'The Stripe-Signature does not match the body' },
  WEBHOOK_TIMESTAMP_STALE: { status: 400, message: 'The signature is older than the tolerance (300 s)' },
  WEBHOOK_TIMESTAMP_IN_FUTURE: { status: 400, message: 'The signature is dated more than 300 s in the future' },
});
