/**
 * Webhook authenticity: the signature over the RAW body (constructEventAsync: on Bun, stripe
 * 23.1 resolves its SubtleCrypto build, whose synchronous constructEvent throws), and a timestamp
 * within 5 minutes either way. Stripe's library refuses only old timestamps; one from the future
 * would let a captured signature be replayed later, so it is refused here too.
 */
import type { Stripe } from '../../lib/stripe';
import { WEBHOOK_ERRORS } from './errors';

const WEBHOOK_TOLERANCE_S = 300;

/**
 * The one `t=` of a Stripe-Signature header (unix seconds), read as Stripe's library reads it
 * (items split on `,` and `=`, untrimmed), or null. A header with two `t=` is refused: the
 * library would verify the last while a check of the first let an old signature through.
 */
function signedAt(header: string): number | null {
  const stamps = header
    .split(',')
    .map((item) => item.split('='))
    .filter(([name]) => name === 't');
  if (stamps.length !== 1) return null;
  const value = stamps[0]?.[1] ?? '';
  return /^\d{1,12}$/.test(value) ? Number(value) : null;
}

export async function verifyStripeEvent(
  stripe: Stripe,
  input: { body: string; signature: string | null; secrets: readonly string[]; nowMs: number },
): Promise<Stripe.Event> {
  if (!input.signature) throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_MISSING');
  const at = signedAt(input.signature);
  if (at === null) throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_INVALID');
  const nowS = Math.floor(input.nowMs / 1000);
  if (nowS - at > WEBHOOK_TOLERANCE_S) throw WEBHOOK_ERRORS.error('WEBHOOK_TIMESTAMP_STALE');
  if (at - nowS > WEBHOOK_TOLERANCE_S) throw WEBHOOK_ERRORS.error('WEBHOOK_TIMESTAMP_IN_FUTURE');
  // The account endpoint and the Connect endpoint sign with secrets of their own.
  for (const secret of input.secrets) {
    try {
      // The library checks the age too, on the same clock (receivedAt, in milliseconds).
      return await stripe.webhooks.constructEventAsync(input.body, input.signature, secret, WEBHOOK_TOLERANCE_S, undefined, input.nowMs);
    } catch {
      // Not signed with this one: try the next.
    }
  }
  throw WEBHOOK_ERRORS.error('WEBHOOK_SIGNATURE_INVALID');
}
