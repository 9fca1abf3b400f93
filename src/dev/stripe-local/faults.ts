/**
 * Injected failures, matched on method and path, each for `times` requests (default 1):
 * - hang_before: the request waits, doing nothing, until `release()` or 60 s, then the connection
 *   is dropped; its Idempotency-Key counts as in progress meanwhile (a retry with it gets 409).
 * - timeout_after: the request is performed (state, events, stored idempotent result), then its
 *   response is withheld until `release()` or 60 s, past the SDK's timeout: the provider did it
 *   but the caller never heard.
 * - error_500: 500 api_error, nothing performed.
 * - connection_reset: the connection is dropped without a response, nothing performed. The stripe
 *   SDK retries a reset connection once by itself (same Idempotency-Key), so `times: 2` is what
 *   makes the caller see it.
 */
export type FaultMode = 'hang_before' | 'timeout_after' | 'error_500' | 'connection_reset';

export type FaultSpec = {
  method: 'POST' | 'GET';
  /** Matched against the request path, e.g. /^\/v1\/transfers$/. */
  path: RegExp;
  mode: FaultMode;
  times?: number;
};

/** How long a held request waits when nobody releases it. */
export const HOLD_MS = 60_000;

type Rule = { spec: FaultSpec; remaining: number };

export class Faults {
  private rules: Rule[] = [];
  private readonly waiting = new Set<() => void>();

  inject(spec: FaultSpec): void {
    const times = spec.times ?? 1;
    if (!Number.isInteger(times) || times < 1) throw new RangeError('faults.inject: times must be a positive integer');
    this.rules.push({ spec, remaining: times });
  }

  /** Removes the rules not used up yet; requests already held stay held. */
  clear(): void {
    this.rules = [];
  }

  /** Lets every held request go on (hang_before: dropped; timeout_after: answered). */
  release(): void {
    for (const resume of [...this.waiting]) resume();
  }

  /** The fault for this request, using up one of its times; the first matching rule applies. */
  take(method: string, path: string): FaultMode | null {
    // search() ignores a /g regex's lastIndex, so a global pattern matches every time.
    const rule = this.rules.find(({ spec }) => spec.method === method && path.search(spec.path) !== -1);
    if (!rule) return null;
    rule.remaining -= 1;
    if (rule.remaining === 0) this.rules = this.rules.filter((candidate) => candidate !== rule);
    return rule.spec.mode;
  }

  /** Waits until released or HOLD_MS has passed. */
  hold(): Promise<void> {
    return new Promise((resolve) => {
      const resume = (): void => {
        clearTimeout(timer);
        this.waiting.delete(resume);
        resolve();
      };
      const timer = setTimeout(resume, HOLD_MS);
      this.waiting.add(resume);
    });
  }
}
