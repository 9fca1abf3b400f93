/**
 * Stripe's Idempotency-Key behaviour for POSTs: keys are scoped per API key and kept 24 h; the
 * first request's status and body are replayed for the same endpoint and parameters; the same key
 * on another endpoint or with other parameters is a 400 idempotency_error; while the first request
 * is still in progress, another with the key gets a 409. Nothing is stored for a request that
 * ends in a 500, so it can be retried.
 */
import { StripeApiError } from './errors';
import type { FormObject, FormValue } from './form';

const KEY_TTL_MS = 24 * 60 * 60 * 1000;
const MAX_KEY_LENGTH = 255;

export type StoredResponse = { status: number; body: string; requestId: string };

type Entry = {
  endpoint: string;
  fingerprint: string;
  createdAt: number;
  response: StoredResponse | null;
};

export type Claim =
  | { kind: 'replay'; response: StoredResponse }
  | { kind: 'new'; finish(response: StoredResponse): void; abandon(): void };

/** The same parameters in any order give the same fingerprint. */
function canonical(value: FormValue): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key] ?? '')}`).join(',')}}`;
}

const idempotencyError = (status: 400 | 409, message: string, code?: string): StripeApiError =>
  new StripeApiError(status, 'idempotency_error', message, code ? { code } : {});

export class IdempotencyKeys {
  /** In insertion order, i.e. oldest first, which makes expiry a walk from the front. */
  private readonly entries = new Map<string, Entry>();

  /** Replays, refuses (throws), or claims the key for a request about to run. */
  claim(apiKey: string, key: string, endpoint: string, params: FormObject): Claim {
    if (key.length > MAX_KEY_LENGTH)
      throw new StripeApiError(400, 'invalid_request_error', `Invalid idempotency key: keys can be at most ${MAX_KEY_LENGTH} characters.`);
    this.expire();
    const scoped = `${apiKey}\u0000${key}`;
    const fingerprint = canonical(params);
    const existing = this.entries.get(scoped);
    if (existing) {
      if (existing.endpoint !== endpoint)
        throw idempotencyError(
          400,
          `Keys for idempotent requests can only be used for the same endpoint they were first used for ('${existing.endpoint}' vs '${endpoint}'). Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      if (existing.fingerprint !== fingerprint)
        throw idempotencyError(
          400,
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        );
      if (existing.response === null)
        throw idempotencyError(
          409,
          'There is currently another in-progress request using this Stripe API key and idempotency key. Please try again later.',
          'idempotency_key_in_use',
        );
      return { kind: 'replay', response: existing.response };
    }
    const entry: Entry = { endpoint, fingerprint, createdAt: Date.now(), response: null };
    this.entries.set(scoped, entry);
    return {
      kind: 'new',
      finish: (response) => {
        if (response.status >= 500) this.entries.delete(scoped);
        else entry.response = response;
      },
      abandon: () => {
        this.entries.delete(scoped);
      },
    };
  }

  /** Forgets every key, as Stripe does 24 h after each was first used (tests of what comes after). */
  forgetAll(): void {
    this.entries.clear();
  }

  private expire(): void {
    const cutoff = Date.now() - KEY_TTL_MS;
    for (const [key, entry] of this.entries) {
      if (entry.createdAt > cutoff) break;
      this.entries.delete(key);
    }
  }
}
