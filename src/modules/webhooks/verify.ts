/**
 * Webhook authenticity: the signature over the RAW body (constructEventAsync: on Bun, stripe
 * 23.1 resolves its SubtleCrypto build, whose synchronous constructEvent throws), and a timestamp
 * within 5 minutes either way. Stripe's library refuses only old timestamps; one from the future
 * would let a captured signature be replayed later, so it is refused here too.
 */
import type { Stripe } from '../../lib/stripe';
import { WEBHOOK_ERRORS } from './errors';

export const WEBHOOK_TOLERANCE_S = 300;

/** The `t=` of a Stripe-Signature header (unix seconds), or null. */
function signedAt(header: string): number | null {
  for (const part of header.split(',')) {
    const [name, value] = part.split('=', 2);
    if (name?.trim() === 't' && value !== undefined && /^\d{1,12}$/.test(value.trim())) return Number(value.trim());
  }
  return null;
}

export async function verifyStripeEvent(
  stripe: Stripe,
  input: { body: string; signature: string | null; secret: string; nowMs: number },
): Promise<Stripe.Event> {
  if (!input.signature) throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_MISSING');
  const at = signedAt(input.signature);
  if (at === null) throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_INVALID');
  const nowS = Math.floor(input.nowMs / 1000);
  if (nowS - at > WEBHOOK_TOLERANCE_S) throw WEBHOOK_ERRORS.error('WEBHOOK_TIMESTAMP_STALE');
  if (at - nowS > WEBHOOK_TOLERANCE_S) throw WEBHOOK_ERRORS.error('WEBHOOK_TIMESTAMP_IN_FUTURE');
  try {
    // Our own tolerance check above is authoritative (and uses the injected clock).
    return await stripe.webhooks.constructEventAsync(input.body, input.signature, input.secret, Number.MAX_SAFE_INTEGER);
  } catch {
    throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_INVALID');
  }
}
